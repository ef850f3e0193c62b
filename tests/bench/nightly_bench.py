# SPDX-License-Identifier: GPL-3.0-or-later
"""Nightly runs (issue 11): what a sync in which nothing changed costs, with and without `state_file`.

Every user already holds the photo of its file. The sync runs once with a state file to fill it (once more if that
run had to upload: an upload is recorded without an etag), then the no-change run is measured twice: with the state
file and without it. Requests and photo bytes are counted from the emulator's request log, not from the module:
every HTTP request (API and token) is an entry with `batch: false`; a photo download is a GET of .../photo/$value
(a $batch item or a request of its own), and its bytes are the entry's `response_size`.

    python tests/bench/nightly_bench.py --collections DIR [--users 10000] [--work-dir DIR] [--json FILE]

From another script (the emulator already running, e.g. run_bench.py's):

    from nightly_bench import run_nightly, print_rows
    rows = run_nightly(emulator.info_file, collections, users=10000, work_dir=work)
    print_rows(rows)

Target: with the state file, at most 0.06 requests per user and no photo bytes downloaded.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import requests
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_EMULATOR = os.path.join(REPO, "tests", "emulator", "run.py")
PLAYBOOK = os.path.join(HERE, "playbooks", "nightly.yml")
DOMAIN = "contoso.onmicrosoft.com"
TARGET_REQUESTS_PER_USER = 0.06
SEED_CHUNK = 500


def upn(index: int) -> str:
    return "nightly%05d@%s" % (index, DOMAIN)


def _photo(index: int, size: int) -> bytes:
    """A portrait-sized JPEG with some texture (so its size is a photo's, not a flat colour's), the same every time."""
    rand = random.Random(index)
    image = Image.new("RGB", (size, size), (rand.randrange(256), rand.randrange(256), rand.randrange(256)))
    pixels = image.load()
    for _unused in range(size * 4):
        pixels[rand.randrange(size), rand.randrange(size)] = (rand.randrange(256), rand.randrange(256), rand.randrange(256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def photo_folder(work_dir: str, users: int, size: int) -> str:
    """work_dir/nightly-photos-<users>-<size>/<upn>.jpg, made once and reused."""
    folder = os.path.join(work_dir, "nightly-photos-%d-%d" % (users, size))
    marker = os.path.join(folder, ".complete")
    if not os.path.exists(marker):
        os.makedirs(folder, exist_ok=True)
        for index in range(users):
            with open(os.path.join(folder, upn(index) + ".jpg"), "wb") as handle:
                handle.write(_photo(index, size))
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(str(users))
    return folder


class _Control:
    """The emulator's control API (seed, behaviours, request log)."""

    def __init__(self, info: dict) -> None:
        self.info = info
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.verify = info["ca_path"]

    def call(self, method: str, path: str, body=None) -> dict:
        response = self.http.request(method, self.info["control_url"] + path, json=body, timeout=600)
        response.raise_for_status()
        return response.json()

    def seed(self, folder: str, users: int, latency_ms: float) -> None:
        """A fresh tenant in which every user already holds the photo of its file."""
        self.call("POST", "/reset")
        for start in range(0, users, SEED_CHUNK):
            batch = []
            for index in range(start, min(users, start + SEED_CHUNK)):
                with open(os.path.join(folder, upn(index) + ".jpg"), "rb") as handle:
                    batch.append({"userPrincipalName": upn(index), "photo_b64": base64.b64encode(handle.read()).decode()})
            self.call("POST", "/users", {"users": batch})
        self.call("PUT", "/behaviours", {"latency_ms": latency_ms, "jitter_ms": latency_ms * 0.1})

    def mark(self) -> int:
        return self.call("GET", "/requests?since=999999999999")["last_seq"]

    def since(self, seq: int) -> list:
        return self.call("GET", "/requests?since=%d" % seq)["requests"]


def log_counts(entries: list) -> dict:
    """What a run sent, from the emulator's request log."""
    http = [entry for entry in entries if not entry["batch"]]
    downloads = [entry for entry in entries if entry["method"] == "GET" and entry["path"].endswith("/photo/$value")
                 and entry["status"] == 200]
    return {"requests": len(http),
            "api_requests": sum(1 for entry in http if entry["api"] in ("graph", "outlook_v2", "batch")),
            "photo_downloads": len(downloads),
            "photo_bytes": sum(entry.get("response_size") or 0 for entry in downloads)}


class _Runner:
    def __init__(self, info_file: str, collections: str, work_dir: str, parallelism: int | None) -> None:
        self.info_file = info_file
        self.work_dir = work_dir
        self.parallelism = parallelism
        bindir = os.path.dirname(sys.executable)
        self.playbook = os.path.join(bindir, "ansible-playbook")
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="false",
                        ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
                        ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                        ANSIBLE_CALLBACK_TREE_DIR=os.path.join(work_dir, "nightly-tree"))
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")

    def sync(self, src_dir: str, state_file: str | None) -> tuple:
        """(seconds, the module's result) of one sync run."""
        extra = {"emulator_info": self.info_file, "src_dir": src_dir, "state_file": state_file or ""}
        if self.parallelism:
            extra["parallelism"] = self.parallelism
        result_file = os.path.join(self.env["ANSIBLE_CALLBACK_TREE_DIR"], "localhost")
        if os.path.exists(result_file):
            os.unlink(result_file)
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.work_dir, delete=False) as handle:
            json.dump(extra, handle)
        started = time.monotonic()
        try:
            proc = subprocess.run([self.playbook, PLAYBOOK, "-e", "@" + handle.name], env=self.env, capture_output=True,
                                  text=True, check=False)
        finally:
            os.unlink(handle.name)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("the sync failed (%d):\n%s" % (proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
        with open(result_file, encoding="utf-8") as result:
            return seconds, json.load(result)


def _info(emulator_info, work_dir: str) -> tuple:
    """(info dict, path of a file holding it) from either."""
    if isinstance(emulator_info, dict):
        path = os.path.join(work_dir, "nightly-emulator.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(emulator_info, handle)
        return emulator_info, path
    with open(emulator_info, encoding="utf-8") as handle:
        return json.load(handle), emulator_info


def run_nightly(emulator_info, collections: str, users: int = 10000, work_dir: str | None = None, parallelism: int | None = None,
                latency_ms: float = 50.0, photo_size: int = 240) -> list:
    """Rows measuring a no-change sync of `users` users with and without a state file.

    emulator_info: the emulator's info (the dict `run.py start` prints) or the path of its emulator.json; the tenant is
    reset and seeded. collections: the directory holding ansible_collections/o365/outlook. Each row: case, users,
    requests (every HTTP request, token included), api_requests, photo_downloads, photo_bytes, their per-user values,
    seconds (the whole ansible-playbook run) and the module's own stats.
    """
    work_dir = work_dir or tempfile.mkdtemp(prefix="nightly-bench-")
    os.makedirs(work_dir, exist_ok=True)
    info, info_file = _info(emulator_info, work_dir)
    control = _Control(info)
    folder = photo_folder(work_dir, users, photo_size)
    control.seed(folder, users, latency_ms)
    runner = _Runner(info_file, collections, work_dir, parallelism)
    state_file = os.path.join(work_dir, "nightly-state.json")
    if os.path.exists(state_file):
        os.unlink(state_file)

    # Fill the state file: without ETag headers a record is trusted once two runs' downloads agree, so up to an upload
    # and two comparisons, until a run downloads nothing.
    for _unused in range(4):
        _seconds, filled = runner.sync(folder, state_file)
        if filled["summary"]["failed"]:
            raise RuntimeError("filling the state file failed for %d users" % filled["summary"]["failed"])
        if not filled["summary"]["uploaded"] and not filled["stats"]["photos_downloaded"]:
            break

    rows = []
    for case, path in (("no change, with state_file", state_file), ("no change, without state_file", None)):
        seq = control.mark()
        seconds, result = runner.sync(folder, path)
        if result["summary"]["unchanged"] != users or result["changed"]:
            raise RuntimeError("%s did the wrong work: %s" % (case, result["summary"]))
        counts = log_counts(control.since(seq))
        stats = result["stats"]
        rows.append(dict(case=case, users=users, seconds=round(seconds, 2), **counts,
                         requests_per_user=round(counts["requests"] / users, 4),
                         api_requests_per_user=round(counts["api_requests"] / users, 4),
                         photo_downloads_per_user=round(counts["photo_downloads"] / users, 4),
                         photo_bytes_per_user=round(counts["photo_bytes"] / users, 1),
                         module_stats={key: stats.get(key) for key in ("requests", "batches", "photos_downloaded",
                                                                       "bytes_downloaded", "state_file_hits")}))
    return rows


def targets(rows: list) -> list:
    """(name, holds) for the issue's target, judged on the row with the state file."""
    row = next(row for row in rows if "with state_file" in row["case"])
    return [("with state_file: <= %.2f requests per user" % TARGET_REQUESTS_PER_USER, row["requests_per_user"] <= TARGET_REQUESTS_PER_USER),
            ("with state_file: no photo bytes downloaded", row["photo_bytes"] == 0 and row["photo_downloads"] == 0)]


def print_rows(rows: list) -> None:
    print("%-32s %7s %9s %12s %14s %16s %9s" % ("case", "users", "requests", "requests/u", "downloads/u", "photo bytes/u", "seconds"))
    for row in rows:
        values = (row["case"], row["users"], row["requests"], row["requests_per_user"], row["photo_downloads_per_user"],
                  row["photo_bytes_per_user"], row["seconds"])
        print("%-32s %7d %9d %12.4f %14.4f %16.1f %9.2f" % values)
    for name, holds in targets(rows):
        print("target %-50s %s" % (name, "holds" if holds else "MISSED"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", required=True, help="directory holding ansible_collections/o365/outlook")
    parser.add_argument("--work-dir", default=os.path.join(REPO, ".build", "bench-nightly"))
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--photo-size", type=int, default=240, help="side of the square source photos, in pixels")
    parser.add_argument("--parallelism", type=int, default=None, help="the module's default when not given")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    state_dir = os.path.join(args.work_dir, "emulator")
    # ideal: the figures are counts, and the ideal profile neither re-encodes nor delays a write's visibility.
    started = subprocess.run([sys.executable, RUN_EMULATOR, "start", "--background", "--profile", "ideal", "--state-dir", state_dir],
                             check=True, capture_output=True, text=True).stdout
    try:
        rows = run_nightly(json.loads(started), args.collections, users=args.users, work_dir=args.work_dir,
                           parallelism=args.parallelism, latency_ms=args.latency_ms, photo_size=args.photo_size)
    finally:
        subprocess.run([sys.executable, RUN_EMULATOR, "stop", "--state-dir", state_dir], check=False, capture_output=True)
    print_rows(rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    sys.exit(0 if all(holds for _name, holds in targets(rows)) else 1)


if __name__ == "__main__":
    main()
