# SPDX-License-Identifier: GPL-3.0-or-later
"""The request log: one entry per API request (a $batch item is one too), in the order they were answered.

An entry never holds a token, a secret or an assertion: only facts about them.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time

MAX_LOG_ENTRIES = 1_000_000


class RequestLog:

    def __init__(self):
        self._lock = threading.Lock()
        self._seq = 0
        self._entries = []
        self.journal = None  # a persist.Journal: every entry is written through

    def record(self, req, resp):
        """Append one entry for this request and its answer."""
        api = req.log.get("api")
        is_write = api in ("graph", "outlook_v2") and req.method in ("PUT", "PATCH") and req.body
        entry = {
            "time": time.time(),
            "api": api,
            "method": req.method,
            "path": req.path,
            "query": req.query_string,
            "status": 0 if resp.drop else resp.status,
            "dropped": resp.drop,
            "user": req.log.get("user"),
            "group": req.log.get("group"),
            # The tenant the request acted in: its token's, or the authority's; None when neither was known.
            "tenant": req.tenant.id if req.tenant is not None else None,
            "client_id": req.log.get("client_id"),
            "token_kind": req.log.get("token_kind"),
            "credential": req.log.get("credential"),
            "content_type": req.headers.get("content-type"),
            "body_size": req.body_size,
            # Bytes of the answer's body, padding included (a batch item's: its own body, decoded; its wire faults
            # act on the envelope's answer).
            "response_size": 0 if resp.drop else (len(resp.body) if req.batch else resp.size),
            "body_sha256": hashlib.sha256(req.body).hexdigest() if is_write else None,
            "batch": req.batch,
            "retry_after": resp.headers.get("Retry-After"),
            "fault": req.log.get("fault"),
            "request_id": req.request_id,
            "client_request_id": req.client_request_id,
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            if self.journal is not None:
                self.journal.append_request(entry)
            if len(self._entries) > MAX_LOG_ENTRIES:
                del self._entries[:MAX_LOG_ENTRIES // 10]

    def since(self, since=0, tenant=None):
        """(entries after sequence number `since`, of one tenant id when given; the last sequence number)."""
        with self._lock:
            start = bisect.bisect_right(self._entries, since, key=lambda entry: entry["seq"])
            entries = self._entries[start:]
            last = self._seq
        if tenant is not None:
            entries = [entry for entry in entries if entry["tenant"] == tenant]
        return entries, last

    def clear(self):
        with self._lock:
            self._entries = []
            if self.journal is not None:
                self.journal.rewrite_requests([{"last_seq": self._seq}])  # sequence numbers keep growing

    def load(self, entries, default_tenant=None):
        """Take the entries a journal held (attach_journal); an entry without "tenant" (1.0.0's) is default_tenant's."""
        with self._lock:
            self._entries = [entry for entry in entries if isinstance(entry.get("seq"), int)]
            for entry in self._entries:
                entry.setdefault("tenant", default_tenant)
                entry.setdefault("group", None)
            self._seq = max([entry.get("seq") or entry.get("last_seq") or 0 for entry in entries] + [self._seq])

    def attach(self, journal):
        with self._lock:
            self.journal = journal

    def detach(self):
        with self._lock:
            journal, self.journal = self.journal, None
        return journal
