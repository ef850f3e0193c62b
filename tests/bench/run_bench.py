# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: outlook_user_photo_sync against an Ansible loop, a sequential script and the lower bound.

Everything runs against the local emulator with a fixed latency per request. The tenant mix is
60% users whose photo is already right, 30% with another photo, 10% without a photo. Each figure is the
median of --runs runs, and each run starts from a freshly seeded tenant. Ratios are computed within one
benchmark run, so a busy machine slows every contender alike.

    python tests/bench/run_bench.py --collections DIR [--users 1000] [--runs 3] [--latency-ms 50]
    python tests/bench/run_bench.py --collections DIR --smoke    # quick check for `make test`

DIR holds ansible_collections/o365/outlook (the Makefile's .build/collections).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_EMULATOR = os.path.join(REPO, "tests", "emulator", "run.py")
PLAYBOOKS = os.path.join(HERE, "playbooks")
DOMAIN = "contoso.onmicrosoft.com"
BATCH = 20
# The mix of the issue: by user index modulo 10.
UNCHANGED, CHANGED, NO_PHOTO = range(0, 6), range(6, 9), range(9, 10)


def upn(index):
    return "bench%05d@%s" % (index, DOMAIN)


def kind_of(index):
    rest = index % 10
    if rest in UNCHANGED:
        return "unchanged"
    if rest in CHANGED:
        return "changed"
    return "no_photo"


def expected_summary(count):
    kinds = [kind_of(i) for i in range(count)]
    return {"uploaded": kinds.count("changed") + kinds.count("no_photo"), "unchanged": kinds.count("unchanged"), "failed": 0}


def lower_bound_per_user(latency_s, parallelism):
    """Fewest requests a tool needs for this mix, spread over `parallelism` connections.

    Reads: metadata of every user and the photo of the 90% who have one, 20 per $batch request.
    Writes: one PUT per changed or new user (40%); uploads cannot be batched.
    """
    requests_per_user = 1.0 / BATCH + 0.9 / BATCH + 0.4
    return requests_per_user * latency_s / parallelism, requests_per_user


# ---------------------------------------------------------------- fixtures

def _jpeg(index, shade=0):
    image = Image.new("RGB", (64, 64), ((index * 37 + shade) % 256, (index * 91) % 256, (index * 53 + 100) % 256))
    image.putpixel((index % 64, (index // 64) % 64), (255 - shade, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def photo_folder(work, count):
    """A folder of <upn>.jpg for users 0..count-1, made once and reused."""
    folder = os.path.join(work, "photos-%d" % count)
    marker = os.path.join(folder, ".complete")
    if not os.path.exists(marker):
        os.makedirs(folder, exist_ok=True)
        for index in range(count):
            with open(os.path.join(folder, upn(index) + ".jpg"), "wb") as handle:
                handle.write(_jpeg(index))
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(str(count))
    return folder


class Emulator:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        # ideal: the benchmark sets its own service model (latency) on the command line, and its figures compare with
        # the baselines measured before the emulator had profiles (tests/emulator/README.md, Profiles).
        out = subprocess.run([sys.executable, RUN_EMULATOR, "start", "--background", "--profile", "ideal", "--state-dir", state_dir],
                             check=True, capture_output=True, text=True).stdout
        self.info = json.loads(out)
        self.info_file = os.path.join(state_dir, "emulator.json")
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.verify = self.info["ca_path"]

    def control(self, method, path, body=None):
        response = self.http.request(method, self.info["control_url"] + path, json=body, timeout=300)
        response.raise_for_status()
        return response.json()

    def seed(self, count, folder, latency_ms):
        """A fresh tenant of `count` bench users in the 60/30/10 mix."""
        self.control("POST", "/reset")
        old = base64.b64encode(_jpeg(999999, shade=77)).decode()
        for start in range(0, count, 2000):
            users = []
            for index in range(start, min(count, start + 2000)):
                entry = {"userPrincipalName": upn(index)}
                kind = kind_of(index)
                if kind == "unchanged":
                    with open(os.path.join(folder, upn(index) + ".jpg"), "rb") as handle:
                        entry["photo_b64"] = base64.b64encode(handle.read()).decode()
                elif kind == "changed":
                    entry["photo_b64"] = old
                users.append(entry)
            self.control("POST", "/users", {"users": users})
        self.control("PUT", "/behaviours", {"latency_ms": latency_ms, "jitter_ms": latency_ms * 0.1})

    def token(self):
        return self.control("POST", "/tokens", {})["access_token"]

    def stop(self):
        subprocess.run([sys.executable, RUN_EMULATOR, "stop", "--state-dir", self.state_dir], check=False, capture_output=True)


# ---------------------------------------------------------------- measuring processes

def _children(pid):
    found = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task), encoding="ascii") as handle:
                found.extend(int(child) for child in handle.read().split())
    except OSError:
        pass
    return found


def _peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd, env):
    """(seconds, peak RSS in MB of the largest process in the tree, stdout). Fails loudly on a non-zero exit."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            pending, seen = [proc.pid], set()
            while pending:
                pid = pending.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                peak[0] = max(peak[0], _peak_rss_kb(pid))
                pending.extend(_children(pid))
            done.wait(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    output, _unused = proc.communicate()
    done.set()
    watcher.join()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode, output[-3000:]))
    return seconds, peak[0] / 1024.0, output


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work_dir
        os.makedirs(self.work, exist_ok=True)
        self.emulator = Emulator(os.path.join(self.work, "emulator"))
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=args.collections, ANSIBLE_LOCALHOST_WARNING="false",
                        ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_STDOUT_CALLBACK="default",
                        ANSIBLE_NOCOLOR="1")
        bindir = os.path.dirname(sys.executable)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.playbook = os.path.join(bindir, "ansible-playbook")

    def _playbook(self, name, extra, **env):
        extra_file = tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.work, delete=False)
        with extra_file:
            json.dump(dict(extra, emulator_info=self.emulator.info_file), extra_file)
        try:
            return run_measured([self.playbook, os.path.join(PLAYBOOKS, name), "-e", "@" + extra_file.name], dict(self.env, **env))
        finally:
            os.unlink(extra_file.name)

    def sync(self, count, parallelism=None, results=None):
        folder = photo_folder(self.work, count)
        self.emulator.seed(count, folder, self.args.latency_ms)
        extra = {"src_dir": folder}
        if parallelism:
            extra["parallelism"] = parallelism
        if results:
            extra["results"] = results
        tree = os.path.join(self.work, "tree")
        result_file = os.path.join(tree, "localhost")
        if os.path.exists(result_file):
            os.unlink(result_file)
        seconds, rss, _output = self._playbook("sync.yml", extra, ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                                               ANSIBLE_CALLBACK_TREE_DIR=tree)
        with open(result_file, encoding="utf-8") as handle:
            result = json.load(handle)
        summary = {key: result["summary"][key] for key in ("uploaded", "unchanged", "failed")}
        if summary != expected_summary(count):
            raise RuntimeError("sync of %d users did the wrong work: %s, expected %s" % (count, summary, expected_summary(count)))
        return {"seconds": seconds, "engine_seconds": result["stats"]["seconds"], "peak_rss_mb": rss,
                "requests": result["stats"]["requests"], "batches": result["stats"]["batches"]}

    def _seed_sample(self, sample, name):
        """A fresh tenant of `sample` users and a jobs file naming each user and its photo."""
        folder = photo_folder(self.work, sample)
        self.emulator.seed(sample, folder, self.args.latency_ms)
        jobs_file = os.path.join(self.work, name + "-jobs.json")
        with open(jobs_file, "w", encoding="utf-8") as handle:
            json.dump([{"user": upn(i), "src": os.path.join(folder, upn(i) + ".jpg")} for i in range(sample)], handle)
        return jobs_file

    def loop(self, sample):
        seconds, _rss, _output = self._playbook("loop.yml", {"jobs_file": self._seed_sample(sample, "loop")})
        return {"seconds": seconds}

    def script(self, sample):
        jobs_file = self._seed_sample(sample, "script")
        info = self.emulator.info
        seconds, _rss, output = run_measured([sys.executable, os.path.join(HERE, "sequential_script.py"), "--jobs", jobs_file,
                                              "--graph-url", info["graph_url"], "--authority-host", info["authority_host"],
                                              "--ca", info["ca_path"]], self.env)
        counts = json.loads(output.strip().splitlines()[-1])["counts"]
        expected = expected_summary(sample)
        if counts.get("uploaded", 0) != expected["uploaded"]:
            raise RuntimeError("sequential script did the wrong work: %s" % counts)
        return {"seconds": seconds}

    def single_task(self, kind, count, gets=2):
        folder = photo_folder(self.work, 1)
        self.emulator.seed(1, folder, self.args.latency_ms)
        extra = {"token": self.emulator.token(), "user": upn(0), "src": os.path.join(folder, upn(0) + ".jpg"),
                 "count": count, "gets": gets}
        seconds, _rss, _output = self._playbook("single_%s.yml" % kind, extra)
        return seconds

    def close(self):
        self.emulator.stop()


def median_of(runs, measure):
    values = [measure() for _unused in range(runs)]
    return statistics.median(values), values


def run_full(bench, args):
    latency = args.latency_ms / 1000.0
    report = {"latency_ms": args.latency_ms, "users": args.users, "runs": args.runs, "mix": "60% unchanged, 30% changed, 10% no photo"}
    parallelism = args.parallelism

    sync_runs = [bench.sync(args.users, parallelism) for _unused in range(args.runs)]
    sync_s = statistics.median(r["seconds"] for r in sync_runs)
    loop_s, _v = median_of(args.runs, lambda: bench.loop(args.loop_sample)["seconds"])
    script_s, _v = median_of(args.runs, lambda: bench.script(args.script_sample)["seconds"])
    per_user = {"sync": sync_s / args.users, "loop": loop_s / args.loop_sample, "script": script_s / args.script_sample}
    bound, requests_per_user = lower_bound_per_user(latency, parallelism)
    per_user["lower_bound"] = bound
    report.update(
        parallelism=parallelism,
        per_user_ms={k: round(v * 1000, 2) for k, v in per_user.items()},
        users_per_second={k: round(1.0 / v, 1) for k, v in per_user.items()},
        ratios={"loop/sync": round(per_user["loop"] / per_user["sync"], 1),
                "script/sync": round(per_user["script"] / per_user["sync"], 1),
                "sync/lower_bound": round(per_user["sync"] / bound, 2),
                "sync_engine/lower_bound": round(statistics.median(r["engine_seconds"] for r in sync_runs) / args.users / bound, 2)},
        lower_bound={"requests_per_user": round(requests_per_user, 3), "formula": "requests per user x latency / parallelism"},
        sync_runs=sync_runs,
        sync_peak_rss_mb=round(max(r["peak_rss_mb"] for r in sync_runs), 1),
        samples={"loop_users": args.loop_sample, "script_users": args.script_sample},
    )

    count = args.single_count
    base_module, _v = median_of(args.runs, lambda: bench.single_task("module", 0))
    module_s, _v = median_of(args.runs, lambda: bench.single_task("module", count))
    base_uri, _v = median_of(args.runs, lambda: bench.single_task("uri", 0))
    uri2_s, _v = median_of(args.runs, lambda: bench.single_task("uri", count, gets=2))
    uri1_s, _v = median_of(args.runs, lambda: bench.single_task("uri", count, gets=1))
    module_task = (module_s - base_module) / count
    uri_pair = (uri2_s - base_uri) / count
    uri_one = (uri1_s - base_uri) / count
    report["single_task_ms"] = {"outlook_user_photo_noop": round(module_task * 1000, 1), "uri_two_gets": round(uri_pair * 1000, 1),
                                "uri_one_get": round(uri_one * 1000, 1)}
    report["ratios"]["module/uri_two_gets"] = round(module_task / uri_pair, 2)
    report["ratios"]["module/uri_one_get"] = round(module_task / uri_one, 2)

    if args.sweep:
        sweep = {}
        for value in args.sweep:
            runs = [bench.sync(args.users, value) for _unused in range(args.runs)]
            seconds = statistics.median(r["seconds"] for r in runs)
            sweep[str(value)] = {"users_per_second": round(args.users / seconds, 1),
                                 "sync/lower_bound": round(seconds / args.users / lower_bound_per_user(latency, value)[0], 2)}
        report["parallelism_sweep"] = sweep

    if args.scale:
        scale = {}
        for users in args.scale:
            runs = [bench.sync(users, parallelism) for _unused in range(args.runs)]
            scale[str(users)] = {"seconds": round(statistics.median(r["seconds"] for r in runs), 2),
                                 "engine_seconds": round(statistics.median(r["engine_seconds"] for r in runs), 2),
                                 "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1)}
        largest = max(args.scale)
        runs = [bench.sync(largest, parallelism, results="failed") for _unused in range(args.runs)]
        scale["%d results=failed" % largest] = {
            "seconds": round(statistics.median(r["seconds"] for r in runs), 2),
            "engine_seconds": round(statistics.median(r["engine_seconds"] for r in runs), 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1)}
        report["scale"] = scale
        if "1000" in scale and "10000" in scale:
            report["ratios"]["t10k/(10*t1k)"] = round(scale["10000"]["seconds"] / (10 * scale["1000"]["seconds"]), 3)
            report["ratios"]["engine t10k/(10*t1k)"] = round(scale["10000"]["engine_seconds"] / (10 * scale["1000"]["engine_seconds"]), 3)
    return report


def targets(report):
    """(name, holds) for each target of the performance issue that this report can judge."""
    ratios = report["ratios"]
    checks = [("sync >= 25x faster per user than the loop", ratios["loop/sync"] >= 25),
              ("sync >= 8x faster per user than the sequential script", ratios["script/sync"] >= 8),
              ("sync within 2x of the lower bound", ratios["sync/lower_bound"] <= 2),
              ("no-op task <= 1.3x the uri task making the same two GETs", ratios["module/uri_two_gets"] <= 1.3)]
    if "t10k/(10*t1k)" in ratios:
        checks.append(("10,000 users within 10% of linear from 1,000 (whole run)", ratios["t10k/(10*t1k)"] <= 1.10))
        checks.append(("10,000 users within 10% of linear from 1,000 (module time)", ratios["engine t10k/(10*t1k)"] <= 1.10))
        checks.append(("10,000 users peak RSS under 250 MB", report["scale"]["10000"]["peak_rss_mb"] < 250))
    return checks


def print_report(report):
    print("\nlatency %s ms, %s users (%s), medians of %s runs, parallelism %s" % (
        report["latency_ms"], report["users"], report["mix"], report["runs"], report["parallelism"]))
    print("%-34s %12s %12s" % ("", "ms per user", "users/s"))
    labels = {"sync": "outlook_user_photo_sync", "loop": "loop over outlook_user_photo (%d users)" % report["samples"]["loop_users"],
              "script": "sequential script (%d users)" % report["samples"]["script_users"], "lower_bound": "lower bound"}
    for key, label in labels.items():
        print("%-34s %12.2f %12.1f" % (label[:34], report["per_user_ms"][key], report["users_per_second"][key]))
    print("single no-op task: module %(outlook_user_photo_noop)s ms, uri x2 GETs %(uri_two_gets)s ms, uri x1 GET %(uri_one_get)s ms"
          % report["single_task_ms"])
    print("sync peak RSS: %s MB" % report["sync_peak_rss_mb"])
    for name, value in report["ratios"].items():
        print("ratio %-28s %s" % (name, value))
    for name, values in report.get("parallelism_sweep", {}).items():
        print("parallelism %-4s %8s users/s  sync/lower_bound %s" % (name, values["users_per_second"], values["sync/lower_bound"]))
    for name, values in report.get("scale", {}).items():
        print("scale %-21s %7.2f s whole run, %7.2f s in the module, peak RSS %6.1f MB" % (
            name, values["seconds"], values["engine_seconds"], values["peak_rss_mb"]))
    for name, holds in targets(report):
        print("target %-58s %s" % (name, "holds" if holds else "MISSED"))


def run_smoke(bench, args):
    """Small and quick: sync must be at least 3x faster per user than the loop."""
    sync = bench.sync(args.users)
    loop = bench.loop(args.loop_sample)
    sync_per_user = sync["seconds"] / args.users
    loop_per_user = loop["seconds"] / args.loop_sample
    speedup = loop_per_user / sync_per_user
    print("smoke: sync %.1f ms/user (%d users), loop %.1f ms/user (%d users): %.1fx" % (
        sync_per_user * 1000, args.users, loop_per_user * 1000, args.loop_sample, speedup))
    ok = speedup >= 3
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", required=True, help="directory holding ansible_collections/o365/outlook")
    parser.add_argument("--work-dir", default=os.path.join(REPO, ".build", "bench"))
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--parallelism", type=int, default=8, help="the module's default")
    parser.add_argument("--loop-sample", type=int, default=20)
    parser.add_argument("--script-sample", type=int, default=100)
    parser.add_argument("--single-count", type=int, default=10)
    parser.add_argument("--scale", default="100,1000,10000", help="user counts for the scale series ('' to skip)")
    parser.add_argument("--sweep", default="", help="parallelism values to compare, e.g. 4,8,16,32")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--smoke", action="store_true", help="200 users, 5-user loop, one run; exit 1 unless sync is 3x faster")
    args = parser.parse_args()
    args.scale = [int(v) for v in args.scale.split(",") if v]
    args.sweep = [int(v) for v in args.sweep.split(",") if v]
    if args.smoke:
        args.users, args.loop_sample = 200, 5

    bench = Bench(args)
    try:
        if args.smoke:
            sys.exit(0 if run_smoke(bench, args) else 1)
        report = run_full(bench, args)
    finally:
        bench.close()
    print_report(report)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
        print("report written to %s" % args.json)


if __name__ == "__main__":
    main()
