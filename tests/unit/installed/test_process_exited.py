# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/installed/process_exited.py, the check `make installed-emulator` runs after stopping the emulator: a zombie
(exited, not reaped: what a late-reaping PID 1 leaves) counts as exited; a running process does not, even when its
command name holds ") Z ("; the wait is bounded. The processes are real: started here and waited for only at the
end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.o365.outlook.tests.installed import process_exited
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock

SCRIPT = process_exited.__file__

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")


def _raw_state(pid):
    with open("/proc/%d/stat" % pid, "rb") as handle:
        return handle.read().rpartition(b")")[2].split()[0].decode()


def _zombie():
    """A child that has exited and that nobody has waited for yet (Popen reaps only in poll() and wait())."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # pylint: disable=consider-using-with  # reaped by the test
    deadline = time.monotonic() + 10
    while _raw_state(child.pid) != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    return child


# The child renames itself (its command name, as /proc/PID/stat shows it in parentheses), says so, then sleeps.
_RENAMED_SLEEPER = "import sys, time; open('/proc/self/comm', 'w').write(sys.argv[1]); print('ready', flush=True); time.sleep(120)"


def _sleeper(comm):
    """A running child whose command name is `comm`, set before this returns."""
    child = subprocess.Popen([sys.executable, "-c", _RENAMED_SLEEPER, comm], stdout=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
    assert child.stdout.readline().strip() == "ready"
    return child


def _reap(child):
    child.kill()
    child.wait(30)
    child.stdout.close()


def test_a_zombie_counts_as_exited():
    child = _zombie()
    pid = child.pid
    try:
        assert os.path.exists("/proc/%d" % pid)  # what the old check looked at: it called this "Left over"
        assert process_exited.process_state(pid) == "Z"
        assert process_exited.has_exited(pid)
        assert process_exited.wait_exited(pid, 0)
        done = subprocess.run([sys.executable, SCRIPT, str(pid), "--wait", "5"], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout) == {"pid": pid, "state": "Z", "exited": True}
    finally:
        child.wait(30)
    assert process_exited.process_state(pid) is None and process_exited.has_exited(pid)  # reaped: no /proc entry at all


def test_a_running_process_named_like_a_zombie_still_runs():
    child = _sleeper("x) Z (y")
    pid = child.pid
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            assert handle.read().split(")")[1].split()[0] == "Z"  # read after the first ')', it would look exited
        assert process_exited.process_state(pid) in ("S", "R")
        assert not process_exited.has_exited(pid)
        done = subprocess.run([sys.executable, SCRIPT, str(pid), "--wait", "0.3"], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 1 and json.loads(done.stdout)["exited"] is False
    finally:
        _reap(child)


def test_the_wait_is_bounded():
    child = _sleeper("sleeper")
    clock = FakeClock()
    try:
        assert not process_exited.wait_exited(child.pid, 10, clock=clock.monotonic, sleep=clock.sleep)
        assert 10 <= sum(clock.sleeps) <= 10.1
    finally:
        _reap(child)


def test_the_wait_ends_when_the_process_exits(monkeypatch):
    states = iter(["S", "S", "Z"])
    monkeypatch.setattr(process_exited, "process_state", lambda pid: next(states))
    clock = FakeClock()
    assert process_exited.wait_exited(4242, 10, clock=clock.monotonic, sleep=clock.sleep)
    assert clock.sleeps == [0.05, 0.05]


def test_no_such_process_has_exited():
    assert process_exited.main([str(2 ** 22 + 1)]) == 0  # above the kernel's largest pid (pid_max is at most 2**22)
