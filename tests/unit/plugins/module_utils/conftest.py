# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import TlsSession
from ansible_collections.o365.outlook.tests.unit.utils.http_script import ScriptedAdapter


@pytest.fixture
def adapter():
    return ScriptedAdapter()


@pytest.fixture
def session(adapter):
    http = TlsSession(verify="/ca.pem", timeout=7.0)
    http.mount("https://", adapter)
    return http


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def retry_policy(sleeps):
    """Sleeps are recorded, not slept."""
    return RetryPolicy(sleep=sleeps.append, rand=lambda: 0.5, base_delay=0.5)
