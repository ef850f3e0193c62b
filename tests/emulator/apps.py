# SPDX-License-Identifier: GPL-3.0-or-later
"""App registrations, managed identities and the access tokens the emulator has issued.

An app registration is one client id with its credentials; the tenants it may sign in to, and the roles it holds in
each, are that tenant's consents (tenant.py). A token belongs to one tenant and sees only that tenant's objects.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OUTLOOK_RESOURCES = ("https://outlook.office.com", "https://outlook.office365.com")
# The resource principals an emulated tenant has, whatever the audience behaviours say: a token request for any
# other resource (one not in graph_audiences or outlook_audiences either) gets AADSTS500011.
KNOWN_RESOURCES = (GRAPH_RESOURCE, GRAPH_APP_ID) + OUTLOOK_RESOURCES
DEFAULT_CLIENTS = (
    {"client_id": "11111111-1111-4111-8111-111111111111", "secret": "emulator-secret-value", "roles": ["ProfilePhoto.ReadWrite.All"]},
    {"client_id": "22222222-2222-4222-8222-222222222222", "secret": "emulator-readonly-secret", "roles": ["ProfilePhoto.Read.All"]},
)
SYSTEM_IDENTITY_CLIENT_ID = "55555555-5555-4555-8555-555555555555"
USER_IDENTITY = {
    "client_id": "33333333-3333-4333-8333-333333333333",
    "object_id": "44444444-4444-4444-8444-444444444444",
    "resource_id": "/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/emulator/providers/"
                   "Microsoft.ManagedIdentity/userAssignedIdentities/emulator-identity",
}


def _thumbprint(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclasses.dataclass
class Client:
    """An app registration."""
    client_id: str
    secret: str | None
    certificate: x509.Certificate | None
    roles: tuple
    expires_in: int

    @property
    def x5t(self):
        return _thumbprint(self.certificate.fingerprint(hashes.SHA1())) if self.certificate else None

    @property
    def x5t_s256(self):
        return _thumbprint(self.certificate.fingerprint(hashes.SHA256())) if self.certificate else None

    def view(self):
        return {"client_id": self.client_id, "has_secret": self.secret is not None, "has_certificate": self.certificate is not None,
                "x5t": self.x5t, "roles": list(self.roles), "expires_in": self.expires_in}


@dataclasses.dataclass
class ManagedIdentity:
    client_id: str
    roles: tuple
    system: bool
    object_id: str | None = None
    resource_id: str | None = None


@dataclasses.dataclass
class Token:
    kind: str  # "app" | "delegated"
    client_id: str | None
    tenant_id: str
    roles: frozenset  # lower-case app roles (kind app)
    scopes: frozenset  # lower-case delegated scopes (kind delegated)
    user_id: str | None
    resource: str  # normalised: no trailing slash, no /.default
    expires_at: float  # epoch seconds


def normalize_resource(value: str) -> str:
    """'https://graph.microsoft.com/.default' and 'https://graph.microsoft.com/' both become 'https://graph.microsoft.com'."""
    value = value.strip()
    if value.endswith("/.default"):
        value = value[:-len("/.default")]
    return value.rstrip("/")


def client_from_spec(spec):
    """A Client from a control-API spec {client_id, secret?, certificate_pem?, roles?, expires_in?}."""
    if not isinstance(spec, dict) or not isinstance(spec.get("client_id"), str) or not spec["client_id"]:
        raise ValueError("client_id is required")
    certificate = None
    if spec.get("certificate_pem"):
        try:
            certificate = x509.load_pem_x509_certificate(spec["certificate_pem"].encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ValueError("certificate_pem is not a PEM certificate") from exc
    roles = check_roles(spec.get("roles", []))
    expires_in = spec.get("expires_in", 3599)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise ValueError("expires_in must be an integer")
    secret = spec.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("secret must be a string")
    return Client(spec["client_id"], secret, certificate, roles, expires_in)


def check_roles(roles):
    if not isinstance(roles, (list, tuple)) or not all(isinstance(role, str) for role in roles):
        raise ValueError("roles must be a list of strings")
    return tuple(roles)


def client_spec(client):
    """The spec client_from_spec reads back (the journal keeps it)."""
    spec = {"client_id": client.client_id, "secret": client.secret, "roles": list(client.roles), "expires_in": client.expires_in}
    if client.certificate is not None:
        spec["certificate_pem"] = client.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return spec


class Apps:
    """The app registrations, the managed identities (of the default tenant) and every token issued."""

    def __init__(self):
        self._lock = threading.Lock()
        self._clients = {}
        self._identities = []
        self._tokens = {}

    def reset(self):
        with self._lock:
            self._clients = {}
            self._tokens = {}
            self._identities = [
                ManagedIdentity(SYSTEM_IDENTITY_CLIENT_ID, ("ProfilePhoto.ReadWrite.All",), True),
                ManagedIdentity(USER_IDENTITY["client_id"], ("ProfilePhoto.ReadWrite.All",), False,
                                USER_IDENTITY["object_id"], USER_IDENTITY["resource_id"]),
            ]

    def put_client(self, client):
        with self._lock:
            self._clients[client.client_id.lower()] = client

    def get_client(self, client_id) -> Client | None:
        return self._clients.get((client_id or "").lower())

    def clients(self):
        with self._lock:
            return list(self._clients.values())

    def find_identity(self, client_id=None, object_id=None, resource_id=None) -> ManagedIdentity | None:
        """No selector: the system-assigned identity; otherwise the user-assigned one that matches."""
        for identity in self._identities:
            if client_id is not None:
                if identity.client_id.lower() == client_id.lower() and not identity.system:
                    return identity
            elif object_id is not None:
                if (identity.object_id or "").lower() == object_id.lower():
                    return identity
            elif resource_id is not None:
                if (identity.resource_id or "").lower() == resource_id.lower():
                    return identity
            elif identity.system:
                return identity
        return None

    def issue_token(self, tenant_id, kind, client_id, resource, ttl, roles=(), scopes=(), user_id=None):
        """Mint an opaque access token of one tenant; returns (token string, Token)."""
        value = secrets.token_urlsafe(32)
        token = Token(kind, client_id, tenant_id, frozenset(r.lower() for r in roles), frozenset(s.lower() for s in scopes),
                      user_id, normalize_resource(resource), time.time() + ttl)
        with self._lock:
            self._tokens[value] = token
        return value, token

    def lookup_token(self, value) -> Token | None:
        return self._tokens.get(value)

    def revoke_tokens(self, tenant_id=None) -> int:
        """Forget tokens issued so far (of one tenant, or all): they become unknown, as after a revocation or a restart."""
        with self._lock:
            doomed = [value for value, token in self._tokens.items() if tenant_id is None or token.tenant_id == tenant_id]
            for value in doomed:
                del self._tokens[value]
            return len(doomed)

    def expire_tokens(self, tenant_id=None) -> int:
        past = time.time() - 1
        with self._lock:
            count = 0
            for token in self._tokens.values():
                if tenant_id is None or token.tenant_id == tenant_id:
                    token.expires_at = min(token.expires_at, past)
                    count += 1
            return count
