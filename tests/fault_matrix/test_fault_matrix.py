# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 8, build item 9: a 1,000-user outlook_user_photo_sync run against the emulator under each fault.

For each scenario: the module returns results, summary, stats and failed_users (never a crash); the summary adds up;
every user holds the wanted or the previous photo, as its entry says; a second run without faults converges with one
write per user still missing the wanted photo; run 1 never writes more than the users needing a change plus the
retries the fault forced, and changes no user twice but for a forced retry (counted from the emulator's request log).
Issue 21: row (b) also syncs 50 groups and Teams, named by id, mail and mailNickname, two of them in absent_groups, and
one group that does not exist; the same checks cover them (their own failed_groups, their writes by endpoint).
Issue 16's rows (g)-(i) also bound run 1: a deadline, exactly which users fail and why, every fault used up, and (i)
the module's peak RSS. See fault_harness.run_scenario.
"""

from __future__ import annotations

import pytest

from fault_harness import Scenario, run_scenario

PUT = r"/photo/\$value$"
BATCH = r"/\$batch$"
# A group's photo upload (through /groups or /teams) and removal, and a $batch that looks groups up by mail or mailNickname.
GROUP_PUT = r"/(groups|teams)/[^/]+/photo/\$value$"
GROUP_DELETE = r"/groups/[^/]+/photo/\$value$"
GROUP_LOOKUP = r"\$filter"
# The body of a $batch that reads metadata: its items' urls end in /photo (a $value batch's in /photo/$value).
METADATA = r'/photo"'
DAY = "86400"
# What the module may hold in (i): the 128 MiB a $batch answer may have plus the module's own ~60 MB; reading the 200 MB
# answer whole takes over 400 MB (about 1 GB before the limits).
OVERSIZE_RSS_MB = 300

SCENARIOS = (
    Scenario("none", "none (baseline)", no_failures=True),
    Scenario("throttle", "(a) 30% 429, Retry-After 0.05",
             {"throttle": {"ratio": 0.3, "retry_after": "0.05", "seed": 1}}),
    # With 50 groups among the users (a third of them Teams, written through /teams) and one that does not exist; the
    # bursts on PUT and $batch hit them as they come, and three faults are theirs alone: a 503 on the first lookup by
    # mail or mailNickname, two on Team and group photo uploads, a 502 on the first group photo removal.
    Scenario("5xx", "(b) 503/500/502 bursts on PUT and $batch", {"faults": [
        {"method": "POST", "path_regex": BATCH, "body_regex": GROUP_LOOKUP, "status": 503, "retry_after": "0.05", "count": 1},
        {"method": "PUT", "path_regex": GROUP_PUT, "status": 503, "retry_after": "0.05", "skip": 3, "count": 2},
        {"method": "DELETE", "path_regex": GROUP_DELETE, "status": 502, "count": 1},
        {"method": "PUT", "path_regex": PUT, "status": 503, "retry_after": "0.05", "skip": 40, "count": 15},
        {"method": "PUT", "path_regex": PUT, "status": 500, "skip": 150, "count": 8},
        {"method": "PUT", "path_regex": PUT, "status": 502, "skip": 250, "count": 8},
        {"method": "POST", "path_regex": BATCH, "status": 503, "retry_after": "0.05", "skip": 5, "count": 4},
        {"method": "POST", "path_regex": BATCH, "status": 500, "skip": 30, "count": 2},
        {"method": "POST", "path_regex": BATCH, "status": 502, "skip": 50, "count": 2},
    ]}, groups=50, all_faults_fire=True),
    Scenario("drops", "(c) dropped before the answer / after a PUT", {"faults": [
        {"method": "PUT", "path_regex": PUT, "status": "drop", "skip": 40, "count": 10},
        {"method": "PUT", "path_regex": PUT, "status": "drop_after", "skip": 150, "count": 10},
        {"method": "POST", "path_regex": BATCH, "status": "drop", "skip": 10, "count": 3},
    ]}),
    Scenario("revoke", "(d) token revoked mid-run", trigger="revoke", token_requests=2, no_failures=True),
    Scenario("restart", "(e) emulator SIGKILLed and restarted mid-run", trigger="restart", token_requests=2),
    Scenario("hostile", "(f) malformed and hostile $batch answers", {"faults": [
        {"method": "POST", "path_regex": BATCH, "after_apply": True, "truncate_to": 60, "skip": 2, "count": 2},
        {"method": "POST", "path_regex": BATCH, "mangle": "list", "skip": 6, "count": 2},
        {"method": "POST", "path_regex": BATCH, "mangle": "non_dict_entries", "skip": 10, "count": 2},
        {"method": "POST", "path_regex": BATCH, "body_regex": r"\$value", "mangle": "bad_base64", "skip": 8, "count": 2},
        {"method": "POST", "path_regex": BATCH, "mangle": "string_status", "skip": 16, "count": 2},
        {"method": "POST", "path_regex": BATCH, "mangle": "duplicate_ids", "skip": 20, "count": 2},
        {"method": "POST", "path_regex": BATCH, "body_regex": r"\$value", "mangle": "duplicate_ids", "skip": 14, "count": 2},
        {"method": "POST", "path_regex": BATCH, "mangle": "missing_ids", "skip": 24, "count": 2},
        {"method": "POST", "path_regex": BATCH, "status": 200, "raw_body": "<html><body>upstream gateway</body></html>",
         "content_type": "text/html", "skip": 28, "count": 1},
        {"method": "POST", "path_regex": BATCH, "status": 200, "raw_body": '{"responses": {"0": "x"}}', "skip": 30, "count": 1},
    ]}),
    # Issue 16. Each 429 is beyond the retry budget (120 s): its request gives up at once and holds no other worker.
    # Uploads 41 and 43 make two 429s in one round of the adaptive gate, which used to hold every worker for 120 s;
    # upload 42 answers between them: three in a row would stop the run (the service turning everyone away).
    # Who fails: 3 uploads, the 20 users of one metadata $batch, 1 user of one batch item.
    Scenario("absurd_retry_after", "(g) 429 with Retry-After: 86400 (a day)", {"faults": [
        {"method": "PUT", "path_regex": PUT, "status": 429, "retry_after": DAY, "skip": 40, "count": 1},
        {"method": "PUT", "path_regex": PUT, "status": 429, "retry_after": DAY, "skip": 41, "count": 1},
        {"method": "PUT", "path_regex": PUT, "status": 429, "retry_after": DAY, "skip": 300, "count": 1},
        {"method": "POST", "path_regex": BATCH, "body_regex": METADATA, "status": 429, "retry_after": DAY, "skip": 5, "count": 1},
        {"method": "GET", "path_regex": r"/photo$", "status": 429, "retry_after": DAY, "skip": 300, "count": 1},
    ]}, deadline=60, expected_failed=3 + 20 + 1, failures=r"HTTP 429", all_faults_fire=True),
    # The idle timeout (5 s) never fires on a byte a second: only request_timeout (10 s) ends those exchanges, and
    # they are retried like dropped connections. The trickling 503 arrives whole within request_timeout.
    Scenario("trickle", "(h) answers trickling a byte a second", {"faults": [
        {"method": "POST", "path_regex": BATCH, "body_regex": METADATA, "after_apply": True,
         "trickle": {"bytes": 1, "every_ms": 1000}, "skip": 5, "count": 1},
        {"method": "PUT", "path_regex": PUT, "after_apply": True, "trickle": {"bytes": 1, "every_ms": 1500, "headers": True},
         "skip": 60, "count": 2},
        {"method": "PUT", "path_regex": PUT, "status": 503, "retry_after": "0.05", "trickle": {"bytes": 64, "every_ms": 1000},
         "skip": 200, "count": 1},
    ]}, module_args={"timeout": 5, "request_timeout": 10}, deadline=60, all_faults_fire=True),
    # Limits: $batch 128 MiB, JSON 1 MiB, error bodies 1 MiB (unread, the status still counts). Who fails: the 18
    # users with a photo in one $value $batch (200 MB, chunked: no Content-Length to trust), the 20 of one metadata
    # $batch (150 MB announced), 2 uploads whose answers are 2 MB (written, then failed). The padded 503 is retried.
    Scenario("oversize", "(i) answers over their size limits", {"faults": [
        {"method": "POST", "path_regex": BATCH, "body_regex": r"\$value", "after_apply": True, "pad_to": 200_000_000,
         "chunked": True, "skip": 4, "count": 1},
        {"method": "POST", "path_regex": BATCH, "body_regex": METADATA, "after_apply": True, "pad_to": 150_000_000,
         "skip": 10, "count": 1},
        {"method": "PUT", "path_regex": PUT, "after_apply": True, "pad_to": 2_000_000, "skip": 100, "count": 2},
        {"method": "PUT", "path_regex": PUT, "status": 503, "retry_after": "0.05", "pad_to": 3_000_000, "chunked": True,
         "skip": 300, "count": 1},
    ]}, deadline=60, expected_failed=18 + 20 + 2, failures=r"over the .+ limit", max_rss_mb=OVERSIZE_RSS_MB, all_faults_fire=True),
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_fault(scenario, emulator, tenant, collections, record_row, tmp_path):
    row = run_scenario(emulator, tenant, scenario, str(tmp_path), collections)
    record_row(row)
    assert not row["problems"], "\n".join(row["problems"])
