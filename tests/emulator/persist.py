# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-through persistence of the emulator's tenants (`run.py start --persist`): append-only JSON-lines journals.

- `DIR/tenant.jsonl`: tenants, users, groups, photos, app registrations and consents, photo policies (and the identity
  header), one change per line (records.py).
- `DIR/requests.jsonl`: the request log, one entry per line.

Each change is written (one write() of one line, flushed to the OS, no fsync) before the answer leaves, so a
SIGKILLed emulator restarted on the same DIR serves the same photos and keeps its log. A line cut by the kill is
skipped on load. On start the tenant journal is replayed and then compacted (rewritten through a temporary file and
renamed). Tokens, behaviours, in-flight propagation delays and mailbox slots are not kept: a restart revokes every
token, as a real outage that loses its sessions would.
"""

from __future__ import annotations

import json
import os
import threading

TENANT_FILE = "tenant.jsonl"
REQUESTS_FILE = "requests.jsonl"


def _read_lines(path):
    """The decodable JSON objects of a journal; a torn last line (the process was killed mid-write) is skipped."""
    try:
        with open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _open_private(path, mode):
    """Open for writing, created 0600: the tenant journal holds client secrets."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), mode + "b", buffering=0)


class Journal:
    """The two append-only journals of one state folder. Callers serialise writes to each journal with their own lock
    (the State's tenant lock and log lock); this class also has one, so a stray caller cannot interleave lines."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.tenant_path = os.path.join(state_dir, TENANT_FILE)
        self.requests_path = os.path.join(state_dir, REQUESTS_FILE)
        self._lock = threading.Lock()
        self._tenant = None
        self._requests = None

    # ----------------------------------------------------------------- loading

    def tenant_records(self):
        return _read_lines(self.tenant_path)

    def request_entries(self):
        return _read_lines(self.requests_path)

    # ----------------------------------------------------------------- writing

    def open(self):
        self._tenant = _open_private(self.tenant_path, "a")
        self._requests = _open_private(self.requests_path, "a")

    def close(self):
        with self._lock:
            for handle in (self._tenant, self._requests):
                if handle is not None:
                    handle.close()
            self._tenant = self._requests = None

    @staticmethod
    def _line(record):
        return (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")

    def append_tenant(self, records):
        """Append tenant changes; unbuffered, so each write() reaches the OS before the answer is sent."""
        data = b"".join(self._line(record) for record in records)
        with self._lock:
            if self._tenant is not None and data:
                self._tenant.write(data)

    def append_request(self, entry):
        data = self._line(entry)
        with self._lock:
            if self._requests is not None:
                self._requests.write(data)

    def rewrite_tenant(self, records):
        """Replace the tenant journal by `records` (compaction, reset): temporary file, then an atomic rename."""
        self._rewrite(self.tenant_path, records, "_tenant")

    def rewrite_requests(self, records):
        self._rewrite(self.requests_path, records, "_requests")

    def _rewrite(self, path, records, attribute):
        temporary = path + ".tmp"
        with _open_private(temporary, "w") as handle:
            handle.write(b"".join(self._line(record) for record in records))
        with self._lock:
            os.replace(temporary, path)
            old = getattr(self, attribute)
            if old is not None:
                old.close()
                setattr(self, attribute, _open_private(path, "a"))
