# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""`make test-matrix`: `make sanity`, `make units` and `make demo` on every supported ansible-core.

Usage: tests/matrix/run.py --build DIR [--make MAKE] [VERSION ...]   (VERSION: 2.17 ... 2.21, default all)

Each version runs the Makefile's own targets with variables, nothing is copied from them:
  VENV=DIR/<version>/venv        its own venv, made by the Makefile's venv rule from a Python the version supports
                                 (PYTHON), installed once: DIR/<version>/requirements.txt (tests/matrix/requirements.txt
                                 plus `ansible-core==<version>.*`) is its stamp's prerequisite
  BUILD=DIR/<version>            its own collection copy, so ansible-test output is never shared between versions
  TEST_PYTHON=<the venv's X.Y>   ansible-test runs on the venv's own Python
Logs go to DIR/<version>/<part>.log; the table to stdout and DIR/report.md. Exit status 1 when any cell failed.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTS = ("sanity", "units", "demo")

# ansible-core version -> the controller Pythons it supports (its Requires-Python and ansible-test's
# CONTROLLER_PYTHON_VERSIONS), in the order this matrix prefers them. The first found on the machine is used.
# The preferences spread the entries over every controller Python from 3.10 to 3.13:
MATRIX = {
    "2.17": ("3.10", "3.11", "3.12"),  # 3.10-3.12: 3.10, its oldest, which no other entry covers
    "2.18": ("3.11", "3.12", "3.13"),  # 3.11-3.13: 3.11, the Python of .venv and of CI's default job
    "2.19": ("3.13", "3.12", "3.11"),  # 3.11-3.13: 3.13, since `make test` already runs 2.19 on 3.11
    "2.20": ("3.12", "3.13", "3.14"),  # 3.12-3.14: 3.12, its oldest
    "2.21": ("3.13", "3.14", "3.12"),  # 3.12-3.14: 3.13, the newest Python here
}


def run_quietly(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def python_version(python: str) -> str | None:
    """X.Y of a working interpreter with the venv module, or None (a pyenv shim for another version fails here)."""
    return run_quietly([python, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"])


def find_python(wanted: str) -> str | None:
    """python3.X on PATH, else the newest pyenv build of 3.X."""
    candidates = [shutil.which("python" + wanted)]
    pyenv_root = os.environ.get("PYENV_ROOT") or run_quietly(["pyenv", "root"]) or os.path.expanduser("~/.pyenv")
    builds = glob.glob(os.path.join(pyenv_root, "versions", wanted + ".*", "bin", "python" + wanted))
    candidates += sorted(builds, key=lambda path: [int(part) for part in path.split("/")[-3].split(".") if part.isdigit()],
                         reverse=True)
    for candidate in candidates:
        if candidate and python_version(candidate) == wanted:
            return os.path.realpath(candidate)
    return None


def write_if_changed(path: str, content: str) -> None:
    """Keep the file (and so the venv's stamp) unless its content changes or a file it includes is newer."""
    includes = [os.path.join(REPO, "tests", "matrix", "requirements.txt"), os.path.join(REPO, "meta", "ee-requirements.txt")]
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            same = handle.read() == content
        if same and all(os.path.getmtime(include) <= os.path.getmtime(path) for include in includes):
            return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)


class Entry:
    """One ansible-core version: its Python, its venv and its three cells."""

    def __init__(self, version: str, root: str, make: str) -> None:
        self.version = version
        self.root = os.path.join(root, version)
        self.venv = os.path.join(self.root, "venv")
        self.make = make
        self.python = None
        self.python_version = None
        self.core_version = None
        self.results = {}  # part -> (passed, seconds, log path)

    def make_args(self) -> list[str]:
        return [
            "VENV=" + self.venv,
            "PYTHON=" + self.python,
            "VENV_REQUIREMENTS=" + os.path.join(self.root, "requirements.txt"),
            "BUILD=" + self.root,
            "TEST_PYTHON=" + self.python_version,
        ]

    def run_make(self, part: str, target: str) -> bool:
        log = os.path.join(self.root, part + ".log")
        # A clean environment for the inner make: nothing from an outer make's command line or jobserver.
        env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as handle:
            handle.write("$ %s\n" % " ".join([self.make, "-C", REPO, target] + self.make_args()))
            handle.flush()
            code = subprocess.call([self.make, "--no-print-directory", "-C", REPO, target] + self.make_args(),
                                   stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        seconds = time.monotonic() - started
        self.results[part] = (code == 0, seconds, log)
        print("%-5s %-7s %s in %s (%s)" % (self.version, part, "pass" if code == 0 else "FAIL", duration(seconds), log), flush=True)
        if code != 0:
            with open(log, encoding="utf-8", errors="replace") as handle:
                tail = handle.readlines()[-40:]
            print("".join("      | " + line for line in tail), end="", flush=True)
        return code == 0

    def run(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        for wanted in MATRIX[self.version]:
            self.python = find_python(wanted)
            if self.python:
                self.python_version = wanted
                break
        if not self.python:
            print("%-5s no Python among %s on this machine" % (self.version, ", ".join(MATRIX[self.version])), flush=True)
            return
        venv_python = os.path.join(self.venv, "bin", "python")
        if os.path.exists(venv_python) and python_version(venv_python) != self.python_version:
            shutil.rmtree(self.venv)  # made from another Python: start again
        write_if_changed(os.path.join(self.root, "requirements.txt"),
                         "-r %s/tests/matrix/requirements.txt\nansible-core==%s.*\n" % (REPO, self.version))
        if self.run_make("setup", "bootstrap"):
            self.core_version = run_quietly([venv_python, "-c", "from ansible.release import __version__; print(__version__)"])
            for part in PARTS:
                self.run_make(part, part)

    def passed(self) -> bool:
        return all(self.results.get(part, (False,))[0] for part in ("setup",) + PARTS)

    def row(self) -> str:
        full_python = run_quietly([self.python, "-c", "import platform; print(platform.python_version())"]) if self.python else None
        cells = [self.core_version or self.version + " (not installed)", full_python or "none found"]
        for part in ("setup",) + PARTS:
            if part in self.results:
                passed, seconds, _log = self.results[part]
                cells.append("%s %s" % ("pass" if passed else "**FAIL**", duration(seconds)))
            else:
                cells.append("not run")
        return "| " + " | ".join(cells) + " |"


def duration(seconds: float) -> str:
    return "%dm%02ds" % divmod(int(round(seconds)), 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True, help="the matrix's directory ($(BUILD)/matrix)")
    parser.add_argument("--make", default=os.environ.get("MAKE", "make"))
    parser.add_argument("versions", nargs="*", default=list(MATRIX), help="ansible-core versions (default: %(default)s)")
    args = parser.parse_args()
    unknown = [version for version in args.versions if version not in MATRIX]
    if unknown:
        parser.error("unknown ansible-core version(s) %s; known: %s" % (", ".join(unknown), ", ".join(MATRIX)))
    root = os.path.abspath(args.build)
    os.makedirs(root, exist_ok=True)
    started = time.monotonic()
    entries = [Entry(version, root, args.make) for version in args.versions]
    for entry in entries:
        entry.run()
    failed = [entry.version for entry in entries if not entry.passed()]
    lines = [
        "# make test-matrix",
        "",
        "| ansible-core | Python | setup (venv, bootstrap) | sanity | units | demo |",
        "| --- | --- | --- | --- | --- | --- |",
    ] + [entry.row() for entry in entries] + [
        "",
        "%d of %d versions passed in %s%s. Logs: %s/<version>/<part>.log" % (
            len(entries) - len(failed), len(entries), duration(time.monotonic() - started),
            " (failed: %s)" % ", ".join(failed) if failed else "", root),
    ]
    report = "\n".join(lines) + "\n"
    with open(os.path.join(root, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(report)
    print("\n" + report, end="")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
