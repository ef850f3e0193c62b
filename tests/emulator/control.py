# SPDX-License-Identifier: GPL-3.0-or-later
"""The control API, /_emulator/...: no auth, never written to the request log (README, "Control API").

Every tenant-level path also works under /_emulator/tenants/{tenant}/..., where {tenant} is a tenant's id, name or
domain; without that prefix it acts on the default tenant, as in 1.0.0.
"""

from __future__ import annotations

import json

from . import images
from .apps import DEFAULT_CLIENTS, GRAPH_RESOURCE
from .directory import Photo
from .graph_routes import split_segments
from .replica import check_etag
from .wire import Response


def _control_error(status, message):
    return Response.json(status, {"error": message})


def _missing(kind, key):
    return _control_error(404, "no %s %r" % (kind, key))


def _json_body(req):
    try:
        return json.loads(req.body.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the body must be JSON: %s" % exc) from exc


def _object_body(req):
    body = _json_body(req)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _int_field(body, name, default, low, high):
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s must be an integer from %d to %d" % (name, low, high))
    return value


def _ratio_field(body, name):
    ratio = body.get(name, 0.0)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError("%s must be a number from 0.0 to 1.0" % name)
    return ratio


def _string_list(body, name, default):
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("%s must be a list of strings" % name)
    return value


def _prefix(body):
    prefix = body.get("prefix", "user")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("prefix must be a non-empty string")
    return prefix


class ControlApi:
    """Seed tenants, users, groups and photos; register and consent apps; mint tokens; switch behaviours and the photo
    policy; read the request log."""

    def __init__(self, state, info):
        self.state = state
        self.info = info
        self._global_routes = (
            ("GET", ("health",), self._health),
            ("GET", ("info",), self._info),
            ("POST", ("reset",), self._reset),
            ("GET", ("tenants",), self._list_tenants),
            ("POST", ("tenants",), self._add_tenant),
            ("GET", ("tenants", "*"), self._get_tenant),
            ("DELETE", ("tenants", "*"), self._delete_tenant),
            ("DELETE", ("requests",), self._clear_requests),
        )
        self._tenant_routes = (
            ("GET", ("users",), self._list_users),
            ("POST", ("users",), self._add_users),
            ("POST", ("users", "generate"), self._generate_users),
            ("GET", ("users", "*"), self._get_user),
            ("DELETE", ("users", "*"), self._delete_user),
            ("PUT", ("users", "*", "photo"), self._put_user_photo),
            ("DELETE", ("users", "*", "photo"), self._delete_user_photo),
            ("GET", ("groups",), self._list_groups),
            ("POST", ("groups",), self._add_groups),
            ("POST", ("groups", "generate"), self._generate_groups),
            ("GET", ("groups", "*"), self._get_group),
            ("DELETE", ("groups", "*"), self._delete_group),
            ("PUT", ("groups", "*", "photo"), self._put_group_photo),
            ("DELETE", ("groups", "*", "photo"), self._delete_group_photo),
            ("POST", ("clients",), self._register_client),
            ("POST", ("consents",), self._consent),
            ("DELETE", ("consents", "*"), self._withdraw_consent),
            ("POST", ("tokens",), self._mint_token),
            ("POST", ("tokens", "expire"), self._expire_tokens),
            ("POST", ("tokens", "revoke"), self._revoke_tokens),
            ("GET", ("requests",), self._get_requests),
            ("GET", ("behaviours",), self._get_behaviours),
            ("PUT", ("behaviours",), self._put_behaviours),
            ("GET", ("photo_policy",), self._get_policy),
            ("PUT", ("photo_policy",), self._put_policy),
        )

    def handle(self, req):
        segments = split_segments(req.path)[1:]
        routes, scoped = self._global_routes + self._tenant_routes, None
        if len(segments) > 2 and segments[0] == "tenants":
            scoped = self.state.tenant(segments[1])
            if scoped is None:
                return _missing("tenant", segments[1])
            segments, routes = segments[2:], self._tenant_routes
        tenant = scoped or self.state.default_tenant
        path_known = False
        for method, pattern, handler in routes:
            if not self._matches(pattern, segments):
                continue
            path_known = True
            if method == req.method:
                args = [seg for part, seg in zip(pattern, segments) if part == "*"]
                try:
                    return handler(req, tenant, scoped is not None, *args)
                except ValueError as exc:
                    return _control_error(400, str(exc))
        if path_known:
            return _control_error(405, "method %s is not offered on %s" % (req.method, req.path))
        return _control_error(404, "no control endpoint %s" % req.path)

    @staticmethod
    def _matches(pattern, segments):
        return len(pattern) == len(segments) and all(part in ("*", seg) for part, seg in zip(pattern, segments))

    # ----------------------------------------------------------------- the emulator and its tenants

    @staticmethod
    def _health(req, tenant, scoped):
        del req, tenant, scoped
        return Response.json(200, {"ok": True})

    def _info(self, req, tenant, scoped):
        del req, tenant, scoped
        return Response.json(200, dict(self.info, tenants=[self._tenant_view(each) for each in self.state.tenants()]))

    def _reset(self, req, tenant, scoped):
        del req, tenant, scoped
        self.state.reset()
        return Response.json(200, {"ok": True})

    def _tenant_view(self, tenant):
        view = tenant.view()
        if self.info.get("authority_host"):
            view["authority"] = "%s/%s" % (self.info["authority_host"], tenant.id)
        return view

    def _list_tenants(self, req, tenant, scoped):
        del req, tenant, scoped
        return Response.json(200, {"tenants": [self._tenant_view(each) for each in self.state.tenants()]})

    def _add_tenant(self, req, tenant, scoped):
        del tenant, scoped
        return Response.json(200, self._tenant_view(self.state.add_tenant(_object_body(req))))

    def _get_tenant(self, req, tenant, scoped, key):
        del req, tenant, scoped
        found = self.state.tenant(key)
        return Response.json(200, self._tenant_view(found)) if found else _missing("tenant", key)

    def _delete_tenant(self, req, tenant, scoped, key):
        del req, tenant, scoped
        found = self.state.tenant(key)
        if found is None:
            return _missing("tenant", key)
        if found.default:
            raise ValueError("the default tenant cannot be deleted (POST /_emulator/reset starts it afresh)")
        self.state.delete_tenant(key)
        return Response.json(200, {"deleted": True})

    # ----------------------------------------------------------------- users

    @staticmethod
    def _list_users(req, tenant, scoped):
        del req, scoped
        return Response.json(200, {"users": [user.view() for user in tenant.all_users()]})

    @staticmethod
    def _add_users(req, tenant, scoped):
        del scoped
        specs = _object_body(req).get("users")
        if not isinstance(specs, list):
            raise ValueError('the body must be {"users": [...]}')
        return Response.json(200, {"users": [user.view() for user in tenant.add_users(specs)]})

    @staticmethod
    def _generate_users(req, tenant, scoped):
        del scoped
        body = _object_body(req)
        ratio = _ratio_field(body, "photo_ratio")
        domain, prefix = body.get("domain", tenant.domain), _prefix(body)
        if not isinstance(domain, str) or not domain:
            raise ValueError("domain and prefix must be non-empty strings")
        users = tenant.generate_users(_int_field(body, "count", None, 1, 1_000_000), domain, prefix, ratio,
                                      _int_field(body, "photo_size", 96, 1, 2048))
        return Response.json(200, {"created": len(users), "with_photo": sum(1 for user in users if user.photo),
                                   "first": users[0].upn, "last": users[-1].upn})

    @staticmethod
    def _get_user(req, tenant, scoped, key):
        del req, scoped
        user = tenant.find_user(key)
        return Response.json(200, user.view()) if user else _missing("user", key)

    @staticmethod
    def _delete_user(req, tenant, scoped, key):
        del req, scoped
        if not tenant.delete_user(key):
            return _missing("user", key)
        return Response.json(200, {"deleted": True})

    def _put_user_photo(self, req, tenant, scoped, key):
        del scoped
        return self._store(tenant, tenant.find_user(key), "user", key, self._photo_of(req))

    def _delete_user_photo(self, req, tenant, scoped, key):
        del req, scoped
        return self._store(tenant, tenant.find_user(key), "user", key, None)

    @staticmethod
    def _photo_of(req):
        content_type = req.headers.get("content-type", "").split(";")[0].strip() or None
        etag = check_etag(req.query.get("etag"), "the etag query parameter")  # a forced etag: collisions on purpose
        try:
            return Photo.from_bytes(req.body, content_type, etag=etag)
        except images.ImageError as exc:
            raise ValueError("the body is not an image: %s" % exc) from exc

    @staticmethod
    def _store(tenant, owner, kind, key, photo):
        if owner is None:
            return _missing(kind, key)
        tenant.set_photo(owner, photo, propagate=False)  # the oracle writes exactly these bytes, at once
        return Response.json(200, owner.view())

    # ----------------------------------------------------------------- groups and Teams

    @staticmethod
    def _list_groups(req, tenant, scoped):
        del req, scoped
        return Response.json(200, {"groups": [group.view() for group in tenant.all_groups()]})

    @staticmethod
    def _add_groups(req, tenant, scoped):
        del scoped
        specs = _object_body(req).get("groups")
        if not isinstance(specs, list):
            raise ValueError('the body must be {"groups": [...]}')
        return Response.json(200, {"groups": [group.view() for group in tenant.add_groups(specs)]})

    @staticmethod
    def _generate_groups(req, tenant, scoped):
        del scoped
        body = _object_body(req)
        body.setdefault("prefix", "group")
        groups = tenant.generate_groups(_int_field(body, "count", None, 1, 100_000), _prefix(body), _ratio_field(body, "team_ratio"),
                                        _ratio_field(body, "photo_ratio"), _int_field(body, "photo_size", 96, 1, 2048))
        return Response.json(200, {"created": len(groups), "teams": sum(1 for group in groups if group.is_team),
                                   "with_photo": sum(1 for group in groups if group.photo),
                                   "first": groups[0].mail, "last": groups[-1].mail})

    @staticmethod
    def _get_group(req, tenant, scoped, key):
        del req, scoped
        group = tenant.find_group(key)
        return Response.json(200, group.view()) if group else _missing("group", key)

    @staticmethod
    def _delete_group(req, tenant, scoped, key):
        del req, scoped
        if not tenant.delete_group(key):
            return _missing("group", key)
        return Response.json(200, {"deleted": True})

    def _put_group_photo(self, req, tenant, scoped, key):
        del scoped
        return self._store(tenant, tenant.find_group(key), "group", key, self._photo_of(req))

    def _delete_group_photo(self, req, tenant, scoped, key):
        del req, scoped
        return self._store(tenant, tenant.find_group(key), "group", key, None)

    # ----------------------------------------------------------------- apps, consents, tokens

    def _register_client(self, req, tenant, scoped):
        del scoped
        return Response.json(200, self.state.register_client(_object_body(req), tenant).view())

    def _consent(self, req, tenant, scoped):
        """{"client_id", "roles"?}: consent an app registered before (in any tenant) here; roles default to its own."""
        del scoped
        body = _object_body(req)
        client = self.state.get_client(body.get("client_id") if isinstance(body.get("client_id"), str) else None)
        if client is None:
            return _missing("app registration", body.get("client_id"))
        roles = _string_list(body, "roles", list(client.roles))
        tenant.consent(client.client_id, roles)
        return Response.json(200, self._tenant_view(tenant))

    def _withdraw_consent(self, req, tenant, scoped, client_id):
        del req, scoped
        if not tenant.withdraw_consent(client_id):
            return _missing("consent of", client_id)
        return Response.json(200, self._tenant_view(tenant))

    def _mint_token(self, req, tenant, scoped):
        del scoped
        body = _object_body(req)
        client_id = body.get("client_id") or DEFAULT_CLIENTS[0]["client_id"]
        expires_in = _int_field(body, "expires_in", 3599, -10 ** 9, 10 ** 9)
        resource = body.get("resource", GRAPH_RESOURCE)
        if not isinstance(client_id, str) or not isinstance(resource, str):
            raise ValueError("client_id and resource must be strings")
        if body.get("user") is not None:
            user = tenant.find_user(str(body["user"]))
            if user is None:
                return _missing("user", body["user"])
            scopes = _string_list(body, "scopes", ["ProfilePhoto.ReadWrite.All"])
            value, token = self.state.issue_token("delegated", client_id, resource, expires_in, scopes=scopes, user_id=user.id,
                                                  tenant=tenant)
        else:
            granted = tenant.consented_roles(client_id)
            client = self.state.get_client(client_id)
            default = list(granted) if granted is not None else list(client.roles) if client else ["ProfilePhoto.ReadWrite.All"]
            roles = _string_list(body, "roles", default)
            value, token = self.state.issue_token("app", client_id, resource, expires_in, roles=roles, tenant=tenant)
        return Response.json(200, {"access_token": value, "token_type": "Bearer", "expires_in": expires_in, "kind": token.kind,
                                   "client_id": client_id, "user": token.user_id, "resource": token.resource,
                                   "tenant_id": token.tenant_id})

    def _expire_tokens(self, req, tenant, scoped):
        del req
        return Response.json(200, {"expired": self.state.apps.expire_tokens(tenant.id if scoped else None)})

    def _revoke_tokens(self, req, tenant, scoped):
        del req
        return Response.json(200, {"revoked": self.state.apps.revoke_tokens(tenant.id if scoped else None)})

    # ----------------------------------------------------------------- request log, behaviours, photo policy

    def _get_requests(self, req, tenant, scoped):
        since = req.query.get("since", "0")
        if not since.lstrip("-").isdigit():
            raise ValueError("since must be an integer")
        entries, last_seq = self.state.requests_since(int(since), tenant.id if scoped else None)
        return Response.json(200, {"requests": entries, "last_seq": last_seq})

    def _clear_requests(self, req, tenant, scoped):
        del req, tenant, scoped
        self.state.clear_log()
        return Response.json(200, {"ok": True})

    @staticmethod
    def _get_behaviours(req, tenant, scoped):
        del req, scoped
        return Response.json(200, tenant.behaviours.view())

    @staticmethod
    def _put_behaviours(req, tenant, scoped):
        del scoped
        return Response.json(200, tenant.behaviours.update(_json_body(req)))

    @staticmethod
    def _get_policy(req, tenant, scoped):
        del req, scoped
        return Response.json(200, dict(tenant.photo_policy))

    @staticmethod
    def _put_policy(req, tenant, scoped):
        del scoped
        return Response.json(200, tenant.update_policy(_json_body(req)))
