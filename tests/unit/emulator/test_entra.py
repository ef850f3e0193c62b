# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra side of the emulator: discovery, token endpoint (secret and certificate, also through msal), managed identity."""

from __future__ import annotations

import base64
import datetime
import json
import os
from urllib.parse import quote_plus

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TENANT = "00000000-0000-4000-8000-00000000c0de"
RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CERT_CLIENT = "66666666-6666-4666-8666-666666666666"
MI_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
          "AZURE_POD_IDENTITY_AUTHORITY_HOST")


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def app_certificate():
    """A self-signed certificate for the app registration, its key, and a second key that does not match it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator-test-app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(), "key_pem": _key_pem(key),
            "other_key_pem": _key_pem(other), "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}


def _msal_app(api, client_id, credential, tenant=TENANT):
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority="%s/%s" % (api.origin, tenant),
        instance_discovery=False, azure_region=False, timeout=10, http_client=api.new_session())


def _aadsts(resp, status, code, error):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)
    return body


def test_discovery_advertises_https_urls_from_the_host_header(api):
    for tenant in (TENANT, "contoso.onmicrosoft.com"):
        doc = api.call("GET", "/%s/v2.0/.well-known/openid-configuration" % tenant).json()
        assert doc["token_endpoint"] == "%s/%s/oauth2/v2.0/token" % (api.origin, TENANT)
        assert doc["authorization_endpoint"].startswith(api.origin + "/")
        assert doc["issuer"] == "%s/%s/v2.0" % (api.origin, TENANT)
        assert doc["jwks_uri"].startswith("https://")


def test_unknown_tenant_is_aadsts90002(api):
    _aadsts(api.call("GET", "/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration"), 400, 90002, "invalid_tenant")
    resp = api.call("POST", "/fabrikam.onmicrosoft.com/oauth2/v2.0/token", data={
        "client_id": RW_CLIENT, "client_secret": RW_SECRET, "grant_type": "client_credentials", "scope": GRAPH_SCOPE})
    _aadsts(resp, 400, 90002, "invalid_request")


@pytest.mark.parametrize("form, status, code, error", [
    ({"client_secret": "Wr0ng-s3cret-value"}, 401, 7000215, "invalid_client"),
    ({"client_id": "99999999-9999-4999-8999-999999999999"}, 400, 700016, "unauthorized_client"),
    ({"scope": "https://graph.microsoft.com/User.Read"}, 400, 1002012, "invalid_scope"),
    ({"scope": "https://graph.microsoft.com/.default openid"}, 400, 1002012, "invalid_scope"),
    ({"client_secret": None}, 401, 7000218, "invalid_client"),
])
def test_token_errors_are_aadsts_shaped_and_never_echo_the_secret(api, form, status, code, error):
    data = {"client_id": RW_CLIENT, "client_secret": RW_SECRET, "grant_type": "client_credentials", "scope": GRAPH_SCOPE, "client_info": "1"}
    data.update(form)
    data = {name: value for name, value in data.items() if value is not None}
    body = _aadsts(api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=data), status, code, error)
    assert "Wr0ng-s3cret" not in json.dumps(body) and RW_SECRET not in json.dumps(body)
    assert "Wr0ng-s3cret" not in json.dumps(api.log()) and RW_SECRET not in json.dumps(api.log())


def test_secret_token_records_app_roles_and_resource(api):
    resp = api.call("POST", "/contoso.onmicrosoft.com/oauth2/v2.0/token", data={
        "client_id": RW_CLIENT, "client_secret": RW_SECRET, "grant_type": "client_credentials", "scope": GRAPH_SCOPE, "client_info": "1"})
    body = resp.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == body["ext_expires_in"] == 3599
    token = api.state.lookup_token(body["access_token"])
    assert (token.kind, token.client_id, token.resource) == ("app", RW_CLIENT, "https://graph.microsoft.com")
    assert token.roles == {"profilephoto.readwrite.all"}
    entry = api.log()[-1]
    assert (entry["api"], entry["client_id"], entry["credential"], entry["status"]) == ("entra", RW_CLIENT, "secret", 200)
    assert body["access_token"] not in json.dumps(api.log())


def test_msal_client_secret_flow(api):
    app = _msal_app(api, RW_CLIENT, RW_SECRET)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert api.graph("GET", "/users/alex.wilber@contoso.onmicrosoft.com/photo", result["access_token"]).status_code == 200
    assert [entry["method"] for entry in api.log()[:2]] == ["GET", "POST"]  # discovery from the constructor, then the token


def test_msal_wrong_secret_returns_aadsts7000215(api):
    result = _msal_app(api, RW_CLIENT, "not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" not in result
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]


@pytest.mark.parametrize("style", ["thumbprint_rs256", "public_certificate_ps256"])
def test_msal_certificate_assertion_is_verified(api, app_certificate, style):
    api.control("POST", "/clients", json={"client_id": CERT_CLIENT, "certificate_pem": app_certificate["cert_pem"],
                                          "roles": ["ProfilePhoto.Read.All"]}).raise_for_status()
    if style == "thumbprint_rs256":
        credential = {"private_key": app_certificate["key_pem"], "thumbprint": app_certificate["thumbprint"]}
    else:
        credential = {"private_key": app_certificate["key_pem"], "public_certificate": app_certificate["cert_pem"]}
    result = _msal_app(api, CERT_CLIENT, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert api.log()[-1]["credential"] == "certificate"
    assert api.state.lookup_token(result["access_token"]).roles == {"profilephoto.read.all"}


def test_msal_assertion_signed_with_another_key_is_aadsts700027(api, app_certificate):
    api.control("POST", "/clients", json={"client_id": CERT_CLIENT, "certificate_pem": app_certificate["cert_pem"],
                                          "roles": []}).raise_for_status()
    credential = {"private_key": app_certificate["other_key_pem"], "thumbprint": app_certificate["thumbprint"]}
    result = _msal_app(api, CERT_CLIENT, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result.get("error") == "invalid_client" and result["error_codes"] == [700027], result


def test_assertion_for_a_client_without_certificate_is_rejected(api):
    resp = api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data={
        "client_id": RW_CLIENT, "grant_type": "client_credentials", "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "a.b.c"})
    _aadsts(resp, 401, 700027, "invalid_client")


# ----------------------------------------------------------------------------- managed identity

@pytest.fixture
def mi_env(monkeypatch):
    """Clears every managed-identity variable; each test then points msal at the emulator (never at 169.254.169.254)."""
    for name in MI_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _mi_token(api, identity):
    # msal would otherwise contact the real IMDS address: make sure the emulator is the target.
    assert any(name in os.environ for name in ("IDENTITY_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"))
    client = msal.ManagedIdentityClient(identity, http_client=api.new_session())
    return client.acquire_token_for_client(resource="https://graph.microsoft.com")


@pytest.mark.parametrize("identity, client_id", [
    (msal.SystemAssignedManagedIdentity(), "55555555-5555-4555-8555-555555555555"),
    (msal.UserAssignedManagedIdentity(client_id="33333333-3333-4333-8333-333333333333"), "33333333-3333-4333-8333-333333333333"),
])
def test_managed_identity_app_service(api, mi_env, identity, client_id):
    mi_env.setenv("IDENTITY_ENDPOINT", api.info["identity_endpoint"])
    mi_env.setenv("IDENTITY_HEADER", api.info["identity_header"])
    result = _mi_token(api, identity)
    assert "access_token" in result, result
    assert api.graph("PUT", "/users/adele.vance@contoso.onmicrosoft.com/photo/$value", result["access_token"],
                     data=api.state.find_user("alex.wilber@contoso.onmicrosoft.com").photo.data,
                     headers={"Content-Type": "image/jpeg"}).status_code == 200
    entry = [entry for entry in api.log() if entry["api"] == "managed_identity"][-1]
    assert (entry["client_id"], entry["status"]) == (client_id, 200)
    assert api.info["identity_header"] not in json.dumps(api.log())


def test_managed_identity_app_service_rejects_a_wrong_header_and_unknown_client(api):
    url = "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com"
    assert api.call("GET", url, headers={"X-IDENTITY-HEADER": "wrong"}).status_code == 401
    assert api.call("GET", url).status_code == 401
    resp = api.call("GET", url + "&client_id=99999999-9999-4999-8999-999999999999", headers={"X-IDENTITY-HEADER": api.info["identity_header"]})
    assert resp.status_code == 400
    body = api.call("GET", url, headers={"X-IDENTITY-HEADER": api.info["identity_header"]}).json()
    assert body["expires_on"].isdigit() and body["token_type"] == "Bearer" and body["resource"] == "https://graph.microsoft.com"


def test_managed_identity_imds(api, mi_env):
    mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", api.info["imds_host"])
    result = _mi_token(api, msal.UserAssignedManagedIdentity(client_id="33333333-3333-4333-8333-333333333333"))
    assert "access_token" in result, result
    entry = api.log()[-1]
    assert (entry["api"], entry["path"], entry["client_id"]) == ("managed_identity", "/metadata/identity/oauth2/token",
                                                                 "33333333-3333-4333-8333-333333333333")
    url = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com"
    assert api.call("GET", url).status_code == 400  # no Metadata: true
    body = api.call("GET", url, headers={"Metadata": "true"}).json()
    assert body["expires_in"] == "3599" and body["token_type"] == "Bearer"


# ----------------------------------------------------------------- unknown resources (AADSTS500011)

UNKNOWN_RESOURCE = "https://management.azure.com"


def _secret_form(scope):
    return {"client_id": RW_CLIENT, "client_secret": RW_SECRET, "grant_type": "client_credentials", "scope": scope}


@pytest.mark.parametrize("scope, resource", [
    (UNKNOWN_RESOURCE + "/.default", UNKNOWN_RESOURCE),
    ("https://graph.microsoft.us/.default", "https://graph.microsoft.us"),  # another cloud's Graph: not in this tenant
])
def test_token_for_an_unknown_resource_is_aadsts500011(api, scope, resource):
    body = _aadsts(api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=_secret_form(scope)), 400, 500011, "invalid_resource")
    assert body["error_description"].startswith(
        "AADSTS500011: The resource principal named %s was not found in the tenant named %s. " % (resource, TENANT))
    assert api.log()[-1]["status"] == 400
    result = _msal_app(api, RW_CLIENT, RW_SECRET).acquire_token_for_client(scopes=[scope])
    assert "access_token" not in result and result["error"] == "invalid_resource" and result["error_codes"] == [500011]


@pytest.mark.parametrize("scope, resource", [
    (GRAPH_SCOPE, "https://graph.microsoft.com"),
    ("00000003-0000-0000-c000-000000000000/.default", "00000003-0000-0000-c000-000000000000"),
    ("https://outlook.office.com/.default", "https://outlook.office.com"),
    ("https://outlook.office365.com/.default", "https://outlook.office365.com"),
])
def test_the_known_resources_get_tokens(api, scope, resource):
    resp = api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=_secret_form(scope))
    assert resp.status_code == 200, resp.text
    assert api.state.lookup_token(resp.json()["access_token"]).resource == resource


def test_an_audience_behaviour_makes_its_resource_known(api):
    form = _secret_form("https://graph.microsoft.us/.default")
    assert api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form).status_code == 400
    api.behave(graph_audiences=["https://graph.microsoft.us"])
    resp = api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form)
    assert resp.status_code == 200, resp.text
    assert api.graph("GET", "/users/alex.wilber@contoso.onmicrosoft.com/photo", resp.json()["access_token"]).status_code == 200


def test_managed_identity_for_an_unknown_resource_is_aadsts500011(api):
    imds = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + UNKNOWN_RESOURCE
    body = _aadsts(api.call("GET", imds, headers={"Metadata": "true"}), 400, 500011, "invalid_resource")
    assert "resource principal named %s was not found" % UNKNOWN_RESOURCE in body["error_description"]
    app_service = "/msi/token?api-version=2019-08-01&resource=" + UNKNOWN_RESOURCE
    resp = api.call("GET", app_service, headers={"X-IDENTITY-HEADER": api.info["identity_header"]})
    assert resp.status_code == 400
    assert resp.json()["statusCode"] == 400 and resp.json()["message"].startswith("AADSTS500011: The resource principal named ")
    assert [entry["status"] for entry in api.log() if entry["api"] == "managed_identity"] == [400, 400]
    known = api.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://outlook.office.com/",
                     headers={"Metadata": "true"})
    assert known.status_code == 200 and known.json()["resource"] == "https://outlook.office.com/"


# ----------------------------------------------------------------- client_secret_basic (RFC 6749 2.3.1)

def _basic(client_id, secret):
    """The Authorization value of RFC 6749 2.3.1: each part form-urlencoded, joined by ':', then base64."""
    raw = "%s:%s" % (quote_plus(client_id), quote_plus(secret))
    return "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")


def test_discovery_advertises_client_secret_basic(api):
    doc = api.call("GET", "/%s/v2.0/.well-known/openid-configuration" % TENANT).json()
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]


def test_client_secret_basic_issues_a_token(api):
    form = {"grant_type": "client_credentials", "scope": GRAPH_SCOPE}
    resp = api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form, headers={"Authorization": _basic(RW_CLIENT, RW_SECRET)})
    assert resp.status_code == 200, resp.text
    token = api.state.lookup_token(resp.json()["access_token"])
    assert (token.kind, token.client_id, token.roles) == ("app", RW_CLIENT, {"profilephoto.readwrite.all"})
    entry = api.log()[-1]
    assert (entry["client_id"], entry["credential"], entry["status"]) == (RW_CLIENT, "secret_basic", 200)
    assert RW_SECRET not in json.dumps(api.log())
    # The same client id in the body as well is allowed.
    form["client_id"] = RW_CLIENT
    assert api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form,
                    headers={"Authorization": _basic(RW_CLIENT, RW_SECRET)}).status_code == 200


def test_client_secret_basic_decodes_form_urlencoding(api):
    """A secret with ':', '+', '%' and spaces survives: it is form-urlencoded before base64, as RFC 6749 2.3.1 says."""
    client_id, secret = "77777777-7777-4777-8777-777777777777", "a:b+c%d e/f~"
    api.control("POST", "/clients", json={"client_id": client_id, "secret": secret}).raise_for_status()
    form = {"grant_type": "client_credentials", "scope": GRAPH_SCOPE}
    good = api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form, headers={"Authorization": _basic(client_id, secret)})
    assert good.status_code == 200, good.text
    # Without the form-urlencoding step the '+' would be read as a space: the secret no longer matches.
    raw = base64.b64encode(("%s:%s" % (client_id, secret)).encode("utf-8")).decode("ascii")
    _aadsts(api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=form, headers={"Authorization": "Basic " + raw}),
            401, 7000215, "invalid_client")


@pytest.mark.parametrize("authorization, form, code", [
    (("11111111-1111-4111-8111-111111111111", "Wr0ng-s3cret-value"), {}, 7000215),
    ("Basic %%%not-base64", {}, 7000218),
    ("Basic " + base64.b64encode(b"no-colon-here").decode("ascii"), {}, 7000218),
    ((RW_CLIENT, RW_SECRET), {"client_secret": RW_SECRET}, 7000218),  # two authentication methods at once
    ((RW_CLIENT, RW_SECRET), {"client_id": "22222222-2222-4222-8222-222222222222"}, 7000218),  # body and header disagree
])
def test_client_secret_basic_errors(api, authorization, form, code):
    header = _basic(*authorization) if isinstance(authorization, tuple) else authorization
    data = dict({"grant_type": "client_credentials", "scope": GRAPH_SCOPE}, **form)
    body = _aadsts(api.call("POST", "/%s/oauth2/v2.0/token" % TENANT, data=data, headers={"Authorization": header}),
                   401, code, "invalid_client")
    assert "Wr0ng-s3cret" not in json.dumps(body) and RW_SECRET not in json.dumps(body)
    assert "Wr0ng-s3cret" not in json.dumps(api.log()) and RW_SECRET not in json.dumps(api.log())
