# SPDX-License-Identifier: GPL-3.0-or-later
"""One token per run at any parallelism, and one refresh for all workers after a 401, counted from the request log
of the in-process emulator (issue 8 defect 7 and build item 5)."""
from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._connect import connect
from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import control_calls
from ansible_collections.o365.outlook.tests.unit.utils.threads import run_together

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "11111111-1111-4111-8111-111111111111"
SECRET = "emulator-secret-value"
TENANT = "00000000-0000-4000-8000-00000000c0de"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
WORKERS = 16


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("token-emulator"))) as server:
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with control_calls(emulator) as call:
        yield call


def _token_requests(control):
    log = control("GET", "/requests?since=0")["requests"]
    return [entry for entry in log if entry["api"] == "entra" and entry["method"] == "POST"]


def _read_together(client):
    """WORKERS threads released at once, each reading Alex's photo; returns what each got."""
    return run_together(WORKERS, lambda index: client.get_content(ALEX), timeout=60)


def test_one_token_per_run_and_one_refresh_after_expiry(emulator, control):
    """issue 8 defect 7: sixteen workers starting together asked for more than one token."""
    info = emulator.info
    params = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=info["authority_host"],
                  api_url=info["graph_url"], ca_path=info["ca_path"], validate_certs=True, timeout=30.0)
    client = connect(params, pool_size=WORKERS)

    first = _read_together(client)
    assert all(isinstance(photo, bytes) and photo for photo in first), first
    assert len(_token_requests(control)) == 1

    control("POST", "/tokens/expire")
    second = _read_together(client)
    assert all(isinstance(photo, bytes) and photo for photo in second), second
    tokens = _token_requests(control)
    assert len(tokens) == 2
    assert [entry["status"] for entry in tokens] == [200, 200]
    assert [entry["credential"] for entry in tokens] == ["secret", "secret"]
    # Every worker was turned away once with the expired token, then served with the one new token.
    log = control("GET", "/requests?since=%d" % tokens[0]["seq"])["requests"]
    rejected = [entry for entry in log if entry["api"] == "graph" and entry["status"] == 401]
    assert 1 <= len(rejected) <= WORKERS
