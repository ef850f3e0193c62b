# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 8, build item 9: a 1,000-user outlook_user_photo_sync run against the emulator under each fault.

For each scenario: the module returns results, summary, stats and failed_users (never a crash); the summary adds up;
every user holds the wanted or the previous photo, as its entry says; a second run without faults converges with one
write per user still missing the wanted photo; run 1 never writes more than the users needing a change plus the
retries the fault forced (counted from the emulator's request log). See fault_harness.run_scenario.
"""

from __future__ import annotations

import pytest

from fault_harness import Scenario, run_scenario

PUT = r"/photo/\$value$"
BATCH = r"/\$batch$"

SCENARIOS = (
    Scenario("none", "none (baseline)", no_failures=True),
    Scenario("throttle", "(a) 30% 429, Retry-After 0.05",
             {"throttle": {"ratio": 0.3, "retry_after": "0.05", "seed": 1}}),
    Scenario("5xx", "(b) 503/500/502 bursts on PUT and $batch", {"faults": [
        {"method": "PUT", "path_regex": PUT, "status": 503, "retry_after": "0.05", "skip": 40, "count": 15},
        {"method": "PUT", "path_regex": PUT, "status": 500, "skip": 150, "count": 8},
        {"method": "PUT", "path_regex": PUT, "status": 502, "skip": 250, "count": 8},
        {"method": "POST", "path_regex": BATCH, "status": 503, "retry_after": "0.05", "skip": 5, "count": 4},
        {"method": "POST", "path_regex": BATCH, "status": 500, "skip": 30, "count": 2},
        {"method": "POST", "path_regex": BATCH, "status": 502, "skip": 50, "count": 2},
    ]}),
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
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_fault(scenario, emulator, tenant, collections, record_row, tmp_path):
    row = run_scenario(emulator, tenant, scenario, str(tmp_path), collections)
    record_row(row)
    assert not row["problems"], "\n".join(row["problems"])
