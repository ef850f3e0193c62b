# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft Graph (v1.0, and beta for the photo policy) and the Outlook REST v2.0 photo dialect.

Every call goes through one pipeline: authenticate (which also decides the tenant) -> throttle / write rate limit /
injected fault -> route -> permission -> owner (user, group or Team, of that tenant only) -> photo policy -> per-mailbox
concurrency slot -> latency -> operation. $batch items run through the same pipeline.
"""

from __future__ import annotations

import time

from .graph_batch import BatchOperations
from .graph_directory import DirectoryOperations
from .graph_errors import NOT_WELL_FORMED, fault_response, graph_error, too_many_requests
from .graph_photos import PhotoOperations
from .graph_routes import BETA, DIRECTORY_OPERATIONS, GRAPH, GROUP, OUTLOOK, TEAM, USER, WRITE_METHODS, route, split_segments
from .replica import is_photo_read
from .wire import Response

# Requests that count against write_rate_limit (direct or $batch items): photo writes, and PATCHes of the photo policy.
RATE_LIMITED_METHODS = ("PUT", "PATCH", "DELETE")
# The 403 of the days when app-only tokens could not change a group's photo (microsoft-graph-docs#18507).
APP_ONLY_GROUP_UPDATE = ("AppOnlyTokenNotSupportedForGroupUpdate",
                         "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ProfileAccessDeniedException' was thrown.")
ACCESS_DENIED = ("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
_COLLECTIONS = {USER: "users", GROUP: "groups", TEAM: "teams"}


class _Call:
    """A routed, authorised call: on one owner (user, group or Team), or on a collection or the tenant's policy."""

    def __init__(self, dialect, token, tenant, route_, owner):
        self.dialect = dialect
        self.version = "/beta" if dialect == BETA else "/v1.0"
        self.token = token
        self.tenant = tenant
        self.behaviours = tenant.behaviours
        self.me = route_.me
        self.kind = route_.kind
        self.owner = owner
        self.operation = route_.operation
        self.size = route_.size

    @property
    def owner_collection(self):
        return _COLLECTIONS[self.kind]


class GraphApi(PhotoOperations, DirectoryOperations, BatchOperations):
    """Handlers for /v1.0/... and /beta/... (Graph) and /api/v2.0/... (Outlook REST v2.0)."""

    def __init__(self, state):
        self.state = state

    # ----------------------------------------------------------------- entry points

    def handle_graph(self, req):
        req.log["api"] = "graph"
        segments = split_segments(req.path)
        dialect = BETA if segments[0].lower() == "beta" else GRAPH
        if [part.lower() for part in segments[1:]] == ["$batch"]:
            req.log["api"] = "batch"
            resp = self.finish(req, self._batch(req))
            self._pause(req, "BATCH")
            return resp
        return self.finish(req, self._serve(req, segments[1:], dialect))

    def handle_outlook(self, req):
        req.log["api"] = OUTLOOK
        return self.finish(req, self._serve(req, split_segments(req.path)[2:], OUTLOOK))

    # ----------------------------------------------------------------- pipeline

    def _behaviours(self, req):
        """The behaviours of the request's tenant; the default tenant's before the token is known."""
        return (req.tenant or self.state.default_tenant).behaviours

    def _pause(self, req, kind=None):
        """Simulated latency, slept in the connection's own thread; a $batch pays it once, on the envelope (BATCH)."""
        if not req.batch:
            delay = self._behaviours(req).latency_seconds(kind or req.method)
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
        if call.owner is None or call.operation in ("user", "group", "team"):  # directory reads touch no mailbox
            self._pause(req)
            return self._execute(req, call)
        limits = call.behaviours.limits
        if not limits.enter_mailbox(call.owner.id):
            self._pause(req)
            return graph_error(req, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", {"Retry-After": "1"})
        try:
            self._pause(req)  # inside the slot: a slow request keeps its mailbox busy
            return self._execute(req, call)
        finally:
            limits.leave_mailbox(call.owner.id)

    def _prepare(self, req, segments, dialect):
        """A routed and authorised _Call, or the Response that ends the request early."""
        token = self._authenticate(req, dialect)
        if isinstance(token, Response):
            return token
        early = self._throttle_or_fault(req)
        if early is not None:
            return early
        found = route(segments, dialect)
        if isinstance(found, str):
            return graph_error(req, 400, "BadRequest", "Resource not found for the segment '%s'." % found)
        allowed = found.allowed_methods(dialect)
        if req.method not in allowed:
            return graph_error(req, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.", {"Allow": ", ".join(allowed)})
        if found.me and token.kind == "app":
            return graph_error(req, 400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        owner, lookup = self._find_owner(req.tenant, token, found)
        if owner is not None:
            req.log["user" if found.kind == USER else "group"] = owner.id
        is_self = found.kind == USER and token.kind == "delegated" and (found.me or (owner is not None and owner.id == token.user_id))
        needed, own = found.needs(req.method)
        granted = token.roles if token.kind == "app" else token.scopes
        if not (granted & needed or (is_self and granted & own)):
            if found.operation in DIRECTORY_OPERATIONS:
                return graph_error(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            return graph_error(req, 403, *ACCESS_DENIED)
        if owner is None and found.kind is not None:
            if found.kind == TEAM:
                return graph_error(req, 404, "NotFound", "No team found with Group Id %s" % lookup)
            return graph_error(req, 404, "Request_ResourceNotFound", (
                "Resource '%s' does not exist or one of its queried reference-property objects are not present.") % lookup)
        call = _Call(dialect, token, req.tenant, found, owner)
        refused = self._policy_refusal(req, call) if req.method in WRITE_METHODS and owner is not None else None
        return refused or call

    @staticmethod
    def _find_owner(tenant, token, found):
        """(the user, group or Team the route names in this tenant, or None; the key it was looked up by)."""
        if found.kind is None:
            return None, None
        if found.kind == USER:
            lookup = token.user_id if found.me else found.key
            return (tenant.find_user(lookup) if lookup else None), lookup
        group = tenant.group_by_id(found.key) if found.key else None
        if found.kind == TEAM and group is not None and not group.is_team:
            group = None
        return group, found.key

    def _policy_refusal(self, req, call):
        """The 403 of a photo write the tenant's policy or the service's history refuses, else None."""
        behaviours = call.behaviours
        if not call.tenant.cloud_photos and (call.kind == USER or behaviours["photo_policy_scope"] == "users_and_groups"):
            # photoUpdateSettings source onPremises: a bare 403 that does not name the policy (assumption).
            req.log["fault"] = "photo_policy"
            return graph_error(req, 403, *ACCESS_DENIED)
        if call.kind == GROUP and call.token.kind == "app" and behaviours["group_app_only_writes"] == "refuse":
            return graph_error(req, 403, *APP_ONLY_GROUP_UPDATE)
        return None

    def _authenticate(self, req, dialect):
        """The Token behind the bearer header (req.tenant set to its tenant), or a 401 Response."""
        scheme, dummy, value = req.headers.get("authorization", "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            return self._unauthorized(req, "Access token is empty.")
        token = self.state.lookup_token(value)
        tenant = self.state.tenant_of(token) if token is not None else None
        if tenant is None:  # unknown, revoked, or of a tenant that is gone
            return self._unauthorized(req, NOT_WELL_FORMED if "." not in value else "Access token validation failure.")
        req.tenant = tenant
        req.log["client_id"] = token.client_id
        req.log["token_kind"] = token.kind
        if token.expires_at <= time.time():
            return self._unauthorized(req, "Lifetime validation failed, the token is expired.")
        audiences = tenant.behaviours["graph_audiences" if dialect != OUTLOOK else "outlook_audiences"]
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
        limits = req.tenant.behaviours.limits
        retry_after = limits.count_graph_request()
        if retry_after is not None:
            req.log["fault"] = "throttle"
            return too_many_requests(req, retry_after)
        if req.method in RATE_LIMITED_METHODS:
            retry_after = limits.take_write(req.log.get("client_id"))
            if retry_after is not None:
                req.log["fault"] = "rate_limit"
                return too_many_requests(req, retry_after)
        return self._injected_fault(req)

    def _injected_fault(self, req):
        """The Response of the next configured fault that matches this request, or None (also when the fault is
        after_apply: the request is then served first and finish() changes its answer)."""
        photo_read = is_photo_read(req.method, split_segments(req.path))
        fault = req.tenant.behaviours.limits.take_fault(req.method, req.path, req.body, photo_read)
        if fault is None:
            return None
        if fault["stale"]:  # a lagging replica: served as usual, from the owner's previous photo
            req.log["fault"] = "stale"
            req.stale = True
            return None
        if fault["after_apply"]:
            req.after_fault = fault
            return None
        return fault_response(req, fault, None)

    def finish(self, req, resp):
        """The answer actually sent: resp, or what an after_apply fault makes of it; with the throttle headers."""
        if req.after_fault is not None:
            resp = fault_response(req, req.after_fault, resp)
        return self._with_throttle_headers(req, resp)

    def _with_throttle_headers(self, req, resp, client_id=None, tenant=None):
        """throttle_headers: x-ms-throttle-limit-percentage and x-ms-throttle-scope on every answer to an app whose use
        of its write_rate_limit is above 0.8 (direct answers, $batch items, the envelope), the scope also on the bucket's
        429s. Measured when the answer is made, so the envelope reports the use after its items."""
        tenant = req.tenant or tenant
        if resp.drop or tenant is None:
            return resp
        client_id = req.log.get("client_id") or client_id
        resp.headers.update(tenant.behaviours.limits.throttle_headers(client_id, tenant.id, refused=req.log.get("fault") == "rate_limit"))
        return resp

    # ----------------------------------------------------------------- dispatch

    def _execute(self, req, call):
        if call.kind == USER and call.owner is not None and call.operation != "user" and not call.owner.has_mailbox:
            answer = self._without_mailbox(req, call)
            if answer is not None:
                return answer
        if call.kind in (GROUP, TEAM) and call.operation not in ("group", "team") and not call.owner.unified:
            answer = self._security_group(req, call)
            if answer is not None:
                return answer
        if call.operation == "photo_value" and req.method == "DELETE":
            return self._delete_photo(req, call)
        if call.operation == "photo_value" and req.method in ("PUT", "PATCH"):
            return self._write_photo(req, call)
        handlers = {"users": self._list_users, "user": self._get_user, "groups": self._list_groups, "group": self._get_group,
                    "team": self._get_team,
                    "photo_policy": self._photo_policy, "photo": self._get_photo, "photo_value": self._get_photo_value,
                    "photos": self._list_photos, "size": self._get_size, "size_value": self._get_size_value}
        return handlers[call.operation](req, call)

    def _security_group(self, req, call):
        """security_group_photos refuse (assumption): a group that is not a Microsoft 365 group has no photo to read, and
        a write is refused; None when allow serves it like any group."""
        if call.behaviours["security_group_photos"] == "allow":
            return None
        if req.method == "GET":
            return self._photo_not_found(req, call)
        return graph_error(req, 400, "BadRequest", "The group '%s' is not a Microsoft 365 group: its photo cannot be set." % call.owner.id)
