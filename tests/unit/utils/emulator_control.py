# SPDX-License-Identifier: GPL-3.0-or-later
"""The in-process emulator's control API for unit tests: reset, then calls that must answer 200."""

from __future__ import annotations

import contextlib

import requests


# What a module run must not pick up from the machine: proxies (never for 127.0.0.1) and connection defaults.
CONNECTION_ENVIRONMENT = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "O365_ACCESS_TOKEN",
                          "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLOUD",
                          "O365_API_URL", "AZURE_AUTHORITY_HOST")


def clear_connection_environment(monkeypatch):
    for name in CONNECTION_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


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
