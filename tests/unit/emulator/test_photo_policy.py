# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant's photo policy (issue 19): GET|PATCH /beta/admin/people/photoUpdateSettings, what source onPremises
does to photo writes (a bare 403 that does not name the policy: assumption), photo_policy_scope, and the control
API's /_emulator/photo_policy."""

from __future__ import annotations

import base64
import hashlib
import io
from urllib.parse import quote

import pytest
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"  # has a 240x240 photo
ADELE = "adele.vance@contoso.onmicrosoft.com"  # has none
SALES = "9a000000-0000-4000-8000-000000000001"  # Unified, Team, has a photo
PHOENIX = "9a000000-0000-4000-8000-000000000002"  # Unified, Team, no photo
POLICY = "/beta/admin/people/photoUpdateSettings"
JPEG = {"Content-Type": "image/jpeg"}
OUTLOOK = "https://outlook.office.com"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"


def _jpeg(size=(128, 128), color=(70, 0, 140)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _error(resp, status, code, message=None):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    return error


def _policy_call(api, method, token, **kwargs):
    return api.call(method, POLICY, token, **kwargs)


def _on_premises(api):
    resp = api.control("PUT", "/photo_policy", json={"source": "onPremises"})
    assert resp.status_code == 200, resp.text


def _user_sha(api, key):
    photo = api.oracle(key)["photo"]
    return photo["sha256"] if photo else None


def _group_sha(api, group_id):
    photo = api.control("GET", "/groups/" + group_id).json()["photo"]
    return photo["sha256"] if photo else None


def _without_inner(body):
    """An error body without innerError (date and request ids differ from one answer to the next)."""
    error = dict(body["error"])
    error.pop("innerError")
    return dict(body, error=error)


def _same_answer(refused, denied):
    """The policy's 403 is exactly a missing permission's: status, body (minus innerError) and header names."""
    assert refused.status_code == denied.status_code == 403, (refused.text, denied.text)
    assert _without_inner(refused.json()) == _without_inner(denied.json())
    assert set(refused.json()["error"]["innerError"]) == set(denied.json()["error"]["innerError"])
    assert set(name.lower() for name in refused.headers) == set(name.lower() for name in denied.headers)


# --------------------------------------------------------------------------- GET|PATCH photoUpdateSettings

def test_get_and_patch_the_policy(api):
    """ReadWrite changes the policy, Read reads it; the answer is the entity, and the control API sees the change."""
    writer = api.mint(roles=["PeopleSettings.ReadWrite.All"])
    reader = api.mint(roles=["PeopleSettings.Read.All"])
    body = _policy_call(api, "GET", reader).json()
    assert body == {"@odata.context": "%s/beta/$metadata#admin/people/photoUpdateSettings/$entity" % api.origin,
                    "source": "cloud", "allowedRoles": []}
    resp = _policy_call(api, "PATCH", writer, json={"source": "onPremises"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["source"], resp.json()["allowedRoles"]) == ("onPremises", [])
    assert _policy_call(api, "GET", reader).json()["source"] == "onPremises"
    assert api.control("GET", "/photo_policy").json() == {"source": "onPremises", "allowedRoles": []}
    # The policy itself can always be changed back: onPremises turns off photo writes, not the settings.
    assert _policy_call(api, "PATCH", writer, json={"source": "cloud"}).json()["source"] == "cloud"
    entries = [entry for entry in api.log() if entry["path"] == POLICY]
    assert [(entry["method"], entry["status"]) for entry in entries] == [("GET", 200), ("PATCH", 200), ("GET", 200), ("PATCH", 200)]


def test_allowed_roles_round_trip(api):
    """allowedRoles holds role template ids; PATCH merges (a source change keeps them), [] clears them."""
    writer = api.mint(roles=["PeopleSettings.ReadWrite.All"])
    resp = _policy_call(api, "PATCH", writer, json={"allowedRoles": [GLOBAL_ADMIN, USER_ADMIN]})
    assert resp.json()["allowedRoles"] == [GLOBAL_ADMIN, USER_ADMIN]
    assert _policy_call(api, "GET", writer).json()["allowedRoles"] == [GLOBAL_ADMIN, USER_ADMIN]
    assert _policy_call(api, "PATCH", writer, json={"source": "onPremises"}).json() == {
        "@odata.context": "%s/beta/$metadata#admin/people/photoUpdateSettings/$entity" % api.origin,
        "source": "onPremises", "allowedRoles": [GLOBAL_ADMIN, USER_ADMIN]}
    # What msgraph-sdk sends: the entity's @odata.type with the change.
    typed = {"@odata.type": "#microsoft.graph.photoUpdateSettings", "allowedRoles": [USER_ADMIN.upper()]}
    assert _policy_call(api, "PATCH", writer, json=typed).json()["allowedRoles"] == [USER_ADMIN]  # ids answer in lower case
    assert _policy_call(api, "PATCH", writer, json={"allowedRoles": []}).json()["allowedRoles"] == []
    assert api.control("GET", "/photo_policy").json() == {"source": "onPremises", "allowedRoles": []}


def test_delegated_policy_calls(api):
    writer = api.mint(user=ALEX, scopes=["PeopleSettings.ReadWrite.All"])
    assert _policy_call(api, "PATCH", writer, json={"source": "onPremises"}).status_code == 200
    assert _policy_call(api, "GET", api.mint(user=ALEX, scopes=["PeopleSettings.Read.All"])).json()["source"] == "onPremises"


@pytest.mark.parametrize("roles, get_status, patch_status", [
    (["PeopleSettings.Read.All"], 200, 403),
    (["ProfilePhoto.ReadWrite.All"], 403, 403),
    (["User.ReadWrite.All"], 403, 403),
    (["Directory.ReadWrite.All"], 403, 403),
])
def test_policy_permissions(api, roles, get_status, patch_status):
    """PATCH needs PeopleSettings.ReadWrite.All; a refused PATCH changes nothing."""
    token = api.mint(roles=roles)
    assert _policy_call(api, "GET", token).status_code == get_status
    resp = _policy_call(api, "PATCH", token, json={"source": "onPremises", "allowedRoles": [GLOBAL_ADMIN]})
    assert resp.status_code == patch_status, resp.text
    assert resp.json()["error"]["code"]
    assert api.control("GET", "/photo_policy").json() == {"source": "cloud", "allowedRoles": []}


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"", b"null", b"\xff\xfe", b'"cloud"',
    b'{"source": "hybrid"}', b'{"source": "Cloud"}', b'{"source": null}',
    b'{"allowedRoles": "62e90394-69f5-4237-9190-012177145e10"}', b'{"allowedRoles": ["Global Administrator"]}',
    b'{"allowedRoles": [5]}', b'{"photoSource": "cloud"}',
    b'{"source": "cloud", "allowedRoles": ["not-a-guid"]}',  # nothing of a bad body applies, not even its good half
])
def test_bad_policy_bodies_are_400(api, body):
    _on_premises(api)
    writer = api.mint(roles=["PeopleSettings.ReadWrite.All"])
    error = _error(_policy_call(api, "PATCH", writer, data=body, headers={"Content-Type": "application/json"}), 400, "BadRequest")
    assert error["message"].startswith("Invalid photoUpdateSettings")
    assert api.control("GET", "/photo_policy").json() == {"source": "onPremises", "allowedRoles": []}


def test_the_policy_is_beta_only(api):
    """photoUpdateSettings is a beta API: the v1.0 path is a 400 for GET and PATCH, and changes nothing."""
    writer = api.mint(roles=["PeopleSettings.ReadWrite.All"])
    for method in ("GET", "PATCH"):
        error = _error(api.graph(method, "/admin/people/photoUpdateSettings", writer, json={"source": "onPremises"}), 400, "BadRequest")
        assert error["message"] == "Resource not found for the segment 'photoUpdateSettings'."
    assert api.control("GET", "/photo_policy").json()["source"] == "cloud"
    resp = _policy_call(api, "DELETE", writer)
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, PATCH"


def test_policy_in_a_beta_batch(api):
    writer = api.mint(roles=["PeopleSettings.ReadWrite.All"])
    resp = api.call("POST", "/beta/$batch", writer, json={"requests": [
        {"id": "1", "method": "PATCH", "url": "/admin/people/photoUpdateSettings", "body": {"source": "onPremises"}},
        {"id": "2", "method": "GET", "url": "/admin/people/photoUpdateSettings", "dependsOn": ["1"]}]})
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["1"]["status"] == 200 and items["2"]["body"]["source"] == "onPremises"
    assert api.control("GET", "/photo_policy").json()["source"] == "onPremises"


# --------------------------------------------------------------------------- source onPremises: user photo writes

@pytest.mark.parametrize("method, key", [("PUT", ADELE), ("PATCH", ADELE), ("DELETE", ALEX),
                                         ("PUT", "a1e80000-0000-4000-8000-000000000002")])
def test_on_premises_refuses_user_photo_writes_like_a_missing_permission(api, rw_token, method, key):
    """The refusal is exactly a missing permission's 403: a client cannot tell the policy from its own roles. The
    photo stays as it was, the log names the policy."""
    path = "/users/%s/photo/$value" % quote(key, safe="@")
    data = _jpeg() if method != "DELETE" else None
    denied = api.graph(method, path, api.token("22222222-2222-4222-8222-222222222222", "emulator-readonly-secret"), data=data, headers=JPEG)
    _on_premises(api)
    before = (_user_sha(api, ALEX), _user_sha(api, ADELE))
    refused = api.graph(method, path, rw_token, data=data, headers=JPEG)
    _same_answer(refused, denied)
    _error(refused, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    assert (_user_sha(api, ALEX), _user_sha(api, ADELE)) == before
    denied_entry, refused_entry = [entry for entry in api.log() if entry["api"] == "graph"]
    assert (denied_entry["fault"], refused_entry["fault"]) == (None, "photo_policy")
    assert refused_entry["status"] == 403 and refused_entry["user"] is not None


def test_on_premises_keeps_reads_working(api, rw_token):
    _on_premises(api)
    stored = api.control("GET", "/users/" + ALEX).json()["photo"]["sha256"]
    for suffix in ("/photo", "/photos", "/photos/96x96", "/photos/96x96/$value"):
        assert api.graph("GET", "/users/%s%s" % (ALEX, suffix), rw_token).status_code == 200, suffix
    assert hashlib.sha256(api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content).hexdigest() == stored
    _error(api.graph("GET", "/users/%s/photo" % ADELE, rw_token), 404, "ImageNotFound")  # no photo is still no photo
    assert all(entry["fault"] is None for entry in api.log())


def test_on_premises_refuses_delegated_self_writes(api):
    """"Turned off for admins and users alike": a user's own /me photo write is refused too."""
    own = api.mint(user=ADELE, scopes=["User.ReadWrite"])
    _on_premises(api)
    for method in ("PUT", "PATCH", "DELETE"):
        _error(api.graph(method, "/me/photo/$value", own, data=_jpeg(), headers=JPEG), 403, "ErrorAccessDenied")
    assert _user_sha(api, ADELE) is None
    assert api.graph("GET", "/me/photo", api.mint(user=ALEX, scopes=["User.Read"])).status_code == 200


def test_on_premises_refuses_user_photo_writes_in_batch(api, rw_token):
    """Inside $batch each user photo write gets the same bare 403 as a missing permission; reads in the batch work."""
    body = base64.b64encode(_jpeg()).decode()
    requests_ = [
        {"id": "put", "method": "PUT", "url": "/users/%s/photo/$value" % ADELE, "headers": JPEG, "body": body},
        {"id": "patch", "method": "PATCH", "url": "/users/%s/photo/$value" % ADELE, "headers": JPEG, "body": body},
        {"id": "delete", "method": "DELETE", "url": "/users/%s/photo/$value" % ALEX},
        {"id": "read", "method": "GET", "url": "/users/%s/photo" % ALEX},
    ]
    readonly = api.token("22222222-2222-4222-8222-222222222222", "emulator-readonly-secret")
    denied = {item["id"]: item for item in api.graph("POST", "/$batch", readonly, json={"requests": requests_}).json()["responses"]}
    _on_premises(api)
    before = (_user_sha(api, ALEX), _user_sha(api, ADELE))
    api.control("DELETE", "/requests")
    resp = api.graph("POST", "/$batch", rw_token, json={"requests": requests_})
    assert resp.status_code == 200
    items = {item["id"]: item for item in resp.json()["responses"]}
    for item_id in ("put", "patch", "delete"):
        assert items[item_id]["status"] == denied[item_id]["status"] == 403
        assert _without_inner(items[item_id]["body"]) == _without_inner(denied[item_id]["body"])
        assert items[item_id]["body"]["error"]["code"] == "ErrorAccessDenied"
    assert items["read"]["status"] == 200 and items["read"]["body"]["id"] == "240x240"
    assert (_user_sha(api, ALEX), _user_sha(api, ADELE)) == before
    inner = [entry for entry in api.log() if entry["batch"]]
    assert [entry["fault"] for entry in inner] == ["photo_policy", "photo_policy", "photo_policy", None]


def test_on_premises_refuses_outlook_v2_photo_writes(api):
    """The Outlook REST v2.0 dialect gets the same refusal as its own missing-permission 403."""
    path = "/Users('%s')/photo/$value" % ADELE
    denied = api.outlook("PUT", path, api.mint(resource=OUTLOOK, roles=["ProfilePhoto.Read.All"]), data=_jpeg(), headers=JPEG)
    _on_premises(api)
    writer = api.mint(resource=OUTLOOK)
    for method in ("PUT", "PATCH"):
        refused = api.outlook(method, path, writer, data=_jpeg(), headers=JPEG)
        _same_answer(refused, denied)
    assert _user_sha(api, ADELE) is None
    assert api.outlook("GET", "/Users('%s')/photo" % ALEX, writer).json()["Width"] == 240
    outlook_entries = [entry for entry in api.log() if entry["api"] == "outlook_v2"]
    assert [entry["fault"] for entry in outlook_entries] == [None, "photo_policy", "photo_policy", None]


def test_back_to_cloud_writes_again(api, rw_token):
    _on_premises(api)
    path = "/users/%s/photo/$value" % ADELE
    _error(api.graph("PUT", path, rw_token, data=_jpeg(), headers=JPEG), 403, "ErrorAccessDenied")
    api.control("PUT", "/photo_policy", json={"source": "cloud"})
    upload = _jpeg(color=(1, 1, 1))
    assert api.graph("PUT", path, rw_token, data=upload, headers=JPEG).status_code == 200
    assert _user_sha(api, ADELE) == hashlib.sha256(upload).hexdigest()


# --------------------------------------------------------------------------- photo_policy_scope: groups and Teams

def test_scope_users_is_the_default_group_and_team_writes_still_work(api):
    """photo_policy_scope users (assumption, the default): onPremises leaves group and Team photos writable."""
    assert api.control("GET", "/behaviours").json()["photo_policy_scope"] == "users"
    _on_premises(api)
    group_writer = api.mint(roles=["Group.ReadWrite.All"])
    upload = _jpeg()
    assert api.graph("PUT", "/groups/%s/photo/$value" % PHOENIX, group_writer, data=upload, headers=JPEG).status_code == 200
    assert api.graph("DELETE", "/groups/%s/photo/$value" % SALES, group_writer).status_code == 200
    assert (_group_sha(api, PHOENIX), _group_sha(api, SALES)) == (hashlib.sha256(upload).hexdigest(), None)
    team = _jpeg(color=(5, 200, 5))
    assert api.graph("PATCH", "/teams/%s/photo/$value" % SALES, api.mint(roles=["TeamSettings.ReadWrite.All"]), data=team,
                     headers=JPEG).status_code == 200
    assert _group_sha(api, SALES) == hashlib.sha256(team).hexdigest()
    assert all(entry["fault"] is None for entry in api.log())


def test_scope_users_and_groups_refuses_group_and_team_writes(api):
    """users_and_groups: group and Team writes get the same bare 403 (direct and in $batch); reads work; nothing stored."""
    api.behave(photo_policy_scope="users_and_groups")
    _on_premises(api)
    group_writer = api.mint(roles=["Group.ReadWrite.All", "TeamSettings.ReadWrite.All"])
    before = (_group_sha(api, SALES), _group_sha(api, PHOENIX))
    for method, path in (("PUT", "/groups/%s/photo/$value" % PHOENIX), ("PATCH", "/groups/%s/photo/$value" % PHOENIX),
                         ("DELETE", "/groups/%s/photo/$value" % SALES), ("PUT", "/teams/%s/photo/$value" % PHOENIX),
                         ("PATCH", "/teams/%s/photo/$value" % SALES)):
        resp = api.graph(method, path, group_writer, data=_jpeg() if method != "DELETE" else None, headers=JPEG)
        _error(resp, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    batch = api.graph("POST", "/$batch", group_writer, json={"requests": [
        {"id": "1", "method": "PUT", "url": "/groups/%s/photo/$value" % PHOENIX, "headers": JPEG, "body": base64.b64encode(_jpeg()).decode()},
        {"id": "2", "method": "GET", "url": "/groups/%s/photo" % SALES}]}).json()
    statuses = {item["id"]: item["status"] for item in batch["responses"]}
    assert statuses == {"1": 403, "2": 200}
    assert (_group_sha(api, SALES), _group_sha(api, PHOENIX)) == before
    assert api.graph("GET", "/teams/%s/photo/$value" % SALES, group_writer).status_code == 200
    faults = [entry["fault"] for entry in api.log() if entry["api"] == "graph"]
    assert faults == ["photo_policy"] * 6 + [None, None]


def test_scope_users_and_groups_alone_blocks_nothing(api):
    """The scope says what onPremises blocks; with source cloud every write works."""
    api.behave(photo_policy_scope="users_and_groups")
    upload = _jpeg()
    assert api.graph("PUT", "/groups/%s/photo/$value" % PHOENIX, api.mint(roles=["Group.ReadWrite.All"]), data=upload,
                     headers=JPEG).status_code == 200
    assert _group_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()
    assert api.control("PUT", "/behaviours", json={"photo_policy_scope": "groups"}).status_code == 400


# --------------------------------------------------------------------------- the control API

def test_control_photo_policy(api):
    """GET and PUT /_emulator/photo_policy: a checked, merging change; reset brings back the cloud."""
    assert api.control("GET", "/photo_policy").json() == {"source": "cloud", "allowedRoles": []}
    resp = api.control("PUT", "/photo_policy", json={"source": "onPremises", "allowedRoles": [GLOBAL_ADMIN]})
    assert resp.status_code == 200 and resp.json() == {"source": "onPremises", "allowedRoles": [GLOBAL_ADMIN]}
    assert api.control("PUT", "/photo_policy", json={"allowedRoles": []}).json() == {"source": "onPremises", "allowedRoles": []}
    reader = api.mint(roles=["PeopleSettings.Read.All"])
    assert _policy_call(api, "GET", reader).json()["source"] == "onPremises"
    assert api.control("GET", "/tenants/contoso/photo_policy").json()["source"] == "onPremises"
    api.control("POST", "/reset")
    assert api.control("GET", "/photo_policy").json() == {"source": "cloud", "allowedRoles": []}


@pytest.mark.parametrize("body", [{"source": "x"}, {"source": "onpremises"}, {"allowedRoles": ["nope"]}, {"allowedRoles": "x"},
                                  {"nope": 1}, [], "cloud", {"source": None}])
def test_control_photo_policy_validation(api, body):
    resp = api.control("PUT", "/photo_policy", json=body)
    assert resp.status_code == 400 and resp.json()["error"], resp.text
    assert api.control("GET", "/photo_policy").json() == {"source": "cloud", "allowedRoles": []}


def test_control_photo_policy_methods_and_bodies(api):
    assert api.control("PUT", "/photo_policy", data=b"{not json").status_code == 400
    assert api.control("PUT", "/photo_policy", data=b"null").status_code == 400
    assert api.control("PUT", "/photo_policy", data=b"").json() == {"source": "cloud", "allowedRoles": []}  # no body: no change
    assert api.control("POST", "/photo_policy", json={"source": "onPremises"}).status_code == 405
    assert api.control("GET", "/photo_policy").json()["source"] == "cloud"


def test_policy_is_per_tenant(api, rw_token):
    """Another tenant's onPremises leaves the default tenant's writes alone, and the other way round."""
    assert api.control("POST", "/tenants", json={"name": "fabrikam"}).status_code == 200
    assert api.control("PUT", "/tenants/fabrikam/photo_policy", json={"source": "onPremises"}).json()["source"] == "onPremises"
    assert api.control("GET", "/photo_policy").json()["source"] == "cloud"
    upload = _jpeg()
    assert api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=upload, headers=JPEG).status_code == 200
    assert _user_sha(api, ADELE) == hashlib.sha256(upload).hexdigest()
    fabrikam = api.control("GET", "/tenants/fabrikam").json()
    assert fabrikam["photo_policy"]["source"] == "onPremises"
