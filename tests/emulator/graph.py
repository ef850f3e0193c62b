# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft Graph v1.0 (photo, photos, $value, /users, $batch) and the Outlook REST v2.0 photo dialect.

Every call goes through one pipeline: authenticate -> throttle / write rate limit / injected fault -> route -> permission -> user ->
per-mailbox concurrency slot -> latency -> operation. $batch items run through the same pipeline.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote

from . import images
from .replica import is_photo_read
from .state import Photo, Request, Response

GRAPH, OUTLOOK = "graph", "outlook_v2"
MAX_PHOTO_BYTES = 4 * 1024 * 1024
MAX_BATCH_REQUESTS = 20
MAX_PAGE_SIZE = 999
# Requests that count against write_rate_limit (direct or $batch items; every write of this API is a photo write).
RATE_LIMITED_METHODS = ("PUT", "PATCH", "DELETE")
DEFAULT_PAGE_SIZE = 100
# Content types a photo write may carry. image/jpeg is the documented one; application/octet-stream is what Graph's
# OpenAPI description lists and what msgraph-sdk and Set-MgUserPhotoContent send. The bytes decide what the image is.
# image/png is taken only with the behaviour png=accept (README: "Writes").
WRITE_CONTENT_TYPES = ("image/jpeg", "application/octet-stream")
PNG_REFUSED = "The photo must be a JPEG image (Content-Type: image/jpeg); PNG images are not accepted."


def _lower(*names):
    return frozenset(name.lower() for name in names)


PHOTO_READ = _lower("ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All", "User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All")
PHOTO_WRITE = _lower("ProfilePhoto.ReadWrite.All", "User.ReadWrite.All")
DIRECTORY_READ = _lower("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
SELF_READ = _lower("User.Read", "User.ReadWrite")  # delegated, signed-in user only
SELF_WRITE = _lower("User.ReadWrite")

NO_PHOTO_MESSAGES = {
    "ImageNotFound": "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    "ErrorItemNotFound": "The photo wasn't found.",
}
# The no_mailbox answers that are errors (README, "Mailboxes"): ErrorNonExistentMailbox is what Graph's known-issues
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
# Graph's default user properties, then the extra ones $select may ask for.
DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                           "preferredLanguage", "surname", "userPrincipalName", "id")
USER_PROPERTIES = {name.lower(): name for name in DEFAULT_USER_PROPERTIES + ("userType", "accountEnabled")}
ALLOWED_METHODS = {
    (GRAPH, "users"): ("GET",), (GRAPH, "user"): ("GET",), (GRAPH, "photo"): ("GET",), (GRAPH, "photos"): ("GET",), (GRAPH, "size"): ("GET",),
    (GRAPH, "size_value"): ("GET",), (GRAPH, "photo_value"): ("GET", "PUT", "PATCH", "DELETE"),
    (OUTLOOK, "photo"): ("GET",), (OUTLOOK, "photo_value"): ("GET", "PUT", "PATCH"),
}
_ODATA_USER_KEY = re.compile(r"users\('((?:[^']|'')*)'\)", re.IGNORECASE | re.DOTALL)
_SIZE = re.compile(r"(\d+)x(\d+)", re.IGNORECASE)


def split_segments(path):
    """Split the raw path on '/', then percent-decode each part, so an encoded '/', '#' or '?' stays inside its segment.

    Empty parts (a trailing or doubled slash) change nothing: msgraph-sdk (Python) sends `/v1.0//users/...` with its
    default base URL, and Graph serves it."""
    parts = path.split("/")[1:]
    parts = [part for part in parts if part] or parts[:1]
    return [unquote(part, errors="replace") for part in parts]


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


def _target(segments):
    """(is /me, user key, remaining segments) for /me/..., /users/{key}/... and /Users('{key}')/...; None otherwise."""
    if not segments:
        return None
    head = segments[0]
    if head.lower() == "me":
        return True, None, segments[1:]
    if head.lower() == "users" and len(segments) >= 2:
        if segments[1].startswith("$"):
            # Graph reads a segment starting with '$' as a system segment, not a key: such UPNs need users('$...').
            return False, None, ["$unsupported"]
        return False, segments[1], segments[2:]
    match = _ODATA_USER_KEY.fullmatch(head)
    if match:
        return False, match.group(1).replace("''", "'"), segments[1:]
    return None


def _operation(rest, dialect):
    """(operation, size argument) named by the segments after the user; (None, None) when unknown."""
    lowered = [part.lower() for part in rest]
    if lowered == ["photo"]:
        return "photo", None
    if lowered == ["photo", "$value"]:
        return "photo_value", None
    if dialect == GRAPH:
        if not lowered:
            return "user", None
        if lowered == ["photos"]:
            return "photos", None
        if len(lowered) == 2 and lowered[0] == "photos":
            return "size", rest[1]
        if len(lowered) == 3 and lowered[0] == "photos" and lowered[2] == "$value":
            return "size_value", rest[1]
    return None, None


def _unknown_segment(segments, target):
    """The segment to name in a 400: the first one after the user that is not a photo keyword, else the last one."""
    if not segments:
        return ""
    rest = target[2] if target else segments
    if rest and rest[0].lower() not in ("photo", "photos"):
        return rest[0]
    return segments[-1]


def _decode_base64(text):
    """Standard or URL-safe base64, padding optional (the batch doc says "base64 URL-encoded", SDKs send standard)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error:
        return base64.b64decode(padded, altchars=b"-_", validate=True)


class _Call:
    """A routed, authorised photo call on one user."""

    def __init__(self, dialect, token, me, user, operation, size):
        self.dialect = dialect
        self.token = token
        self.me = me
        self.user = user
        self.operation = operation
        self.size = size


class GraphApi:
    """Handlers for /v1.0/... (Graph) and /api/v2.0/... (Outlook REST v2.0)."""

    def __init__(self, state):
        self.state = state

    # ----------------------------------------------------------------- entry points

    def handle_graph(self, req):
        req.log["api"] = "graph"
        segments = split_segments(req.path)[1:]
        if [part.lower() for part in segments] == ["$batch"]:
            req.log["api"] = "batch"
            resp = self.finish(req, self._batch(req))
            self._pause(req, "BATCH")
            return resp
        return self.finish(req, self._serve(req, segments, GRAPH))

    def handle_outlook(self, req):
        req.log["api"] = OUTLOOK
        return self.finish(req, self._serve(req, split_segments(req.path)[2:], OUTLOOK))

    # ----------------------------------------------------------------- pipeline

    def _pause(self, req, kind=None):
        """Simulated latency, slept in the connection's own thread; a $batch pays it once, on the envelope (BATCH)."""
        if not req.batch:
            delay = self.state.latency_seconds(kind or req.method)
            if delay:
                time.sleep(delay)

    def _serve(self, req, segments, dialect):
        prepared = self._prepare(req, segments, dialect)
        if isinstance(prepared, Response):
            # A write over the rate limit is refused at the gateway, before the work: it waits what a GET waits
            # (the round trip), not the write's latency.
            self._pause(req, "GET" if req.log.get("fault") == "rate_limit" else None)
            return prepared
        call = prepared
        if call.user is None:  # the /users listing touches no mailbox
            self._pause(req)
            return self._execute(req, call)
        if not self.state.enter_mailbox(call.user.id):
            self._pause(req)
            return graph_error(req, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", {"Retry-After": "1"})
        try:
            self._pause(req)  # inside the slot: a slow request keeps its mailbox busy
            return self._execute(req, call)
        finally:
            self.state.leave_mailbox(call.user.id)

    def _prepare(self, req, segments, dialect):
        """A routed and authorised _Call, or the Response that ends the request early."""
        token = self._authenticate(req, dialect)
        if isinstance(token, Response):
            return token
        early = self._throttle_or_fault(req)
        if early is not None:
            return early
        if dialect == GRAPH and [part.lower() for part in segments] == ["users"]:
            me, key, operation, size = False, None, "users", None
        else:
            target = _target(segments)
            operation, size = _operation(target[2], dialect) if target else (None, None)
            if operation is None:
                return graph_error(req, 400, "BadRequest", "Resource not found for the segment '%s'." % _unknown_segment(segments, target))
            me, key = target[0], target[1]
        allowed = ALLOWED_METHODS[(dialect, operation)]
        if req.method not in allowed:
            return graph_error(req, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", {"Allow": ", ".join(allowed)})
        if me and token.kind == "app":
            return graph_error(req, 400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        lookup = token.user_id if me else key
        user = self.state.find_user(lookup) if lookup else None
        if user is not None:
            req.log["user"] = user.id
        is_self = token.kind == "delegated" and (me or (user is not None and user.id == token.user_id))
        if not self._permitted(token, operation, req.method, is_self):
            if operation in ("user", "users"):
                return graph_error(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            return graph_error(req, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if user is None and operation != "users":
            return graph_error(req, 404, "Request_ResourceNotFound", (
                "Resource '%s' does not exist or one of its queried reference-property objects are not present.") % lookup)
        return _Call(dialect, token, me, user, operation, size)

    def _authenticate(self, req, dialect):
        """The Token behind the bearer header, or a 401 Response."""
        scheme, dummy, value = req.headers.get("authorization", "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            return self._unauthorized(req, "Access token is empty.")
        token = self.state.lookup_token(value)
        if token is None:
            return self._unauthorized(req, NOT_WELL_FORMED if "." not in value else "Access token validation failure.")
        req.log["client_id"] = token.client_id
        req.log["token_kind"] = token.kind
        if token.expires_at <= time.time():
            return self._unauthorized(req, "Lifetime validation failed, the token is expired.")
        audiences = self.state.behaviours["graph_audiences" if dialect == GRAPH else "outlook_audiences"]
        if token.resource.lower() not in {audience.lower() for audience in audiences}:
            if dialect == OUTLOOK:
                # Exchange's own 401 for a token of another resource (a Graph token, say).
                return graph_error(req, 401, "InvalidAudienceForResource", (
                    "The audience claim value is invalid for current resource. Audience claim is '%s', request url is '%s' "
                    "and resource type is 'Exchange'.") % (token.resource, req.base_url + req.path))
            return self._unauthorized(req, "Invalid audience.")
        return token

    @staticmethod
    def _unauthorized(req, message):
        challenge = 'Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        return graph_error(req, 401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge % req.base_url})

    def _throttle_or_fault(self, req):
        retry_after = self.state.count_graph_request()
        if retry_after is not None:
            req.log["fault"] = "throttle"
            return too_many_requests(req, retry_after)
        if req.method in RATE_LIMITED_METHODS:
            retry_after = self.state.take_write(req.log.get("client_id"))
            if retry_after is not None:
                req.log["fault"] = "rate_limit"
                return too_many_requests(req, retry_after)
        return self._injected_fault(req)

    def _injected_fault(self, req):
        """The Response of the next configured fault that matches this request, or None (also when the fault is
        after_apply: the request is then served first and finish() changes its answer)."""
        photo_read = is_photo_read(req.method, split_segments(req.path))
        fault = self.state.take_fault(req.method, req.path, req.body, photo_read)
        if fault is None:
            return None
        if fault["stale"]:  # a lagging replica: served as usual, from the user's previous photo
            req.log["fault"] = "stale"
            req.stale = True
            return None
        if fault["after_apply"]:
            req.after_fault = fault
            return None
        return self._fault_response(req, fault, None)

    def finish(self, req, resp):
        """The answer actually sent: resp, or what an after_apply fault makes of it; with the throttle headers."""
        if req.after_fault is not None:
            resp = self._fault_response(req, req.after_fault, resp)
        return self._with_throttle_headers(req, resp)

    def _with_throttle_headers(self, req, resp, client_id=None):
        """throttle_headers: x-ms-throttle-limit-percentage and x-ms-throttle-scope on every answer to an app whose use
        of its write_rate_limit is above 0.8 (direct answers, $batch items, the envelope), the scope also on the bucket's
        429s. Measured when the answer is made, so the envelope reports the use after its items."""
        if resp.drop:
            return resp
        client_id = req.log.get("client_id") or client_id
        headers = self.state.throttle_headers(client_id, refused=req.log.get("fault") == "rate_limit")
        resp.headers.update(headers)
        return resp

    def _fault_response(self, req, fault, real):
        """What a fault answers; `real` is the request's own answer for after_apply faults, else None."""
        after = "_after" if real is not None else ""
        if fault["status"] == "drop":
            req.log["fault"] = "drop" + after
            return Response(0, drop=True)
        if fault["raw_body_b64"] is not None:
            req.log["fault"] = "raw_body" + after
            status = fault["status"] or (real.status if real is not None else 200)
            resp = Response(status, base64.b64decode(fault["raw_body_b64"]), fault["content_type"], self._kept_headers(real))
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

    @staticmethod
    def _kept_headers(real):
        """Headers of the real answer worth keeping under a raw body (not its Content-Type)."""
        if real is None:
            return None
        return {name: value for name, value in real.headers.items() if name.lower() != "content-type"}

    @staticmethod
    def _permitted(token, operation, method, is_self):
        if operation in ("user", "users"):
            needed, own = DIRECTORY_READ, SELF_READ
        elif method in ("PUT", "PATCH", "DELETE"):
            needed, own = PHOTO_WRITE, SELF_WRITE
        else:
            needed, own = PHOTO_READ, SELF_READ
        granted = token.roles if token.kind == "app" else token.scopes
        return bool(granted & needed) or (is_self and bool(granted & own))

    # ----------------------------------------------------------------- photo operations

    def _execute(self, req, call):
        if call.user is not None and call.operation != "user" and not call.user.has_mailbox:
            answer = self._without_mailbox(req, call)
            if answer is not None:
                return answer
        if call.operation == "photo_value" and req.method == "DELETE":
            return self._delete_photo(req, call)
        if call.operation == "photo_value" and req.method in ("PUT", "PATCH"):
            return self._write_photo(req, call)
        handlers = {"users": self._list_users, "user": self._get_user, "photo": self._get_photo, "photo_value": self._get_photo_value,
                    "photos": self._list_photos, "size": self._get_size, "size_value": self._get_size_value}
        return handlers[call.operation](req, call)

    def _size_id(self, width, height, dialect):
        separator = "X" if dialect == OUTLOOK or self.state.behaviours["id_case"] == "upper" else "x"
        return "%d%s%d" % (width, separator, height)

    def _entity(self, req, call, content_type, etag, width, height, size_path=None):
        """Photo metadata: Graph's camelCase entity or Outlook v2.0's PascalCase one."""
        uid = call.user.id
        if call.dialect == OUTLOOK:
            base = req.base_url + "/api/v2.0"
            context = "Me/photo/$entity" if call.me else "Users('%s')/photo/$entity" % uid
            return {"@odata.context": "%s/$metadata#%s" % (base, context), "@odata.id": "%s/Users('%s')/photo" % (base, uid),
                    "@odata.mediaContentType": content_type, "@odata.mediaEtag": etag,
                    "Id": self._size_id(width, height, OUTLOOK), "Width": width, "Height": height}
        base = req.base_url + "/v1.0"
        size_id = self._size_id(width, height, GRAPH)
        path, context = ("photos('%s')" % size_id, "photos/$entity") if size_path else ("photo", "photo/$entity")
        # @odata.id names the owner as <object id>@<tenant id>, as the docs' example does (graph-photo-api.md 1.5).
        owner = "%s@%s" % (uid, self.state.tenant_id)
        return {"@odata.context": "%s/$metadata#users('%s')/%s" % (base, uid, context), "@odata.id": "%s/users('%s')/%s" % (base, owner, path),
                "@odata.mediaContentType": content_type, "@odata.mediaEtag": etag, "id": size_id, "width": width, "height": height}

    def _placeholder(self, req, call, size_path=None):
        """The 1x1 image/gif entity the docs show for a user without a photo."""
        return Response.json(200, self._entity(req, call, "image/gif", "", 1, 1, size_path))

    def _wants_placeholder(self, call):
        return call.dialect == OUTLOOK or self.state.behaviours["no_photo"] == "placeholder"

    def _photo_not_found(self, req, call):
        code = "ErrorItemNotFound" if call.dialect == OUTLOOK else self.state.behaviours["no_photo_code"]
        return graph_error(req, 404, code, NO_PHOTO_MESSAGES[code])

    def _without_mailbox(self, req, call):
        """The answer to a photo call on a user without an Exchange Online mailbox; None when no_mailbox=mailbox
        serves them like everyone else."""
        answer = self.state.behaviours["no_mailbox"]
        if answer == "mailbox":
            return None
        if answer in NO_MAILBOX_MESSAGES:
            return graph_error(req, 404, answer, NO_MAILBOX_MESSAGES[answer])
        # no_photo: every read says "no photo" as the no_photo switches decide; a write or a removal finds none.
        if req.method == "GET" and self._wants_placeholder(call):
            if call.operation == "photo":
                return self._placeholder(req, call)
            if call.operation == "size":
                return self._placeholder(req, call, True)
            if call.operation == "photos":
                return self._list_photos(req, call, hide_photo=True)
        return self._photo_not_found(req, call)

    @staticmethod
    def _photo_of(req, call):
        """The photo this read sees: the visible one, or with a "stale" fault the user's previous one."""
        return call.user.stale_photo if req.stale else call.user.visible_photo()

    def _value(self, photo, data, content_type):
        """A $value answer; with value_etag it carries the etag of the photo whose bytes it serves."""
        headers = {"ETag": photo.etag} if self.state.behaviours["value_etag"] else None
        return Response(200, data, content_type, headers)

    def _get_photo(self, req, call):
        photo = self._photo_of(req, call)
        if photo is None:
            return self._placeholder(req, call) if self._wants_placeholder(call) else self._photo_not_found(req, call)
        return Response.json(200, self._entity(req, call, photo.content_type, photo.etag, photo.width, photo.height))

    def _get_photo_value(self, req, call):
        photo = self._photo_of(req, call)
        if photo is None:
            return self._photo_not_found(req, call)
        return self._value(photo, photo.data, photo.content_type)

    def _list_photos(self, req, call, hide_photo=False):
        photo = None if hide_photo else self._photo_of(req, call)
        if photo is None:
            if not self._wants_placeholder(call):
                return self._photo_not_found(req, call)
            value = [self._entity(req, call, "image/gif", "", 1, 1, True)]
        else:
            value = [self._entity(req, call, self._sized_content_type(photo, size), photo.etag, size[0], size[1], True) for size in photo.sizes()]
        for entry in value:
            del entry["@odata.context"]
        context = "%s/v1.0/$metadata#users('%s')/photos" % (req.base_url, call.user.id)
        return Response.json(200, {"@odata.context": context, "value": value})

    @staticmethod
    def _sized_content_type(photo, size):
        return photo.content_type if size == (photo.width, photo.height) else "image/jpeg"

    def _find_size(self, req, call):
        """(photo, (w, h)) when the user has a photo in the asked size, else (photo or None, None)."""
        photo = self._photo_of(req, call)
        match = _SIZE.fullmatch(call.size)
        size = (int(match.group(1)), int(match.group(2))) if match else None
        if photo is None or size not in photo.sizes():
            return photo, None
        return photo, size

    def _get_size(self, req, call):
        photo, size = self._find_size(req, call)
        if size is None:
            return self._placeholder(req, call, True) if self._wants_placeholder(call) else self._photo_not_found(req, call)
        return Response.json(200, self._entity(req, call, self._sized_content_type(photo, size), photo.etag, size[0], size[1], True))

    def _get_size_value(self, req, call):
        photo, size = self._find_size(req, call)
        if size is None:
            return self._photo_not_found(req, call)
        if size == (photo.width, photo.height):
            return self._value(photo, photo.data, photo.content_type)
        data = photo.resized.get(size)
        if data is None:
            data = photo.resized[size] = images.resized_jpeg(photo.data, size[0], size[1])
        return self._value(photo, data, "image/jpeg")

    def _write_photo(self, req, call):
        if req.body_size > MAX_PHOTO_BYTES:
            return graph_error(req, 413, "RequestEntityTooLarge", "The photo is larger than the 4 MB limit (%d bytes)." % req.body_size)
        content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
        png_accepted = self.state.behaviours["png"] == "accept"
        if content_type == "image/png" and not png_accepted:
            return graph_error(req, 400, "BadRequest", PNG_REFUSED)
        if content_type not in WRITE_CONTENT_TYPES + (("image/png",) if png_accepted else ()):
            return graph_error(req, 400, "BadRequest", "The Content-Type header must be image/jpeg or application/octet-stream, not '%s'." % content_type)
        try:
            photo = Photo.from_bytes(req.body)  # a full decode: a truncated or non-image body fails here
            if photo.content_type == "image/png" and not png_accepted:  # the bytes decide, whatever the label
                return graph_error(req, 400, "BadRequest", PNG_REFUSED)
            if self.state.behaviours["reencode"]:
                photo = Photo.from_bytes(images.reencode_jpeg(req.body), "image/jpeg", full_decode=False,
                                         uploaded_sha256=photo.sha256)
        except images.ImageError:
            return graph_error(req, 400, "ImageProcessingFailed", "The photo could not be processed: the body is not a valid image.")
        self.state.set_photo(call.user, photo)
        return Response(200 if call.dialect == OUTLOOK else self.state.behaviours["write_status"])

    def _delete_photo(self, req, call):
        if call.user.photo is None:
            return self._photo_not_found(req, call)
        self.state.set_photo(call.user, None)
        return Response(200)

    # ----------------------------------------------------------------- users

    @staticmethod
    def _user_json(user, select=None):
        values = {"businessPhones": [], "displayName": user.display_name, "givenName": None, "jobTitle": None, "mail": user.mail,
                  "mobilePhone": None, "officeLocation": None, "preferredLanguage": None, "surname": None,
                  "userPrincipalName": user.upn, "id": user.id, "userType": user.user_type, "accountEnabled": True}
        return {name: values[name] for name in (select or DEFAULT_USER_PROPERTIES)}

    @staticmethod
    def _parse_select(text):
        """Property names of $select (canonical case), or raise ValueError naming the unknown one."""
        if not text:
            return None
        names = []
        for name in (part.strip() for part in text.split(",") if part.strip()):
            if name.lower() not in USER_PROPERTIES:
                raise ValueError("Could not find a property named '%s' on type 'microsoft.graph.user'." % name)
            names.append(USER_PROPERTIES[name.lower()])
        return names

    def _get_user(self, req, call):
        try:
            select = self._parse_select(req.query.get("$select"))
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        body = {"@odata.context": "%s/v1.0/$metadata#users/$entity" % req.base_url}
        body.update(self._user_json(call.user, select))
        return Response.json(200, body)

    def _list_users(self, req, call):
        del call  # the listing needs nothing from the call beyond its authorisation
        unsupported = sorted(name for name in req.query if name.startswith("$") and name not in ("$top", "$select", "$skiptoken"))
        if unsupported:
            return graph_error(req, 400, "BadRequest", "Query option '%s' is not supported by the emulator." % unsupported[0])
        top_text = req.query.get("$top", str(DEFAULT_PAGE_SIZE))
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_PAGE_SIZE:
            return graph_error(req, 400, "BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % top_text)
        try:
            select = self._parse_select(req.query.get("$select"))
            after = self._decode_skiptoken(req.query.get("$skiptoken"))
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        users, next_key = self.state.users_page(after, int(top_text))
        context = "users(%s)" % ",".join(select) if select else "users"
        body = {"@odata.context": "%s/v1.0/$metadata#%s" % (req.base_url, context), "value": [self._user_json(user, select) for user in users]}
        if next_key is not None:
            link = "%s/v1.0/users?$top=%s&$skiptoken=%s" % (req.base_url, top_text, self._encode_skiptoken(next_key))
            if select:
                link += "&$select=" + quote(",".join(select), safe=",")
            body["@odata.nextLink"] = link
        return Response.json(200, body)

    @staticmethod
    def _encode_skiptoken(key):
        return "RFNwdAI" + base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")

    @staticmethod
    def _decode_skiptoken(token):
        """The sort key a page starts after; opaque to clients (a prefix plus base64url of the last UPN)."""
        if not token:
            return None
        if not token.startswith("RFNwdAI"):
            raise ValueError("Invalid $skiptoken.")
        try:
            return _decode_base64(token[len("RFNwdAI"):]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("Invalid $skiptoken.") from exc

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
        if self.state.behaviours["batch_order"] == "shuffled":
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
        concurrency = self.state.behaviours["batch_concurrency"]
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
        sub = Request(item["method"], "/v1.0" + path, query, headers, body or b"", envelope.host, batch=True)
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
