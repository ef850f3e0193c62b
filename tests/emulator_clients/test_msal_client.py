# SPDX-License-Identifier: GPL-3.0-or-later
"""msal, unmodified, against the emulator: ConfidentialClientApplication with a client secret and with a certificate,
and ManagedIdentityClient (system- and user-assigned) through the App Service and IMDS endpoints; one multi-tenant app
(one client id and credential) in two tenants of one emulator, through each tenant's authority.

What msal needs (tests/emulator/README.md, "Microsoft's own clients"): an https authority
`<authority_host>/<tenant>`, instance_discovery=False (else it asks login.microsoftonline.com about the host),
azure_region=False (else MSAL_FORCE_REGION rewrites the host), and the emulator's CA: a requests session with
verify=<ca_path> and trust_env=False as http_client, or REQUESTS_CA_BUNDLE=<ca_path> in the environment."""

from __future__ import annotations

import msal
import pytest

from clients_support import (
    ALEX_ID, GRAPH, GRAPH_SCOPE, RO_CLIENT, RO_SECRET, RW_CLIENT, RW_SECRET, SYSTEM_IDENTITY, TENANT_DOMAIN, TENANT_ID, USER_IDENTITY,
    USER_IDENTITY_OBJECT_ID, USER_IDENTITY_RESOURCE_ID, ca_session,
)

CERT_CLIENT = "66666666-6666-4666-8666-666666666666"


def _app(emu, client_id, credential, tenant=TENANT_ID, **kwargs):
    kwargs.setdefault("http_client", ca_session(emu.ca_path))
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority="%s/%s" % (emu.authority_host, tenant),
        instance_discovery=False, azure_region=False, timeout=30, **kwargs)


def _token_requests(emu, since):
    return [entry for entry in emu.log(since) if entry["api"] == "entra" and entry["method"] == "POST"]


@pytest.mark.parametrize("tenant", [TENANT_ID, TENANT_DOMAIN])
def test_client_secret_gets_a_graph_token_then_serves_it_from_its_cache(emu, tenant):
    app = _app(emu, RW_CLIENT, RW_SECRET, tenant=tenant)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["token_source"] == "identity_provider"

    record = emu.token_record(result["access_token"])
    assert (record.kind, record.client_id, record.resource) == ("app", RW_CLIENT, GRAPH)
    assert record.roles == {"profilephoto.readwrite.all"}
    posts = _token_requests(emu, 0)
    assert [(p["client_id"], p["credential"], p["status"]) for p in posts] == [(RW_CLIENT, "secret", 200)]
    emu.assert_token_works_on_graph(result["access_token"])

    since = emu.last_seq()
    again = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert again["access_token"] == result["access_token"] and again["token_source"] == "cache"
    assert _token_requests(emu, since) == []


def test_read_only_client_gets_its_own_roles(emu):
    result = _app(emu, RO_CLIENT, RO_SECRET).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert emu.token_record(result["access_token"]).roles == {"profilephoto.read.all"}
    emu.assert_token_works_on_graph(result["access_token"])


def test_wrong_secret_is_answered_with_aadsts7000215(emu):
    result = _app(emu, RW_CLIENT, "not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_unknown_resource_is_answered_with_aadsts500011(emu):
    result = _app(emu, RW_CLIENT, RW_SECRET).acquire_token_for_client(scopes=["https://graph.microsoft.us/.default"])
    assert result["error"] == "invalid_resource" and result["error_codes"] == [500011], result


def test_unknown_tenant_fails_in_the_constructor(emu):
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _app(emu, RW_CLIENT, RW_SECRET, tenant="fabrikam.onmicrosoft.com")


def test_ca_from_requests_ca_bundle_with_msal_default_http_client(emu, monkeypatch):
    """msal's own requests session: the CA reaches it only through REQUESTS_CA_BUNDLE (which overrides verify=)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_path)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    app = msal.ConfidentialClientApplication(
        RW_CLIENT, client_credential=RW_SECRET, authority=emu.authority, instance_discovery=False, azure_region=False, timeout=30)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert emu.token_record(result["access_token"]).client_id == RW_CLIENT


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_client_certificate_gets_a_graph_token(emu, client_certificate, form):
    """With a SHA-1 thumbprint msal signs RS256 with x5t; with the certificate itself, PS256 with x5t#S256."""
    emu.register_client(CERT_CLIENT, certificate_pem=client_certificate.cert_pem, roles=["ProfilePhoto.Read.All"])
    credential = {"private_key": client_certificate.key_pem}
    if form == "thumbprint":
        credential["thumbprint"] = client_certificate.sha1_thumbprint
    else:
        credential["public_certificate"] = client_certificate.cert_pem
    result = _app(emu, CERT_CLIENT, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    record = emu.token_record(result["access_token"])
    assert (record.client_id, record.resource, record.roles) == (CERT_CLIENT, GRAPH, {"profilephoto.read.all"})
    assert [(p["credential"], p["status"]) for p in _token_requests(emu, 0)] == [("certificate", 200)]
    emu.assert_token_works_on_graph(result["access_token"])


def test_assertion_signed_by_another_key_is_answered_with_aadsts700027(emu, client_certificate, other_certificate):
    emu.register_client(CERT_CLIENT, certificate_pem=client_certificate.cert_pem)
    credential = {"private_key": other_certificate.key_pem, "thumbprint": client_certificate.sha1_thumbprint}
    result = _app(emu, CERT_CLIENT, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027], result
    assert "The signature is invalid." in result["error_description"]


# ----------------------------------------------------------------------------------------------- managed identity

def _app_service(emu, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.info["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", emu.info["identity_header"])


def _imds(emu, monkeypatch):
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.info["imds_host"])


IDENTITIES = [
    pytest.param(msal.SystemAssignedManagedIdentity(), SYSTEM_IDENTITY, id="system"),
    pytest.param(msal.UserAssignedManagedIdentity(client_id=USER_IDENTITY), USER_IDENTITY, id="user-client_id"),
    pytest.param(msal.UserAssignedManagedIdentity(object_id=USER_IDENTITY_OBJECT_ID), USER_IDENTITY, id="user-object_id"),
    pytest.param(msal.UserAssignedManagedIdentity(resource_id=USER_IDENTITY_RESOURCE_ID), USER_IDENTITY, id="user-resource_id"),
]


@pytest.mark.parametrize("flavour", [_app_service, _imds], ids=["app_service", "imds"])
@pytest.mark.parametrize("identity, expected_client", IDENTITIES)
def test_managed_identity_gets_a_graph_token(emu, monkeypatch, flavour, identity, expected_client):
    flavour(emu, monkeypatch)
    client = msal.ManagedIdentityClient(identity, http_client=ca_session(emu.ca_path))
    result = client.acquire_token_for_client(resource=GRAPH)
    assert "access_token" in result, result
    record = emu.token_record(result["access_token"])
    assert (record.client_id, record.resource, record.roles) == (expected_client, GRAPH, {"profilephoto.readwrite.all"})
    path = "/msi/token" if flavour is _app_service else "/metadata/identity/oauth2/token"
    assert [(e["api"], e["path"], e["client_id"], e["status"]) for e in emu.log()[:1]] == [
        ("managed_identity", path, expected_client, 200)]
    emu.assert_token_works_on_graph(result["access_token"])


def test_managed_identity_with_a_wrong_identity_header_gets_no_token(emu, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.info["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    result = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=ca_session(emu.ca_path)) \
        .acquire_token_for_client(resource=GRAPH)
    assert "access_token" not in result and "error" in result, result
    assert [(e["api"], e["status"]) for e in emu.log()] == [("managed_identity", 401)]


def test_unknown_user_assigned_identity_gets_no_token(emu, monkeypatch):
    _app_service(emu, monkeypatch)
    result = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id="77777777-7777-4777-8777-777777777777"),
                                        http_client=ca_session(emu.ca_path)).acquire_token_for_client(resource=GRAPH)
    assert "access_token" not in result
    assert "Unable to load the proper Managed Identity." in result["error_description"], result


# ----------------------------------------------------------------------------------------------- one app, two tenants

MULTI_CLIENT = "7d000000-0000-4000-8000-00000000a77e"
MULTI_SECRET = "Zq8-kP3x-multi-Tn7"
FABRIKAM = "fabrikam"
FABRIKAM_DOMAIN = "fabrikam.onmicrosoft.com"
FABRIKAM_USERS = ("kim.akers@fabrikam.onmicrosoft.com", "ravi.okoro@fabrikam.onmicrosoft.com")
CONTOSO_USER_COUNT = 7  # the default seed


def _second_tenant(emu):
    """Tenant fabrikam with two users of its own; answers its id."""
    tenant = emu.add_tenant(FABRIKAM)
    assert tenant["domains"] == [FABRIKAM_DOMAIN] and tenant["id"] != TENANT_ID
    emu.add_users(FABRIKAM, [{"userPrincipalName": upn} for upn in FABRIKAM_USERS])
    return tenant["id"]


def _users(emu, access_token):
    resp = emu.graph_get("/users?$top=999", access_token)
    assert resp.status_code == 200, resp.text
    assert "@odata.nextLink" not in resp.json()
    return sorted(user["userPrincipalName"] for user in resp.json()["value"])


def _two_tenant_tokens(emu, credential):
    """The same client id and credential against each tenant's authority (contoso by id, fabrikam by domain)."""
    fabrikam_id = _second_tenant(emu)
    first = _app(emu, MULTI_CLIENT, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    unconsented = _app(emu, MULTI_CLIENT, credential, tenant=FABRIKAM_DOMAIN).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    emu.consent(FABRIKAM, MULTI_CLIENT)
    second = _app(emu, MULTI_CLIENT, credential, tenant=FABRIKAM_DOMAIN).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in first and "access_token" in second, (first, second)
    return fabrikam_id, first["access_token"], unconsented, second["access_token"]


def _assert_each_token_sees_its_own_tenant(emu, fabrikam_id, contoso_token, fabrikam_token, credential):
    assert contoso_token != fabrikam_token
    for token, tenant_id in ((contoso_token, TENANT_ID), (fabrikam_token, fabrikam_id)):
        record = emu.token_record(token)
        assert (record.kind, record.client_id, record.tenant_id, record.resource) == ("app", MULTI_CLIENT, tenant_id, GRAPH)
        assert record.roles == {"user.read.all"}

    since = emu.last_seq()
    contoso_users, fabrikam_users = _users(emu, contoso_token), _users(emu, fabrikam_token)
    assert len(contoso_users) == CONTOSO_USER_COUNT and all(upn.endswith("@" + TENANT_DOMAIN) for upn in contoso_users)
    assert fabrikam_users == sorted(FABRIKAM_USERS)
    # Another tenant's object answers as an unknown one.
    alex = emu.graph_get("/users/" + ALEX_ID, fabrikam_token)
    assert (alex.status_code, alex.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert emu.graph_get("/users/" + ALEX_ID, contoso_token).status_code == 200

    graph_calls = [e for e in emu.log(since) if e["api"] == "graph"]
    assert [(e["tenant"], e["status"]) for e in graph_calls] == [(TENANT_ID, 200), (fabrikam_id, 200), (fabrikam_id, 404), (TENANT_ID, 200)]
    # The request before the consent names no credential: an app unknown in that tenant is refused before it is checked.
    tokens = [(p["tenant"], p["client_id"], p["credential"], p["status"]) for p in _token_requests(emu, 0)]
    assert tokens == [(TENANT_ID, MULTI_CLIENT, credential, 200), (fabrikam_id, MULTI_CLIENT, None, 400),
                      (fabrikam_id, MULTI_CLIENT, credential, 200)]
    # The scoped log of each tenant holds only that tenant's entries.
    scoped = emu.control("GET", "/tenants/%s/requests" % FABRIKAM, params={"since": 0})["requests"]
    assert scoped and {e["tenant"] for e in scoped} == {fabrikam_id}


def test_one_multi_tenant_app_gets_a_token_in_each_of_two_tenants(emu):
    emu.register_app({"client_id": MULTI_CLIENT, "secret": MULTI_SECRET, "roles": ["User.Read.All"]})
    fabrikam_id, contoso_token, unconsented, fabrikam_token = _two_tenant_tokens(emu, MULTI_SECRET)
    # Before its consent in fabrikam the app is unknown there. msal posts to the token endpoint of the tenant's discovery
    # document, which names the tenant by its id, as Entra's does: so does the message.
    assert unconsented["error"] == "unauthorized_client" and unconsented["error_codes"] == [700016], unconsented
    assert ("Application with identifier '%s' was not found in the directory '%s'" % (MULTI_CLIENT, fabrikam_id)
            in unconsented["error_description"])
    _assert_each_token_sees_its_own_tenant(emu, fabrikam_id, contoso_token, fabrikam_token, "secret")


def test_one_multi_tenant_app_with_a_certificate_in_two_tenants(emu, client_certificate):
    """The client assertion's audience is each tenant's own token endpoint (msal takes it from that tenant's discovery)."""
    emu.register_app({"client_id": MULTI_CLIENT, "certificate_pem": client_certificate.cert_pem, "roles": ["User.Read.All"]})
    credential = {"private_key": client_certificate.key_pem, "thumbprint": client_certificate.sha1_thumbprint}
    fabrikam_id, contoso_token, unconsented, fabrikam_token = _two_tenant_tokens(emu, credential)
    assert unconsented["error_codes"] == [700016], unconsented
    _assert_each_token_sees_its_own_tenant(emu, fabrikam_id, contoso_token, fabrikam_token, "certificate")


def test_withdrawn_consent_and_deleted_tenant(emu):
    """Withdrawing the consent in fabrikam leaves contoso's token request working; deleting fabrikam revokes its tokens
    and its authority is then unknown to msal."""
    emu.register_app({"client_id": MULTI_CLIENT, "secret": MULTI_SECRET, "roles": ["User.Read.All"]})
    fabrikam_id = _second_tenant(emu)
    emu.consent(FABRIKAM, MULTI_CLIENT)
    fabrikam_token = _app(emu, MULTI_CLIENT, MULTI_SECRET, tenant=fabrikam_id).acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"]
    assert _users(emu, fabrikam_token) == sorted(FABRIKAM_USERS)

    emu.control("DELETE", "/tenants/%s/consents/%s" % (FABRIKAM, MULTI_CLIENT))
    again = _app(emu, MULTI_CLIENT, MULTI_SECRET, tenant=FABRIKAM_DOMAIN).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert again.get("error_codes") == [700016], again
    assert "access_token" in _app(emu, MULTI_CLIENT, MULTI_SECRET).acquire_token_for_client(scopes=[GRAPH_SCOPE])

    emu.control("DELETE", "/tenants/" + FABRIKAM)
    assert emu.graph_get("/users", fabrikam_token).status_code == 401
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _app(emu, MULTI_CLIENT, MULTI_SECRET, tenant=FABRIKAM_DOMAIN)
