# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft's own clients (msgraph-sdk, msal, azure-identity), installed from PyPI and used unmodified, against the
emulator. One emulator per test module on 127.0.0.1, port 0, with a state directory of its own; reset before each test.

TLS is never turned off: every client gets the emulator's CA in the way that library takes it."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from emulator.server import EmulatorServer  # noqa: E402

from clients_support import STEERING_VARIABLES, ClientCertificate, Emulator  # noqa: E402


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("emulator")), port=0, host="127.0.0.1") as server:
        emu = Emulator(server)
        yield emu
        emu.http.close()


@pytest.fixture
def emu(emulator, monkeypatch):
    """The module's emulator, reset to the default seed, with a clean environment for the clients."""
    for name in STEERING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    emulator.reset()
    return emulator


@pytest.fixture(scope="module")
def client_certificate():
    return ClientCertificate()


@pytest.fixture(scope="module")
def other_certificate():
    return ClientCertificate("someone-else")
