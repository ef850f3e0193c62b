# SPDX-License-Identifier: GPL-3.0-or-later
"""Cut-off answers are dropped connections, and request() raises nothing but the collection's typed errors (issue 8)."""
from __future__ import annotations

import gzip
import http.client
import random

import pytest
import requests
import urllib3.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import (
    AuthenticationError, GraphError, MalformedAnswerError, MissingLibraryError, TransportError)
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._gate import AdaptiveGate
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import TlsSession
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport, RequestError

from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock
from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, RawHttpServer, Reply, ScriptedAdapter

URL = "https://graph.example/v1.0/users/a/photo"
TYPED = (GraphError, TransportError, MalformedAnswerError, AuthenticationError, MissingLibraryError)

SHORT_BODY = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\": \"1"
CUT_CHUNK = b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789"
BAD_GZIP = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789"
FULL = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": \"1\"}"


def real_transport(sleeps, attempts=3):
    # The real TlsSession and HTTPAdapter over plain HTTP to 127.0.0.1: what requests really raises.
    policy = RetryPolicy(max_attempts=attempts, sleep=sleeps.append, rand=lambda: 0.0)
    return ApiTransport(TlsSession(timeout=5.0), FakeTokens(), policy)


@pytest.mark.parametrize("broken", [SHORT_BODY, CUT_CHUNK, BAD_GZIP])
def test_regression_cut_off_answer_is_retried_like_a_drop(sleeps, broken):
    """issue 8 build item 5: a body shorter than its Content-Length escaped as a raw ChunkedEncodingError."""
    with RawHttpServer([broken, FULL]) as server:
        answer = real_transport(sleeps).request("GET", server.url + "/v1.0/users/a/photo")
    assert answer.json() == {"id": "1"}
    assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_regression_cut_off_answers_end_in_transport_error(sleeps):
    """issue 8 build item 5: after the retry budget a cut-off answer is a TransportError that says what happened."""
    with RawHttpServer([SHORT_BODY] * 3) as server:
        with pytest.raises(TransportError, match="failed after 3 attempts: ChunkedEncodingError: IncompleteRead") as caught:
            real_transport(sleeps).request("PUT", server.url + "/v1.0/users/a/photo/$value", data=b"jpeg")
    assert "closed before the whole answer arrived" in caught.value.msg
    assert len(server.requests) == 3


def test_truncated_gzip_with_a_matching_length_is_not_detected_by_requests(sleeps):
    # Documents a limit: a gzip stream cut short but sent with its (short) Content-Length decodes to a partial
    # body without any error, so only the callers' answer readers (JSON, image checks) can catch it.
    whole = random.Random(8).randbytes(5000)  # incompressible
    data = gzip.compress(whole)[:2000]
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data) + data
    with RawHttpServer([raw]) as server:
        answer = real_transport(sleeps).request("GET", server.url + "/x")
    assert 0 < len(answer.content) < len(whole)
    assert whole.startswith(answer.content)


@pytest.mark.parametrize("exc", [
    requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(6 bytes read, 94 more expected)"),
    requests.exceptions.ContentDecodingError("failed to decode it"),
    urllib3.exceptions.ProtocolError("Connection broken", http.client.IncompleteRead(b"abc", 10)),
    http.client.IncompleteRead(b"abc", 10),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError("timed out"),
])
def test_every_kind_of_drop_is_retried_then_a_transport_error(adapter, session, sleeps, exc):
    policy = RetryPolicy(max_attempts=3, sleep=sleeps.append, rand=lambda: 0.0)
    for dummy in range(3):
        adapter.expect("GET", "/photo", Reply(raises=exc))
    with pytest.raises(TransportError, match="failed after 3 attempts") as caught:
        ApiTransport(session, FakeTokens(), policy).request("GET", URL)
    assert caught.value.stops_run
    assert len(sleeps) == 2


@pytest.mark.parametrize("exc, words", [
    (requests.exceptions.InvalidURL("URL has an invalid label."), "InvalidURL"),
    (requests.exceptions.InvalidHeader("Invalid return character in header"), "InvalidHeader"),
    (requests.exceptions.InvalidSchema("No connection adapters"), "InvalidSchema"),
    (UnicodeError("label too long"), "UnicodeError"),
    (ValueError("bad value"), "ValueError"),
    (http.client.LineTooLong("header line"), "LineTooLong"),
    (RuntimeError("library bug"), "RuntimeError"),
])
def test_other_failures_become_a_request_error_for_this_request_only(adapter, session, retry_policy, sleeps, exc, words):
    adapter.expect("GET", "/photo", Reply(raises=exc))
    with pytest.raises(RequestError, match=words) as caught:
        ApiTransport(session, FakeTokens(), retry_policy).request("GET", URL)
    assert isinstance(caught.value, TransportError)
    assert not caught.value.stops_run
    assert sleeps == []


def test_odd_urls_never_raise_raw_exceptions(session, retry_policy):
    # Real requests URL preparation (nothing reaches the adapter): each must be one of the typed errors.
    transport = ApiTransport(session, FakeTokens(), retry_policy)
    for url in ("https://" + "a" * 70 + ".example/x", "https://xn--/x", "https:// /x", "https://[::1/x", "nonsense", "https://h:99999/"):
        with pytest.raises(TYPED):
            transport.request("GET", url)


@settings(max_examples=100, deadline=None)
@given(retry_after=st.text(max_size=60) | st.sampled_from(["1e308", "-1", "nan", "inf", "Mon, 01 Jan 9999 00:00:00 GMT", "Wed, 21 Oct 2015"]))
def test_any_retry_after_never_raises(retry_after):
    adapter = ScriptedAdapter()
    session = TlsSession()
    session.mount("https://", adapter)
    policy = RetryPolicy(max_attempts=2, sleep=lambda seconds: None, max_total=5.0)
    gate = AdaptiveGate(2, sleep=lambda seconds: None)
    adapter.expect("GET", "/photo", Reply(429, headers={"Retry-After": retry_after}))
    adapter.expect("GET", "/photo", Reply(200, json_body={}))
    try:
        ApiTransport(session, FakeTokens(), policy, gate=gate).request("GET", URL)
    except GraphError as exc:
        assert exc.status == 429
    assert gate.not_before <= gate.clock() + 5.0


def test_retry_after_beyond_the_budget_holds_no_one(adapter, session):
    # Issue 16: on 1.0.0 the two 429s below held every later request for 120 s, although both gave up at once.
    clock = FakeClock()
    gate = AdaptiveGate(4, sleep=clock.sleep, clock=clock.monotonic)
    policy = RetryPolicy(max_attempts=2, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time, max_total=120.0)
    transport = ApiTransport(session, FakeTokens(), policy, gate=gate)
    for retry_after in ("1e300", "86400"):  # two 429s at once: enough to hold every worker, were the wait honoured
        adapter.expect("GET", "/photo", Reply(429, headers={"Retry-After": retry_after}))
        with pytest.raises(GraphError):
            transport.request("GET", URL)
    gate.acquire()  # the next request of any worker
    assert clock.sleeps == []


def test_a_honoured_retry_after_holds_the_others_for_that_long(adapter, session):
    clock = FakeClock()
    gate = AdaptiveGate(4, sleep=clock.sleep, clock=clock.monotonic)
    policy = RetryPolicy(max_attempts=3, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time, max_total=120.0)
    transport = ApiTransport(session, FakeTokens(), policy, gate=gate)
    held = []
    real_answered = gate.answered

    def answered(slot, method, started, status, hold=None, usage=None):
        held.append(hold)
        real_answered(slot, method, started, status, hold, usage)

    gate.answered = answered
    adapter.expect("GET", "/photo", Reply(429, headers={"Retry-After": "7"}))
    adapter.expect("GET", "/photo", Reply(429, headers={"Retry-After": "7"}))
    adapter.expect("GET", "/photo", Reply(200, json_body={}))
    transport.request("GET", URL)
    # Both waits were within the budget and were waited out by the request itself; the third answer holds nothing.
    assert held == [7.0, 7.0, None]
    assert 7.0 in clock.sleeps


def test_the_last_attempt_holds_no_one(adapter, session):
    # A 429 on the last allowed attempt gives up whatever its Retry-After: it must not hold the others either.
    clock = FakeClock()
    gate = AdaptiveGate(4, sleep=clock.sleep, clock=clock.monotonic)
    policy = RetryPolicy(max_attempts=1, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time, max_total=120.0)
    transport = ApiTransport(session, FakeTokens(), policy, gate=gate)
    for dummy in range(2):
        adapter.expect("GET", "/photo", Reply(429, headers={"Retry-After": "5"}))
        with pytest.raises(GraphError):
            transport.request("GET", URL)
    gate.acquire()
    assert clock.sleeps == []
