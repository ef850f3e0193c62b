# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Microsoft Graph JSON batching: up to 20 requests in one round trip.

Items are throttled one by one (graph-photo-api.md section 5): an item answered 429, 503 or 504 is sent
again in a later batch after its Retry-After, within the transport's retry budget.
"""

from __future__ import annotations

import base64

from ._errors import GraphError
from ._retry import RETRY_STATUSES, parse_retry_after

MAX_BATCH = 20


class BatchItem:
    """One request inside a batch; status/headers/body are filled in from its response."""

    __slots__ = ("item_id", "method", "url", "status", "headers", "body")

    def __init__(self, item_id, method, url):
        self.item_id = str(item_id)
        self.method = method
        self.url = url
        self.status = None
        self.headers = {}
        self.body = None

    def error(self, base_url):
        body = self.body if isinstance(self.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        inner = error.get("innerError") or error.get("innererror") or {}
        request_id = inner.get("request-id") if isinstance(inner, dict) else None
        return GraphError(self.status, error.get("code"), error.get("message"), request_id=request_id,
                          method=self.method, url=base_url + self.url, retry_after=self.headers.get("retry-after"))

    def binary(self):
        """A binary body ($value) arrives as a base64 string inside the JSON."""
        if isinstance(self.body, str):
            return base64.b64decode(self.body)
        return self.body


def run_batch(transport, api_base, items):
    """Sends items (at most MAX_BATCH) and returns them with their answers; retries throttled items."""
    if len(items) > MAX_BATCH:
        raise ValueError("a batch holds at most %d requests" % MAX_BATCH)
    retry = transport.retry_policy.start()
    pending = list(items)
    while pending:
        transport.count("batches")
        payload = {"requests": [dict(id=item.item_id, method=item.method, url=item.url) for item in pending]}
        response = transport.request("POST", api_base + "/$batch", json_body=payload)
        answers = {str(answer.get("id")): answer for answer in response.json().get("responses", [])}
        again = []
        longest_wait = None
        for item in pending:
            answer = answers.get(item.item_id, {})
            item.status = answer.get("status", 500)
            item.headers = {str(k).lower(): v for k, v in (answer.get("headers") or {}).items()}
            item.body = answer.get("body")
            if item.status in RETRY_STATUSES:
                again.append(item)
                if item.status == 429:
                    transport.count("throttled")
                asked = parse_retry_after(item.headers.get("retry-after"))
                if asked is not None:
                    longest_wait = max(longest_wait or 0.0, asked)
        if not again:
            break
        delay = retry.next_delay(None if longest_wait is None else str(longest_wait))
        if delay is None:
            break  # out of budget: those items keep their 429/5xx answer and become per-user errors
        transport.count("retries")
        retry.wait(delay)
        pending = again
    return items
