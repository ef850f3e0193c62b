# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON $batch: up to 20 items, each run through GraphApi's own pipeline, answered in one envelope."""

from __future__ import annotations

import base64
import binascii
import json
import random
from concurrent.futures import ThreadPoolExecutor

from .graph_directory import _decode_base64
from .graph_errors import graph_error
from .graph_routes import GRAPH, split_segments
from .wire import Request, Response

MAX_BATCH_REQUESTS = 20


def envelope_behaviours(envelope):
    """The behaviours of the tenant the envelope's token belongs to."""
    return envelope.tenant.behaviours


class BatchOperations:
    """Mixed into GraphApi."""

    # ----------------------------------------------------------------- $batch

    def _batch(self, req):
        if req.method != "POST":
            return graph_error(req, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", {"Allow": "POST"})
        token = self._authenticate(req, GRAPH)
        if isinstance(token, Response):
            return token
        fault = self._injected_fault(req)
        if fault is not None:
            return fault
        items = self._batch_items(req)
        if isinstance(items, Response):
            return items
        answered = self._run_batch_items(req, items)
        if any(resp.drop for dummy, resp in answered):
            return Response(0, drop=True)  # a dropped item breaks the envelope's connection
        responses = [self._batch_item_json(item["id"], resp) for item, resp in answered]
        if envelope_behaviours(req)["batch_order"] == "shuffled":
            random.shuffle(responses)  # Graph promises no order: clients match answers by id
        return self._carry_wire(req, answered, Response.json(200, {"responses": responses}))

    @staticmethod
    def _carry_wire(envelope, answered, resp):
        """An item's wire fault (trickle, pad_to, chunked) shapes how the envelope's answer is sent: an item has no
        wire of its own. The first item that has one decides."""
        wire = next((item_resp.wire() for dummy, item_resp in answered if item_resp.wire()), None)
        if wire:
            envelope.log["fault"] = "item_wire" + resp.take_wire(wire)
        return resp

    def _run_batch_items(self, envelope, items):
        """[(item, Response)] in request order. Items run batch_concurrency at a time, unless one has dependsOn: then
        all run one after another, in request order (Graph runs dependent batches one item at a time)."""
        concurrency = envelope_behaviours(envelope)["batch_concurrency"]
        if concurrency == 1 or len(items) == 1 or any(item.get("dependsOn") for item in items):
            answered, statuses = [], {}
            for item in items:
                resp = self._run_batch_item(envelope, item, statuses)
                answered.append((item, resp))
                if resp.drop:
                    break
                statuses[item["id"]] = resp.status
            return answered
        with ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="batch-item") as pool:
            answers = list(pool.map(lambda item: self._run_batch_item(envelope, item, {}), items))
        return list(zip(items, answers))

    def _run_batch_item(self, envelope, item, statuses):
        sub, resp = self._batch_item(envelope, item, statuses)
        if not sub.handled:  # refused before the pipeline (424, a bad body, a nested batch): the envelope's app
            resp = self._with_throttle_headers(sub, resp, envelope.log.get("client_id"))
        self.state.record(sub, resp)
        return resp

    @staticmethod
    def _batch_items(req):
        """The validated list of batch items, or a 400 Response."""
        try:
            payload = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return graph_error(req, 400, "BadRequest", "Invalid batch payload format.")
        items = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            return graph_error(req, 400, "BadRequest", "Invalid batch payload format: 'requests' must be a non-empty array.")
        if len(items) > MAX_BATCH_REQUESTS:
            return graph_error(req, 400, "BadRequest", "The batch holds %d requests; the limit is %d." % (len(items), MAX_BATCH_REQUESTS))
        ids = set()
        for item in items:
            if not isinstance(item, dict) or not all(isinstance(item.get(name), str) and item.get(name) for name in ("id", "method", "url")):
                return graph_error(req, 400, "BadRequest", "Every batch request needs the string properties id, method and url.")
            if item["id"] in ids:
                return graph_error(req, 400, "BadRequest", "Batch request ids must be unique: '%s' repeats." % item["id"])
            ids.add(item["id"])
        for item in items:
            depends_on = item.get("dependsOn")
            if depends_on is None:
                continue
            if not isinstance(depends_on, list) or not all(isinstance(dep, str) for dep in depends_on):
                return graph_error(req, 400, "BadRequest", "dependsOn of batch request '%s' must be an array of ids." % item["id"])
            unknown = [dep for dep in depends_on if dep not in ids or dep == item["id"]]
            if unknown:
                return graph_error(req, 400, "BadRequest", "Batch request '%s' depends on '%s', which is not a request of this "
                                   "batch." % (item["id"], unknown[0]))
        return items

    def _batch_item(self, envelope, item, statuses):
        """Run one batch item through the normal pipeline; returns (its Request, its Response)."""
        url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
        path, dummy, query = url.partition("?")
        headers = {str(name).lower(): str(value) for name, value in (item.get("headers") or {}).items()}
        headers["authorization"] = envelope.headers.get("authorization", "")
        headers.setdefault("client-request-id", envelope.client_request_id)
        body, bad_body = item.get("body"), False
        if isinstance(body, str):
            try:
                body = _decode_base64(body)
            except binascii.Error:
                body, bad_body = b"", True
        elif body is not None:
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("content-type", "application/json")
        version = "/" + split_segments(envelope.path)[0]  # /v1.0 or /beta: the envelope's
        sub = Request(item["method"], version + path, query, headers, body or b"", envelope.host, batch=True)
        sub.tenant = envelope.tenant  # its own token's tenant once authenticated: the same one
        sub.log["api"] = GRAPH
        if bad_body:
            return sub, graph_error(sub, 400, "BadRequest", "The body of batch request '%s' is not base64." % item["id"])
        depends_on = item.get("dependsOn") or []
        if any(not 200 <= statuses.get(dep, 0) < 300 for dep in depends_on):
            return sub, graph_error(sub, 424, "FailedDependency", "A request this one depends on failed.")
        if [part.lower() for part in split_segments(sub.path)[1:2]] == ["$batch"]:
            return sub, graph_error(sub, 400, "BadRequest", "A batch cannot contain another batch.")
        sub.handled = True
        return sub, self.handle_graph(sub)

    @staticmethod
    def _batch_item_json(item_id, resp):
        """JSON bodies stay objects; binary bodies ($value) become standard base64 strings, as Graph does."""
        out = {"id": item_id, "status": resp.status, "headers": dict(resp.headers)}
        body = resp.body[:resp.truncate_to] if resp.truncate_to is not None else resp.body
        if body:
            if resp.content_type.startswith("application/json"):
                try:
                    out["body"] = json.loads(body)
                except ValueError:  # an injected raw body that is not JSON: passed on as the text it is
                    out["body"] = body.decode("utf-8", errors="replace")
            else:
                out["body"] = base64.b64encode(body).decode("ascii")
        return out
