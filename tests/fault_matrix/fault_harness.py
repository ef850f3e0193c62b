# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault matrix's machinery: a persistent emulator process, a seeded 1,000-user tenant, the sync module run as a
subprocess, mid-run triggers (token revocation, SIGKILL and restart) and the checks of issue 8, build item 9.

Everything is read from the outside, as an operator would: the module's JSON result, the emulator's oracle view
(`GET /_emulator/users`) and its request log (`GET /_emulator/requests`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import requests
from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
RUN_EMULATOR = os.path.join(COLLECTION_ROOT, "tests", "emulator", "run.py")
SYNC_MODULE = os.path.join(COLLECTION_ROOT, "plugins", "modules", "outlook_user_photo_sync.py")
CLIENT_ID = "11111111-1111-4111-8111-111111111111"
CLIENT_SECRET = "emulator-secret-value"
DOMAIN = "contoso.onmicrosoft.com"
WRITE_METHODS = ("PUT", "PATCH", "DELETE")
ACTIONS = ("uploaded", "removed", "unchanged", "skipped", "failed", "not_attempted")
MODULE_TIMEOUT = 240


def collections_root():
    """The folder that holds ansible_collections/o365/outlook (the module imports need it on PYTHONPATH)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
    if os.path.basename(os.path.dirname(os.path.dirname(COLLECTION_ROOT))) != "ansible_collections":
        return None
    return root


# ---------------------------------------------------------------- photos

def upn(index):
    return "fault%05d@%s" % (index, DOMAIN)


def kind_of(index):
    """60% an old photo that differs, 30% already the wanted one, 10% none."""
    rest = index % 10
    if rest < 6:
        return "old"
    if rest < 9:
        return "wanted"
    return "none"


def _jpeg(index, shift):
    """A 96x96 JPEG unique to `index`; shift=128 moves every channel by half the range, far above the pixel tolerance.

    Photo-like on purpose (soft edges): the production profile re-encodes what it stores, and the module's pixel
    tolerance is made for photographs. 1-pixel lines in saturated colours at 48x48 reached a distance of 4.6 after a
    quality-80 re-encoding, over the tolerance of 4.0 (see the issue 10 closing note).
    """
    base = ((index * 37 + shift) % 256, (index * 91 + shift) % 256, (index * 53 + 100 + shift) % 256)
    image = Image.new("RGB", (96, 96), base)
    draw = ImageDraw.Draw(image)
    mark = ((255 - base[0]), base[1], (index * 7) % 256)
    # (index % 96, index // 96) tells every index below 9,216 apart, so no two wanted photos share their bytes.
    draw.line([(index % 96 - 48, 0), (index % 96 + 48, 96)], fill=mark, width=8)
    draw.line([(0, 4 + (index // 96) % 90), (96, 4 + (index // 96) % 90)], fill=mark, width=6)
    image = image.filter(ImageFilter.GaussianBlur(2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def wanted_photo(index):
    return _jpeg(index, 0)


def old_photo(index):
    return _jpeg(index, 128)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- the emulator process

class Emulator:
    """One emulator process with --persist, started and stopped by pid; restartable on the same port, CA and state."""

    def __init__(self, state_dir, python=sys.executable):
        self.state_dir = state_dir
        self.python = python
        self.info = None
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxy for 127.0.0.1
        self.behaviours = {}
        self.restarted_at_seq = []

    def start(self, port=0):
        os.makedirs(self.state_dir, exist_ok=True)
        done = subprocess.run([self.python, RUN_EMULATOR, "start", "--background", "--persist", "--state-dir", self.state_dir,
                               "--port", str(port)], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError("emulator did not start: %s %s" % (done.stdout, done.stderr))
        self.info = json.loads(done.stdout.strip().splitlines()[-1])
        self.http.verify = self.info["ca_path"]
        return self

    def stop(self):
        subprocess.run([self.python, RUN_EMULATOR, "stop", "--state-dir", self.state_dir], capture_output=True, timeout=60, check=False)

    def kill_and_restart(self):
        """SIGKILL (no goodbye, no flush beyond what was already written), then start again on the same port."""
        pid, port = self.info["pid"], self.info["port"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.01)
        self.restarted_at_seq.append(_last_logged_seq(os.path.join(self.state_dir, "requests.jsonl")))
        self.start(port)
        if self.behaviours:
            self.control("PUT", "/behaviours", self.behaviours)  # behaviours are not kept across a restart

    def control(self, method, path, body=None, params=None):
        resp = self.http.request(method, self.info["control_url"] + path, json=body, params=params, timeout=120)
        resp.raise_for_status()
        return resp.json()

    def behave(self, **behaviours):
        self.behaviours.update({key: value for key, value in behaviours.items() if key in ("latency_ms", "jitter_ms")})
        return self.control("PUT", "/behaviours", behaviours)

    def last_seq(self):
        return self.control("GET", "/requests", params={"since": 10 ** 12})["last_seq"]

    def requests_since(self, seq):
        return self.control("GET", "/requests", params={"since": seq})["requests"]

    def oracle(self):
        """{upn: SHA-256 of the bytes last uploaded or seeded, or None} of every user, the emulator's truth. The
        production profile re-encodes what it stores; the oracle view still names the upload it came from."""
        return {user["userPrincipalName"]: (user["photo"] or {}).get("uploaded_sha256")
                for user in self.control("GET", "/users")["users"]}

    def settle(self):
        """Wait out the propagation delay, as the hours between two nightly runs do."""
        time.sleep(self.control("GET", "/behaviours")["propagation_delay_s"])

    def user_ids(self):
        return {user["id"]: user["userPrincipalName"] for user in self.control("GET", "/users")["users"]}


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _last_logged_seq(path):
    seq = 0
    try:
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    seq = max(seq, int(json.loads(line).get("seq") or 0))
                except (ValueError, AttributeError):
                    continue
    except OSError:
        pass
    return seq


# ---------------------------------------------------------------- one scenario

@dataclasses.dataclass
class Scenario:
    name: str
    fault: str  # what the table shows
    behaviours: dict = dataclasses.field(default_factory=dict)
    trigger: str | None = None  # "revoke" | "restart": done by a watcher after a third of the expected writes
    token_requests: int = 1  # the most token requests run 1 may make
    no_failures: bool = False  # the fault must be invisible in the result (the module recovers by itself)
    module_args: dict = dataclasses.field(default_factory=dict)  # on top of Tenant.module_args, for both runs
    deadline: float | None = None  # run 1 must end within this many seconds (a fault that must not stall the run)
    expected_failed: int | None = None  # exactly this many users fail in run 1 (the fault's own, no collateral)
    failures: str | None = None  # a regex every failed user's message must match (they failed of the fault itself)
    max_rss_mb: int | None = None  # run 1's module may not grow its peak RSS past this (answers read within limits)
    all_faults_fire: bool = False  # every configured fault must be used up by run 1 (no row passes on a fault never met)


class Tenant:
    """The seeded users and the wanted photos on disk."""

    def __init__(self, work_dir, count):
        self.count = count
        self.photo_dir = os.path.join(work_dir, "photos")
        os.makedirs(self.photo_dir, exist_ok=True)
        self.wanted = {}
        self.seed_specs = []
        self.previous = {}
        for index in range(count):
            data = wanted_photo(index)
            path = os.path.join(self.photo_dir, "%05d.jpg" % index)
            with open(path, "wb") as handle:
                handle.write(data)
            self.wanted[upn(index)] = (path, sha256(data))
            spec = {"userPrincipalName": upn(index)}
            seeded = {"old": old_photo(index), "wanted": data, "none": None}[kind_of(index)]
            if seeded is not None:
                spec["photo_b64"] = base64.b64encode(seeded).decode("ascii")
            self.previous[upn(index)] = sha256(seeded) if seeded is not None else None
            self.seed_specs.append(spec)
        self.needing = {user for user in self.wanted if self.previous[user] != self.wanted[user][1]}

    def seed(self, emulator):
        emulator.control("POST", "/reset")
        emulator.control("POST", "/users", {"users": self.seed_specs})

    def module_args(self, info, extra=None):
        return {"ANSIBLE_MODULE_ARGS": dict({
            "api_url": info["graph_url"], "authority_host": info["authority_host"], "tenant_id": info["tenant_id"],
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "ca_path": info["ca_path"],
            "photos": [{"user": user, "src": path} for user, (path, _digest) in self.wanted.items()],
            "fail_on_error": False, "results": "all"}, **(extra or {}))}


@dataclasses.dataclass
class ModuleRun:
    result: dict | None  # the parsed JSON result
    rc: int
    tail: str  # the end of its output, for the row's problems
    peak_rss_mb: float | None  # its peak resident memory (VmHWM), None where /proc cannot tell


class _PeakRss(threading.Thread):
    """Follows a process's VmHWM (its peak RSS so far) in /proc until told to stop: the last value read before it
    exits is its peak, short of its last poll interval."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = None
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                with open("/proc/%d/status" % self.pid, encoding="ascii") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb or 0, int(line.split()[1]))
            except OSError:
                pass  # exited (its zombie has no VmHWM line), or no /proc here


def run_module(args, work_dir, name, collections, timeout=MODULE_TIMEOUT):
    """One run of the sync module as its own process, killed after `timeout` seconds (then rc -9 and no result)."""
    args_path = os.path.join(work_dir, "%s.args.json" % name)
    with open(args_path, "w", encoding="utf-8") as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=collections)
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("CURL_CA_BUNDLE", None)
    with subprocess.Popen([sys.executable, SYNC_MODULE, args_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=work_dir) as proc:
        peak = _PeakRss(proc.pid)
        peak.start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += "\nkilled after %d s" % timeout
        finally:
            peak.done.set()
            peak.join(5)
    with open(os.path.join(work_dir, "%s.out.json" % name), "w", encoding="utf-8") as handle:
        handle.write(stdout)
    tail = (stdout[-1500:] + "\n" + stderr[-1500:]).strip()
    try:
        result = json.loads(stdout)
    except ValueError:
        result = None
    return ModuleRun(result, proc.returncode, tail, None if peak.peak_kb is None else round(peak.peak_kb / 1024.0, 1))


class Watcher(threading.Thread):
    """Follows the request log and fires the trigger once a third of the expected writes have been logged."""

    def __init__(self, emulator, since, threshold, action):
        super().__init__(daemon=True)
        self.emulator = emulator
        self.since = since
        self.threshold = threshold
        self.action = action
        self.stop_event = threading.Event()
        self.fired_after = None
        self.error = None

    def run(self):
        writes, seq = 0, self.since
        try:
            while not self.stop_event.wait(0.05):
                entries = self.emulator.requests_since(seq)
                if entries:
                    seq = entries[-1]["seq"]
                writes += sum(1 for entry in entries if is_write(entry))
                if writes >= self.threshold:
                    self.fired_after = writes
                    self.action()
                    return
        except Exception as exc:  # pylint: disable=broad-except  # reported in the row, never lost in a thread
            self.error = "%s: %s" % (type(exc).__name__, exc)


def is_write(entry):
    return entry.get("api") in ("graph", "outlook_v2") and entry.get("method") in WRITE_METHODS


def _applied(entry):
    """Did this write change the tenant? (answered 2xx, or dropped after the server applied it)."""
    return 200 <= entry["status"] < 300 or (entry.get("fault") or "").startswith("drop_after")


def _forced(entry):
    """A write the fault made the module send again: throttled, 5xx, token rejected, no answer, or an answer that
    trickled (cut at request_timeout; counted even when it came whole in time: an upper bound)."""
    return (entry["status"] in (0, 401, 429) or entry["status"] >= 500 or entry.get("dropped")
            or "trickle" in (entry.get("fault") or ""))


def run_scenario(emulator, tenant, scenario, work_dir, collections):
    """Seed, run 1 under the fault, run 2 without; returns the table row (with `problems`, empty when it passed)."""
    problems = []
    tenant.seed(emulator)
    emulator.behaviours = {}
    emulator.behave(latency_ms=2, jitter_ms=1)  # on top of the production profile (re-encoding, shuffled $batch, ...)
    start_seq = emulator.last_seq()
    restarts_before = len(emulator.restarted_at_seq)
    if scenario.behaviours:
        emulator.control("PUT", "/behaviours", scenario.behaviours)
    watcher = None
    if scenario.trigger:
        action = {"revoke": lambda: emulator.control("POST", "/tokens/revoke"), "restart": emulator.kill_and_restart}[scenario.trigger]
        watcher = Watcher(emulator, start_seq, max(1, len(tenant.needing) // 3), action)
        watcher.start()
    started = time.monotonic()
    # A run that must end by a deadline is killed at three times it: a stalled run fails its row in bounded time.
    timeout = MODULE_TIMEOUT if scenario.deadline is None else min(MODULE_TIMEOUT, 3 * scenario.deadline)
    run1 = run_module(tenant.module_args(emulator.info, scenario.module_args), work_dir, scenario.name + "-run1", collections, timeout)
    result1, rc1, tail1 = run1.result, run1.rc, run1.tail
    seconds1 = time.monotonic() - started
    if watcher is not None:
        watcher.stop_event.set()
        watcher.join(30)
        if watcher.error:
            problems.append("trigger %s failed: %s" % (scenario.trigger, watcher.error))
        elif watcher.fired_after is None:
            problems.append("trigger %s never fired (the run ended first)" % scenario.trigger)
    faults_left = emulator.control("GET", "/behaviours")["faults"]
    if scenario.all_faults_fire and faults_left:
        problems.append("%d faults never fired in run 1, e.g. %s" % (len(faults_left), json.dumps(faults_left[0])[:300]))
    emulator.control("PUT", "/behaviours", {"faults": [], "throttle": None})
    emulator.settle()
    mid_seq = emulator.last_seq()
    after1 = emulator.oracle()
    run2 = run_module(tenant.module_args(emulator.info, scenario.module_args), work_dir, scenario.name + "-run2", collections)
    result2, rc2, tail2 = run2.result, run2.rc, run2.tail
    end_seq = emulator.last_seq()
    after2 = emulator.oracle()
    log = emulator.requests_since(start_seq)
    run1_log = [entry for entry in log if entry["seq"] <= mid_seq]
    run2_log = [entry for entry in log if entry["seq"] > mid_seq and entry["seq"] <= end_seq]
    ids = emulator.user_ids()
    restart_seqs = emulator.restarted_at_seq[restarts_before:]

    row = {"fault": scenario.fault, "scenario": scenario.name, "users": tenant.count, "needing_change": len(tenant.needing),
           "faults_left": len(faults_left)}
    row.update(_check_run1(result1, rc1, tail1, tenant, after1, problems))
    writes1 = [entry for entry in run1_log if is_write(entry)]
    forced = [entry for entry in writes1 if _forced(entry)]
    lost = _answers_lost_to_restarts(writes1, restart_seqs)
    written_users = {ids.get(entry["user"], str(entry["user"])) for entry in writes1 if _applied(entry)}
    unneeded = sorted(user for user in written_users if user not in tenant.needing)
    tokens1 = sum(1 for entry in run1_log if entry.get("api") == "entra" and entry["path"].endswith("/oauth2/v2.0/token"))
    failed_users = {entry["user"] for entry in (result1 or {}).get("results") or [] if entry.get("action") == "failed"}
    row.update(writes=len(writes1), retries_forced=len(forced) + lost, answers_lost_to_kill=lost, token_requests=tokens1,
               failed_applied=sum(1 for user in failed_users if user in written_users and after1.get(user) == tenant.wanted[user][1]),
               run1_seconds=round(seconds1, 1), run1_stats=(result1 or {}).get("stats"))
    if len(writes1) > len(tenant.needing) + row["retries_forced"]:
        problems.append("run 1 sent %d writes for %d users needing a change and %d forced retries"
                        % (len(writes1), len(tenant.needing), row["retries_forced"]))
    if unneeded:
        problems.append("run 1 wrote to %d users that already had the wanted photo, e.g. %s" % (len(unneeded), unneeded[:3]))
    if tokens1 > scenario.token_requests:
        problems.append("run 1 asked for %d tokens (at most %d expected)" % (tokens1, scenario.token_requests))
    if scenario.no_failures and row.get("failed"):
        problems.append("%d users failed although the module should recover from %s by itself" % (row["failed"], scenario.fault))
    row.update(_check_bounds(scenario, seconds1, run1, result1, problems))

    # Run 2: converges, with exactly one write per user that still lacked the wanted photo.
    missing_after1 = {user for user, (path, digest) in tenant.wanted.items() if after1.get(user) != digest}
    writes2 = [entry for entry in run2_log if is_write(entry)]
    written2 = sorted(ids.get(entry["user"], str(entry["user"])) for entry in writes2)
    row.update(second_run_writes=len(writes2), missing_after_run1=len(missing_after1),
               second_run_failed=((result2 or {}).get("summary") or {}).get("failed"))
    if result2 is None:
        problems.append("run 2 returned no JSON result (rc %s): %s" % (rc2, tail2[-600:]))
    not_converged = sorted(user for user, (path, digest) in tenant.wanted.items() if after2.get(user) != digest)
    if not_converged:
        problems.append("after run 2, %d users lack the wanted photo, e.g. %s" % (len(not_converged), not_converged[:3]))
    if written2 != sorted(missing_after1):
        problems.append("run 2 wrote %d times (%d distinct users) for %d users missing the wanted photo"
                        % (len(writes2), len(set(written2)), len(missing_after1)))
    row["problems"] = problems
    return row


def _check_bounds(scenario, seconds, run, result, problems):
    """The scenario's own bounds on run 1: its deadline, who failed and why, the module's memory."""
    out = {"deadline_s": scenario.deadline, "module_peak_rss_mb": run.peak_rss_mb}
    if scenario.deadline is not None and seconds > scenario.deadline:
        problems.append("run 1 took %.1f s, over its deadline of %g s" % (seconds, scenario.deadline))
    failed = [entry for entry in (result or {}).get("results") or [] if entry.get("action") == "failed"]
    if scenario.expected_failed is not None and len(failed) != scenario.expected_failed:
        problems.append("%d users failed in run 1, %d expected" % (len(failed), scenario.expected_failed))
    if scenario.failures is not None:
        others = [entry for entry in failed if not re.search(scenario.failures, str(entry.get("message")))]
        if others:
            problems.append("%d users failed of something else than the fault (/%s/), e.g. %s: %s"
                            % (len(others), scenario.failures, others[0].get("user"), str(others[0].get("message"))[:300]))
    if scenario.max_rss_mb is not None and (run.peak_rss_mb or 0) > scenario.max_rss_mb:
        problems.append("run 1's module peaked at %s MB of RSS, over %d MB" % (run.peak_rss_mb, scenario.max_rss_mb))
    return out


def _answers_lost_to_restarts(writes, restart_seqs):
    """Writes the killed emulator applied and logged whose answer never left: the module had to send them again.
    Counted as the users written (2xx) in the last stretch before a kill and written again after it."""
    lost = 0
    for boundary in restart_seqs:
        before = {entry["user"] for entry in writes if entry["seq"] <= boundary and 200 <= entry["status"] < 300}
        after = [entry["user"] for entry in writes if entry["seq"] > boundary]
        lost += sum(1 for user in set(after) if user in before)
    return lost


def _check_run1(result, rc, tail, tenant, after, problems):
    """The result's shape and every entry against the emulator's state."""
    if result is None:
        problems.append("run 1 returned no JSON result (rc %d): %s" % (rc, tail[-800:]))
        return {"failed": None, "outcome": "no result"}
    out = {"module_rc": rc, "outcome": "failed: " + str(result.get("msg"))[:300] if result.get("failed") else "ok"}
    missing = [key for key in ("results", "summary", "stats", "failed_users") if key not in result]
    if missing:
        problems.append("run 1 result lacks %s; msg: %s" % (", ".join(missing), str(result.get("msg"))[:600]))
    if "MODULE FAILURE" in str(result.get("msg")) or "Traceback" in str(result.get("msg")) or "exception" in result and not result.get("summary"):
        problems.append("run 1 crashed: %s" % str(result.get("msg"))[:600])
    summary = result.get("summary") or {}
    results = result.get("results") or []
    out["failed"] = summary.get("failed")
    out["not_attempted"] = summary.get("not_attempted")
    out["summary"] = summary
    if summary:
        counted = sum(summary.get(action, 0) for action in ACTIONS)
        if not summary.get("total") == tenant.count == counted:
            problems.append("summary does not add up: %s for %d users" % (summary, tenant.count))
    if results and len(results) != tenant.count:
        problems.append("%d entries in results for %d users" % (len(results), tenant.count))
    by_action = {}
    for entry in results:
        user, action = entry.get("user"), entry.get("action")
        by_action[action] = by_action.get(action, 0) + 1
        if user not in tenant.wanted:
            problems.append("an entry for an unknown user %r" % user)
            continue
        wanted, previous, now = tenant.wanted[user][1], tenant.previous[user], after.get(user)
        if action in ("uploaded", "unchanged") and now != wanted:
            problems.append("%s is %s but the emulator holds %s" % (user, action, "the previous photo" if now == previous else now))
        elif action == "failed" and now not in (wanted, previous):
            problems.append("%s failed and holds a photo that is neither wanted nor previous" % user)
        elif action == "not_attempted" and now != previous:
            problems.append("%s was not attempted but its photo changed" % user)
        elif action not in ("uploaded", "unchanged", "failed", "not_attempted"):
            problems.append("%s: unexpected action %r" % (user, action))
    if summary and by_action and any(by_action.get(action, 0) != summary.get(action, 0) for action in ACTIONS):
        problems.append("summary %s differs from the entries %s" % (summary, by_action))
    strangers = [user for user, digest in after.items() if user in tenant.wanted and digest not in (tenant.wanted[user][1], tenant.previous[user])]
    if strangers:
        problems.append("%d users hold a photo that is neither wanted nor previous, e.g. %s" % (len(strangers), strangers[:3]))
    return out
