# SPDX-License-Identifier: GPL-3.0-or-later
"""--persist with several tenants (issue 19): tenants, their users, groups and group photos, consents and photo policy
survive a restart, what was deleted stays deleted, and a journal written by 1.0.0 still loads into the default tenant."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import requests
from PIL import Image

from emulator.server import EmulatorServer  # importable: conftest.py put tests/ on sys.path

# ideal: what a restarted emulator serves is compared with the very bytes uploaded before the restart.
IDEAL = "ideal"
TENANT = "00000000-0000-4000-8000-00000000c0de"
RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
RO_CLIENT = "22222222-2222-4222-8222-222222222222"
RO_SECRET = "emulator-readonly-secret"
MSP_CLIENT = "77777777-7777-4777-8777-777777777777"
MSP_SECRET = "msp-multi-tenant-secret"
FAB_ONLY_CLIENT = "88888888-8888-4888-8888-888888888888"
FAB_DOMAIN = "fabrikam.onmicrosoft.com"
NORA = "nora.diaz@fabrikam.onmicrosoft.com"
OMAR = "omar.haddad@fabrikam.onmicrosoft.com"
CREW_ID = "fab6a000-0000-4000-8000-000000000001"
TEMP_ID = "fab6a000-0000-4000-8000-000000000003"
SALES_ID = "9a000000-0000-4000-8000-000000000001"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ADELE_ID = "ade1e000-0000-4000-8000-000000000001"
MEGAN_ID = "3e6a0000-0000-4000-8000-000000000003"
GLOBAL_ADMIN_ROLE = "62e90394-69f5-4237-9190-012177145e10"
JPEG = {"Content-Type": "image/jpeg"}
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _jpeg(color, size=(40, 40)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _sha(data):
    return hashlib.sha256(data).hexdigest()


class Client:
    """HTTP helpers on one running EmulatorServer, trusting only its CA (see conftest.CaSession)."""

    def __init__(self, server):
        self.info = server.info
        self.http = requests.Session()
        self.http.verify = self.info["ca_path"]
        self.http.trust_env = False

    def control(self, method, path, **kwargs):
        resp = self.http.request(method, self.info["control_url"] + path, timeout=10, **kwargs)
        assert resp.status_code == 200, (method, path, resp.text)
        return resp.json()

    def control_status(self, method, path, **kwargs):
        return self.http.request(method, self.info["control_url"] + path, timeout=10, **kwargs).status_code

    def token_resp(self, authority, client_id, secret):
        return self.http.post("%s/%s/oauth2/v2.0/token" % (self.info["authority_host"], authority), timeout=10, data={
            "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials", "scope": GRAPH_SCOPE})

    def token(self, authority, client_id, secret):
        resp = self.token_resp(authority, client_id, secret)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def graph(self, method, path, token, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {}, Authorization="Bearer " + token)
        return self.http.request(method, self.info["graph_url"] + path, headers=headers, timeout=10, **kwargs)

    def tenants(self):
        """Every tenant's view without its authority (the port, and so the authority, changes on a restart) and what it holds."""
        out = {}
        for view in self.control("GET", "/tenants")["tenants"]:
            view.pop("authority")
            scope = "/tenants/" + view["id"]
            out[view["name"]] = {"view": view, "users": self.control("GET", scope + "/users")["users"],
                                 "groups": self.control("GET", scope + "/groups")["groups"],
                                 "policy": self.control("GET", scope + "/photo_policy")}
        return out

    def error_code(self, resp):
        return resp.json()["error_codes"][0]


def _build_two_tenants(client, uploads):
    """fabrikam (two domains) with users, groups and photos; the MSP app registered in contoso
    and consented in fabrikam with other roles; an app registered in fabrikam only; RO's consent in contoso withdrawn;
    each tenant's photo policy changed; adatum, empty, with the production profile; a group of each tenant, a group photo and a whole
    tenant (northwind) deleted."""
    client.control("POST", "/tenants", json={"name": "fabrikam", "domains": [FAB_DOMAIN, "fabrikam.example"]})
    client.control("POST", "/tenants", json={"name": "adatum", "profile": "production"})
    client.control("POST", "/tenants", json={"name": "northwind"})
    client.control("POST", "/tenants/northwind/users", json={"users": [{"userPrincipalName": "gone@northwind.onmicrosoft.com"}]})
    client.control("POST", "/tenants/fabrikam/users", json={"users": [
        {"userPrincipalName": NORA, "photo_b64": _b64(uploads["nora"])}, {"userPrincipalName": OMAR}]})
    client.control("POST", "/tenants/fabrikam/groups", json={"groups": [
        {"displayName": "Fabrikam Crew", "id": CREW_ID, "mailNickname": "crew", "team": True},
        {"displayName": "Fabrikam Auditors", "mailNickname": "auditors", "groupTypes": [], "photo_b64": _b64(uploads["auditors"])},
        {"displayName": "Short-lived", "id": TEMP_ID, "mailNickname": "temp"}]})
    client.control("POST", "/clients", json={"client_id": MSP_CLIENT, "secret": MSP_SECRET, "roles": ["ProfilePhoto.Read.All"]})
    client.control("POST", "/tenants/fabrikam.example/consents", json={
        "client_id": MSP_CLIENT, "roles": ["ProfilePhoto.ReadWrite.All", "User.Read.All", "Group.Read.All"]})
    client.control("POST", "/tenants/fabrikam/clients", json={"client_id": FAB_ONLY_CLIENT, "secret": "fab-only", "roles": ["User.Read.All"]})
    client.control("DELETE", "/consents/" + RO_CLIENT)
    token = client.token(FAB_DOMAIN, MSP_CLIENT, MSP_SECRET)
    assert client.graph("PUT", "/groups/%s/photo/$value" % CREW_ID, token, data=uploads["crew"], headers=JPEG).status_code == 200
    assert client.graph("PUT", "/users/%s/photo/$value" % OMAR, token, data=uploads["omar"], headers=JPEG).status_code == 200
    client.control("DELETE", "/groups/%s/photo" % SALES_ID)
    client.control("DELETE", "/tenants/fabrikam/groups/" + TEMP_ID)
    client.control("DELETE", "/groups/marketing")  # a group of the default tenant's seed
    client.control("PUT", "/tenants/fabrikam/photo_policy", json={"source": "onPremises"})
    client.control("PUT", "/photo_policy", json={"allowedRoles": [GLOBAL_ADMIN_ROLE]})
    client.control("DELETE", "/tenants/northwind")


def _check_two_tenants(client, uploads, expected):
    """What must hold after each restart."""
    assert client.tenants() == expected
    assert list(expected) == ["contoso", "adatum", "fabrikam"]  # northwind stays deleted
    assert client.control_status("GET", "/tenants/northwind") == 404
    assert client.error_code(client.token_resp("northwind.onmicrosoft.com", MSP_CLIENT, MSP_SECRET)) == 90002
    fab = expected["fabrikam"]
    assert fab["view"]["domains"] == [FAB_DOMAIN, "fabrikam.example"] and fab["view"]["profile"] == IDEAL
    assert expected["adatum"]["view"]["profile"] == "production"  # a tenant's start profile is kept
    assert client.control("GET", "/tenants/adatum/behaviours")["reencode"] is True
    assert fab["policy"] == {"source": "onPremises", "allowedRoles": []}
    assert expected["contoso"]["policy"] == {"source": "cloud", "allowedRoles": [GLOBAL_ADMIN_ROLE]}
    assert {group["mailNickname"] for group in fab["groups"]} == {"crew", "auditors"}  # the deleted group stays deleted
    assert client.control_status("GET", "/tenants/fabrikam/groups/" + TEMP_ID) == 404
    assert client.control("GET", "/groups/" + SALES_ID)["photo"] is None  # so does the deleted group photo
    assert client.control_status("GET", "/groups/marketing") == 404 and len(expected["contoso"]["groups"]) == 3  # and the seeded group
    fresh = client.token("fabrikam.example", MSP_CLIENT, MSP_SECRET)  # a token from the second domain's authority
    for path, upload in (("/groups/%s/photo/$value" % CREW_ID, uploads["crew"]), ("/users/%s/photo/$value" % OMAR, uploads["omar"]),
                         ("/users/%s/photo/$value" % NORA, uploads["nora"])):
        got = client.graph("GET", path, fresh)
        assert got.status_code == 200 and got.content == upload, path
    listed = client.graph("GET", "/users", fresh).json()["value"]
    assert {user["userPrincipalName"] for user in listed} == {NORA, OMAR}
    refused = client.graph("PUT", "/users/%s/photo/$value" % NORA, fresh, data=_jpeg((1, 1, 1)), headers=JPEG)
    assert refused.status_code == 403  # fabrikam's onPremises policy is kept
    contoso = client.token(TENANT, MSP_CLIENT, MSP_SECRET)
    assert client.graph("PUT", "/users/%s/photo/$value" % ADELE, contoso, data=_jpeg((1, 1, 1)), headers=JPEG).status_code == 403  # Read there
    assert client.graph("GET", "/users/%s/photo" % NORA, contoso).status_code == 404
    assert client.token(FAB_DOMAIN, FAB_ONLY_CLIENT, "fab-only")
    assert client.error_code(client.token_resp(TENANT, FAB_ONLY_CLIENT, "fab-only")) == 700016  # consented in fabrikam only
    assert client.error_code(client.token_resp(TENANT, RO_CLIENT, RO_SECRET)) == 700016  # the withdrawn consent stays withdrawn
    assert client.token(TENANT, RW_CLIENT, RW_SECRET)


def test_tenants_and_what_they_hold_survive_restarts(tmp_path):
    state_dir = str(tmp_path / "emu")
    uploads = {"nora": _jpeg((0, 90, 0)), "omar": _jpeg((90, 0, 0)), "crew": _jpeg((0, 0, 90), (96, 96)), "auditors": _jpeg((9, 9, 9))}
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server:
        client = Client(server)
        _build_two_tenants(client, uploads)
        expected = client.tenants()
        fab_token = client.token(FAB_DOMAIN, MSP_CLIENT, MSP_SECRET)
        assert expected["fabrikam"]["view"]["consents"] == [
            {"client_id": MSP_CLIENT, "roles": ["ProfilePhoto.ReadWrite.All", "User.Read.All", "Group.Read.All"]},
            {"client_id": FAB_ONLY_CLIENT, "roles": ["User.Read.All"]}]
        _check_two_tenants(client, uploads, expected)
    for dummy in range(2):  # the first start replays the journal as written, the second the journal it compacted
        with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server:
            client = Client(server)
            assert client.graph("GET", "/users", fab_token).status_code == 401  # tokens are not kept
            _check_two_tenants(client, uploads, expected)


def test_a_tenant_deleted_and_added_again_comes_back_as_the_new_one(tmp_path):
    state_dir = str(tmp_path / "emu")
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server:
        client = Client(server)
        first = client.control("POST", "/tenants", json={"name": "fabrikam"})
        client.control("POST", "/tenants/fabrikam/users", json={"users": [{"userPrincipalName": "old@" + FAB_DOMAIN}]})
        client.control("POST", "/tenants/fabrikam/groups", json={"groups": [{"displayName": "Old group"}]})
        client.control("POST", "/tenants/fabrikam/consents", json={"client_id": RW_CLIENT})
        client.control("DELETE", "/tenants/fabrikam")
        second = client.control("POST", "/tenants", json={"name": "fabrikam", "domains": ["fabrikam.example"]})
        client.control("POST", "/tenants/fabrikam/users", json={"users": [{"userPrincipalName": "new@fabrikam.example"}]})
        assert second["id"] == first["id"]
    for dummy in range(2):
        with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server:
            client = Client(server)
            view = client.control("GET", "/tenants/fabrikam")
            assert (view["domains"], view["groups"], view["consents"]) == (["fabrikam.example"], 0, [])
            assert [user["userPrincipalName"] for user in client.control("GET", "/tenants/fabrikam/users")["users"]] == ["new@fabrikam.example"]
            assert client.error_code(client.token_resp("fabrikam.example", RW_CLIENT, RW_SECRET)) == 700016
            assert client.error_code(client.token_resp(FAB_DOMAIN, RW_CLIENT, RW_SECRET)) == 90002  # the old domain went with it


def _photo_record(data, etag="0A1B2C3D"):
    return {"b64": _b64(data), "content_type": "image/jpeg", "uploaded_sha256": _sha(data), "etag": etag}


def test_a_1_0_0_journal_loads_into_the_default_tenant(tmp_path):
    """1.0.0's records name no tenant: {"op": "user"}, {"op": "client", "spec"}, {"op": "photo", "id", "photo"},
    {"op": "delete_user"}. They are the default tenant's, and every app in them is consented there."""
    state_dir = tmp_path / "emu"
    state_dir.mkdir()
    legacy_app, upload, kept = "99999999-9999-4999-8999-999999999999", _jpeg((200, 100, 0)), _jpeg((0, 100, 200))
    records = [
        {"op": "meta", "identity_header": "header-from-1.0.0"},
        {"op": "client", "spec": {"client_id": RW_CLIENT, "secret": RW_SECRET, "roles": ["ProfilePhoto.ReadWrite.All"], "expires_in": 3599}},
        {"op": "client", "spec": {"client_id": legacy_app, "secret": "legacy-s3cret", "roles": ["ProfilePhoto.ReadWrite.All"], "expires_in": 600}},
        {"op": "user", "id": "1e6ac700-0000-4000-8000-000000000001", "upn": "legacy@contoso.onmicrosoft.com", "name": "Legacy User",
         "mail": "legacy@contoso.onmicrosoft.com", "photo": _photo_record(kept, "5E5E5E5E"), "user_type": None, "mailbox": None},
        {"op": "photo", "id": ADELE_ID, "photo": _photo_record(upload)},
        {"op": "delete_user", "id": MEGAN_ID},
    ]
    (state_dir / "tenant.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    old_entry = {"time": 1.0, "api": "graph", "method": "PUT", "path": "/v1.0/users/%s/photo/$value" % ADELE, "query": "", "status": 200,
                 "dropped": False, "user": ADELE_ID, "client_id": RW_CLIENT, "token_kind": "app", "credential": None, "content_type": "image/jpeg",
                 "body_size": len(upload), "response_size": 0, "body_sha256": _sha(upload), "batch": False, "retry_after": None, "fault": None,
                 "request_id": "r-1", "client_request_id": "c-1", "seq": 1}
    (state_dir / "requests.jsonl").write_text(json.dumps(old_entry) + "\n")
    for dummy in range(2):  # as written by 1.0.0, then as this version compacted it
        with EmulatorServer(str(state_dir), persist=True, profile=IDEAL) as server:
            client = Client(server)
            assert server.info["identity_header"] == "header-from-1.0.0"
            tenants = client.control("GET", "/tenants")["tenants"]
            assert [tenant["name"] for tenant in tenants] == ["contoso"]
            assert {grant["client_id"]: grant["roles"] for grant in tenants[0]["consents"]} == {
                RW_CLIENT: ["ProfilePhoto.ReadWrite.All"], RO_CLIENT: ["ProfilePhoto.Read.All"], legacy_app: ["ProfilePhoto.ReadWrite.All"]}
            users = {user["userPrincipalName"]: user for user in client.control("GET", "/tenants/contoso/users")["users"]}
            assert "megan.bowen@contoso.onmicrosoft.com" not in users and len(users) == 7
            assert users["legacy@contoso.onmicrosoft.com"]["photo"]["etag"] == '"5E5E5E5E"'
            assert client.control("GET", "/users/" + ADELE)["photo"]["sha256"] == _sha(upload)
            token = client.token(TENANT, legacy_app, "legacy-s3cret")
            assert client.graph("GET", "/users/%s/photo/$value" % ADELE, token).content == upload
            assert client.graph("GET", "/users/legacy@contoso.onmicrosoft.com/photo/$value", token).content == kept
            log = client.control("GET", "/requests")["requests"]
            assert log[0]["seq"] == 1 and log[0]["path"] == old_entry["path"]
            scoped = client.control("GET", "/tenants/contoso/requests")["requests"]  # the old entries are the default tenant's
            assert [entry["seq"] for entry in scoped] == [entry["seq"] for entry in log]
    compacted = [json.loads(line) for line in (state_dir / "tenant.jsonl").read_text().splitlines()]
    assert {record["tenant"] for record in compacted if record["op"] in ("user", "consent", "policy")} == {TENANT}
