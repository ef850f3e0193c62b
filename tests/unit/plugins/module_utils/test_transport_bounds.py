# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 16: every request ends in bounded time and memory, whatever the server does.

Against real sockets on 127.0.0.1: a server that trickles (headers or body), answers that are too big (with and
without Content-Length), error bodies that are too big, and 429s that send every request away for a day.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AnswerTooLargeError, GraphError, TransportError
from ansible_collections.o365.outlook.plugins.module_utils.graph._body import BATCH_ANSWER, JSON_ANSWER, PHOTO_ANSWER, AnswerLimit
from ansible_collections.o365.outlook.plugins.module_utils.graph._deadline import Exchange
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import TlsSession
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport, ThrottledOutError

from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock
from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply, ScriptedAdapter


class SlowServer:
    """Answers every connection with head + body, `step` bytes every `pause` seconds (from `trickle_from` on), until
    the client goes away. Counts the bytes it could send."""

    def __init__(self, head, body, step=1, pause=0.2, trickle_from=None):
        self.answer = head + body
        self.step = step
        self.pause = pause
        self.trickle_from = len(head) if trickle_from is None else trickle_from
        self.sent = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.url = "http://127.0.0.1:%d" % self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        self._socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _address = self._socket.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                conn.sendall(self.answer[:self.trickle_from])
                self.sent += self.trickle_from
                for start in range(self.trickle_from, len(self.answer), self.step):
                    if self._stop.wait(self.pause):
                        return
                    conn.sendall(self.answer[start:start + self.step])
                    self.sent += len(self.answer[start:start + self.step])
            except OSError:
                return  # the client cut the connection: what this server is for

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._socket.close()
        self._thread.join(5)


def transport_for(timeout=5.0, request_timeout=None, attempts=1, clock=None):
    session = TlsSession(timeout=timeout, request_timeout=request_timeout)
    policy = RetryPolicy(max_attempts=attempts, sleep=lambda seconds: None) if clock is None else \
        RetryPolicy(max_attempts=attempts, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time)
    return ApiTransport(session, FakeTokens(), policy)


def http_head(status="200 OK", length=None, extra=b""):
    head = b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n" + extra
    if length is not None:
        head += b"Content-Length: %d\r\n" % length
    return head + b"\r\n"


def chunked(body, size=65536):
    pieces = [body[start:start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for piece in pieces) + b"0\r\n\r\n"


# ----------------------------------------------------------------------------------------- request_timeout

def test_request_timeout_bounds_a_trickling_body():
    body = b"{" + b" " * 200 + b"}"  # 202 bytes at 5 per second: 40 s in all, never 5 s idle
    with SlowServer(http_head(length=len(body)), body, pause=0.2) as server:
        transport = transport_for(timeout=5.0, request_timeout=1.5)
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            transport.request("GET", server.url + "/v1.0/users/a/photo")
        took = time.monotonic() - started
    assert "request_timeout of 1.5 s reached" in caught.value.msg
    assert took < 10, took  # 1.5 s and a recut; 1.0.0 read on for 40 s


def test_request_timeout_bounds_trickling_headers():
    head = http_head(length=2) + b""
    with SlowServer(head, b"{}", pause=0.2, trickle_from=0) as server:
        transport = transport_for(timeout=5.0, request_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            transport.request("GET", server.url + "/v1.0/users/a/photo")
    assert "request_timeout of 1 s reached" in caught.value.msg
    assert time.monotonic() - started < 10


def test_a_timed_out_exchange_is_retried_within_the_budget():
    body = b"{" + b" " * 100 + b"}"
    with SlowServer(http_head(length=len(body)), body, pause=0.2) as server:
        transport = transport_for(timeout=5.0, request_timeout=0.6, attempts=3)
        with pytest.raises(TransportError) as caught:
            transport.request("GET", server.url + "/v1.0/users/a/photo")
    assert "failed after 3 attempts" in caught.value.msg
    assert transport.stats["requests"] == 3


def test_timeout_keeps_its_idle_meaning():
    # 1 byte every 0.2 s for about 1.4 s, with timeout 0.8: never idle that long, so it succeeds as in 1.0.0.
    body = b'{"a": 1}'
    with SlowServer(http_head(length=len(body)), body, pause=0.2) as server:
        response = transport_for(timeout=0.8, request_timeout=None).request("GET", server.url + "/v1.0/users/a/photo")
    assert response.json() == {"a": 1}


def test_an_exchange_never_cuts_a_connection_another_exchange_took_over():
    left, right = socket.socketpair()
    try:
        connection = type("Connection", (), {})()
        connection.sock = left
        first, second = Exchange(0.0, 1.0), Exchange(0.0, 1.0)
        first.attach(connection)
        first.finish()  # the connection went back to the pool ...
        second.attach(connection)  # ... and another thread's exchange took it
        first.cut()
        right.sendall(b"x")
        assert left.recv(1) == b"x"  # still open both ways
        second.cut()
        assert left.recv(1) == b""  # shut down: a blocked read returns at once
    finally:
        left.close()
        right.close()


# ----------------------------------------------------------------------------------------- size limits

def test_limits_are_the_documented_ones():
    assert (BATCH_ANSWER.max_bytes, PHOTO_ANSWER.max_bytes, JSON_ANSWER.max_bytes) == (128 << 20, 5 << 20, 1 << 20)
    # 20 photos of 4 MB in base64, with JSON around them, fit in a $batch answer.
    assert 20 * (4 * 10 ** 6 * 4 // 3 + 200) < BATCH_ANSWER.max_bytes


def test_an_answer_without_content_length_is_cut_at_its_limit():
    body = b"[" + b"0," * (4 << 20) + b"0]"  # 8 MiB, chunked: the client must count, not trust a header
    with SlowServer(http_head(extra=b"Transfer-Encoding: chunked\r\n"), chunked(body), pause=0, step=1 << 16, trickle_from=0) as server:
        transport = transport_for()
        with pytest.raises(AnswerTooLargeError) as caught:
            transport.request("POST", server.url + "/v1.0/$batch", json_body={}, limit=AnswerLimit("$batch answer", 2 << 20))
    assert "over the $batch answer limit of 2 MiB" in caught.value.msg
    assert caught.value.details["answer_limit_bytes"] == 2 << 20


def test_an_announced_length_over_the_limit_is_refused_before_reading():
    with SlowServer(http_head(length=6 << 20), b"x" * 100, pause=5) as server:
        started = time.monotonic()
        with pytest.raises(AnswerTooLargeError) as caught:
            transport_for().request("GET", server.url + "/v1.0/users/a/photo/$value", limit=PHOTO_ANSWER)
    assert "photo ($value) answer limit of 5 MiB" in caught.value.msg
    assert time.monotonic() - started < 4  # the trickling body was never waited for


def test_json_answers_are_limited_by_default():
    body = b'{"value": "' + b"a" * (2 << 20) + b'"}'
    with SlowServer(http_head(length=len(body)), body, pause=0, step=1 << 20) as server:
        with pytest.raises(AnswerTooLargeError) as caught:
            transport_for().request("GET", server.url + "/v1.0/users")
    assert "JSON answer limit of 1 MiB" in caught.value.msg


def test_an_error_body_over_its_limit_is_left_unread_and_the_status_still_counts():
    body = b'{"error": {"code": "x", "message": "' + b"a" * (2 << 20) + b'"}}'
    head = http_head("503 Service Unavailable", length=len(body))
    with SlowServer(head, body, pause=0, step=1 << 20) as server:
        transport = transport_for(attempts=2)
        with pytest.raises(GraphError) as caught:
            transport.request("GET", server.url + "/v1.0/users/a/photo")
    assert caught.value.status == 503
    assert "over the 1 MiB limit and was not read" in caught.value.msg
    assert transport.stats["requests"] == 2  # retried as any 503


# ----------------------------------------------------------------------------------------- throttled out

def scripted(answers, attempts=3):
    adapter = ScriptedAdapter()
    session = TlsSession()
    session.mount("https://", adapter)
    for reply in answers:
        adapter.expect("GET", "/photo", reply)
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time)
    return ApiTransport(session, FakeTokens(), policy), clock


DAY = Reply(429, headers={"Retry-After": "86400"})


def test_a_429_beyond_the_budget_gives_up_at_once():
    transport, clock = scripted([DAY])
    with pytest.raises(GraphError) as caught:
        transport.request("GET", "https://graph.example/v1.0/users/a/photo")
    assert caught.value.status == 429 and not caught.value.stops_run
    assert clock.sleeps == []


def test_requests_turned_away_in_a_row_stop_the_run():
    transport, _clock = scripted([DAY, DAY, DAY])
    errors = []
    for dummy in range(3):
        with pytest.raises(GraphError) as caught:
            transport.request("GET", "https://graph.example/v1.0/users/a/photo")
        errors.append(caught.value)
    assert [error.stops_run for error in errors] == [False, False, True]
    assert isinstance(errors[-1], ThrottledOutError)


def test_an_answer_between_resets_the_count():
    transport, _clock = scripted([DAY, DAY, Reply(200, json_body={}), DAY, DAY])
    stops = []
    for dummy in range(5):
        try:
            transport.request("GET", "https://graph.example/v1.0/users/a/photo")
        except GraphError as exc:
            stops.append(exc.stops_run)
    assert stops == [False, False, False, False]


def test_running_out_of_attempts_on_short_waits_is_not_throttled_out():
    short = Reply(429, headers={"Retry-After": "1"})
    transport, _clock = scripted([short] * 6, attempts=2)
    for dummy in range(3):
        with pytest.raises(GraphError) as caught:
            transport.request("GET", "https://graph.example/v1.0/users/a/photo")
        assert not caught.value.stops_run


def test_the_run_deadline_ends_retries():
    transport, clock = scripted([Reply(429, headers={"Retry-After": "30"})] * 3, attempts=6)
    transport.retry_policy.deadline = clock.monotonic() + 45
    with pytest.raises(GraphError):
        transport.request("GET", "https://graph.example/v1.0/users/a/photo")
    assert clock.sleeps == [30.0]  # a second wait of 30 s would end past the deadline
