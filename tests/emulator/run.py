# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line of the emulator.

    python tests/emulator/run.py start --state-dir DIR [--port 0] [--host 127.0.0.1] [--background] [--persist]
                                       [--profile production|ideal]
    python tests/emulator/run.py stop --state-dir DIR
    python tests/emulator/run.py info --state-dir DIR

start prints the info (URLs, CA path, port, pid) as one JSON line and writes it to DIR/emulator.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emulator.server import EmulatorServer  # noqa: E402
from emulator.state import DEFAULT_PROFILE, PROFILES  # noqa: E402

START_TIMEOUT = 15
STOP_TIMEOUT = 5
KILL_TIMEOUT = 2  # what a SIGKILLed process may take to exit
INFO_FILE, PID_FILE, LOG_FILE = "emulator.json", "emulator.pid", "emulator.log"


def _path(state_dir, name):
    return os.path.join(state_dir, name)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_file(path, text):
    """Write through a temporary file and rename, so a reader never sees half a file."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _read_pid(state_dir):
    try:
        with open(_path(state_dir, PID_FILE), encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid):
    """True while the process exists and is not a zombie (an unreaped zombie would otherwise look alive forever)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False  # reaped since os.kill() (ProcessLookupError: between open() and read())
    except (OSError, IndexError):
        return True  # no /proc here: os.kill() said it exists


def _is_emulator(pid):
    """Guards against a recycled pid: the process must be this script (checked where /proc exists)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return os.path.basename(__file__).encode() in handle.read()
    except OSError:
        return True


def _healthy(info):
    context = ssl.create_default_context(cafile=info["ca_path"])
    conn = http.client.HTTPSConnection(info["host"], info["port"], context=context, timeout=2)
    try:
        conn.request("GET", "/_emulator/health")
        resp = conn.getresponse()
        return resp.status == 200 and json.loads(resp.read()).get("ok") is True
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _log_tail(state_dir, lines=30):
    try:
        with open(_path(state_dir, LOG_FILE), encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)\n"


def _serve_foreground(args, state_dir):
    server = EmulatorServer(state_dir, port=args.port, host=args.host, persist=args.persist, profile=args.profile).start()
    _write_file(_path(state_dir, INFO_FILE), json.dumps(server.info, indent=2) + "\n")
    print(json.dumps(server.info), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if not os.path.isdir(state_dir):
                # Its folder was deleted (a test's output cleaned up after a crash): nobody can stop it any more.
                break
    finally:
        server.stop()
        if (_read_json(_path(state_dir, INFO_FILE)) or {}).get("pid") == os.getpid():
            _remove(_path(state_dir, INFO_FILE))
    return 0


def _wait_until_up(proc, state_dir):
    """The child's info once it answers its health check over TLS; None if it died or the time ran out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        info = _read_json(_path(state_dir, INFO_FILE))
        if info and info.get("pid") == proc.pid and _healthy(info):
            return info
        time.sleep(0.1)
    return None


def _start_background(args, state_dir):
    _remove(_path(state_dir, INFO_FILE))
    command = [sys.executable, os.path.abspath(__file__), "start", "--state-dir", state_dir, "--port", str(args.port), "--host", args.host,
               "--profile", args.profile]
    if args.persist:
        command.append("--persist")
    with open(_path(state_dir, LOG_FILE), "wb") as log:
        # Detached on purpose (own session, outlives this process), hence no `with` around Popen.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    info = _wait_until_up(proc, state_dir)
    if info is None:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sys.stderr.write("emulator did not come up within %d s; last lines of %s:\n%s"
                         % (START_TIMEOUT, _path(state_dir, LOG_FILE), _log_tail(state_dir)))
        return 1
    _write_file(_path(state_dir, PID_FILE), "%d\n" % proc.pid)
    print(json.dumps(info), flush=True)
    return 0


def cmd_start(args):
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    pid = _read_pid(state_dir)
    if pid is not None and _pid_alive(pid) and _is_emulator(pid):
        sys.stderr.write("an emulator is already running for %s (pid %d): stop it first\n" % (state_dir, pid))
        return 1
    return _start_background(args, state_dir) if args.background else _serve_foreground(args, state_dir)


def _wait_exited(pid, seconds):
    """True once the process has exited (a zombie counts: a detached one is reaped by PID 1, sometimes late)."""
    deadline = time.monotonic() + seconds
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def cmd_stop(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    if pid is None or not _pid_alive(pid) or not _is_emulator(pid):
        print("emulator not running (%s)" % ("no pid file" if pid is None else "stale pid %d" % pid))
        _remove(_path(state_dir, PID_FILE))
        return 0
    os.kill(pid, signal.SIGTERM)
    if not _wait_exited(pid, STOP_TIMEOUT):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_exited(pid, KILL_TIMEOUT)  # so that "stopped" means exited, also after a SIGKILL
    _remove(_path(state_dir, PID_FILE))
    _remove(_path(state_dir, INFO_FILE))
    print("emulator stopped (pid %d)" % pid)
    return 0


def cmd_info(args):
    info = _read_json(_path(os.path.abspath(args.state_dir), INFO_FILE))
    if info is None:
        sys.stderr.write("no %s in %s: is the emulator started?\n" % (INFO_FILE, args.state_dir))
        return 1
    print(json.dumps(info))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Local Microsoft Graph + Entra ID emulator (HTTPS).")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start the emulator and print its info as JSON")
    start.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    start.add_argument("--host", default="127.0.0.1", help="address to listen on")
    start.add_argument("--background", action="store_true", help="detach, wait until it answers, then exit")
    start.add_argument("--persist", action="store_true",
                       help="keep users, photos, app registrations, the request log and the CA in the state dir (write-through);"
                            " a later start with --persist on the same dir loads them (tokens are not kept)")
    start.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE,
                       help="behaviour set (BEHAVIOURS.md, Profiles): production (default: re-encoding, a short propagation delay,"
                            " shuffled and concurrent $batch) or ideal (every behaviour off)")
    start.set_defaults(func=cmd_start)
    commands.add_parser("stop", help="stop the background emulator").set_defaults(func=cmd_stop)
    commands.add_parser("info", help="print the info of the running emulator").set_defaults(func=cmd_info)
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", required=True, help="directory for the CA, emulator.json, .pid and .log")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
