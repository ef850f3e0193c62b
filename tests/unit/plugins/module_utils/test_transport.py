# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
import requests

from ansible_collections.o365.outlook.plugins.module_utils.auth._tokens import StaticTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import (
    AuthenticationError, GraphError, MalformedAnswerError, TransportError)
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import tls_verify_setting
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport

from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply, graph_error

URL = "https://graph.example/v1.0/users/a/photo"


def test_bearer_token_verify_and_timeout_on_every_request(adapter, session, retry_policy, monkeypatch):
    # The machine-wide CA bundle variable must not override ca_path (psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    adapter.expect("GET", "/photo", Reply(200, json_body={}))
    ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    sent = adapter.sent[0]
    assert sent["headers"]["Authorization"] == "Bearer token-1"
    assert sent["verify"] == "/ca.pem"
    assert sent["timeout"] == 7.0


@pytest.mark.parametrize("validate, ca, expected", [(True, None, True), (True, "/x.pem", "/x.pem"), (False, "/x.pem", False)])
def test_tls_verify_setting(validate, ca, expected):
    assert tls_verify_setting(validate, ca) == expected


def test_netrc_never_replaces_the_bearer_token(adapter, session, retry_policy, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine graph.example login someone password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    adapter.expect("GET", "/photo", Reply(200, json_body={}))
    ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert adapter.sent[0]["headers"]["Authorization"] == "Bearer token-1"


def test_redirect_to_another_host_is_not_followed(adapter, session, retry_policy, tmp_path, monkeypatch):
    # Without api_base the request's own origin is the limit (issue 8 defect 5): neither the token nor the
    # netrc credentials of the other host can go there, because nothing is sent there at all.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine elsewhere.example login someone password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    adapter.expect("GET", "/photo", Reply(302, headers={"Location": "https://elsewhere.example/blob"}))
    with pytest.raises(MalformedAnswerError, match="elsewhere.example:443"):
        ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert len(adapter.sent) == 1


def test_token_kept_on_same_host_redirect(adapter, session, retry_policy):
    adapter.expect("GET", "/photo", Reply(307, headers={"Location": "https://graph.example/v1.0/other"}))
    adapter.expect("GET", "/v1.0/other", Reply(200, json_body={}))
    ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert adapter.sent[1]["headers"]["Authorization"] == "Bearer token-1"


def test_429_then_success_honours_fractional_retry_after(adapter, session, retry_policy, sleeps):
    adapter.expect("GET", "/photo", graph_error(429, "TooManyRequests", headers={"Retry-After": "2.128"}))
    adapter.expect("GET", "/photo", graph_error(503, "ServiceUnavailable"))
    adapter.expect("GET", "/photo", Reply(200, json_body={"ok": 1}))
    transport = ApiTransport(session, FakeTokens(), retry_policy)
    assert transport.request("GET", URL).json() == {"ok": 1}
    assert sleeps[0] == 2.128
    assert sleeps[1] == pytest.approx(0.75 * 1.0)  # backoff for retry 2: ceiling 1.0, half fixed + 0.5 * half
    assert transport.stats == {"requests": 3, "retries": 2, "throttled": 1}


def test_connection_errors_are_retried_then_reported(adapter, session, sleeps):
    policy = RetryPolicy(max_attempts=3, sleep=sleeps.append, rand=lambda: 0.0)
    for dummy in range(3):
        adapter.expect("GET", "/photo", Reply(raises=requests.exceptions.ConnectionError("Connection refused by peer")))
    with pytest.raises(TransportError, match="failed after 3 attempts: ConnectionError: Connection refused"):
        ApiTransport(session, FakeTokens(), policy).request("GET", URL)
    assert len(sleeps) == 2


def test_throttling_that_never_ends_surfaces_the_graph_error(adapter, session, sleeps):
    policy = RetryPolicy(max_attempts=2, sleep=sleeps.append)
    for dummy in range(2):
        adapter.expect("PUT", "/photo", graph_error(429, "TooManyRequests", "Please retry again later.", headers={"Retry-After": "1"}))
    with pytest.raises(GraphError) as caught:
        ApiTransport(session, FakeTokens(), policy).request("PUT", URL, data=b"x")
    assert caught.value.status == 429
    assert caught.value.code == "TooManyRequests"
    assert "request-id req-1" in caught.value.msg


def test_401_refreshes_token_once_and_retries(adapter, session, retry_policy):
    tokens = FakeTokens()
    adapter.expect("GET", "/photo", graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."))
    adapter.expect("GET", "/photo", Reply(200, json_body={}))
    ApiTransport(session, tokens, retry_policy).request("GET", URL)
    assert tokens.refreshes == 1
    assert [s["headers"]["Authorization"] for s in adapter.sent] == ["Bearer token-1", "Bearer token-2"]


def test_second_401_is_an_error(adapter, session, retry_policy):
    tokens = FakeTokens()
    adapter.expect("GET", "/photo", graph_error(401, "InvalidAuthenticationToken"))
    adapter.expect("GET", "/photo", graph_error(401, "InvalidAuthenticationToken"))
    with pytest.raises(GraphError) as caught:
        ApiTransport(session, tokens, retry_policy).request("GET", URL)
    assert caught.value.status == 401
    assert tokens.refreshes == 1


def test_static_token_401_says_token_rejected(adapter, session, retry_policy):
    adapter.expect("GET", "/photo", graph_error(401, "InvalidAuthenticationToken"))
    with pytest.raises(GraphError) as caught:
        ApiTransport(session, StaticTokenProvider("abc"), retry_policy).request("GET", URL)
    assert caught.value.status == 401
    with pytest.raises(AuthenticationError, match="rejected access_token"):
        StaticTokenProvider("abc").refresh()


def test_error_without_json_body_keeps_status_and_text(adapter, session, retry_policy):
    adapter.expect("GET", "/photo", Reply(502, content=b"<html>Bad gateway</html>", headers={"request-id": "hdr-id"}))
    with pytest.raises(GraphError) as caught:
        ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert caught.value.status == 502
    assert caught.value.request_id == "hdr-id"
    assert "Bad gateway" in caught.value.msg


def test_tls_failures_are_not_retried(adapter, session, retry_policy, sleeps):
    adapter.expect("GET", "/photo", Reply(raises=requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")))
    with pytest.raises(TransportError, match="set ca_path"):
        ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert sleeps == []


def test_a_tls_connection_cut_by_a_restarting_server_is_retried(adapter, session, retry_policy, sleeps):
    """Found by the fault matrix: a server killed mid-handshake gives SSLEOFError, which is a dropped connection,
    not a certificate problem; it stopped the whole run instead of being retried."""
    cut = requests.exceptions.SSLError("HTTPSConnectionPool(host='127.0.0.1', port=1): Max retries exceeded (Caused by "
                                       "SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)')))")
    adapter.expect("GET", "/photo", Reply(raises=cut))
    adapter.expect("GET", "/photo", Reply(200, json_body={"id": "1x1"}))
    response = ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert response.status_code == 200 and len(sleeps) == 1


@pytest.mark.parametrize("text", [
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
    "hostname '127.0.0.2' doesn't match '127.0.0.1'",
    "[SSL: WRONG_VERSION_NUMBER] wrong version number",
])
def test_tls_configuration_problems_are_not_transient(text):
    from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import tls_failure_is_transient
    assert tls_failure_is_transient(requests.exceptions.SSLError(text)) is False
