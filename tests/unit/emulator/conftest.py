# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the emulator's own tests: one in-process emulator on 127.0.0.1 (port 0) per test session, reset before
every test, and small HTTP helpers that trust only the emulator's CA."""

from __future__ import annotations

import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402

RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
RO_CLIENT = "22222222-2222-4222-8222-222222222222"
RO_SECRET = "emulator-readonly-secret"
TENANT = "00000000-0000-4000-8000-00000000c0de"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"


class CaSession(requests.Session):
    """A requests session that trusts the emulator's CA and nothing from the environment.

    trust_env=False matters: the build machines export REQUESTS_CA_BUNDLE, which would make requests ignore
    Session.verify, and proxy variables must never apply to 127.0.0.1.
    """

    def __init__(self, ca_path):
        super().__init__()
        self.verify = ca_path
        self.trust_env = False


class Api:
    """Thin helpers over one session: control calls, tokens, Graph and Outlook calls."""

    def __init__(self, server, session):
        self.server = server
        self.info = server.info
        self.state = server.state
        self.http = session
        self.origin = server.info["authority_host"]

    def new_session(self):
        return CaSession(self.info["ca_path"])

    def control(self, method, path, **kwargs):
        return self.http.request(method, self.info["control_url"] + path, timeout=10, **kwargs)

    def behave(self, **behaviours):
        resp = self.control("PUT", "/behaviours", json=behaviours)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def token(self, client_id=RW_CLIENT, secret=RW_SECRET, scope=GRAPH_SCOPE):
        """A token from the real token endpoint (client secret)."""
        resp = self.http.post("%s/%s/oauth2/v2.0/token" % (self.origin, TENANT), timeout=10, data={
            "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials", "scope": scope})
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def mint(self, **spec):
        """A token minted through the control API (delegated when spec has user)."""
        resp = self.control("POST", "/tokens", json=spec)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def call(self, method, path, token=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        return self.http.request(method, self.origin + path, headers=headers, timeout=10, **kwargs)

    def graph(self, method, path, token=None, **kwargs):
        return self.call(method, "/v1.0" + path, token, **kwargs)

    def outlook(self, method, path, token=None, **kwargs):
        return self.call(method, "/api/v2.0" + path, token, **kwargs)

    def log(self, since=0):
        return self.control("GET", "/requests", params={"since": since}).json()["requests"]

    def oracle(self, key):
        return self.control("GET", "/users/" + requests.utils.quote(key, safe="")).json()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    # ideal: these tests check one behaviour at a time, each switching on what it checks; test_profiles.py checks that
    # the production profile (what run.py start gives) switches them all on together.
    with EmulatorServer(str(tmp_path_factory.mktemp("emulator")), profile="ideal") as server:
        yield server


@pytest.fixture
def api(emulator):
    emulator.state.reset()
    with CaSession(emulator.info["ca_path"]) as session:
        yield Api(emulator, session)


@pytest.fixture
def rw_token(api):
    return api.token()


class FakeClock:
    """The emulator state's clock (write_rate_limit, throttle_headers), moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(api, monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(api.state, "clock", fake)
    return fake
