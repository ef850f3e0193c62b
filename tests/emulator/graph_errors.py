# SPDX-License-Identifier: GPL-3.0-or-later
"""Graph's error answers (its JSON error body, the 429 of its throttling page) and what an injected fault answers."""

from __future__ import annotations

import base64
import copy
import json
import time

from .wire import Response

NO_PHOTO_MESSAGES = {
    "ImageNotFound": "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    "ErrorItemNotFound": "The photo wasn't found.",
}
# The no_mailbox answers that are errors (BEHAVIOURS.md, "Mailboxes"): ErrorNonExistentMailbox is what Graph's known-issues
# page gave for photos of users without a mailbox; MailboxNotEnabledForRESTAPI is what the mail APIs answer.
NO_MAILBOX_MESSAGES = {
    "ErrorNonExistentMailbox": "The SMTP address has no mailbox associated with it.",
    "MailboxNotEnabledForRESTAPI": "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
}
FAULT_ERRORS = {
    429: ("TooManyRequests", "Please retry again later."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "The gateway received an invalid response."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway did not receive a response in time."),
}
NOT_WELL_FORMED = (
    "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. "
    "(JWS): 'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey."
    "EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'."
)


def _utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def graph_error(req, status, code, message, headers=None):
    """Graph's error body: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}."""
    inner = {"date": _utc_now(), "request-id": req.request_id, "client-request-id": req.client_request_id}
    return Response.json(status, {"error": {"code": code, "message": message, "innerError": inner}}, headers)


def too_many_requests(req, retry_after):
    """The 429 of Graph's throttling page, with its Retry-After header."""
    inner = {"code": "429", "date": _utc_now(), "message": "Please retry after", "request-id": req.request_id,
             "client-request-id": req.client_request_id, "status": "429"}
    body = {"error": {"code": "TooManyRequests", "innerError": inner, "message": "Please retry again later."}}
    return Response.json(429, body, {"Retry-After": retry_after})


def fault_response(req, fault, real):
    """What a fault answers; `real` is the request's own answer for after_apply faults, else None."""
    after = "_after" if real is not None else ""
    if fault["status"] == "drop":
        req.log["fault"] = "drop" + after
        return Response(0, drop=True)
    if fault["raw_body_b64"] is not None:
        req.log["fault"] = "raw_body" + after
        status = fault["status"] or (real.status if real is not None else 200)
        resp = Response(status, base64.b64decode(fault["raw_body_b64"]), fault["content_type"], _kept_headers(real))
    elif fault["mangle"]:
        req.log["fault"] = "mangle:" + fault["mangle"]
        resp = mangle_batch_answer(real, fault["mangle"]) if real is not None else Response.json(200, {"responses": []})
        if fault["status"]:
            resp.status = fault["status"]
    elif fault["status"] is None:
        req.log["fault"] = "after_apply"
        resp = real
    else:
        req.log["fault"] = "status" + after
        code, message = FAULT_ERRORS.get(fault["status"], ("UnknownError", "Injected fault."))
        headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] else None
        resp = graph_error(req, fault["status"], code, message, headers)
    if fault["retry_after"] and resp.status in (429, 503, 504):
        resp.headers["Retry-After"] = fault["retry_after"]
    if fault["truncate_to"] is not None:
        req.log["fault"] += "+truncate"
        resp.truncate_to = fault["truncate_to"]
    req.log["fault"] += resp.take_wire(fault)
    return resp


def _kept_headers(real):
    """Headers of the real answer worth keeping under a raw body (not its Content-Type)."""
    if real is None:
        return None
    return {name: value for name, value in real.headers.items() if name.lower() != "content-type"}


# --------------------------------------------------------------------------- hostile $batch answers

_BAD_BASE64 = "@@ not base64 @@"


def mangle_batch_answer(real, how):
    """The real $batch answer made hostile or broken in one of the ways issue 8 found (see BATCH_MANGLES).

    Anything that is not a {"responses": [...]} answer (an error, a dropped envelope) is passed on unchanged.
    """
    try:
        payload = json.loads(real.body) if real.body else None
    except ValueError:
        payload = None
    if real.drop or not isinstance(payload, dict) or not isinstance(payload.get("responses"), list):
        return real
    responses = payload["responses"]
    if how == "list":
        return Response(real.status, json.dumps(responses).encode("utf-8"), "application/json")
    if how == "non_dict_entries":
        junk = ("oops", 42, None, [], True)
        responses = [junk[index % len(junk)] if index % 2 == 0 else entry for index, entry in enumerate(responses)]
    elif how == "bad_base64":
        for entry in responses:
            if 200 <= entry.get("status", 0) < 300 and isinstance(entry.get("body"), str):
                entry["body"] = _BAD_BASE64
    elif how == "string_status":
        for entry in responses:
            entry["status"] = str(entry["status"])
    elif how == "duplicate_ids":
        # The last id again, at the end, carrying the first item's answer: another user's photo under this user's id
        # (a client that keeps the last answer of an id takes it).
        if responses:
            twin = copy.deepcopy(responses[0])
            twin["id"] = responses[-1]["id"]
            responses.append(twin)
    elif how == "missing_ids" and responses:
        del responses[0]
    return Response(real.status, json.dumps({"responses": responses}).encode("utf-8"), "application/json")
