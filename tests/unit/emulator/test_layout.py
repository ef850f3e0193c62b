# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator stays easy to change (issue 19): no file in tests/emulator/ grows past 500 lines, and the concerns stay
where CONTRIBUTING.md's map says they are."""

from __future__ import annotations

import ast
import os

import pytest

EMULATOR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator"))
MAX_LINES = 500


def _files():
    return sorted(name for name in os.listdir(EMULATOR) if os.path.isfile(os.path.join(EMULATOR, name)) and not name.endswith(".pyc"))


@pytest.mark.parametrize("name", _files())
def test_no_emulator_file_is_over_500_lines(name):
    with open(os.path.join(EMULATOR, name), encoding="utf-8") as handle:
        lines = sum(1 for dummy in handle)
    assert lines <= MAX_LINES, "tests/emulator/%s has %d lines: split it by concern (CONTRIBUTING.md)" % (name, lines)


# Where a reader looks for each thing (CONTRIBUTING.md, "Where the emulator keeps what"): the class must be defined there.
HOMES = {
    "User": "directory.py", "Group": "directory.py", "Photo": "directory.py", "Tenant": "tenant.py", "Token": "apps.py",
    "Client": "apps.py", "Behaviours": "behaviours.py", "Limits": "limits.py", "RequestLog": "request_log.py",
    "Journal": "persist.py", "State": "state.py", "ControlApi": "control.py", "GraphApi": "graph.py", "Entra": "entra.py",
}


def test_each_domain_object_lives_where_the_map_says():
    defined = {}
    for name in _files():
        if name.endswith(".py"):
            with open(os.path.join(EMULATOR, name), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    defined.setdefault(node.name, []).append(name)
    assert {name: defined.get(name) for name in HOMES} == {name: [home] for name, home in HOMES.items()}
