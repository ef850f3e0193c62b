# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Microsoft Graph JSON batching: up to 20 requests in one round trip.

Items are throttled one by one (graph-photo-api.md section 5): an item answered 429, 503 or 504 is sent
again in a later batch after its Retry-After, within the transport's retry budget.

Answers are read by _answers.batch_envelope, never trusted: a malformed envelope fails every item still
pending; a duplicated, missing or malformed entry fails its own item (item.failure), never the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._answers import Origin, batch_binary, batch_envelope, graph_error, json_body, response_origin
from ._body import BATCH_ANSWER
from ..common._errors import OutlookError
from ._gate import throttle_usage
from ._retry import RETRY_STATUSES, parse_retry_after

if TYPE_CHECKING:
    from ._transport import ApiTransport

MAX_BATCH = 20


class BatchItem:
    """One request inside a batch.

    After run_batch, either failure is set (an OutlookError that stands for this item's answer: a malformed
    answer, or the whole batch request failing) or status/headers/body hold its validated response entry.
    """

    __slots__ = ("item_id", "method", "url", "status", "headers", "body", "failure", "request_id")

    def __init__(self, item_id: str | int, method: str, url: str) -> None:
        self.item_id = str(item_id)
        self.method = method
        self.url = url
        self.status = None
        self.headers = {}
        self.body = None
        self.failure = None
        self.request_id = None

    def origin(self, base_url: str) -> Origin:
        """Who asked: named in the errors about this item."""
        return Origin(self.method, base_url + self.url, self.request_id)

    @property
    def succeeded(self) -> bool:
        return self.failure is None and self.status is not None and 200 <= self.status < 300

    def error(self, base_url: str) -> OutlookError:
        """The OutlookError this item's answer stands for: its failure, or a GraphError from its error body."""
        if self.failure is not None:
            return self.failure
        return graph_error(self.status, self.body, self.headers, method=self.method, url=base_url + self.url)

    def binary(self, base_url: str = "") -> bytes:
        """A binary body ($value) arrives as a base64 string inside the JSON; raises MalformedAnswerError."""
        return batch_binary(self.body, self.origin(base_url))


def _fail_all(items: list[BatchItem], failure: OutlookError) -> None:
    for item in items:
        item.failure = failure


def run_batch(transport: ApiTransport, api_base: str, items: list[BatchItem]) -> list[BatchItem]:
    """Sends items (at most MAX_BATCH) and returns them with their answers; retries throttled items.

    Raises only what stops the run (an OutlookError whose stops_run is set, such as TransportError or
    AuthenticationError); any other failure of the batch request becomes the failure of each pending item.
    """
    if len(items) > MAX_BATCH:
        raise ValueError("a batch holds at most %d requests" % MAX_BATCH)
    if len({item.item_id for item in items}) != len(items):
        raise ValueError("batch request ids must be unique")
    retry = transport.retry_policy.start()
    pending = list(items)
    batch_url = api_base + "/$batch"
    refreshed = False
    while pending:
        transport.count("batches")
        payload = {"requests": [dict(id=item.item_id, method=item.method, url=item.url) for item in pending]}
        try:
            response = transport.request("POST", batch_url, json_body=payload, limit=BATCH_ANSWER)
            origin = response_origin(response, "POST", batch_url)
            answers = batch_envelope(json_body(response, origin), {item.item_id: item.origin(api_base) for item in pending}, origin)
        except OutlookError as exc:
            if exc.stops_run:
                raise
            _fail_all(pending, exc)
            break
        again = []
        rejected = []
        longest_wait = None
        for item in pending:
            answer = answers[item.item_id]
            if isinstance(answer, OutlookError):
                item.failure = answer
                continue
            item.status, item.headers, item.body, item.request_id = answer.status, answer.headers, answer.body, answer.request_id
            if item.status == 401:
                rejected.append(item)
            elif item.status in RETRY_STATUSES:
                again.append(item)
                if item.status == 429:
                    transport.count("throttled")
                asked = parse_retry_after(item.headers.get("retry-after"))
                if asked is not None:
                    longest_wait = max(longest_wait or 0.0, asked)
        # Throttled items are heard by the gate as a throttled request is: every worker slows down.
        throttled = sum(1 for item in again if item.status == 429)
        usage = max((value for value in (throttle_usage(item.headers) for item in pending if item.headers) if value is not None), default=None)
        if throttled or usage is not None:
            transport.heard_items(response, throttled, retry.honoured_wait(longest_wait), usage)
        # The token expired or was revoked between the envelope and its items: one new token, then those items again.
        if rejected and not refreshed and transport.refresh_rejected_token(response):
            refreshed = True
            again.extend(rejected)
        if not again:
            break
        if all(item.status == 401 for item in again):
            pending = again  # only items sent again with the new token: no backoff needed
            continue
        delay = retry.next_delay(None if longest_wait is None else str(longest_wait))
        if delay is None:
            break  # out of budget: those items keep their 429/5xx answer and become per-user errors
        transport.count("retries")
        retry.wait(delay)
        pending = again
    return items
