# SPDX-License-Identifier: GPL-3.0-or-later
"""Several tenants in one emulator (issue 19): one multi-tenant app gets a token per tenant and each token sees only
its own tenant; the control API for tenants, their authorities and consents; behaviours, write limits and control
paths per tenant; and the 1.0.0 paths that still act on the default tenant."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import time
import uuid

import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image

from emulator import entra as entra_module
from emulator import graph as graph_module

TENANT = "00000000-0000-4000-8000-00000000c0de"
CONTOSO_DOMAIN = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam"
FAB_DOMAIN = "fabrikam.onmicrosoft.com"
RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
RO_CLIENT = "22222222-2222-4222-8222-222222222222"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# The managed service provider's app: registered once, consented in every customer tenant.
MSP_CLIENT = "77777777-7777-4777-8777-777777777777"
MSP_SECRET = "msp-multi-tenant-secret"
MSP_ROLES = ["User.Read.All", "Group.Read.All", "ProfilePhoto.ReadWrite.All", "TeamSettings.ReadWrite.All"]
CERT_CLIENT = "66666666-6666-4666-8666-666666666666"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
ALEX_ID = "a1e80000-0000-4000-8000-000000000002"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ADELE_ID = "ade1e000-0000-4000-8000-000000000001"
SALES_ID = "9a000000-0000-4000-8000-000000000001"  # contoso's Team with a photo
NORA = "nora.diaz@fabrikam.onmicrosoft.com"
NORA_ID = "fab00000-0000-4000-8000-000000000001"
OMAR = "omar.haddad@fabrikam.onmicrosoft.com"
OMAR_ID = "fab00000-0000-4000-8000-000000000002"
CREW_ID = "fab6a000-0000-4000-8000-000000000001"  # fabrikam's Team with a photo
AUDIT_ID = "fab6a000-0000-4000-8000-000000000002"  # fabrikam's security group
JPEG = {"Content-Type": "image/jpeg"}
WRITES = ("PUT", "PATCH", "DELETE")


def _jpeg(color, size=(48, 48)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _sha(data):
    return hashlib.sha256(data).hexdigest()


NORA_PHOTO = _jpeg((10, 120, 40))
CREW_PHOTO = _jpeg((120, 10, 40), (96, 96))


def _ok(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()


def _scoped(api, tenant, method, path, **kwargs):
    return api.control(method, "/tenants/%s%s" % (tenant, path), **kwargs)


def _token_resp(api, authority, client_id=MSP_CLIENT, secret=MSP_SECRET):
    return api.call("POST", "/%s/oauth2/v2.0/token" % authority, data={
        "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials", "scope": GRAPH_SCOPE})


def _token_at(api, authority, client_id=MSP_CLIENT, secret=MSP_SECRET):
    """A token of the real token endpoint of this authority (a tenant id or one of its domains)."""
    return _ok(_token_resp(api, authority, client_id, secret))["access_token"]


def _aadsts(resp, code):
    assert resp.status_code in (400, 401), resp.text
    body = resp.json()
    assert body["error_codes"] == [code] and body["error_description"].startswith("AADSTS%d: " % code), body
    return body


def _directory(api, tenant):
    """What the oracle says the tenant holds: {"users": {upn: user view}, "groups": {id: group view}}."""
    users = _ok(_scoped(api, tenant, "GET", "/users"))["users"]
    groups = _ok(_scoped(api, tenant, "GET", "/groups"))["groups"]
    return {"users": {user["userPrincipalName"]: user for user in users}, "groups": {group["id"]: group for group in groups}}


@pytest.fixture
def two_tenants(api):
    """contoso (the default) and fabrikam, added and seeded over the control API; the MSP app registered once (in
    contoso) and consented in fabrikam. Returns fabrikam's tenant view."""
    view = _ok(api.control("POST", "/tenants", json={"name": FABRIKAM}))
    _ok(_scoped(api, FABRIKAM, "POST", "/users", json={"users": [
        {"userPrincipalName": NORA, "id": NORA_ID, "displayName": "Nora Diaz", "photo_b64": _b64(NORA_PHOTO)},
        {"userPrincipalName": OMAR, "id": OMAR_ID, "displayName": "Omar Haddad"}]}))
    _ok(_scoped(api, FABRIKAM, "POST", "/groups", json={"groups": [
        {"displayName": "Fabrikam Crew", "id": CREW_ID, "mailNickname": "crew", "team": True, "photo_b64": _b64(CREW_PHOTO)},
        {"displayName": "Fabrikam Auditors", "id": AUDIT_ID, "mailNickname": "auditors", "groupTypes": []}]}))
    _ok(api.control("POST", "/clients", json={"client_id": MSP_CLIENT, "secret": MSP_SECRET, "roles": MSP_ROLES}))
    _ok(_scoped(api, FABRIKAM, "POST", "/consents", json={"client_id": MSP_CLIENT}))
    return view


class Tagged:
    """Graph calls that carry a client-request-id naming the tenant of their token, so that each request log entry can
    be traced back to the token that made it."""

    def __init__(self, api):
        self.api = api
        self.count = 0

    def graph(self, tenant, method, path, token, **kwargs):
        self.count += 1
        headers = dict(kwargs.pop("headers", None) or {}, **{"client-request-id": "%s-%d" % (tenant, self.count)})
        return self.api.graph(method, path, token, headers=headers, **kwargs)


def _shape(resp, key):
    """What a client can tell of an answer, with the key it named replaced (request ids and dates left out)."""
    body = resp.json() if resp.content else None
    error = body.get("error") if isinstance(body, dict) else None
    if error is None:
        return resp.status_code, body
    return resp.status_code, error["code"], error["message"].replace(key, "<key>"), resp.headers.get("Content-Type")


# The calls on one object, each with the body it sends; every one must answer for another tenant's object what it
# answers for an object that does not exist.
USER_CALLS = (("GET", "", None), ("GET", "/photo", None), ("GET", "/photo/$value", None), ("GET", "/photos", None),
              ("GET", "/photos/48x48", None), ("GET", "/photos/48x48/$value", None), ("PUT", "/photo/$value", "jpeg"),
              ("PATCH", "/photo/$value", "jpeg"), ("DELETE", "/photo/$value", None))
TEAM_CALLS = (("GET", "/photo", None), ("GET", "/photo/$value", None), ("PUT", "/photo/$value", "jpeg"),
              ("PATCH", "/photo/$value", "jpeg"))


def _assert_answers_as_unknown(calls, tenant, token, collection, key, unknown, operations):
    upload = _jpeg((250, 250, 0))
    for method, suffix, body in operations:
        kwargs = {"data": upload, "headers": JPEG} if body else {}
        got = calls.graph(tenant, method, "/%s/%s%s" % (collection, key, suffix), token, **kwargs)
        reference = calls.graph(tenant, method, "/%s/%s%s" % (collection, unknown, suffix), token, **kwargs)
        assert got.status_code == 404, (method, collection, key, suffix, got.text)
        assert _shape(got, key) == _shape(reference, unknown), (method, collection, key, suffix)


# --------------------------------------------------------------------------- the proof of issue 19's "Done when"

@pytest.mark.parametrize("by", ["contoso by id, fabrikam by domain", "contoso by domain, fabrikam by id"])
def test_one_app_two_tenants_each_token_sees_only_its_own_tenant(api, two_tenants, by):
    """The MSP case: one client id and one secret, a token from each tenant's authority; each token lists exactly its
    own tenant's users and groups, every call on the other tenant's objects answers as for an unknown object, writes
    land in the token's tenant only, and the request log shows no request answered from the other tenant."""
    fab_id = two_tenants["id"]
    tenant_ids = {"contoso": TENANT, FABRIKAM: fab_id}
    if by.startswith("contoso by id"):
        authorities = {"contoso": TENANT, FABRIKAM: FAB_DOMAIN}
    else:
        authorities = {"contoso": CONTOSO_DOMAIN, FABRIKAM: fab_id}
    tokens = {name: _token_at(api, authority) for name, authority in authorities.items()}
    assert tokens["contoso"] != tokens[FABRIKAM]
    assert {name: api.state.lookup_token(value).tenant_id for name, value in tokens.items()} == tenant_ids
    assert {name: api.state.lookup_token(value).client_id for name, value in tokens.items()} == {"contoso": MSP_CLIENT, FABRIKAM: MSP_CLIENT}
    before = {name: _directory(api, name) for name in tenant_ids}
    assert set(before[FABRIKAM]["users"]) == {NORA, OMAR} and set(before[FABRIKAM]["groups"]) == {CREW_ID, AUDIT_ID}
    assert ALEX in before["contoso"]["users"] and SALES_ID in before["contoso"]["groups"]
    calls = Tagged(api)

    for name, token in tokens.items():
        users = _ok(calls.graph(name, "GET", "/users", token, params={"$top": "999"}))
        assert sorted((user["userPrincipalName"], user["id"]) for user in users["value"]) == sorted(
            (upn, user["id"]) for upn, user in before[name]["users"].items())
        groups = _ok(calls.graph(name, "GET", "/groups", token, params={"$top": "999"}))
        assert sorted(group["id"] for group in groups["value"]) == sorted(before[name]["groups"])
        assert "@odata.nextLink" not in users and "@odata.nextLink" not in groups

    others = {"contoso": {"users": [(NORA, "nobody@" + FAB_DOMAIN), (NORA_ID, str(uuid.uuid4())), (OMAR, "nemo@" + FAB_DOMAIN)],
                          "group": CREW_ID},
              FABRIKAM: {"users": [(ALEX, "nobody@" + CONTOSO_DOMAIN), (ALEX_ID, str(uuid.uuid4())), (ADELE, "nemo@" + CONTOSO_DOMAIN)],
                         "group": SALES_ID}}
    for name, token in tokens.items():
        other = others[name]
        for key, unknown in other["users"]:
            _assert_answers_as_unknown(calls, name, token, "users", key, unknown, USER_CALLS)
        group_unknown = str(uuid.uuid4())
        _assert_answers_as_unknown(calls, name, token, "groups", other["group"], group_unknown, USER_CALLS)
        _assert_answers_as_unknown(calls, name, token, "teams", other["group"], group_unknown, TEAM_CALLS)
    assert {name: _directory(api, name) for name in tenant_ids} == before  # none of those writes landed anywhere

    uploads = {"contoso": _jpeg((1, 2, 200)), FABRIKAM: _jpeg((200, 2, 1)), "crew": _jpeg((3, 200, 3), (64, 64))}
    assert calls.graph("contoso", "PUT", "/users/%s/photo/$value" % ADELE, tokens["contoso"], data=uploads["contoso"],
                       headers=JPEG).status_code == 200
    assert calls.graph(FABRIKAM, "PUT", "/users/%s/photo/$value" % NORA_ID, tokens[FABRIKAM], data=uploads[FABRIKAM],
                       headers=JPEG).status_code == 200
    assert calls.graph(FABRIKAM, "PUT", "/groups/%s/photo/$value" % CREW_ID, tokens[FABRIKAM], data=uploads["crew"],
                       headers=JPEG).status_code == 200
    after = {name: _directory(api, name) for name in tenant_ids}
    assert after["contoso"]["users"][ADELE]["photo"]["sha256"] == _sha(uploads["contoso"])
    assert after[FABRIKAM]["users"][NORA]["photo"]["sha256"] == _sha(uploads[FABRIKAM])
    assert after[FABRIKAM]["groups"][CREW_ID]["photo"]["sha256"] == _sha(uploads["crew"])
    oracle = _ok(_scoped(api, FABRIKAM, "GET", "/users/" + NORA_ID))
    assert oracle["photo"]["sha256"] == _sha(uploads[FABRIKAM]) and _scoped(api, "contoso", "GET", "/users/" + NORA_ID).status_code == 404
    for name in tenant_ids:  # nothing else changed in either tenant
        for kind, changed in (("users", (ADELE, NORA)), ("groups", (CREW_ID,))):
            assert {key: view for key, view in after[name][kind].items() if key not in changed} == {
                key: view for key, view in before[name][kind].items() if key not in changed}

    log = api.log()
    graph_entries = [entry for entry in log if entry["api"] == "graph"]
    assert len(graph_entries) == calls.count
    own_objects = {name: {user["id"] for user in after[name]["users"].values()} | set(after[name]["groups"]) for name in tenant_ids}
    for entry in graph_entries:
        made_by = entry["client_request_id"].rsplit("-", 1)[0]
        assert entry["tenant"] == tenant_ids[made_by], entry
        assert {entry["user"], entry["group"]} - {None} <= own_objects[made_by], entry  # never an object of the other tenant
        if entry["method"] in WRITES and entry["status"] == 200:
            assert (entry["user"] or entry["group"]) in own_objects[made_by]
    writes = sorted((entry["tenant"], entry["user"] or entry["group"]) for entry in graph_entries
                    if entry["method"] in WRITES and entry["status"] == 200)
    assert writes == sorted([(TENANT, ADELE_ID), (fab_id, NORA_ID), (fab_id, CREW_ID)])
    token_entries = [entry for entry in log if entry["api"] == "entra"]
    assert sorted((entry["tenant"], entry["status"]) for entry in token_entries) == sorted([(TENANT, 200), (fab_id, 200)])
    scoped_log = _ok(_scoped(api, FAB_DOMAIN, "GET", "/requests"))["requests"]
    assert [entry["seq"] for entry in scoped_log] == [entry["seq"] for entry in log if entry["tenant"] == fab_id]
    assert {entry["client_request_id"].rsplit("-", 1)[0] for entry in scoped_log if entry["api"] == "graph"} == {FABRIKAM}


def test_another_tenants_objects_answer_as_unknown_inside_batch_and_outlook_too(api, two_tenants):
    """$batch items and the Outlook REST dialect resolve owners in the envelope's (the token's) tenant only."""
    token = _token_at(api, TENANT)
    unknown = str(uuid.uuid4())
    items = [{"id": "1", "method": "GET", "url": "/users/%s/photo" % NORA}, {"id": "2", "method": "GET", "url": "/users/nobody@%s/photo" % FAB_DOMAIN},
             {"id": "3", "method": "PUT", "url": "/groups/%s/photo/$value" % CREW_ID, "headers": JPEG, "body": _b64(_jpeg((9, 9, 9)))},
             {"id": "4", "method": "PUT", "url": "/groups/%s/photo/$value" % unknown, "headers": JPEG, "body": _b64(_jpeg((9, 9, 9)))},
             {"id": "5", "method": "GET", "url": "/users/%s/photo" % ALEX}]
    answers = {item["id"]: item for item in _ok(api.graph("POST", "/$batch", token, json={"requests": items}))["responses"]}
    assert answers["5"]["status"] == 200
    for got, reference, key, other in (("1", "2", NORA, "nobody@" + FAB_DOMAIN), ("3", "4", CREW_ID, unknown)):
        assert answers[got]["status"] == answers[reference]["status"] == 404
        error, expected = answers[got]["body"]["error"], answers[reference]["body"]["error"]
        assert (error["code"], error["message"].replace(key, "<key>")) == (expected["code"], expected["message"].replace(other, "<key>"))
    assert _ok(_scoped(api, FABRIKAM, "GET", "/groups/" + CREW_ID))["photo"]["sha256"] == _sha(CREW_PHOTO)
    items_logged = [entry for entry in api.log() if entry["batch"]]
    assert len(items_logged) == 5 and {entry["tenant"] for entry in items_logged} == {TENANT}
    assert [entry["user"] for entry in items_logged if entry["user"]] == [ALEX_ID]

    outlook = _ok(api.control("POST", "/tokens", json={"resource": "https://outlook.office.com"}))["access_token"]
    got = api.outlook("GET", "/Users('%s')/photo" % NORA, outlook)
    reference = api.outlook("GET", "/Users('nobody@%s')/photo" % FAB_DOMAIN, outlook)
    assert got.status_code == reference.status_code == 404
    assert _shape(got, NORA) == _shape(reference, "nobody@" + FAB_DOMAIN)
    fab_outlook = _ok(_scoped(api, FABRIKAM, "POST", "/tokens", json={"resource": "https://outlook.office.com"}))["access_token"]
    assert api.outlook("GET", "/Users('%s')/photo" % NORA, fab_outlook).status_code == 200


def test_an_object_id_held_in_both_tenants_resolves_in_the_tokens_tenant(api, two_tenants):
    """Lookups are per tenant, not global: even an id that both tenants hold reaches only the token's tenant's object."""
    twin = "twin@" + FAB_DOMAIN
    _ok(_scoped(api, FABRIKAM, "POST", "/users", json={"users": [{"userPrincipalName": twin, "id": ALEX_ID}]}))
    alex_before = _ok(api.control("GET", "/users/" + ALEX))["photo"]
    upload = _jpeg((77, 0, 77))
    fab_token = _token_at(api, FAB_DOMAIN)
    assert api.graph("PUT", "/users/%s/photo/$value" % ALEX_ID, fab_token, data=upload, headers=JPEG).status_code == 200
    assert _ok(_scoped(api, FABRIKAM, "GET", "/users/" + twin))["photo"]["sha256"] == _sha(upload)
    assert _ok(api.control("GET", "/users/" + ALEX))["photo"] == alex_before
    assert _ok(api.graph("GET", "/users/" + ALEX_ID, fab_token))["userPrincipalName"] == twin
    assert _ok(api.graph("GET", "/users/" + ALEX_ID, _token_at(api, TENANT)))["userPrincipalName"] == ALEX


def test_photo_metadata_names_the_tokens_tenant(api, two_tenants):
    """@odata.id is <object id>@<tenant id>: the tenant of the token, not the default one."""
    meta = _ok(api.graph("GET", "/users/%s/photo" % NORA, _token_at(api, FAB_DOMAIN)))
    assert meta["@odata.id"].endswith("/v1.0/users('%s@%s')/photo" % (NORA_ID, two_tenants["id"]))


# --------------------------------------------------------------------------- the same proof with a certificate

def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def app_certificate():
    """A self-signed certificate for the MSP app, its key, and its SHA-1 thumbprint (hex for msal, base64url for x5t)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator-msp-app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return {"cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(), "key_pem": _key_pem(key), "key": key,
            "x5t": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode(),
            "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}


def _assertion(api, certificate, audience_authority):
    now = int(time.time())
    claims = {"aud": "%s/%s/oauth2/v2.0/token" % (api.origin, audience_authority), "iss": CERT_CLIENT, "sub": CERT_CLIENT,
              "jti": str(uuid.uuid4()), "nbf": now, "exp": now + 600}
    return jwt.encode(claims, certificate["key"], algorithm="RS256", headers={"x5t": certificate["x5t"]})


def _assertion_token(api, authority, assertion):
    return api.call("POST", "/%s/oauth2/v2.0/token" % authority, data={
        "client_id": CERT_CLIENT, "grant_type": "client_credentials", "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion})


def test_certificate_credential_gets_a_token_per_tenant(api, two_tenants, app_certificate):
    """One app with one certificate, consented in both tenants, proves itself to each authority (fabrikam's given by its
    domain); each token lists only its own tenant's users; an assertion made for one tenant's endpoint is refused by
    the other's."""
    _ok(api.control("POST", "/clients", json={"client_id": CERT_CLIENT, "certificate_pem": app_certificate["cert_pem"],
                                              "roles": ["User.Read.All"]}))
    _ok(_scoped(api, FAB_DOMAIN, "POST", "/consents", json={"client_id": CERT_CLIENT}))
    tokens = {}
    for name, authority in (("contoso", TENANT), (FABRIKAM, FAB_DOMAIN)):
        resp = _assertion_token(api, authority, _assertion(api, app_certificate, authority))
        tokens[name] = _ok(resp)["access_token"]
        assert api.log()[-1]["credential"] == "certificate"
    assert tokens["contoso"] != tokens[FABRIKAM]
    assert api.state.lookup_token(tokens[FABRIKAM]).tenant_id == two_tenants["id"]
    listed = {name: {user["userPrincipalName"] for user in _ok(api.graph("GET", "/users", token))["value"]} for name, token in tokens.items()}
    assert listed[FABRIKAM] == {NORA, OMAR}
    assert ALEX in listed["contoso"] and not listed["contoso"] & listed[FABRIKAM]
    replayed = _assertion_token(api, FAB_DOMAIN, _assertion(api, app_certificate, TENANT))
    assert "audience" in _aadsts(replayed, 700027)["error_description"]
    app = msal.ConfidentialClientApplication(
        CERT_CLIENT, client_credential={"private_key": app_certificate["key_pem"], "thumbprint": app_certificate["thumbprint"]},
        authority="%s/%s" % (api.origin, FAB_DOMAIN), instance_discovery=False, azure_region=False, timeout=10, http_client=api.new_session())
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert api.state.lookup_token(result["access_token"]).tenant_id == two_tenants["id"]


# --------------------------------------------------------------------------- the control API for tenants

def test_a_new_tenant_is_empty_with_defaults_and_a_deterministic_id(api):
    view = _ok(api.control("POST", "/tenants", json={"name": FABRIKAM}))
    default = _ok(api.control("GET", "/tenants/contoso"))
    assert uuid.UUID(view["id"]).version == 5 and view["id"] == view["id"].lower() and view["id"] != TENANT
    assert (view["name"], view["domains"], view["default"]) == (FABRIKAM, [FAB_DOMAIN], False)
    assert (view["users"], view["groups"], view["consents"]) == (0, 0, [])
    assert view["photo_policy"] == {"source": "cloud", "allowedRoles": []}
    assert view["profile"] == default["profile"] == api.state.start_profile
    assert view["authority"] == "%s/%s" % (api.origin, view["id"])
    api.control("POST", "/reset").raise_for_status()
    again = _ok(api.control("POST", "/tenants", json={"name": FABRIKAM}))
    other = _ok(api.control("POST", "/tenants", json={"name": "northwind"}))
    assert again["id"] == view["id"] and other["id"] != view["id"]  # the id comes from the name alone


def test_a_new_tenant_takes_its_id_domains_and_profile(api):
    given = "ABCDEF01-2345-4678-9ABC-DEF012345678"
    view = _ok(api.control("POST", "/tenants", json={"name": "tailspin", "id": given, "domains": ["tailspin.onmicrosoft.com", "Tailspin.example"],
                                                     "profile": "production"}))
    assert view["id"] == given.lower() and view["domains"] == ["tailspin.onmicrosoft.com", "Tailspin.example"]
    assert view["profile"] == "production" and _ok(_scoped(api, "tailspin", "GET", "/behaviours"))["reencode"] is True
    assert _ok(api.control("GET", "/behaviours"))["profile"] == "ideal"  # the default tenant keeps its own
    for key in (given, "tailspin.example", "TAILSPIN.ONMICROSOFT.COM", "tailspin"):
        assert _ok(api.control("GET", "/tenants/" + key))["id"] == given.lower()


@pytest.mark.parametrize("spec, message", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "Fabrikam"}, "name"), ({"name": "-fab"}, "name"), ({"name": "fab_rikam"}, "name"),
    ({"name": "fab.rikam"}, "name"), ({"name": "f" * 41}, "name"), ({"name": 7}, "name"),
    ({"name": "fab", "id": "not-a-guid"}, "GUID"), ({"name": "fab", "id": 12}, "GUID"),
    ({"name": "fab", "domains": []}, "domains"), ({"name": "fab", "domains": "fab.example"}, "domains"),
    ({"name": "fab", "domains": ["nodot"]}, "domains"), ({"name": "fab", "domains": ["a b.example"]}, "domains"),
    ({"name": "fab", "profile": "chaos"}, "unknown profile"),
])
def test_bad_tenant_specs_are_refused(api, spec, message):
    resp = api.control("POST", "/tenants", json=spec)
    assert resp.status_code == 400 and message in resp.json()["error"], resp.text
    assert [tenant["name"] for tenant in _ok(api.control("GET", "/tenants"))["tenants"]] == ["contoso"]


def test_tenant_names_at_the_limits_are_taken(api):
    for name in ("f" * 40, "0-9"):
        assert _ok(api.control("POST", "/tenants", json={"name": name}))["domains"] == ["%s.onmicrosoft.com" % name]
    assert api.control("POST", "/tenants", json=[{"name": "list"}]).status_code == 400  # the body must be an object


@pytest.mark.parametrize("spec", [
    {"name": FABRIKAM},  # the same name
    {"name": "other", "id": "FAB00000-0000-4000-8000-00000000AAAA"},  # another tenant's id, in another case
    {"name": "other", "domains": ["FABRIKAM.onmicrosoft.com"]},  # another tenant's domain
    {"name": "other", "domains": ["other.example", "fabrikam.example"]},  # another tenant's second domain
    {"name": "contoso"}, {"name": "other", "id": TENANT}, {"name": "other", "domains": [CONTOSO_DOMAIN]},  # the default's
])
def test_a_name_id_or_domain_already_taken_is_refused(api, spec):
    _ok(api.control("POST", "/tenants", json={"name": FABRIKAM, "id": "fab00000-0000-4000-8000-00000000aaaa",
                                              "domains": [FAB_DOMAIN, "fabrikam.example"]}))
    resp = api.control("POST", "/tenants", json=spec)
    assert resp.status_code == 400 and "already taken" in resp.json()["error"], resp.text
    assert [tenant["name"] for tenant in _ok(api.control("GET", "/tenants"))["tenants"]] == ["contoso", FABRIKAM]


def test_list_and_get_tenants(api, two_tenants):
    listed = _ok(api.control("GET", "/tenants"))["tenants"]
    _ok(api.control("POST", "/tenants", json={"name": "adatum"}))
    assert [tenant["name"] for tenant in _ok(api.control("GET", "/tenants"))["tenants"]] == ["contoso", "adatum", FABRIKAM]  # default first
    assert [(tenant["name"], tenant["default"]) for tenant in listed] == [("contoso", True), (FABRIKAM, False)]
    fab = listed[1]
    assert (fab["users"], fab["groups"]) == (2, 2)
    assert fab["consents"] == [{"client_id": MSP_CLIENT, "roles": MSP_ROLES}]
    for key in (fab["id"], fab["id"].upper(), FABRIKAM, FAB_DOMAIN, FAB_DOMAIN.upper()):
        assert _ok(api.control("GET", "/tenants/" + key)) == fab
    contoso = _ok(api.control("GET", "/tenants/" + CONTOSO_DOMAIN))
    assert (contoso["id"], contoso["users"], contoso["groups"]) == (TENANT, 7, 4)
    assert {grant["client_id"] for grant in contoso["consents"]} == {RW_CLIENT, RO_CLIENT, MSP_CLIENT}
    assert api.control("GET", "/tenants/northwind").status_code == 404


def test_deleting_a_tenant_revokes_its_tokens_and_frees_its_name(api, two_tenants):
    fab_token = _token_at(api, FAB_DOMAIN)
    minted = _ok(_scoped(api, FABRIKAM, "POST", "/tokens", json={}))["access_token"]
    contoso_token = _token_at(api, TENANT)
    for key in ("contoso", TENANT, CONTOSO_DOMAIN):
        resp = api.control("DELETE", "/tenants/" + key)
        assert resp.status_code == 400 and "default tenant" in resp.json()["error"]
    assert api.control("DELETE", "/tenants/northwind").status_code == 404
    assert _ok(api.control("DELETE", "/tenants/" + FAB_DOMAIN)) == {"deleted": True}
    for token in (fab_token, minted):
        resp = api.graph("GET", "/users", token)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert api.state.lookup_token(fab_token) is None
    assert api.graph("GET", "/users/%s/photo" % ALEX, contoso_token).status_code == 200  # the other tenant's tokens live on
    assert api.control("GET", "/tenants/" + FABRIKAM).status_code == 404
    assert _scoped(api, FABRIKAM, "GET", "/users").status_code == 404
    assert api.control("DELETE", "/tenants/" + FABRIKAM).status_code == 404
    _aadsts(_token_resp(api, FAB_DOMAIN), 90002)
    again = _ok(api.control("POST", "/tenants", json={"name": FABRIKAM}))
    assert (again["id"], again["users"], again["groups"], again["consents"]) == (two_tenants["id"], 0, 0, [])  # nothing comes back
    _aadsts(_token_resp(api, FAB_DOMAIN), 700016)


@pytest.mark.parametrize("method, path", [
    ("GET", "/users"), ("POST", "/users"), ("GET", "/users/%s" % ALEX), ("PUT", "/users/%s/photo" % ALEX), ("GET", "/groups"),
    ("DELETE", "/groups/%s/photo" % SALES_ID), ("POST", "/consents"), ("POST", "/tokens"), ("POST", "/tokens/revoke"),
    ("GET", "/requests"), ("GET", "/behaviours"), ("PUT", "/behaviours"), ("GET", "/photo_policy"),
])
def test_an_unknown_tenant_in_a_scoped_path_is_404(api, method, path):
    before = _ok(api.control("GET", "/users/" + ALEX))
    resp = _scoped(api, "northwind", method, path, json={})
    assert resp.status_code == 404 and resp.json()["error"] == "no tenant 'northwind'", resp.text
    assert _ok(api.control("GET", "/users/" + ALEX)) == before


def test_info_lists_the_tenants_with_their_authority(api, two_tenants):
    tenants = _ok(api.control("GET", "/info"))["tenants"]
    assert [(tenant["name"], tenant["authority"]) for tenant in tenants] == [
        ("contoso", "%s/%s" % (api.origin, TENANT)), (FABRIKAM, "%s/%s" % (api.origin, two_tenants["id"]))]
    assert tenants == _ok(api.control("GET", "/tenants"))["tenants"]
    doc = _ok(api.http.get(tenants[1]["authority"] + "/v2.0/.well-known/openid-configuration", timeout=10))
    assert doc["issuer"] == tenants[1]["authority"] + "/v2.0"


def test_reset_drops_the_added_tenants(api, two_tenants):
    fab_token = _token_at(api, FAB_DOMAIN)
    _ok(api.control("POST", "/reset"))
    assert [tenant["name"] for tenant in _ok(api.control("GET", "/tenants"))["tenants"]] == ["contoso"]
    assert [tenant["name"] for tenant in _ok(api.control("GET", "/info"))["tenants"]] == ["contoso"]
    assert api.graph("GET", "/users", fab_token).status_code == 401
    _aadsts(_token_resp(api, FAB_DOMAIN), 90002)
    _aadsts(_token_resp(api, TENANT), 700016)  # the MSP app's registration went too


# --------------------------------------------------------------------------- authorities and consents

def test_discovery_of_the_second_tenant_names_its_id(api, two_tenants):
    fab_id = two_tenants["id"]
    for authority in (FAB_DOMAIN, fab_id, fab_id.upper()):
        doc = _ok(api.call("GET", "/%s/v2.0/.well-known/openid-configuration" % authority))
        assert doc["token_endpoint"] == "%s/%s/oauth2/v2.0/token" % (api.origin, fab_id)
        assert doc["issuer"] == "%s/%s/v2.0" % (api.origin, fab_id)
        assert doc["jwks_uri"] == "%s/%s/discovery/v2.0/keys" % (api.origin, fab_id)
    assert api.log()[-1]["tenant"] == fab_id


@pytest.mark.parametrize("authority", ["northwind.onmicrosoft.com", FABRIKAM, "fabrikam.example", "fab00000-0000-4000-8000-000000000999"])
def test_an_unknown_authority_is_aadsts90002(api, two_tenants, authority):
    """A tenant's label (fabrikam) is the emulator's name for it, not an authority: Entra knows ids and domains only."""
    body = _aadsts(_token_resp(api, authority), 90002)
    assert "Tenant '%s' not found" % authority in body["error_description"]
    _aadsts(api.call("GET", "/%s/v2.0/.well-known/openid-configuration" % authority), 90002)
    assert api.log()[-1]["tenant"] is None


def test_an_app_not_consented_in_a_tenant_is_aadsts700016_naming_it(api, two_tenants):
    fab_id = two_tenants["id"]
    for authority in (FAB_DOMAIN, fab_id):
        body = _aadsts(_token_resp(api, authority, RW_CLIENT, RW_SECRET), 700016)
        assert "Application with identifier '%s' was not found in the directory '%s'" % (RW_CLIENT, authority) in body["error_description"]
    wrong_secret = _aadsts(_token_resp(api, FAB_DOMAIN, RW_CLIENT, "Wr0ng-s3cret"), 700016)  # unknown there before any secret check
    assert "Wr0ng" not in wrong_secret["error_description"]
    _ok(_scoped(api, fab_id, "POST", "/consents", json={"client_id": RW_CLIENT}))
    token = _token_at(api, FAB_DOMAIN, RW_CLIENT, RW_SECRET)
    assert api.state.lookup_token(token).roles == {"profilephoto.readwrite.all"}  # the roles of its registration
    withdrawn = _ok(_scoped(api, FABRIKAM, "DELETE", "/consents/" + RW_CLIENT.upper()))
    assert RW_CLIENT not in {grant["client_id"] for grant in withdrawn["consents"]}
    _aadsts(_token_resp(api, FAB_DOMAIN, RW_CLIENT, RW_SECRET), 700016)
    assert _token_at(api, TENANT, RW_CLIENT, RW_SECRET)  # still consented where it was
    assert _scoped(api, FABRIKAM, "DELETE", "/consents/" + RW_CLIENT).status_code == 404
    missing = _scoped(api, FABRIKAM, "POST", "/consents", json={"client_id": "99999999-9999-4999-8999-999999999999"})
    assert missing.status_code == 404 and "app registration" in missing.json()["error"]
    assert _scoped(api, FABRIKAM, "POST", "/consents", json={"client_id": RW_CLIENT, "roles": "User.Read.All"}).status_code == 400


def test_an_app_registered_in_a_tenant_is_consented_there_only(api, two_tenants):
    """POST /tenants/{t}/clients registers the app (one registration for every tenant) and consents it in t alone."""
    app = "88888888-8888-4888-8888-888888888888"
    _ok(_scoped(api, FABRIKAM, "POST", "/clients", json={"client_id": app, "secret": "fab-only", "roles": ["User.Read.All"]}))
    assert api.state.lookup_token(_token_at(api, FAB_DOMAIN, app, "fab-only")).tenant_id == two_tenants["id"]
    _aadsts(_token_resp(api, TENANT, app, "fab-only"), 700016)
    _ok(api.control("POST", "/consents", json={"client_id": app}))  # the unscoped path consents in the default tenant
    assert api.state.lookup_token(_token_at(api, TENANT, app, "fab-only")).tenant_id == TENANT


def test_roles_are_per_consent(api, two_tenants):
    """The same app may read photos in one tenant and write them in another: each token carries its tenant's grant."""
    _ok(api.control("POST", "/consents", json={"client_id": MSP_CLIENT, "roles": ["ProfilePhoto.Read.All"]}))
    _ok(_scoped(api, FABRIKAM, "POST", "/consents", json={"client_id": MSP_CLIENT, "roles": ["ProfilePhoto.ReadWrite.All"]}))
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    assert api.state.lookup_token(contoso).roles == {"profilephoto.read.all"}
    assert api.state.lookup_token(fab).roles == {"profilephoto.readwrite.all"}
    upload = _jpeg((5, 6, 7))
    refused = api.graph("PUT", "/users/%s/photo/$value" % ADELE, contoso, data=upload, headers=JPEG)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert api.graph("GET", "/users/%s/photo" % ALEX, contoso).status_code == 200
    assert api.graph("PUT", "/users/%s/photo/$value" % OMAR, fab, data=upload, headers=JPEG).status_code == 200
    assert api.graph("GET", "/users", fab).status_code == 403  # User.Read.All was not granted there this time
    assert _ok(api.control("GET", "/users/" + ADELE))["photo"] is None
    assert _ok(_scoped(api, FABRIKAM, "GET", "/users/" + OMAR))["photo"]["sha256"] == _sha(upload)


def test_managed_identities_belong_to_the_default_tenant(api, two_tenants):
    url = "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com"
    body = _ok(api.call("GET", url, headers={"X-IDENTITY-HEADER": api.info["identity_header"]}))
    assert api.state.lookup_token(body["access_token"]).tenant_id == TENANT
    assert api.log()[-1]["tenant"] == TENANT
    assert api.graph("GET", "/users/%s/photo" % ALEX, body["access_token"]).status_code == 200
    unknown = api.graph("GET", "/users/%s/photo" % NORA, body["access_token"])
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "Request_ResourceNotFound"
    imds = _ok(api.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com",
                        headers={"Metadata": "true"}))
    assert api.state.lookup_token(imds["access_token"]).tenant_id == TENANT


# --------------------------------------------------------------------------- behaviours and limits per tenant

def test_tenant_behaviours_change_that_tenant_only(api, two_tenants):
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    changed = _ok(_scoped(api, FABRIKAM, "PUT", "/behaviours", json={"no_photo": "placeholder", "write_status": 204}))
    assert changed["no_photo"] == "placeholder" and _ok(_scoped(api, FABRIKAM, "GET", "/behaviours")) == changed
    assert _ok(api.control("GET", "/behaviours"))["no_photo"] == "404"
    placeholder = _ok(api.graph("GET", "/users/%s/photo" % OMAR, fab))
    assert (placeholder["@odata.mediaContentType"], placeholder["width"]) == ("image/gif", 1)
    assert api.graph("GET", "/users/%s/photo" % ADELE, contoso).json()["error"]["code"] == "ImageNotFound"
    assert api.graph("PUT", "/users/%s/photo/$value" % OMAR, fab, data=_jpeg((1, 1, 1)), headers=JPEG).status_code == 204
    assert api.graph("PUT", "/users/%s/photo/$value" % ADELE, contoso, data=_jpeg((1, 1, 1)), headers=JPEG).status_code == 200

    api.behave(throttle={"every": 1, "retry_after": "3"})  # the unscoped path: the default tenant only
    throttled = api.graph("GET", "/users/%s/photo" % ALEX, contoso)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert api.graph("GET", "/users/%s/photo" % NORA, fab).status_code == 200
    assert _ok(_scoped(api, FABRIKAM, "GET", "/behaviours"))["throttle"] is None
    assert _ok(_scoped(api, "contoso", "GET", "/behaviours"))["throttle"] == {"every": 1, "retry_after": "3"}
    assert [entry["fault"] for entry in api.log()[-2:]] == ["throttle", None]


def test_tenant_faults_are_that_tenants_own(api, two_tenants):
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    _ok(_scoped(api, FABRIKAM, "PUT", "/behaviours", json={"faults": [{"method": "GET", "path_regex": "/photo$", "status": 503, "count": 1}]}))
    assert api.graph("GET", "/users/%s/photo" % ALEX, contoso).status_code == 200  # contoso's requests do not use it up
    assert api.graph("GET", "/users/%s/photo" % NORA, fab).status_code == 503
    assert api.graph("GET", "/users/%s/photo" % NORA, fab).status_code == 200
    assert _ok(_scoped(api, FABRIKAM, "GET", "/behaviours"))["faults"] == []
    assert [(entry["tenant"], entry["fault"]) for entry in api.log()[-3:]] == [(TENANT, None), (two_tenants["id"], "status"), (two_tenants["id"], None)]


def test_tenant_latency_is_that_tenants_own(api, two_tenants, monkeypatch):
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    slept = []
    monkeypatch.setattr(graph_module.time, "sleep", slept.append)
    assert entra_module.time is graph_module.time  # one patch covers the token endpoint too
    _ok(_scoped(api, FABRIKAM, "PUT", "/behaviours", json={"latency_ms": 250, "method_latency_ms": {"TOKEN": 300}}))
    assert api.graph("GET", "/users/%s/photo" % ALEX, contoso).status_code == 200
    _token_at(api, TENANT)
    assert slept == []
    assert api.graph("GET", "/users/%s/photo" % NORA, fab).status_code == 200
    _token_at(api, FAB_DOMAIN)
    assert slept == [0.25, 0.3]


def test_one_apps_writes_in_one_tenant_take_nothing_of_its_bucket_in_another(api, two_tenants, clock):
    """The per-tenant write limit: each tenant has its own bucket per app; x-ms-throttle-scope names the token's tenant."""
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    limit = {"write_rate_limit": {"per_second": 1, "burst": 2, "retry_after": "1"}, "throttle_headers": True}
    api.behave(**limit)
    _ok(_scoped(api, FABRIKAM, "PUT", "/behaviours", json=limit))
    upload = _jpeg((2, 4, 8))

    def put(token, user):
        return api.graph("PUT", "/users/%s/photo/$value" % user, token, data=upload, headers=JPEG)
    assert [put(contoso, ADELE).status_code for dummy in range(2)] == [200, 200]
    refused = put(contoso, ADELE)
    assert refused.status_code == 429
    assert refused.headers["x-ms-throttle-scope"] == "Tenant_Application/Write/%s/%s" % (MSP_CLIENT, TENANT)
    assert [put(fab, NORA).status_code for dummy in range(2)] == [200, 200]  # fabrikam's bucket is still full
    refused = put(fab, NORA)
    assert refused.status_code == 429
    assert refused.headers["x-ms-throttle-scope"] == "Tenant_Application/Write/%s/%s" % (MSP_CLIENT, two_tenants["id"])
    assert api.state.default_tenant.behaviours.limits.write_limit_use(MSP_CLIENT) == 3 / 20  # 3 writes asked for in 20 s
    clock.now += 1.0  # one token back in each tenant
    assert put(contoso, ADELE).status_code == 200 and put(fab, NORA).status_code == 200
    assert put(contoso, ADELE).status_code == 429 and put(fab, NORA).status_code == 429


def test_the_photo_policy_is_per_tenant(api, two_tenants):
    """onPremises in fabrikam (control API) refuses fabrikam's user photo writes only; a Graph PATCH of the policy
    with a fabrikam token changes fabrikam's policy only."""
    _ok(api.control("POST", "/clients", json={"client_id": MSP_CLIENT, "secret": MSP_SECRET,
                                              "roles": MSP_ROLES + ["PeopleSettings.ReadWrite.All"]}))
    _ok(_scoped(api, FABRIKAM, "POST", "/consents", json={"client_id": MSP_CLIENT}))
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    assert _ok(_scoped(api, FABRIKAM, "PUT", "/photo_policy", json={"source": "onPremises"}))["source"] == "onPremises"
    assert _ok(api.control("GET", "/photo_policy"))["source"] == "cloud"
    upload = _jpeg((3, 3, 3))
    refused = api.graph("PUT", "/users/%s/photo/$value" % NORA, fab, data=upload, headers=JPEG)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert api.log()[-1]["fault"] == "photo_policy"
    assert api.graph("PUT", "/users/%s/photo/$value" % ADELE, contoso, data=upload, headers=JPEG).status_code == 200
    assert _ok(api.call("GET", "/beta/admin/people/photoUpdateSettings", contoso))["source"] == "cloud"
    patched = _ok(api.call("PATCH", "/beta/admin/people/photoUpdateSettings", contoso, json={"source": "onPremises"}))
    assert patched["source"] == "onPremises"
    assert _ok(api.control("GET", "/photo_policy"))["source"] == "onPremises"
    _ok(api.call("PATCH", "/beta/admin/people/photoUpdateSettings", fab, json={"source": "cloud"}))
    assert _ok(_scoped(api, FABRIKAM, "GET", "/photo_policy"))["source"] == "cloud"
    assert _ok(api.control("GET", "/photo_policy"))["source"] == "onPremises"
    assert api.graph("PUT", "/users/%s/photo/$value" % NORA, fab, data=upload, headers=JPEG).status_code == 200


# --------------------------------------------------------------------------- control paths scoped to a tenant

def test_scoped_tokens_belong_to_their_tenant(api, two_tenants):
    fab_id = two_tenants["id"]
    minted = _ok(_scoped(api, FABRIKAM, "POST", "/tokens", json={"client_id": MSP_CLIENT}))
    assert minted["tenant_id"] == fab_id and api.state.lookup_token(minted["access_token"]).roles == {role.lower() for role in MSP_ROLES}
    listed = _ok(api.graph("GET", "/users", minted["access_token"]))["value"]
    assert {user["userPrincipalName"] for user in listed} == {NORA, OMAR}
    delegated = _ok(_scoped(api, FAB_DOMAIN, "POST", "/tokens", json={"user": NORA, "scopes": ["User.Read"]}))
    assert (delegated["tenant_id"], delegated["kind"], delegated["user"]) == (fab_id, "delegated", NORA_ID)
    assert _ok(api.graph("GET", "/me/photo", delegated["access_token"]))["width"] == 48
    resp = _scoped(api, FABRIKAM, "POST", "/tokens", json={"user": ALEX})  # a user of another tenant
    assert resp.status_code == 404 and "no user" in resp.json()["error"]
    assert _ok(api.control("POST", "/tokens", json={}))["tenant_id"] == TENANT


def test_scoped_requests_list_only_that_tenants_entries(api, two_tenants):
    fab_id = two_tenants["id"]
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    api.graph("GET", "/users/%s/photo" % ALEX, contoso)
    api.graph("GET", "/users/%s/photo" % NORA, fab)
    _token_resp(api, "northwind.onmicrosoft.com")  # a request of no tenant
    everything = api.log()
    assert [entry["tenant"] for entry in everything] == [TENANT, fab_id, TENANT, fab_id, None]
    scoped = _ok(_scoped(api, FABRIKAM, "GET", "/requests"))
    assert [entry["seq"] for entry in scoped["requests"]] == [everything[1]["seq"], everything[3]["seq"]]
    assert scoped["last_seq"] == everything[-1]["seq"]
    later = _ok(_scoped(api, FABRIKAM, "GET", "/requests", params={"since": everything[1]["seq"]}))["requests"]
    assert [entry["seq"] for entry in later] == [everything[3]["seq"]]
    assert [entry["tenant"] for entry in _ok(_scoped(api, "contoso", "GET", "/requests"))["requests"]] == [TENANT, TENANT]
    assert len(_ok(api.control("GET", "/requests"))["requests"]) == 5  # the unscoped log: every entry, as in 1.0.0


def test_scoped_revoke_and_expire_act_on_that_tenants_tokens_only(api, two_tenants):
    contoso, fab = _token_at(api, TENANT), _token_at(api, FAB_DOMAIN)
    assert _ok(_scoped(api, FABRIKAM, "POST", "/tokens/revoke")) == {"revoked": 1}
    assert api.graph("GET", "/users", fab).status_code == 401
    assert api.graph("GET", "/users", contoso).status_code == 200
    fab = _token_at(api, FAB_DOMAIN)
    assert _ok(_scoped(api, "contoso", "POST", "/tokens/expire")) == {"expired": 1}
    expired = api.graph("GET", "/users", contoso)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    assert api.graph("GET", "/users", fab).status_code == 200
    contoso = _token_at(api, TENANT)
    assert _ok(api.control("POST", "/tokens/revoke")) == {"revoked": 3}  # unscoped: every token, as in 1.0.0
    assert api.graph("GET", "/users", fab).status_code == 401 and api.graph("GET", "/users", contoso).status_code == 401


def test_scoped_directory_paths_change_that_tenant_only(api, two_tenants):
    shared = "shared@example.com"  # the same UPN in two tenants: two different users
    _ok(api.control("POST", "/users", json={"users": [{"userPrincipalName": shared, "displayName": "In contoso"}]}))
    _ok(_scoped(api, FABRIKAM, "POST", "/users", json={"users": [{"userPrincipalName": shared, "displayName": "In fabrikam"}]}))
    assert _ok(api.control("GET", "/users/" + shared))["displayName"] == "In contoso"
    assert _ok(_scoped(api, FABRIKAM, "GET", "/users/" + shared))["displayName"] == "In fabrikam"
    upload = _jpeg((90, 0, 9))
    _ok(_scoped(api, FABRIKAM, "PUT", "/users/%s/photo" % shared, data=upload, headers=JPEG))
    assert _ok(api.control("GET", "/users/" + shared))["photo"] is None
    assert _ok(_scoped(api, FABRIKAM, "DELETE", "/users/" + shared)) == {"deleted": True}
    assert _ok(api.control("GET", "/users/" + shared))["displayName"] == "In contoso"
    generated = _ok(_scoped(api, FABRIKAM, "POST", "/users/generate", json={"count": 3}))
    assert generated["first"] == "user00001@" + FAB_DOMAIN
    groups = _ok(_scoped(api, FABRIKAM, "POST", "/groups/generate", json={"count": 2, "team_ratio": 1.0}))
    assert (groups["created"], groups["teams"], groups["first"]) == (2, 2, "group00001@" + FAB_DOMAIN)
    assert _ok(_scoped(api, FABRIKAM, "GET", "/groups/crew"))["id"] == CREW_ID  # by mailNickname
    assert _ok(_scoped(api, FABRIKAM, "GET", "/groups/crew@" + FAB_DOMAIN))["id"] == CREW_ID
    assert api.control("GET", "/groups/crew").status_code == 404 and api.control("GET", "/groups/" + CREW_ID).status_code == 404
    _ok(_scoped(api, FABRIKAM, "DELETE", "/groups/%s/photo" % CREW_ID))
    assert _ok(api.control("GET", "/groups/" + SALES_ID))["has_photo"] is True
    assert _scoped(api, FABRIKAM, "DELETE", "/groups/" + SALES_ID).status_code == 404
    contoso = _ok(api.control("GET", "/tenants/contoso"))
    assert (contoso["users"], contoso["groups"]) == (8, 4)
    fab = _ok(api.control("GET", "/tenants/fabrikam"))
    assert (fab["users"], fab["groups"]) == (5, 4)


# --------------------------------------------------------------------------- 1.0.0 compatibility

def test_the_unscoped_control_paths_act_on_the_default_tenant(api, two_tenants):
    """Every 1.0.0 control call keeps its meaning with a second tenant present: it is the default tenant's."""
    newcomer = "newcomer@contoso.onmicrosoft.com"
    _ok(api.control("POST", "/users", json={"users": [{"userPrincipalName": newcomer}]}))
    assert newcomer in _directory(api, "contoso")["users"] and newcomer not in _directory(api, FABRIKAM)["users"]
    assert _ok(api.control("GET", "/users")) == _ok(_scoped(api, "contoso", "GET", "/users"))
    upload = _jpeg((40, 80, 120))
    assert _ok(api.control("PUT", "/users/%s/photo" % ADELE, data=upload, headers=JPEG))["photo"]["sha256"] == _sha(upload)
    assert _ok(_scoped(api, TENANT, "GET", "/users/" + ADELE))["photo"]["sha256"] == _sha(upload)
    assert api.control("PUT", "/users/%s/photo" % NORA, data=upload, headers=JPEG).status_code == 404
    assert _ok(api.control("DELETE", "/users/%s/photo" % ALEX))["photo"] is None
    assert _ok(api.control("POST", "/users/generate", json={"count": 2}))["first"] == "user00001@" + CONTOSO_DOMAIN
    api.behave(id_case="upper")
    assert _ok(_scoped(api, "contoso", "GET", "/behaviours"))["id_case"] == "upper"
    assert _ok(_scoped(api, FABRIKAM, "GET", "/behaviours"))["id_case"] == "lower"
    minted = _ok(api.control("POST", "/tokens", json={"user": ADELE}))
    assert minted["tenant_id"] == TENANT and minted["user"] == ADELE_ID
    assert api.control("POST", "/tokens", json={"user": NORA}).status_code == 404
    assert _ok(api.control("POST", "/tokens", json={}))["client_id"] == RW_CLIENT
    _ok(api.control("POST", "/clients", json={"client_id": "99999999-9999-4999-8999-999999999999", "secret": "s3cret"}))
    assert _token_at(api, TENANT, "99999999-9999-4999-8999-999999999999", "s3cret")
    _aadsts(_token_resp(api, FAB_DOMAIN, "99999999-9999-4999-8999-999999999999", "s3cret"), 700016)
    assert _ok(api.control("DELETE", "/users/" + newcomer)) == {"deleted": True}
    assert _ok(api.control("GET", "/tenants/contoso"))["users"] == 9
    assert api.state.find_user(ADELE).photo.sha256 == _sha(upload) and api.state.find_user(NORA) is None
