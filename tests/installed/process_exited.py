# SPDX-License-Identifier: GPL-3.0-or-later
"""Has a process exited? `python process_exited.py PID [--wait SECONDS]` exits 0 once it has, 1 if it still runs when
the wait is over, and prints {"pid", "state", "exited"} as JSON.

A process that has exited but is not reaped yet stays in /proc as a zombie (state Z) until its parent, or PID 1 for
a detached one, waits for it; some PID 1s (this build machine's, many containers') do that late or never. So "gone"
means: no /proc/PID, or its state is Z (zombie) or X (dead). The state is the field after the command name in
/proc/PID/stat, and the command name, in parentheses, may itself hold spaces and parentheses: it is read after the
last ')'.

Used by tests/installed/playbook.yml (run.sh copies it next to the playbook) after the emulator role's stop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

EXITED_STATES = ("Z", "X")  # zombie (exited, not reaped), dead (being removed)


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, D, Z, ...), or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):  # ProcessLookupError: reaped between open() and read()
        return None
    fields = stat.rpartition(b")")[2].split()
    if not fields:  # emptied while read: gone
        return None
    return fields[0].decode("ascii", "replace")


def has_exited(pid: int) -> bool:
    return process_state(pid) in (None,) + EXITED_STATES


def wait_exited(pid: int, seconds: float, clock=time.monotonic, sleep=time.sleep, interval: float = 0.05) -> bool:
    """True as soon as the process has exited; False if it still runs after `seconds` (a bounded wait)."""
    deadline = clock() + seconds
    while not has_exited(pid):
        if clock() >= deadline:
            return False
        sleep(interval)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 once a process has exited (a zombie counts as exited).")
    parser.add_argument("pid", type=int)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for it at most (default: look once)")
    args = parser.parse_args(argv)
    exited = wait_exited(args.pid, args.wait)
    print(json.dumps({"pid": args.pid, "state": process_state(args.pid), "exited": exited}))
    return 0 if exited else 1


if __name__ == "__main__":
    sys.exit(main())
