# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault matrix's machinery: a persistent emulator process, a seeded 1,000-user tenant, the sync module run as a
subprocess, mid-run triggers (token revocation, SIGKILL and restart) and the checks of issue 8, build item 9. A row may
add Microsoft 365 groups and Teams to the run (issue 21): their entries go among the users' and are checked alike.

Everything is read from the outside, as an operator would: the module's JSON result, the emulator's oracle view
(`GET /_emulator/users`, `GET /_emulator/groups`) and its request log (`GET /_emulator/requests`).
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
import urllib.parse

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
# A row with groups: the app also finds groups by mail and mailNickname, and writes Team photos through /teams.
GROUP_ROLES = ["ProfilePhoto.ReadWrite.All", "Group.Read.All", "TeamSettings.ReadWrite.All"]
GROUP_PREFIX = "faultgroup"
# Wanted group photos are wanted_photo(GROUP_PHOTO_BASE + i): unlike every user's (the users' indexes stay below it).
GROUP_PHOTO_BASE = 5000
MISSING_GROUP = GROUP_PREFIX + "-none"  # a mailNickname no group has: that entry fails, in every run
ABSENT_GROUPS = 2  # groups with a photo listed in absent_groups
# The object a photo request is about, from its path (a request turned away before it was routed logs no owner).
OWNER_PATH = re.compile(r"/(users|groups|teams)/([^/?]+)/photo")


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

    def group_oracle(self):
        """{"group:<id>": SHA-256 as in oracle(), or None} of every group."""
        return {group_key(group["id"]): (group["photo"] or {}).get("uploaded_sha256")
                for group in self.control("GET", "/groups")["groups"]}

    def put_group_photo(self, group_id, data):
        """Sets a group's photo through the control API: exactly these bytes, at once (no propagation delay)."""
        resp = self.http.put(self.info["control_url"] + "/groups/%s/photo" % group_id, data=data,
                             headers={"Content-Type": "image/jpeg"}, timeout=60)
        resp.raise_for_status()

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
    groups: int = 0  # Microsoft 365 groups generated for the row (RowGroups), their entries among the users'


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


def group_key(group_id):
    """How the checks name a group (users are named by UPN): its object id with a prefix, as the state file does."""
    return "group:" + group_id.lower()


class RowGroups:
    """A row's groups, made after the tenant's seed with POST /_emulator/groups/generate: `count` Microsoft 365 groups,
    30% of them Teams and 60% with a generated photo unlike the wanted one. Of those with a photo, the first
    ABSENT_GROUPS are in absent_groups; about half of the ones without get the wanted photo before the run.
    Groups are named by object id, by mail and by mailNickname in turn, Teams through endpoint team, and one more entry
    names a group that does not exist. The app gets GROUP_ROLES (the next row's /reset takes them back)."""

    def __init__(self, emulator, count, photo_dir):
        emulator.control("POST", "/clients", {"client_id": CLIENT_ID, "secret": CLIENT_SECRET, "roles": GROUP_ROLES})
        emulator.control("POST", "/groups/generate", {"count": count, "prefix": GROUP_PREFIX, "team_ratio": 0.3, "photo_ratio": 0.6})
        made = sorted((group for group in emulator.control("GET", "/groups")["groups"]
                       if group["mailNickname"].startswith(GROUP_PREFIX)), key=lambda group: group["mailNickname"])
        if len(made) != count:
            raise RuntimeError("the emulator made %d groups, %d asked for" % (len(made), count))
        self.entries, self.absent = [], []  # photos entries, absent_groups
        self.named = {}  # each group entry as named -> (its key, its endpoint)
        self.wanted, self.previous = {}, {}  # key -> SHA-256 or None, as Tenant's
        for index, group in enumerate(made):
            key = group_key(group["id"])
            name = (group["id"], group["mail"], group["mailNickname"])[index % 3]
            previous = (group["photo"] or {}).get("uploaded_sha256")
            if previous is not None and len(self.absent) < ABSENT_GROUPS:
                self.absent.append(name)
                self.named[name] = (key, "group")  # a removal goes through the group endpoint
                self.wanted[key], self.previous[key] = None, previous
                continue
            data = wanted_photo(GROUP_PHOTO_BASE + index)
            path = os.path.join(photo_dir, "group-%05d.jpg" % index)
            with open(path, "wb") as handle:
                handle.write(data)
            if previous is None and index % 2 == 0:
                emulator.put_group_photo(group["id"], data)
                previous = sha256(data)
            endpoint = "team" if group["team"] else "group"
            self.entries.append({"group": name, "src": path, "endpoint": endpoint})
            self.named[name] = (key, endpoint)
            self.wanted[key], self.previous[key] = sha256(data), previous
        self.entries.append({"group": MISSING_GROUP, "src": self.entries[0]["src"], "endpoint": "group"})


class Expected:
    """What a row's runs must reach: every user of the tenant, and the row's groups if it has any. Keys are a user's UPN
    or a group's group_key; digests as in Emulator.oracle (None: no photo)."""

    def __init__(self, tenant, groups=None):
        self.groups = groups
        self.wanted = {user: digest for user, (_path, digest) in tenant.wanted.items()}
        self.previous = dict(tenant.previous)
        self.photos = [{"user": user, "src": path} for user, (path, _digest) in tenant.wanted.items()]
        self.absent_groups = []
        if groups is not None:
            self.wanted.update(groups.wanted)
            self.previous.update(groups.previous)
            # Spread among the users, so that the groups share their users' $batch reads and the fault bursts.
            step = max(1, len(self.photos) // len(groups.entries))
            for position, entry in enumerate(groups.entries):
                self.photos.insert(position * (step + 1) + step // 2, entry)
            self.absent_groups = list(groups.absent)
        self.needing = {key for key in self.wanted if self.previous[key] != self.wanted[key]}
        self.count = len(self.photos) + len(self.absent_groups)

    def module_args(self, info, extra=None):
        args = {"api_url": info["graph_url"], "authority_host": info["authority_host"], "tenant_id": info["tenant_id"],
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "ca_path": info["ca_path"],
                "photos": self.photos, "fail_on_error": False, "results": "all"}
        if self.absent_groups:
            args["absent_groups"] = self.absent_groups
        return {"ANSIBLE_MODULE_ARGS": dict(args, **(extra or {}))}

    def oracle(self, emulator):
        found = emulator.oracle()
        if self.groups is not None:
            found.update(emulator.group_oracle())
        return found

    def entry_key(self, entry):
        """The key of a result entry: its user, or the group it names (by the id it reports, else as named)."""
        if entry.get("kind") != "group":
            return entry.get("user")
        if entry.get("group_id"):
            return group_key(entry["group_id"])
        named = (self.groups.named if self.groups is not None else {}).get(entry.get("group"))
        return named[0] if named else "group:?%s" % entry.get("group")


def owner_of(entry, ids):
    """The key (UPN or group_key) of the object a logged request is about; None for one about no photo."""
    if entry.get("group"):
        return group_key(entry["group"])
    if entry.get("user"):
        return ids.get(entry["user"], str(entry["user"]))
    found = OWNER_PATH.search(entry.get("path") or "")
    if found is None:
        return None
    key = urllib.parse.unquote(found.group(2))
    return ids.get(key, key) if found.group(1) == "users" else group_key(key)


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
    expected = Expected(tenant, RowGroups(emulator, scenario.groups, tenant.photo_dir) if scenario.groups else None)
    emulator.behave(latency_ms=2, jitter_ms=1)  # on top of the production profile (re-encoding, shuffled $batch, ...)
    start_seq = emulator.last_seq()
    restarts_before = len(emulator.restarted_at_seq)
    if scenario.behaviours:
        emulator.control("PUT", "/behaviours", scenario.behaviours)
    watcher = None
    if scenario.trigger:
        action = {"revoke": lambda: emulator.control("POST", "/tokens/revoke"), "restart": emulator.kill_and_restart}[scenario.trigger]
        watcher = Watcher(emulator, start_seq, max(1, len(expected.needing) // 3), action)
        watcher.start()
    started = time.monotonic()
    # A run that must end by a deadline is killed at three times it: a stalled run fails its row in bounded time.
    timeout = MODULE_TIMEOUT if scenario.deadline is None else min(MODULE_TIMEOUT, 3 * scenario.deadline)
    run1 = run_module(expected.module_args(emulator.info, scenario.module_args), work_dir, scenario.name + "-run1", collections, timeout)
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
    after1 = expected.oracle(emulator)
    run2 = run_module(expected.module_args(emulator.info, scenario.module_args), work_dir, scenario.name + "-run2", collections)
    result2, rc2, tail2 = run2.result, run2.rc, run2.tail
    end_seq = emulator.last_seq()
    after2 = expected.oracle(emulator)
    log = emulator.requests_since(start_seq)
    run1_log = [entry for entry in log if entry["seq"] <= mid_seq]
    run2_log = [entry for entry in log if entry["seq"] > mid_seq and entry["seq"] <= end_seq]
    ids = emulator.user_ids()
    restart_seqs = emulator.restarted_at_seq[restarts_before:]

    row = {"fault": scenario.fault, "scenario": scenario.name, "users": tenant.count, "needing_change": len(expected.needing),
           "faults_left": len(faults_left), "groups": len(expected.photos) + len(expected.absent_groups) - tenant.count or None}
    row.update(_check_run1(result1, rc1, tail1, expected, after1, problems))
    writes1 = [entry for entry in run1_log if is_write(entry)]
    forced = [entry for entry in writes1 if _forced(entry)]
    lost = _answers_lost_to_restarts(writes1, restart_seqs, ids)
    written = {owner_of(entry, ids) for entry in writes1 if _applied(entry)}
    unneeded = sorted(key for key in written if key not in expected.needing)
    tokens1 = sum(1 for entry in run1_log if entry.get("api") == "entra" and entry["path"].endswith("/oauth2/v2.0/token"))
    failed_keys = {expected.entry_key(entry) for entry in (result1 or {}).get("results") or [] if entry.get("action") == "failed"}
    row.update(writes=len(writes1), retries_forced=len(forced) + sum(lost.values()), answers_lost_to_kill=sum(lost.values()),
               token_requests=tokens1, run1_seconds=round(seconds1, 1), run1_stats=(result1 or {}).get("stats"),
               failed_applied=sum(1 for key in failed_keys if key in written and after1.get(key) == expected.wanted.get(key)))
    if len(writes1) > len(expected.needing) + row["retries_forced"]:
        problems.append("run 1 sent %d writes for %d users and groups needing a change and %d forced retries"
                        % (len(writes1), len(expected.needing), row["retries_forced"]))
    _check_written_once(writes1, lost, ids, problems)
    if unneeded:
        problems.append("run 1 wrote to %d users or groups that already had the wanted photo, e.g. %s" % (len(unneeded), unneeded[:3]))
    if tokens1 > scenario.token_requests:
        problems.append("run 1 asked for %d tokens (at most %d expected)" % (tokens1, scenario.token_requests))
    if scenario.no_failures and row.get("failed"):
        problems.append("%d users failed although the module should recover from %s by itself" % (row["failed"], scenario.fault))
    if expected.groups is not None:
        row.update(_check_group_traffic(run1_log, ids, problems))
    row.update(_check_bounds(scenario, seconds1, run1, result1, problems))

    # Run 2: converges, with exactly one write per user or group that still lacked the wanted photo.
    missing_after1 = {key for key, digest in expected.wanted.items() if after1.get(key) != digest}
    writes2 = [entry for entry in run2_log if is_write(entry)]
    written2 = sorted(str(owner_of(entry, ids)) for entry in writes2)
    row.update(second_run_writes=len(writes2), missing_after_run1=len(missing_after1),
               second_run_failed=((result2 or {}).get("summary") or {}).get("failed"))
    if result2 is None:
        problems.append("run 2 returned no JSON result (rc %s): %s" % (rc2, tail2[-600:]))
    not_converged = sorted(key for key, digest in expected.wanted.items() if after2.get(key) != digest)
    if not_converged:
        problems.append("after run 2, %d users or groups lack the wanted photo, e.g. %s" % (len(not_converged), not_converged[:3]))
    if written2 != sorted(missing_after1):
        problems.append("run 2 wrote %d times (%d distinct users and groups) for %d missing the wanted photo"
                        % (len(writes2), len(set(written2)), len(missing_after1)))
    if expected.groups is not None and result2 is not None:
        _check_missing_group(result2, "run 2", problems)
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


def _answers_lost_to_restarts(writes, restart_seqs, ids):
    """Writes the killed emulator applied and logged whose answer never left: the module had to send them again.
    Counted per user or group: written (2xx) in the last stretch before a kill and written again after it."""
    lost = {}
    for boundary in restart_seqs:
        before = {owner_of(entry, ids) for entry in writes if entry["seq"] <= boundary and 200 <= entry["status"] < 300}
        for key in {owner_of(entry, ids) for entry in writes if entry["seq"] > boundary}:
            if key in before:
                lost[key] = lost.get(key, 0) + 1
    return lost


def _check_written_once(writes, lost, ids, problems):
    """Nothing written twice: a user or group is changed by at most one write, plus one for each write the fault made
    the module send again (an answer lost after the change was applied)."""
    applied, forced = {}, {}
    for entry in writes:
        key = owner_of(entry, ids)
        if _applied(entry):
            applied[key] = applied.get(key, 0) + 1
        if _forced(entry):
            forced[key] = forced.get(key, 0) + 1
    twice = sorted(key for key, count in applied.items() if count > 1 + forced.get(key, 0) + lost.get(key, 0))
    if twice:
        problems.append("run 1 changed %d users or groups more than once without a fault to force it, e.g. %s" % (len(twice), twice[:3]))


def _check_group_traffic(log, ids, problems):
    """A row with groups: its groups' photos went through the endpoint their entries name, and the fault reached them."""
    group_requests = [entry for entry in log if entry.get("api") == "graph" and (owner_of(entry, ids) or "").startswith("group:")]
    writes = [entry for entry in group_requests if is_write(entry)]
    hit = [entry for entry in group_requests if entry.get("fault")]
    out = {"group_writes": len(writes), "team_writes": sum(1 for entry in writes if "/teams/" in entry["path"]),
           "group_requests_faulted": len(hit)}
    if not out["team_writes"] or out["team_writes"] == len(writes):
        problems.append("the groups' writes did not go through both endpoints: %d of %d through /teams" % (out["team_writes"], len(writes)))
    if not hit:
        problems.append("no fault reached a group's request: the row proves nothing for groups")
    return out


def _check_missing_group(result, run, problems):
    """The entry that names no group fails, in every run, as a group."""
    entries = [entry for entry in result.get("results") or [] if entry.get("group") == MISSING_GROUP]
    if [entry.get("action") for entry in entries] != ["failed"] or "no group has" not in str(entries[0].get("message")):
        problems.append("%s: the entry for %s is %s" % (run, MISSING_GROUP, entries))
    elif MISSING_GROUP not in (result.get("failed_groups") or []):
        problems.append("%s: failed_groups lacks %s" % (run, MISSING_GROUP))


def _check_lists(result, results, problems):
    """failed_users / not_attempted_users name exactly the users of those entries, and *_groups the groups."""
    for action, name in (("failed", "failed"), ("not_attempted", "not_attempted")):
        of_action = [entry for entry in results if entry.get("action") == action]
        users = sorted(str(entry.get("user")) for entry in of_action if entry.get("kind") != "group")
        groups = sorted(str(entry.get("group")) for entry in of_action if entry.get("kind") == "group")
        if sorted(map(str, result.get(name + "_users") or [])) != users:
            problems.append("%s_users (%d) differs from the %d %s user entries" % (name, len(result.get(name + "_users") or []), len(users), action))
        if sorted(map(str, result.get(name + "_groups") or [])) != groups:
            problems.append("%s_groups %s differs from the %s group entries %s" % (name, (result.get(name + "_groups") or [])[:5], action, groups[:5]))


def _check_shape(entry, expected, problems):
    """A user entry names no group; a group entry names no user, the group as the task named it, its id and endpoint."""
    if entry.get("kind") == "user":
        if entry.get("group") is not None or entry.get("group_id") is not None or entry.get("endpoint") is not None:
            problems.append("user entry %s names a group: %s" % (entry.get("user"), {k: entry.get(k) for k in ("group", "group_id", "endpoint")}))
        return
    if entry.get("kind") != "group":
        problems.append("an entry of kind %r: %s" % (entry.get("kind"), str(entry)[:200]))
        return
    named = (expected.groups.named if expected.groups is not None else {}).get(entry.get("group"))
    if entry.get("user") is not None:
        problems.append("group entry %s names user %s" % (entry.get("group"), entry.get("user")))
    if entry.get("group") == MISSING_GROUP:
        return
    if named is None:
        problems.append("an entry for an unknown group %r" % entry.get("group"))
    elif entry.get("group_id") is None:  # not resolved: the lookup by mail or mailNickname failed, or was not reached
        if entry.get("action") not in ("failed", "not_attempted") or entry.get("endpoint") != named[1]:
            problems.append("group entry %s has no group_id but is %s (endpoint %s)" % (entry.get("group"), entry.get("action"), entry.get("endpoint")))
    elif (group_key(entry["group_id"]), entry.get("endpoint")) != named:
        problems.append("group entry %s: group_id %s, endpoint %s; expected %s" % (entry.get("group"), entry.get("group_id"), entry.get("endpoint"), named))


def _check_run1(result, rc, tail, expected, after, problems):
    """The result's shape and every entry against the emulator's state."""
    if result is None:
        problems.append("run 1 returned no JSON result (rc %d): %s" % (rc, tail[-800:]))
        return {"failed": None, "outcome": "no result"}
    out = {"module_rc": rc, "outcome": "failed: " + str(result.get("msg"))[:300] if result.get("failed") else "ok"}
    missing = [key for key in ("results", "summary", "stats", "failed_users", "failed_groups", "not_attempted_users",
                               "not_attempted_groups") if key not in result]
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
        if not summary.get("total") == expected.count == counted:
            problems.append("summary does not add up: %s for %d users and groups" % (summary, expected.count))
    if results and len(results) != expected.count:
        problems.append("%d entries in results for %d users and groups" % (len(results), expected.count))
    _check_lists(result, results, problems)
    if expected.groups is not None:
        _check_missing_group(result, "run 1", problems)
    by_action = {}
    for entry in results:
        key, action = expected.entry_key(entry), entry.get("action")
        by_action[action] = by_action.get(action, 0) + 1
        _check_shape(entry, expected, problems)
        if entry.get("group") == MISSING_GROUP:
            continue
        if key not in expected.wanted:
            problems.append("an entry for an unknown user or group %r" % key)
            continue
        wanted, previous, now = expected.wanted[key], expected.previous[key], after.get(key)
        done = ("uploaded", "unchanged") if wanted is not None else ("removed", "unchanged")
        if action in done and now != wanted:
            problems.append("%s is %s but the emulator holds %s" % (key, action, "the previous photo" if now == previous else now))
        elif action == "failed" and now not in (wanted, previous):
            problems.append("%s failed and holds a photo that is neither wanted nor previous" % key)
        elif action == "not_attempted" and now != previous:
            problems.append("%s was not attempted but its photo changed" % key)
        elif action not in done + ("failed", "not_attempted"):
            problems.append("%s: unexpected action %r" % (key, action))
    if summary and by_action and any(by_action.get(action, 0) != summary.get(action, 0) for action in ACTIONS):
        problems.append("summary %s differs from the entries %s" % (summary, by_action))
    strangers = [key for key, digest in after.items() if key in expected.wanted and digest not in (expected.wanted[key], expected.previous[key])]
    if strangers:
        problems.append("%d users or groups hold a photo that is neither wanted nor previous, e.g. %s" % (len(strangers), strangers[:3]))
    return out
