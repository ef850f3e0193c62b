# SPDX-License-Identifier: GPL-3.0-or-later
"""Error texts from service answers and connection failures: never raise, never show a secret (issue 8 defect 10)."""
from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError, TransportError, is_no_photo
from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport, _describe, _error_from_response

from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply

API = "https://graph.example/v1.0"
URL = API + "/users/a/photo"
# Looks like a real token and has characters that URL-encoding changes.
TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6+/Qx=Zk9vYmFyYmF6cXV1eC5zaWduYXR1cmUtcGFydA"


def leaked_prefix(text, secret, shortest=4):
    """The longest prefix of secret (at least `shortest` characters) found in text, or ''."""
    found = ""
    for length in range(shortest, len(secret) + 1):
        if secret[:length] in text:
            found = secret[:length]
    return found


def fail_with(adapter, session, retry_policy, reply, redactor=None, tokens=None):
    adapter.expect("GET", "/photo", reply)
    transport = ApiTransport(session, tokens or FakeTokens(tokens=(TOKEN,)), retry_policy, redactor=redactor, api_base=API)
    with pytest.raises(GraphError) as caught:
        transport.request("GET", URL)
    return caught.value


@pytest.mark.parametrize("form", [
    TOKEN,
    quote(TOKEN, safe=""),
    base64.b64encode(TOKEN.encode()).decode(),
])
def test_regression_token_at_the_cut_of_a_text_body_is_not_shown(adapter, session, retry_policy, form):
    """issue 8 defect 10: a text error body was cut at 200 characters before any masking, so the first
    characters of a token starting at character 190 were shown (no_log only masks whole values)."""
    body = ("x" * 190 + form + " trailing words").encode()
    error = fail_with(adapter, session, retry_policy, Reply(500, content=body))
    assert error.status == 500
    assert leaked_prefix(error.msg, form) == ""
    assert leaked_prefix(error.message, form) == ""
    assert error.message.startswith("x" * 190 + MASK)


@pytest.mark.parametrize("form, shown", [
    (quote(TOKEN, safe="").replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d"), TOKEN),
    ("".join("&#x%x;" % ord(char) for char in TOKEN), TOKEN),
    (TOKEN.encode().hex(), TOKEN.encode().hex()),
    (TOKEN[:24], TOKEN[:24]),  # a server that keeps only the first 24 characters
    (TOKEN[-10:], TOKEN[-10:]),
], ids=["percent-lower", "html-entities", "hex", "cut-off-prefix", "its-end"])
def test_regression_token_echoed_in_another_encoding_or_cut_is_not_shown(adapter, session, retry_policy, form, shown):
    """issue 17 defect 6: these echoes of the token in use were shown whole in the error's message."""
    body = json.dumps({"error": {"code": "BadRequest", "message": "Token %s is not valid." % form}}).encode()
    error = fail_with(adapter, session, retry_policy, Reply(400, content=body, headers={"Content-Type": "application/json"}))
    assert error.status == 400
    assert "Token %s is not valid." % MASK in error.message
    assert shown not in error.message and shown not in error.msg
    assert leaked_prefix(error.message, TOKEN, shortest=8) == ""


def test_the_token_in_use_is_redacted_without_being_registered_by_the_caller(adapter, session, retry_policy):
    redactor = Redactor()
    error = fail_with(adapter, session, retry_policy, Reply(502, content=("echo: Bearer " + TOKEN).encode()), redactor=redactor)
    assert TOKEN not in error.msg
    assert "echo: Bearer " + MASK in error.msg
    assert redactor.redact(TOKEN) == MASK


def test_other_registered_secrets_are_redacted_in_json_messages(adapter, session, retry_policy):
    redactor = Redactor()
    redactor.add("client-secret-value-1")
    body = {"error": {"code": "BadRequest", "message": "form was client_secret=client-secret-value-1&x=1",
                      "innerError": {"request-id": "r-1"}}}
    error = fail_with(adapter, session, retry_policy, Reply(400, json_body=body), redactor=redactor)
    assert "client-secret-value-1" not in error.msg
    assert error.message == "form was client_secret=%s&x=1" % MASK
    assert error.code == "BadRequest"
    assert error.request_id == "r-1"


def test_connection_error_text_is_redacted(adapter, session, sleeps):
    policy = RetryPolicy(max_attempts=2, sleep=sleeps.append, rand=lambda: 0.0)
    for dummy in range(2):
        adapter.expect("GET", "/photo", Reply(raises=requests.exceptions.ConnectionError("proxy said: bad header Bearer " + TOKEN)))
    with pytest.raises(TransportError) as caught:
        ApiTransport(session, FakeTokens(tokens=(TOKEN,)), policy, api_base=API).request("GET", URL)
    assert leaked_prefix(caught.value.msg, TOKEN) == ""
    assert MASK in caught.value.msg


def test_describe_redacts_before_cutting():
    redactor = Redactor()
    redactor.add(TOKEN)
    text = _describe(ValueError("y" * 295 + TOKEN), redactor)
    assert leaked_prefix(text, TOKEN) == ""


def response(status, content, headers=None):
    answer = requests.Response()
    answer.status_code = status
    answer._content = content
    answer.headers = requests.structures.CaseInsensitiveDict(headers or {})
    return answer


@pytest.mark.parametrize("body, code, message", [
    ({"error": "invalid_token", "error_description": "The token expired"}, "invalid_token", "The token expired"),
    ({"error": ["a", "b"]}, None, '{"error": ["a", "b"]}'),
    ({"error": {"code": 42, "message": "number code"}}, "42", "number code"),
    ({"error": {"code": {"nested": 1}, "message": ["list"]}}, None, None),
    ({"error": {"code": "X", "innerError": "just text"}}, "X", None),
    ({"error": {"code": True, "message": None}}, None, None),
    ([1, 2, 3], None, "[1, 2, 3]"),
    ("just a string", None, '"just a string"'),
])
def test_any_json_shape_gives_a_graph_error(body, code, message):
    error = _error_from_response(response(500, json.dumps(body).encode()), "GET", URL)
    assert isinstance(error, GraphError)
    assert error.code == code
    assert error.message == message


def test_numeric_code_does_not_break_no_photo_check():
    error = _error_from_response(response(404, b'{"error": {"code": 404}}'), "GET", URL)
    assert is_no_photo(error) is False


@pytest.mark.parametrize("content", [
    b"\xff\xfe\xfa invalid utf-8 \xc3",
    b"[" * 100000,
    b'{"error": {"message": "' + b"m" * 3000000 + b'"}}',
    b"",
    b"   \n ",
])
def test_hostile_bodies_never_raise_and_stay_short(content):
    error = _error_from_response(response(500, content, {"Content-Type": "application/json; charset=no-such-charset"}), "GET", URL)
    assert error.status == 500
    assert error.message is None or len(error.message) <= 203


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                             ["error", "code", "message", "innerError", "innererror", "request-id", "error_description"]) | st.text(),
                             inner, max_size=4), max_leaves=20),
       status=st.integers(min_value=400, max_value=599))
def test_arbitrary_json_never_raises(body, status):
    content = json.dumps(body).encode()
    error = _error_from_response(response(status, content, {"request-id": "h"}), "GET", URL)
    assert isinstance(error, GraphError) and error.status == status
    for value in (error.code, error.message, error.request_id):
        assert value is None or isinstance(value, str)
    assert error.message is None or len(error.message) <= 203


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=2000), position=st.integers(min_value=0, max_value=400))
def test_arbitrary_bytes_never_raise_nor_show_the_token(content, position):
    redactor = Redactor()
    redactor.add(TOKEN)
    content = content[:position] + TOKEN.encode() + content[position:]
    error = _error_from_response(response(500, content), "GET", URL, redactor)
    assert isinstance(error, GraphError)
    assert leaked_prefix(error.msg, TOKEN, shortest=12) == ""
