# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault matrix's shared emulator (one process with --persist for every scenario, stopped by pid at the end, also
on failure) and its report: a table on stdout and JSON in $FAULT_MATRIX_REPORT (default: in pytest's temp folder)."""

from __future__ import annotations

import json
import os

import pytest

import fault_harness

ROWS = []
COLUMNS = (("fault", 44), ("users", 5), ("groups", 6), ("writes", 6), ("failed", 6), ("not_attempted", 13), ("failed_applied", 14), ("second_run_writes", 17),
           ("retries_forced", 14), ("token_requests", 14), ("run1_seconds", 12), ("deadline_s", 10), ("result", 6))


@pytest.fixture(scope="session")
def collections():
    root = fault_harness.collections_root()
    if root is None:
        pytest.fail("run the fault matrix from a collection copy (ansible_collections/o365/outlook): make fault-matrix")
    return root


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = fault_harness.Emulator(str(tmp_path_factory.mktemp("emulator")))
    try:
        emu.start()
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def tenant(tmp_path_factory):
    return fault_harness.Tenant(str(tmp_path_factory.mktemp("tenant")), int(os.environ.get("FAULT_MATRIX_USERS", "1000")))


@pytest.fixture(scope="session")
def report_path(tmp_path_factory):
    return os.environ.get("FAULT_MATRIX_REPORT") or str(tmp_path_factory.getbasetemp() / "fault-matrix.json")


@pytest.fixture(scope="session")
def record_row(report_path):
    """Adds a scenario's row to the table and rewrites the JSON report (so a later crash keeps the rows so far)."""
    def record(row):
        ROWS.append(row)
        with open(report_path, "w", encoding="utf-8") as handle:
            json.dump({"rows": ROWS}, handle, indent=2, default=str)
    return record


def _cell(row, name):
    if name == "result":
        return "ok" if not row.get("problems") else "FAIL"
    value = row.get(name)
    return "-" if value is None else str(value)


def pytest_terminal_summary(terminalreporter):
    if not ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("fault matrix (figures in %s)" % (os.environ.get("FAULT_MATRIX_REPORT") or "fault-matrix.json in pytest's temp folder"))
    write(" | ".join(name.ljust(width) for name, width in COLUMNS))
    write("-+-".join("-" * width for dummy, width in COLUMNS))
    for row in ROWS:
        write(" | ".join(_cell(row, name).ljust(width) for name, width in COLUMNS))
    for row in ROWS:
        for problem in row.get("problems") or []:
            write("%s: %s" % (row["scenario"], problem))
