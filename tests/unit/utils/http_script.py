# SPDX-License-Identifier: GPL-3.0-or-later
"""Scripted HTTP for unit tests: a requests transport adapter, so the real Session, auth and redirect code runs."""

from __future__ import annotations

import json
import re
import socket
import threading

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class Reply:
    """One scripted answer: a status with a JSON or bytes body, or an exception to raise."""

    def __init__(self, status=200, json_body=None, content=b"", headers=None, raises=None):
        self.status = status
        self.json_body = json_body
        self.content = content
        self.headers = headers or {}
        self.raises = raises


def graph_error(status, code, message="", request_id="req-1", headers=None):
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"}}}
    return Reply(status, json_body=body, headers=headers)


class ScriptedAdapter(BaseAdapter):
    """Answers requests from a list of (method, url-substring, Reply); records what was sent."""

    def __init__(self):
        super().__init__()
        self.script = []
        self.sent = []

    def expect(self, method, url_part, reply):
        self.script.append((method, url_part, reply))
        return self

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append(dict(method=request.method, url=request.url, headers=dict(request.headers), body=request.body,
                              verify=kwargs.get("verify"), timeout=kwargs.get("timeout")))
        if not self.script:
            raise AssertionError("unexpected request %s %s" % (request.method, request.url))
        method, url_part, reply = self.script.pop(0)
        assert request.method == method, "expected %s, got %s %s" % (method, request.method, request.url)
        assert url_part in request.url, "expected URL with %r, got %s" % (url_part, request.url)
        if reply.raises is not None:
            raise reply.raises
        return scripted_response(request, reply)

    def close(self):
        pass


class FakeTokens:
    """Token provider double that counts fetches and refreshes."""

    def __init__(self, tokens=("token-1", "token-2"), can_refresh=True):
        self.tokens = list(tokens)
        self.current = self.tokens.pop(0)
        self.can_refresh = can_refresh
        self.refreshes = 0

    def token(self):
        return self.current

    def refresh(self):
        self.refreshes += 1
        self.current = self.tokens.pop(0)


# ---------------------------------------------------------------------------------------------------------
# A thread-safe adapter, a thread-safe token provider and a raw local HTTP server (issue 8, transport).

def scripted_response(request, reply):
    """The requests.Response a Reply stands for (what ScriptedAdapter builds), for adapters of other shapes."""
    response = requests.Response()
    response.status_code = reply.status
    response.url = request.url
    response.request = request
    headers = CaseInsensitiveDict(reply.headers)
    if reply.json_body is not None:
        response._content = json.dumps(reply.json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        response._content = reply.content
    response.headers = headers
    response.reason = "scripted"
    return response


class AnsweringAdapter(BaseAdapter):
    """Thread-safe adapter: answer(prepared_request) returns a Reply (or raises); every request is recorded.

    For tests where threads send at once and the order of answers cannot be scripted.
    """

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.sent = []
        self._lock = threading.Lock()

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        with self._lock:
            self.sent.append(dict(method=request.method, url=request.url, headers=dict(request.headers), body=request.body))
        reply = self.answer(request)
        if reply.raises is not None:
            raise reply.raises
        return scripted_response(request, reply)

    def close(self):
        pass


class CountingTokens:
    """Thread-safe token provider double: counts fetches (first token() and refresh()) and refreshes."""

    can_refresh = True

    def __init__(self, prefix="token"):
        self.prefix = prefix
        self.fetches = 0
        self.refreshes = 0
        self._current = None
        self._lock = threading.Lock()

    def _fetch(self):
        self.fetches += 1
        return "%s-%d" % (self.prefix, self.fetches)

    def token(self):
        with self._lock:
            if self._current is None:
                self._current = self._fetch()
            return self._current

    def refresh(self):
        with self._lock:
            self.refreshes += 1
            self._current = self._fetch()


class RawHttpServer:
    """A plain-HTTP server on 127.0.0.1 that answers each connection with the next raw bytes of a list, then closes.

    For what no fake adapter can show: what requests really raises when a body is cut short, a chunk is
    broken or a gzip body does not decode. Use as a context manager; .url is its base URL, .requests the
    raw request heads received.
    """

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self._socket.settimeout(10)
        self.url = "http://127.0.0.1:%d" % self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        for answer in self.answers:
            try:
                conn, dummy = self._socket.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                self.requests.append(head)
                # Read the request body too: closing with unread data would reset the connection instead.
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                missing = int(length.group(1)) - len(head.split(b"\r\n\r\n", 1)[1]) if length else 0
                while missing > 0:
                    chunk = conn.recv(min(missing, 65536))
                    if not chunk:
                        break
                    missing -= len(chunk)
                conn.sendall(answer)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._socket.close()
        self._thread.join(5)
