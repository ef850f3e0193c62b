# SPDX-License-Identifier: GPL-3.0-or-later
"""The counters behind a tenant's behaviours: "every Nth request" throttling, the per-app write buckets
(write_rate_limit) and their use (throttle_headers), injected faults being used up, per-mailbox concurrency.

Each tenant has its own: one tenant's writes never take another tenant's tokens, as the service's per-tenant write
limit does not (graph-photo-api.md, "Throttling scopes").
"""

from __future__ import annotations

import collections
import random
import re
import threading

# throttle_headers (BEHAVIOURS.md, Behaviours): an app's use of its write_rate_limit is the writes it asked for (accepted or
# refused) in a sliding window divided by what the limit allows in that time (per_second x the window). The window is
# THROTTLE_WINDOW_S, longer for slow limits so that it holds at least THROTTLE_WINDOW_WRITES writes' worth of the limit.
# The headers are sent while the use is above THROTTLE_REPORT_FROM; the value is capped at THROTTLE_REPORT_CAP, as the
# Graph docs (identity and access limits) give the range 0.8 to 1.8.
THROTTLE_WINDOW_S = 1.0
THROTTLE_WINDOW_WRITES = 20
THROTTLE_REPORT_FROM = 0.8
THROTTLE_REPORT_CAP = 1.8


class Limits:
    """behaviours: the Behaviours these counters serve (read for the values in force); clock: the monotonic clock."""

    def __init__(self, behaviours, clock):
        self.behaviours = behaviours
        self.clock = clock
        self._lock = threading.Lock()
        self._graph_count = 0
        self._throttle_random = random.Random()
        self._write_buckets = {}  # client id -> (tokens, clock time of the last refill)
        self._write_history = {}  # client id -> deque of the clock times of its writes (accepted or refused)
        self._inflight = {}  # object id -> requests in flight on its mailbox

    def restart(self, throttle=False, writes=False):
        with self._lock:
            if throttle:
                self._graph_count = 0
                seed = (self.behaviours.values["throttle"] or {}).get("seed")
                self._throttle_random = random.Random(seed)  # a seed makes the throttled sequence repeatable
            if writes:
                self._write_buckets = {}
                self._write_history = {}

    def clear_mailboxes(self):
        with self._lock:
            self._inflight = {}

    def count_graph_request(self) -> str | None:
        """Count one Graph request; returns the Retry-After value when this one is throttled (the Nth, or by chance)."""
        with self._lock:
            throttle = self.behaviours.values["throttle"]
            if not throttle:
                return None
            self._graph_count += 1
            if "ratio" in throttle:
                return throttle["retry_after"] if self._throttle_random.random() < throttle["ratio"] else None
            return throttle["retry_after"] if self._graph_count % throttle["every"] == 0 else None

    def take_write(self, client_id) -> str | None:
        """Take one write from the app's token bucket (write_rate_limit); returns the Retry-After value when the
        bucket is empty (the write must then be refused with 429), None when the write may go on."""
        with self._lock:
            limit = self.behaviours.values["write_rate_limit"]
            if not limit:
                return None
            now = self.clock()
            key = (client_id or "").lower()
            rate, burst = limit["per_second"], limit["burst"]
            self._remember_write_locked(key, now, limit)
            tokens, last = self._write_buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._write_buckets[key] = (tokens - 1.0, now)
                return None
            self._write_buckets[key] = (tokens, now)
            return limit["retry_after"] or "%.3f" % max(0.001, (1.0 - tokens) / rate)

    @staticmethod
    def _use_window(limit):
        """The seconds over which an app's use of its write_rate_limit is measured (throttle_headers)."""
        return max(THROTTLE_WINDOW_S, THROTTLE_WINDOW_WRITES / limit["per_second"])

    def _remember_write_locked(self, key, now, limit):
        history = self._write_history.get(key)
        if history is None:
            # Past the cap the reported value does not change: the oldest entries may go.
            cap = int(THROTTLE_REPORT_CAP * self._use_window(limit) * limit["per_second"]) + 2
            history = self._write_history[key] = collections.deque(maxlen=cap)
        history.append(now)

    def write_limit_use(self, client_id) -> float | None:
        """The app's use of its write_rate_limit (1.0: writing at the limit's rate), None without a limit.

        Writes asked for in the window (accepted or refused) / (per_second x the window); the window is
        max(THROTTLE_WINDOW_S, THROTTLE_WINDOW_WRITES / per_second) seconds. Exact up to 1.8; above, at least 1.8 (the
        history keeps only what the cap needs).
        """
        with self._lock:
            limit = self.behaviours.values["write_rate_limit"]
            if not limit:
                return None
            history = self._write_history.get((client_id or "").lower())
            if not history:
                return 0.0
            window = self._use_window(limit)
            since = self.clock() - window
            while history and history[0] <= since:
                history.popleft()
            return len(history) / (limit["per_second"] * window)

    def throttle_headers(self, client_id, tenant_id, refused=False) -> dict:
        """The x-ms-throttle-* headers of an answer to this app (behaviour throttle_headers; BEHAVIOURS.md, Behaviours).

        Empty unless throttle_headers is on, write_rate_limit is set and the app is known. While the app's use is
        above 0.8: x-ms-throttle-limit-percentage (the use, capped at 1.8, one or two decimals) and
        x-ms-throttle-scope. A write refused by the bucket (refused) carries the scope whatever the use.
        """
        if not client_id or not self.behaviours.values["throttle_headers"]:
            return {}
        use = self.write_limit_use(client_id)
        if use is None:
            return {}
        headers = {}
        if use > THROTTLE_REPORT_FROM:
            text = "%.2f" % min(use, THROTTLE_REPORT_CAP)
            headers["x-ms-throttle-limit-percentage"] = text[:-1] if text.endswith("0") else text
        if headers or refused:
            # The documented form <Scope>/<Limit>/<ApplicationId>/<TenantId>: the bucket is per app in this one
            # tenant (Tenant_Application) and counts writes only (Write).
            headers["x-ms-throttle-scope"] = "Tenant_Application/Write/%s/%s" % (client_id.lower(), tenant_id)
        return headers

    def take_fault(self, method, path, body=b"", photo_read=False):
        """The first configured fault matching this request, with one of its count consumed; None if none matches.

        A matching fault that still has `skip` left lets the request pass (and counts it down); later faults may
        still match, so bursts can be placed in the middle of a run. A "stale" fault matches photo reads only.
        """
        with self._lock:
            faults = self.behaviours.values["faults"]
            text = None
            for index, fault in enumerate(faults):
                if fault["method"] not in ("*", method) or not re.search(fault["path_regex"], path):
                    continue
                if fault["stale"] and not photo_read:
                    continue
                if fault["body_regex"] is not None:
                    if text is None:
                        text = body.decode("utf-8", errors="replace")
                    if not re.search(fault["body_regex"], text):
                        continue
                if fault["skip"] > 0:
                    fault["skip"] -= 1
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    del faults[index]
                return dict(fault)
        return None

    def enter_mailbox(self, object_id) -> bool:
        """Take one in-flight slot of a mailbox; False when mailbox_concurrency slots are already taken."""
        with self._lock:
            limit = self.behaviours.values["mailbox_concurrency"]
            current = self._inflight.get(object_id, 0)
            if limit is not None and current >= limit:
                return False
            self._inflight[object_id] = current + 1
            return True

    def leave_mailbox(self, object_id):
        with self._lock:
            current = self._inflight.get(object_id, 0) - 1
            if current > 0:
                self._inflight[object_id] = current
            else:
                self._inflight.pop(object_id, None)
