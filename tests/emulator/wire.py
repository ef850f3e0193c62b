# SPDX-License-Identifier: GPL-3.0-or-later
"""The two wire objects every API module shares (Request, Response), so that a $batch item runs through exactly the
same handlers as a real HTTP request."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qsl


class Request:
    """One API call as the handlers see it: a real HTTP request or one item of a $batch."""

    def __init__(self, method, path, query_string="", headers=None, body=b"", host="127.0.0.1", batch=False, body_size=None):
        self.method = method.upper()
        self.path = path  # raw, still percent-encoded
        self.query_string = query_string
        self.query = dict(parse_qsl(query_string, keep_blank_values=True))
        self.headers = headers or {}  # lower-case names
        self.body = body
        self.body_size = len(body) if body_size is None else body_size
        self.host = host
        self.batch = batch
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or self.request_id
        self.log = {}  # what the handlers learn on the way: api, user, client_id, token_kind, credential, fault
        self.after_fault = None  # an "after_apply" fault: it changes the answer once the request has been served
        self.stale = False  # a "stale" fault: photo reads answer with the user's previous photo (a lagging replica)
        self.handled = False  # a $batch item that went through the pipeline (else graph.py adds the envelope app's headers)
        self.tenant = None  # the Tenant the request acts in: its token's, or the authority's (entra.py)

    @property
    def base_url(self):
        return "https://" + self.host


class Response:
    """What a handler answers; drop=True means: close the connection without answering. truncate_to=N: announce the
    whole body's Content-Length, send only its first N bytes, then close (a cut-off answer).

    The wire faults (server.py sends them): pad_to=N pads the body with spaces to N bytes, streamed, never held whole;
    chunked=True sends it with Transfer-Encoding: chunked and no Content-Length; trickle={"bytes", "every_ms",
    "headers"} sends it that many bytes at a time with that pause before each piece (the headers too when "headers").
    """

    def __init__(self, status, body=b"", content_type=None, headers=None, drop=False, truncate_to=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type
        self.drop = drop
        self.truncate_to = truncate_to
        self.pad_to = None
        self.chunked = False
        self.trickle = None

    @property
    def size(self):
        """Bytes of the body as sent: padding included."""
        return max(len(self.body), self.pad_to or 0)

    def take_wire(self, fault):
        """Takes the wire keys of a fault (or of another Response's wire); the tags for the log, e.g. "+pad+chunked"."""
        tags = ""
        if fault.get("pad_to") is not None:
            self.pad_to = fault["pad_to"]
            tags += "+pad"
        if fault.get("chunked"):
            self.chunked = True
            tags += "+chunked"
        if fault.get("trickle") is not None:
            self.trickle = fault["trickle"]
            tags += "+trickle"
        return tags

    def wire(self):
        """The wire keys set on this answer, as a fault holds them (empty when none)."""
        keys = {"pad_to": self.pad_to, "chunked": self.chunked, "trickle": self.trickle}
        return {name: value for name, value in keys.items() if value}

    @classmethod
    def json(cls, status, obj, headers=None):
        return cls(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

    @property
    def content_type(self):
        return self.headers.get("Content-Type", "")
