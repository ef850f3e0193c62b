# SPDX-License-Identifier: GPL-3.0-or-later
"""Scripted HTTP for unit tests: a requests transport adapter, so the real Session, auth and redirect code runs."""

from __future__ import annotations

import json

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
