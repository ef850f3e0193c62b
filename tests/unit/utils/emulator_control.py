# SPDX-License-Identifier: GPL-3.0-or-later
"""The in-process emulator's control API for unit tests: reset, then calls that must answer 200."""

from __future__ import annotations

import contextlib

import requests


@contextlib.contextmanager
def control_calls(emulator):
    """Resets the emulator and yields call(method, path, body=None) -> the control API's JSON answer (asserting a 200);
    body, when given, is sent as JSON."""
    emulator.state.reset()
    session = requests.Session()
    session.verify = emulator.info["ca_path"]
    session.trust_env = False

    def call(method, path, body=None):
        response = session.request(method, emulator.info["control_url"] + path, json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()
    try:
        yield call
    finally:
        session.close()
