# SPDX-License-Identifier: GPL-3.0-or-later
"""What the tests of Microsoft's own clients share: the default seed's names, the emulator as a client sees it
(control API over HTTPS with its CA), test images and a client certificate."""

from __future__ import annotations

import datetime
import hashlib
import io
from urllib.parse import quote

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image

# The default seed (tests/emulator/README.md).
TENANT_ID = "00000000-0000-4000-8000-00000000c0de"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
RO_CLIENT = "22222222-2222-4222-8222-222222222222"
RO_SECRET = "emulator-readonly-secret"
SYSTEM_IDENTITY = "55555555-5555-4555-8555-555555555555"
USER_IDENTITY = "33333333-3333-4333-8333-333333333333"
USER_IDENTITY_OBJECT_ID = "44444444-4444-4444-8444-444444444444"
USER_IDENTITY_RESOURCE_ID = ("/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/emulator/providers/"
                             "Microsoft.ManagedIdentity/userAssignedIdentities/emulator-identity")
ALEX = "alex.wilber@contoso.onmicrosoft.com"  # has a 240x240 JPEG
ALEX_ID = "a1e80000-0000-4000-8000-000000000002"
ADELE = "adele.vance@contoso.onmicrosoft.com"  # has no photo
# The default seed's groups: Sales is a Team with a 240x240 photo, Marketing a Microsoft 365 group (no Team, no photo).
SALES_ID = "9a000000-0000-4000-8000-000000000001"
MARKETING_ID = "9a000000-0000-4000-8000-000000000003"
GRAPH = "https://graph.microsoft.com"
GRAPH_SCOPE = GRAPH + "/.default"

# Environment variables that would send a client elsewhere than the emulator (a region, another authority host, another managed
# identity source, a proxy). Each test starts without them and sets only what it needs, with monkeypatch.
STEERING_VARIABLES = (
    "MSAL_FORCE_REGION", "AZURE_REGIONAL_AUTHORITY_NAME", "AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)


def ca_session(ca_path):
    """A requests session that trusts the emulator's CA and nothing from the environment.

    Build machines export REQUESTS_CA_BUNDLE; with trust_env on, requests would then ignore Session.verify."""
    session = requests.Session()
    session.verify = ca_path
    session.trust_env = False
    return session


def jpeg(size=(120, 90), color=(30, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def png(size=(64, 64)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Emulator:
    """The running emulator as a client sees it: its info, the control API, and plain Graph calls."""

    def __init__(self, server):
        self.server = server
        self.info = server.info
        self.ca_path = server.info["ca_path"]
        self.authority_host = server.info["authority_host"]
        self.authority = server.info["authority"]
        self.http = ca_session(self.ca_path)

    def control(self, method, path, **kwargs):
        resp = self.http.request(method, self.info["control_url"] + path, timeout=10, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def reset(self):
        self.control("POST", "/reset")

    def behave(self, **behaviours):
        return self.control("PUT", "/behaviours", json=behaviours)

    def register_client(self, client_id, certificate_pem=None, secret=None, roles=("ProfilePhoto.ReadWrite.All",)):
        spec = {"client_id": client_id, "roles": list(roles)}
        if certificate_pem is not None:
            spec["certificate_pem"] = certificate_pem
        if secret is not None:
            spec["secret"] = secret
        return self.control("POST", "/clients", json=spec)

    def user(self, key):
        """The oracle view of one user: the true state, photo included."""
        return self.control("GET", "/users/" + quote(key, safe=""))

    def group(self, key):
        """The oracle view of one group of the default tenant (a Team is a group): the true state, photo included."""
        return self.control("GET", "/groups/" + quote(key, safe=""))

    def register_app(self, spec, tenant=None):
        """Register an app from a full spec (client_id, secret or certificate_pem, roles) and consent it in `tenant`
        (a tenant's id, name or domain; the default tenant when None)."""
        return self.control("POST", self.tenant_path(tenant, "/clients"), json=spec)

    # Several tenants (issue 19): POST /_emulator/tenants, and every tenant-level path under /_emulator/tenants/{t}/.

    @staticmethod
    def tenant_path(tenant, path):
        return path if tenant is None else "/tenants/%s%s" % (quote(tenant, safe=""), path)

    def add_tenant(self, name, **spec):
        """A new, empty tenant (no users, groups or consents); its view: id, name, domains, authority, ..."""
        return self.control("POST", "/tenants", json=dict(spec, name=name))

    def add_users(self, tenant, users):
        return self.control("POST", self.tenant_path(tenant, "/users"), json={"users": list(users)})["users"]

    def consent(self, tenant, client_id, roles=None):
        """Consent an app registered before (in any tenant) in `tenant`, with its own roles unless `roles` are given."""
        body = {"client_id": client_id}
        if roles is not None:
            body["roles"] = list(roles)
        return self.control("POST", self.tenant_path(tenant, "/consents"), json=body)

    def photo_policy(self, tenant=None, **change):
        """The tenant's photo policy {source, allowedRoles}, after applying `change` (PUT) when one is given."""
        if change:
            return self.control("PUT", self.tenant_path(tenant, "/photo_policy"), json=change)
        return self.control("GET", self.tenant_path(tenant, "/photo_policy"))

    def log(self, since=0):
        return self.control("GET", "/requests", params={"since": since})["requests"]

    def last_seq(self):
        return self.control("GET", "/requests", params={"since": 0})["last_seq"]

    def token_record(self, access_token):
        """What the emulator recorded when it issued this (opaque) token: client, roles, resource, kind."""
        record = self.server.state.lookup_token(access_token)
        assert record is not None, "the emulator did not issue this token"
        return record

    def graph_get(self, path, access_token):
        return self.http.get(self.info["graph_url"] + path, headers={"Authorization": "Bearer " + access_token}, timeout=10)

    def assert_token_works_on_graph(self, access_token):
        """A Graph call with the token succeeds: Alex's photo metadata."""
        resp = self.graph_get("/users/%s/photo" % quote(ALEX), access_token)
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == "240x240"


class ClientCertificate:
    """A self-signed certificate and its RSA key, as an app registration's credential."""

    def __init__(self, common_name="o365-outlook-emulator-client"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2)).sign(self.key, hashes.SHA256()))
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii")
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self.sha1_thumbprint = self.cert.fingerprint(hashes.SHA1()).hex().upper()
