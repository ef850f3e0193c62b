# SPDX-License-Identifier: GPL-3.0-or-later
"""connect(): every connection option is checked before anything is sent, and the pieces are wired as agreed."""
from __future__ import annotations

import sys

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph import _connect as _connection
from ansible_collections.o365.outlook.plugins.module_utils.auth._msal_tokens import AppTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.auth._tokens import StaticTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.graph._connect import connect
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import TlsSession

SECRET = "connection-test-secret"
APP = dict(tenant_id="contoso.onmicrosoft.com", client_id="app-id", client_secret=SECRET, auth_method="auto",
           cloud="global", api="graph", validate_certs=True, timeout=30.0)


@pytest.fixture(autouse=True)
def no_network_and_no_environment(monkeypatch):
    """connect() must not send anything; the build machine's credentials must not decide."""
    def refuse(*args, **kwargs):
        raise AssertionError("connect() sent a request")
    monkeypatch.setattr(TlsSession, "request", refuse)
    for name in ("O365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


class RecordingTransport:
    def __init__(self, session, provider, **kwargs):
        self.session = session
        self.token_provider = provider
        self.kwargs = kwargs


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setattr(_connection, "ApiTransport", RecordingTransport)


@pytest.mark.parametrize("timeout", [-1, -1.0, 0, 0.0, float("nan"), float("inf"), float("-inf"), 3601, "abc", True])
def test_regression_bad_timeout_is_refused_before_anything(timeout):
    """issue 8 defect 9: timeout -1 gave a traceback, or with a secret an error that blamed tenant_id."""
    with pytest.raises(ConfigurationError) as caught:
        connect(dict(APP, timeout=timeout))
    assert caught.value.msg.startswith("timeout must be a number of seconds")
    assert "tenant_id" not in caught.value.msg


@pytest.mark.parametrize("value, expected", [(None, 30.0), (0.5, 0.5), (3600, 3600.0), ("12", 12.0)])
def test_good_timeouts(value, expected):
    assert _connection.checked_timeout(dict(timeout=value)) == expected


def test_wiring_redactor_api_base_and_timeout(recorded):
    redactor = Redactor()
    client = connect(dict(APP, timeout=12.5, api_url="https://127.0.0.1:8443/v1.0/"), redactor=redactor, pool_size=3,
                     retry_policy="policy", gate="gate")
    transport = client.transport
    assert transport.kwargs == dict(retry_policy="policy", gate="gate", redactor=redactor, api_base="https://127.0.0.1:8443/v1.0")
    assert isinstance(transport.token_provider, AppTokenProvider)
    assert transport.token_provider.timeout == 12.5
    assert transport.session.default_timeout == 12.5
    # The token endpoint has a session of its own: it never sees the API's bearer token.
    assert transport.token_provider.http_client is not transport.session
    assert redactor.redact(SECRET) == MASK


def test_a_redactor_is_made_when_none_is_given(recorded):
    client = connect(dict(access_token="tok-abc", timeout=None))
    redactor = client.transport.kwargs["redactor"]
    assert isinstance(redactor, Redactor) and redactor.redact("Bearer tok-abc") == "Bearer " + MASK
    assert isinstance(client.transport.token_provider, StaticTokenProvider)


def test_warnings_reach_the_module(recorded):
    warnings = []
    connect(dict(APP, access_token="tok-abc"), warn=warnings.append)
    assert len(warnings) == 1 and "using access_token, ignoring client_secret" in warnings[0]


def test_ca_path_must_exist(tmp_path):
    with pytest.raises(ConfigurationError, match="ca_path .* does not exist or is not a file"):
        connect(dict(APP, ca_path=str(tmp_path / "missing.pem")))


def test_ca_path_ignored_without_verification_is_said(recorded, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    warnings = []
    client = connect(dict(APP, ca_path=str(ca), validate_certs=False), warn=warnings.append)
    assert client.transport.session.verify is False
    assert "ca_path is ignored" in warnings[0]


def test_ca_path_is_the_trust_source(recorded, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    client = connect(dict(APP, ca_path=str(ca)))
    assert client.transport.session.verify == str(ca)
    assert client.transport.token_provider.http_client.verify == str(ca)


@pytest.mark.parametrize("params, message", [
    (dict(APP, api_url="http://graph.example/v1.0"), "api_url must be an https:// URL"),
    (dict(APP, authority_host="https://login.example/?x=1"), "authority_host must not have a query string"),
    (dict(APP, managed_identity_client_id="uami"), "managed_identity_client_id is only used with a managed identity"),
    (dict(APP, client_certificate_password="pw"), "client_certificate_password is only used with a client certificate"),
    (dict(APP, auth_method="client_certificate"), "auth_method=client_certificate needs client_certificate_path"),
    (dict(APP, tenant_id=None, client_id=None), "tenant_id and client_id are required with client_secret"),
])
def test_option_problems_are_configuration_errors_before_any_request(params, message):
    with pytest.raises(ConfigurationError, match=message):
        connect(params)


def test_missing_requests_is_reported_first(monkeypatch):
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import MissingLibraryError

    def missing():
        raise MissingLibraryError("requests is needed", "requests")
    monkeypatch.setattr(_connection, "require_requests", missing)
    with pytest.raises(MissingLibraryError):
        connect(dict(APP, timeout=-1))


def test_no_msal_needed_to_connect(recorded, monkeypatch):
    # msal is imported at the first token request, not by connect().
    monkeypatch.setitem(sys.modules, "msal", None)
    assert connect(APP).transport.token_provider.can_refresh
