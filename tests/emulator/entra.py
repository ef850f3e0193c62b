# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID (Azure AD) stand-in: OIDC discovery, the v2.0 token endpoint (client credentials with a secret or a
certificate assertion) and the two managed-identity endpoints msal knows (App Service and IMDS)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
import uuid
from urllib.parse import parse_qsl, unquote, unquote_plus

import jwt

from .apps import normalize_resource
from .wire import Response

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
MANAGED_IDENTITY_TTL = 3599
_SCOPE = re.compile(r"\S+/\.default")


def aadsts_error(req, status, error, code, text):
    """An error shaped like Entra's: AADSTS code, trace and correlation ids, timestamp."""
    trace_id = str(uuid.uuid4())
    timestamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    description = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
        code, text, trace_id, req.client_request_id, timestamp)
    return Response.json(status, {
        "error": error, "error_description": description, "error_codes": [code], "timestamp": timestamp,
        "trace_id": trace_id, "correlation_id": req.client_request_id, "error_uri": "%s/error?code=%d" % (req.base_url, code),
    }, headers=NO_STORE)


def unknown_resource(req, status, resource, tenant):
    """AADSTS500011, Entra's answer to a token request for a resource principal the tenant does not have."""
    return aadsts_error(req, status, "invalid_resource", 500011, (
        "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not "
        "been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent "
        "your authentication request to the wrong tenant.") % (resource, tenant))


def basic_credentials(header: str):
    """(client_id, client_secret) from an 'Authorization: Basic' value (RFC 6749 2.3.1: each form-urlencoded, then
    'id:secret' in base64), None when the header is not Basic, or a str saying what is wrong with it."""
    scheme, dummy, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "The Authorization header is not valid base64 of UTF-8 text."
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        return "The Authorization header does not hold client_id:client_secret."
    return unquote_plus(client_id), unquote_plus(secret)


def _same_secret(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Entra:
    """Routes /{tenant}/..., /msi/token and /metadata/identity/oauth2/token."""

    def __init__(self, state):
        self.state = state
        self._tenant_routes = {
            "v2.0/.well-known/openid-configuration": ("GET", self._discovery),
            "oauth2/v2.0/token": ("POST", self._token),
            "discovery/v2.0/keys": ("GET", self._keys),
        }

    def handle(self, req):
        resp = self._route(req)
        delay = (req.tenant or self.state.default_tenant).behaviours.latency_seconds("TOKEN")
        if delay:
            time.sleep(delay)
        return resp

    def _route(self, req):
        if req.path in ("/msi/token", "/metadata/identity/oauth2/token"):
            req.log["api"] = "managed_identity"
            req.tenant = self.state.default_tenant  # managed identities live in the default tenant
            if req.method != "GET":
                return Response.json(405, {"error": "invalid_request", "error_description": "Use GET."})
            return self._app_service(req) if req.path == "/msi/token" else self._imds(req)
        req.log["api"] = "entra"
        raw_tenant, dummy, rest = req.path.lstrip("/").partition("/")
        tenant = unquote(raw_tenant)
        route = self._tenant_routes.get(rest)
        if route is None:
            return Response.json(404, {"error": "not_found", "error_description": "No such endpoint in the emulator: %s" % req.path})
        method, handler = route
        if req.method != method:
            return Response.json(405, {"error": "invalid_request", "error_description": "Use %s." % method})
        found = self.state.tenant_by_authority(tenant)
        if found is None:
            error = "invalid_request" if method == "POST" else "invalid_tenant"  # discovery answers invalid_tenant
            return aadsts_error(req, 400, error, 90002, (
                "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "
                "Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ) % tenant)
        req.tenant = found
        return handler(req, tenant)

    # ----------------------------------------------------------------- discovery

    def _discovery(self, req, tenant):
        del tenant  # like Entra, every URL in the document names the tenant by its id
        base = "%s/%s" % (req.base_url, req.tenant.id)
        return Response.json(200, {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "issuer": base + "/v2.0",
            "jwks_uri": base + "/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "request_uri_parameter_supported": False,
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        })

    @staticmethod
    def _keys(req, tenant):
        del req, tenant  # the emulator signs no tokens: its access tokens are opaque
        return Response.json(200, {"keys": []})

    # ----------------------------------------------------------------- token endpoint

    def _token(self, req, tenant):
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = basic_credentials(req.headers.get("authorization", ""))
        if basic is not None:
            req.log["credential"] = "secret_basic"
        if isinstance(basic, str):
            return aadsts_error(req, 401, "invalid_client", 7000218, basic)
        if basic is not None:
            # client_secret_basic: the client id and secret come from the header; the form must not contradict them.
            req.log["client_id"] = basic[0]
            if form.get("client_id") and form["client_id"].lower() != basic[0].lower():
                return aadsts_error(req, 401, "invalid_client", 7000218,
                                    "The client_id in the body does not match the client_id in the Authorization header.")
            if "client_secret" in form or "client_assertion" in form:
                return aadsts_error(req, 401, "invalid_client", 7000218,
                                    "The request uses more than one client authentication method.")
            form["client_id"] = basic[0]
        client_id = form.get("client_id", "")
        req.log["client_id"] = client_id or None
        if form.get("grant_type") != "client_credentials":
            return aadsts_error(req, 400, "unsupported_grant_type", 70003,
                                "The app requested an unsupported grant type '%s'." % form.get("grant_type", ""))
        for name in ("client_id", "scope"):
            if not form.get(name):
                return aadsts_error(req, 400, "invalid_request", 900144, "The request body must contain the following parameter: '%s'." % name)
        scope = form["scope"].strip()
        if not _SCOPE.fullmatch(scope):
            return aadsts_error(req, 400, "invalid_scope", 1002012, (
                "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default "
                "suffixed to the resource identifier (application ID URI).") % scope)
        client = self.state.get_client(client_id)
        # An app registered in another tenant and not consented in this one is unknown here, as in Entra.
        roles = req.tenant.consented_roles(client_id) if client is not None else None
        if roles is None:
            return aadsts_error(req, 400, "unauthorized_client", 700016, (
                "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not "
                "been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your "
                "authentication request to the wrong tenant.") % (client_id, tenant))
        failure = self._check_credential(req, form, client, tenant, basic)
        if failure is not None:
            return failure
        resource = normalize_resource(scope)
        if not self.state.knows_resource(resource, req.tenant):
            return unknown_resource(req, 400, resource, tenant)
        value = self.state.issue_token("app", client.client_id, scope, client.expires_in, roles=roles, tenant=req.tenant)[0]
        return Response.json(200, {"token_type": "Bearer", "expires_in": client.expires_in, "ext_expires_in": client.expires_in,
                                   "access_token": value}, headers=NO_STORE)

    def _check_credential(self, req, form, client, tenant, basic=None):
        """None when the secret (in the body or in a Basic header) or the assertion proves the client, else the AADSTS
        error response."""
        if basic is not None:
            req.log["credential"] = "secret_basic"
            if _same_secret(basic[1], client.secret):
                return None
            return self._bad_secret(req, client)
        if "client_assertion" in form or "client_assertion_type" in form:
            req.log["credential"] = "certificate"
            problem = self._assertion_problem(req, form, client, tenant)
            if problem is None:
                return None
            return aadsts_error(req, 401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - %s]" % problem)
        if "client_secret" in form:
            req.log["credential"] = "secret"
            if _same_secret(form["client_secret"], client.secret):
                return None
            return self._bad_secret(req, client)
        return aadsts_error(req, 401, "invalid_client", 7000218,
                            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    @staticmethod
    def _bad_secret(req, client):
        return aadsts_error(req, 401, "invalid_client", 7000215, (
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the "
            "client secret ID, for a secret added to app '%s'.") % client.client_id)

    def _assertion_problem(self, req, form, client, tenant):
        """Why the client assertion does not prove the client (fixed texts: never echo the assertion), or None."""
        if form.get("client_assertion_type") != JWT_BEARER:
            return "client_assertion_type must be %s." % JWT_BEARER
        if client.certificate is None:
            return "The key was not found."
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return "The assertion is not a well-formed JWT."
        # msal pads x5t / x5t#S256 with '=', which the thumbprints we compute do not have.
        if header.get("x5t#S256", "").rstrip("=") != client.x5t_s256 and header.get("x5t", "").rstrip("=") != client.x5t:
            return "The key was not found."
        endpoints = ["%s/%s/oauth2/v2.0/token" % (req.base_url, name) for name in [tenant, req.tenant.id] + req.tenant.domains]
        try:
            claims = jwt.decode(assertion, client.certificate.public_key(), algorithms=["RS256", "PS256"], audience=endpoints,
                                options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.InvalidSignatureError:
            return "The signature is invalid."
        except jwt.ExpiredSignatureError:
            return "The assertion is expired."
        except jwt.InvalidAudienceError:
            return "The audience claim is not the token endpoint."
        except jwt.PyJWTError:
            return "The assertion could not be validated."
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            return "The iss and sub claims must be the client id."
        return None

    # ----------------------------------------------------------------- managed identity

    def _identity_from_query(self, query):
        if "client_id" in query:
            return self.state.find_identity(client_id=query["client_id"])
        for name in ("object_id", "principal_id"):
            if name in query:
                return self.state.find_identity(object_id=query[name])
        for name in ("mi_res_id", "msi_res_id"):
            if name in query:
                return self.state.find_identity(resource_id=query[name])
        return self.state.find_identity()

    def _issue_identity_token(self, req):
        """(identity, token string, Token) or an error Response."""
        for name in ("api-version", "resource"):
            if not req.query.get(name):
                return Response.json(400, {"error": "invalid_request", "error_description": "Required query parameter %s is missing." % name})
        identity = self._identity_from_query(req.query)
        if identity is None:
            return Response.json(400, {"error": "invalid_request", "error_description": "Identity not found"})
        req.log["client_id"] = identity.client_id
        req.log["credential"] = "managed_identity"
        resource = normalize_resource(req.query["resource"])
        if not self.state.knows_resource(resource):
            return unknown_resource(req, 400, resource, self.state.tenant_id)
        value, token = self.state.issue_token("app", identity.client_id, resource,
                                              MANAGED_IDENTITY_TTL, roles=identity.roles)
        return identity, value, token

    def _app_service(self, req):
        given = req.headers.get("x-identity-header", "")
        if not _same_secret(given, self.state.identity_header):
            return Response.json(401, {"error": "unauthorized_client",
                                       "error_description": "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER."})
        issued = self._issue_identity_token(req)
        if isinstance(issued, Response):
            # App Service answers errors in its own shape, which msal turns into "<statusCode>, <message>".
            reason = json.loads(issued.body).get("error_description", "")
            message = "Unable to load the proper Managed Identity." if reason == "Identity not found" else reason
            return Response.json(issued.status, {"statusCode": issued.status, "message": message, "correlationId": str(uuid.uuid4())})
        identity, value, token = issued
        return Response.json(200, {"access_token": value, "expires_on": str(int(token.expires_at)), "resource": req.query["resource"],
                                   "token_type": "Bearer", "client_id": identity.client_id}, headers=NO_STORE)

    def _imds(self, req):
        if req.headers.get("metadata", "").lower() != "true":
            return Response.json(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
        issued = self._issue_identity_token(req)
        if isinstance(issued, Response):
            return issued
        identity, value, token = issued
        ttl = str(MANAGED_IDENTITY_TTL)
        return Response.json(200, {"access_token": value, "client_id": identity.client_id, "expires_in": ttl, "ext_expires_in": ttl,
                                   "expires_on": str(int(token.expires_at)), "not_before": str(int(time.time())),
                                   "resource": req.query["resource"], "token_type": "Bearer"}, headers=NO_STORE)
