# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line: start --background, info, stop, as separate processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from emulator import run as run_py  # conftest.py put tests/ on sys.path

RUN_PY = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator", "run.py"))


def _run(*args):
    return subprocess.run([sys.executable, RUN_PY] + list(args), capture_output=True, text=True, timeout=60, check=False)


def test_start_background_info_stop(tmp_path):
    state_dir = str(tmp_path / "emu")
    started = _run("start", "--state-dir", state_dir, "--background")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout.strip().splitlines()[-1])
    try:
        assert info["graph_url"] == "https://127.0.0.1:%d/v1.0" % info["port"]
        assert os.path.exists(info["ca_path"]) and os.path.exists(os.path.join(state_dir, "emulator.pid"))
        assert json.loads(_run("info", "--state-dir", state_dir).stdout) == info
        with requests.Session() as session:
            session.trust_env = False
            health = session.get(info["control_url"] + "/health", verify=info["ca_path"], timeout=5)
            assert health.json() == {"ok": True}
        assert _run("start", "--state-dir", state_dir, "--background").returncode == 1  # already running
    finally:
        stopped = _run("stop", "--state-dir", state_dir)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(info["control_url"] + "/health", verify=info["ca_path"], timeout=2)
    again = _run("stop", "--state-dir", state_dir)
    assert again.returncode == 0 and "not running" in again.stdout
    assert _run("info", "--state-dir", state_dir).returncode == 1


def _exited(pid):
    """True once the process is gone or a zombie (it was started detached, so init reaps it)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # ProcessLookupError: reaped between open() and read()
        return True


def test_orphan_stops_when_its_folder_is_deleted(tmp_path):
    state_dir = str(tmp_path / "orphan")
    started = _run("start", "--state-dir", state_dir, "--background")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout.strip().splitlines()[-1])["pid"]
    shutil.rmtree(state_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _exited(pid):
        time.sleep(0.2)
    if not _exited(pid):
        os.kill(pid, 9)
        raise AssertionError("the emulator outlived its deleted folder")


def test_pid_alive_counts_a_zombie_as_exited():
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # pylint: disable=consider-using-with  # not waited for yet
    try:
        deadline = time.monotonic() + 10
        while not _exited(child.pid):
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        assert os.path.exists("/proc/%d" % child.pid)  # a zombie: exited, not reaped
        assert run_py._pid_alive(child.pid) is False  # pylint: disable=protected-access
    finally:
        child.wait(30)


def test_pid_alive_is_false_when_the_process_is_reaped_while_its_stat_is_read(monkeypatch):
    def reaped(*args, **kwargs):
        raise ProcessLookupError(3, "No such process")  # what read() of /proc/PID/stat gives once PID is reaped

    monkeypatch.setattr(run_py, "open", reaped, raising=False)
    assert run_py._pid_alive(os.getpid()) is False  # pylint: disable=protected-access  # os.kill(pid, 0) still succeeds
