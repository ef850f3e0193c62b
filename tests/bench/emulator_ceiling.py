# SPDX-License-Identifier: GPL-3.0-or-later
"""How many requests per second the emulator can answer, so the benchmark knows it is not the bottleneck.

Client processes (several, so the client side is not held back by one GIL) each run threads that send
GET /users/{id}/photo over keep-alive connections for a fixed time. Run against an emulator started with
`run.py start --background`; prints JSON.

    python emulator_ceiling.py --info STATE_DIR/emulator.json [--processes 2 --threads 8 --seconds 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
from urllib.parse import quote

import requests


def _session(ca_path):
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxy for 127.0.0.1
    session.verify = ca_path
    return session


def _client_process(info, token, users, threads, seconds, queue):
    counts = [0] * threads
    errors = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(index):
        session = _session(info["ca_path"])
        headers = {"Authorization": "Bearer " + token}
        n = index
        while time.monotonic() < deadline:
            user = users[n % len(users)]
            n += threads
            response = session.get("%s/users/%s/photo" % (info["graph_url"], quote(user, safe="")), headers=headers, timeout=30)
            if response.status_code in (200, 404):
                counts[index] += 1
            else:
                errors[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((sum(counts), sum(errors)))


def measure(info, processes=2, threads=8, seconds=5.0, latency_ms=0):
    control = _session(info["ca_path"])
    control.put(info["control_url"] + "/behaviours", json={"latency_ms": latency_ms, "jitter_ms": 0}, timeout=30).raise_for_status()
    token = control.post(info["control_url"] + "/tokens", json={}, timeout=30).json()["access_token"]
    users = [u["userPrincipalName"] for u in control.get(info["control_url"] + "/users", timeout=60).json()["users"]][:200]
    queue = multiprocessing.Queue()
    started = time.monotonic()
    procs = [multiprocessing.Process(target=_client_process, args=(info, token, users, threads, seconds, queue)) for dummy in range(processes)]
    for proc in procs:
        proc.start()
    results = [queue.get() for dummy in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - started
    done = sum(r[0] for r in results)
    return {"latency_ms": latency_ms, "connections": processes * threads, "requests": done,
            "errors": sum(r[1] for r in results), "seconds": round(elapsed, 2), "requests_per_second": round(done / elapsed, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--info", required=True, help="the emulator's emulator.json")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    with open(args.info, encoding="utf-8") as handle:
        info = json.load(handle)
    print(json.dumps(measure(info, args.processes, args.threads, args.seconds, args.latency_ms)))


if __name__ == "__main__":
    main()
