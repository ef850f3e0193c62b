# SPDX-License-Identifier: GPL-3.0-or-later
"""The token goes only to api_url's scheme, host and port; redirects are followed by the transport itself (issue 8 defect 5)."""
from __future__ import annotations

import pytest
import requests

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError, MalformedAnswerError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import GraphDialect, PhotoClient
from ansible_collections.o365.outlook.plugins.module_utils.graph._origin import url_origin
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import BearerAuth, TlsSession
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport

from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply, ScriptedAdapter

API = "https://graph.example/v1.0"
URL = API + "/users/a/photo"
TOKEN = "token-1"


@pytest.fixture
def session(adapter):
    # Both schemes go to the scripted adapter, so a request that should never leave is recorded if it does.
    http = TlsSession(verify="/ca.pem", timeout=7.0)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    return http


@pytest.fixture
def transport(session, retry_policy):
    return ApiTransport(session, FakeTokens(), retry_policy, api_base=API)


def no_token_anywhere(adapter, error):
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error.fail_kwargs())
    for sent in adapter.sent:
        assert "graph.example" in sent["url"].split("/")[2]


@pytest.mark.parametrize("url, origin", [
    ("https://graph.example/v1.0", ("https", "graph.example", 443)),
    ("HTTPS://Graph.EXAMPLE:443/x", ("https", "graph.example", 443)),
    ("http://graph.example/x", ("http", "graph.example", 80)),
    ("https://[::1]:8443/x", ("https", "[::1]", 8443)),
    # urllib.parse says graph.example here, but requests connects to evil.example: the origin must say so too.
    ("https://evil.example\\@graph.example/v1.0", ("https", "evil.example", 443)),
    ("https://h:notaport/", None),
    ("/relative/only", None),
    (None, None),
])
def test_url_origin_is_what_requests_connects_to(url, origin):
    assert url_origin(url) == origin


@pytest.mark.parametrize("link", [
    "https://evil.example/v1.0/users?$skiptoken=2",
    "http://graph.example/v1.0/users?$skiptoken=2",
    "https://graph.example:8443/v1.0/users?$skiptoken=2",
    "https://evil.example\\@graph.example/v1.0/users?$skiptoken=2",
    "https://graph.example.evil.example/v1.0/users",
    "//evil.example/v1.0/users",
])
def test_regression_next_link_elsewhere_is_never_requested(adapter, session, retry_policy, link):
    """issue 8 defect 5: the bearer token followed @odata.nextLink to any host."""
    client = PhotoClient(ApiTransport(session, FakeTokens(), retry_policy, api_base=API), GraphDialect(API))
    adapter.expect("GET", "/users?", Reply(200, json_body={"value": [{"id": "1", "userPrincipalName": "a@x"}], "@odata.nextLink": link}))
    with pytest.raises(MalformedAnswerError) as caught:
        list(client.list_users())
    assert len(adapter.sent) == 1
    assert "was not sent" in str(caught.value)
    assert "but the token is only sent to api_url's host https://graph.example:443" in str(caught.value)
    no_token_anywhere(adapter, caught.value)


def test_same_origin_spelt_differently_is_allowed(adapter, transport):
    adapter.expect("GET", "/v1.0/users", Reply(200, json_body={}))
    transport.request("GET", "https://GRAPH.example:443/v1.0/users?$skiptoken=2")
    assert adapter.sent[0]["headers"]["Authorization"] == "Bearer " + TOKEN


def test_no_api_base_keeps_the_old_behaviour_for_links(adapter, session, retry_policy):
    adapter.expect("GET", "other.example", Reply(200, json_body={}))
    ApiTransport(session, FakeTokens(), retry_policy).request("GET", "https://other.example/v1.0/users")
    assert len(adapter.sent) == 1


def test_bearer_auth_refuses_to_sign_a_prepared_request_elsewhere():
    # The last line of defence, on the URL exactly as requests prepared it.
    auth = BearerAuth(FakeTokens(), origin=("https", "graph.example", 443))
    prepared = requests.Request("GET", "https://evil.example\\@graph.example/x").prepare()
    with pytest.raises(Exception) as caught:
        auth(prepared)
    assert "Authorization" not in prepared.headers
    assert TOKEN not in str(caught.value)
    good = auth(requests.Request("GET", "https://graph.example/x").prepare())
    assert good.headers["Authorization"] == "Bearer " + TOKEN


def test_regression_redirect_from_https_to_http_is_refused(adapter, transport):
    """issue 8 defect 5: redirects from https to http were followed (with the token, to the same host)."""
    adapter.expect("GET", "/photo", Reply(302, headers={"Location": "http://graph.example/v1.0/users/a/photo", "request-id": "r-9"}))
    with pytest.raises(MalformedAnswerError, match="which is not https") as caught:
        transport.request("GET", URL)
    assert len(adapter.sent) == 1
    assert caught.value.request_id == "r-9"
    no_token_anywhere(adapter, caught.value)


@pytest.mark.parametrize("location", [
    "https://evil.example/v1.0/users/a/photo",
    "https://graph.example:444/v1.0/users/a/photo",
    "//evil.example/x",
    "https://evil.example\\@graph.example/x",
])
def test_regression_redirect_to_another_origin_is_refused(adapter, transport, location):
    """issue 8 defect 5: a redirect elsewhere was followed (the token was dropped, the request was still sent)."""
    adapter.expect("PUT", "/photo", Reply(307, headers={"Location": location}))
    with pytest.raises(MalformedAnswerError, match="but the token is only sent to api_url's host https://graph.example:443") as caught:
        transport.request("PUT", URL, data=b"jpeg")
    assert len(adapter.sent) == 1
    no_token_anywhere(adapter, caught.value)


def test_same_origin_redirect_keeps_method_body_and_token(adapter, transport):
    adapter.expect("PUT", "/photo", Reply(308, headers={"Location": "/v1.0/users/a-id/photo/$value"}))
    adapter.expect("PUT", "/users/a-id/photo/$value", Reply(200))
    transport.request("PUT", URL, data=b"jpeg", headers={"Content-Type": "image/jpeg"})
    second = adapter.sent[1]
    assert second["url"] == "https://graph.example/v1.0/users/a-id/photo/$value"
    assert second["body"] == b"jpeg"
    assert second["headers"]["Content-Type"] == "image/jpeg"
    assert second["headers"]["Authorization"] == "Bearer " + TOKEN


@pytest.mark.parametrize("status", [301, 302])
def test_moved_write_keeps_its_method(adapter, transport, status):
    adapter.expect("DELETE", "/photo", Reply(status, headers={"Location": API + "/users/b/photo"}))
    adapter.expect("DELETE", "/users/b/photo", Reply(204))
    transport.request("DELETE", URL)
    assert [s["method"] for s in adapter.sent] == ["DELETE", "DELETE"]


def test_see_other_after_a_write_reads_the_result_with_get(adapter, transport):
    adapter.expect("PUT", "/photo", Reply(303, headers={"Location": API + "/users/a/photo"}))
    adapter.expect("GET", "/users/a/photo", Reply(200, json_body={"id": "1"}))
    assert transport.request("PUT", URL, data=b"jpeg", headers={"Content-Type": "image/jpeg"}).json() == {"id": "1"}
    assert adapter.sent[1]["body"] is None
    assert "Content-Type" not in adapter.sent[1]["headers"]


def test_redirect_loop_stops_after_five(adapter, transport):
    for dummy in range(6):
        adapter.expect("GET", "/photo", Reply(302, headers={"Location": URL}))
    with pytest.raises(MalformedAnswerError, match="more than 5 redirects"):
        transport.request("GET", URL)
    assert len(adapter.sent) == 6


@pytest.mark.parametrize("reply, words", [
    (Reply(302), "without a Location"),
    (Reply(302, headers={"Location": "  "}), "without a Location"),
    (Reply(304), "HTTP 304"),
    (Reply(300, json_body={"choices": []}), "HTTP 300"),
    (Reply(302, headers={"Location": "https://[bad/x"}), "an address that cannot be read"),
])
def test_unfollowable_3xx_is_a_malformed_answer(adapter, transport, reply, words):
    adapter.expect("GET", "/photo", reply)
    with pytest.raises(MalformedAnswerError, match=words.replace("[", "\\[")):
        transport.request("GET", URL)
    assert len(adapter.sent) == 1


def test_token_session_refuses_https_to_http_redirect():
    # The token session keeps requests' automatic redirects (msal uses it); a downgrade would put a
    # client secret (307/308 keep the form) on the wire in clear.
    adapter = ScriptedAdapter()
    session = TlsSession()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    adapter.expect("POST", "/token", Reply(307, headers={"Location": "http://login.example/tenant/token"}))
    with pytest.raises(requests.exceptions.InvalidSchema, match="https to a URL that is not https"):
        session.post("https://login.example/tenant/token", data={"client_secret": "s3cret"})
    assert len(adapter.sent) == 1


def test_token_session_still_follows_https_redirects():
    adapter = ScriptedAdapter()
    session = TlsSession()
    session.mount("https://", adapter)
    adapter.expect("GET", "/.well-known", Reply(302, headers={"Location": "https://login.example/v2/.well-known"}))
    adapter.expect("GET", "/v2/.well-known", Reply(200, json_body={}))
    assert session.get("https://login.example/.well-known").status_code == 200


@pytest.mark.parametrize("token", ["", "abc def", "abc\r\nX-Injected: 1", "t\u00e9ken", None])
def test_token_that_cannot_be_a_header_is_refused_before_sending(adapter, session, retry_policy, token):
    transport = ApiTransport(session, FakeTokens(tokens=(token,)), retry_policy, api_base=API)
    with pytest.raises(AuthenticationError, match="cannot be sent in an HTTP header") as caught:
        transport.request("GET", URL)
    assert adapter.sent == []
    if token:
        assert token not in str(caught.value)
