# SPDX-License-Identifier: GPL-3.0-or-later
"""Team photos in the Graph emulator (issue 19): /teams/{id}/photo and /photo/$value take GET, PUT and PATCH, not
DELETE; a Team is a Microsoft 365 group whose photo is the Team's picture; writes take TeamSettings.ReadWrite.All."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

SALES = "9a000000-0000-4000-8000-000000000001"  # Unified, Team, 240x240 photo
PHOENIX = "9a000000-0000-4000-8000-000000000002"  # Unified, Team, no photo
MARKETING = "9a000000-0000-4000-8000-000000000003"  # Unified, not a Team
FINANCE = "9a000000-0000-4000-8000-000000000004"  # security group
UNKNOWN = "9a000000-0000-4000-8000-0000000000ff"
JPEG = {"Content-Type": "image/jpeg"}
DENIED = ("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _jpeg(size=(160, 160), color=(240, 120, 0)):
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


def _writer(api):
    return api.mint(roles=["TeamSettings.ReadWrite.All"])


def _group(api, group_id):
    return api.control("GET", "/groups/" + group_id).json()


def _photo_sha(api, group_id):
    photo = _group(api, group_id)["photo"]
    return photo["sha256"] if photo else None


def test_team_photo_metadata_and_value(api):
    """A Team's photo is its group's photo: the same bytes on both paths, metadata named after /teams."""
    token = _writer(api)
    meta = api.graph("GET", "/teams/%s/photo" % SALES, token).json()
    assert meta["@odata.context"] == "%s/v1.0/$metadata#teams('%s')/photo/$entity" % (api.origin, SALES)
    assert meta["@odata.id"] == "%s/v1.0/teams('%s')/photo" % (api.origin, SALES)
    assert (meta["id"], meta["width"], meta["height"], meta["@odata.mediaContentType"]) == ("240x240", 240, 240, "image/jpeg")
    value = api.graph("GET", "/teams/%s/photo/$value" % SALES, token)
    assert value.status_code == 200 and value.headers["Content-Type"] == "image/jpeg"
    assert value.content == api.graph("GET", "/groups/%s/photo/$value" % SALES, api.mint(roles=["ProfilePhoto.Read.All"])).content
    assert meta["@odata.mediaEtag"] == _group(api, SALES)["photo"]["etag"]
    _error(api.graph("GET", "/teams/%s/photo" % PHOENIX, token), 404, "ImageNotFound")  # a Team without a picture


def test_team_photo_put_and_patch_show_on_the_group(api):
    """PUT and PATCH on /teams/{id}/photo/$value change the group's photo: /groups/{id}/photo serves the same picture."""
    token = _writer(api)
    group_reader = api.mint(roles=["Group.Read.All"])
    for method, color in (("PUT", (10, 10, 200)), ("PATCH", (200, 10, 10))):
        upload = _jpeg(color=color)
        resp = api.graph(method, "/teams/%s/photo/$value" % PHOENIX, token, data=upload, headers=JPEG)
        assert resp.status_code == 200 and resp.content == b""
        assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()
        assert api.graph("GET", "/groups/%s/photo/$value" % PHOENIX, group_reader).content == upload
        assert api.graph("GET", "/teams/%s/photo/$value" % PHOENIX, token).content == upload
    group_meta = api.graph("GET", "/groups/%s/photo" % PHOENIX, group_reader).json()
    team_meta = api.graph("GET", "/teams/%s/photo" % PHOENIX, token).json()
    assert group_meta["@odata.mediaEtag"] == team_meta["@odata.mediaEtag"] and group_meta["id"] == team_meta["id"] == "160x160"


def test_team_photo_writes_are_validated(api):
    token = _writer(api)
    _error(api.graph("PUT", "/teams/%s/photo/$value" % PHOENIX, token, data=b"not an image", headers=JPEG), 400, "ImageProcessingFailed")
    _error(api.graph("PUT", "/teams/%s/photo/$value" % PHOENIX, token, data=_jpeg(), headers={"Content-Type": "text/plain"}),
           400, "BadRequest")
    assert _group(api, PHOENIX)["has_photo"] is False


def test_team_photo_cannot_be_deleted(api):
    """DELETE is not offered on a Team photo (profilePhoto resource type): 405, and Allow lists what is."""
    token = _writer(api)
    before = _photo_sha(api, SALES)
    resp = api.graph("DELETE", "/teams/%s/photo/$value" % SALES, token)
    _error(resp, 405, "BadRequest", "Specified HTTP method is not allowed for the request target.")
    allowed = [method.strip() for method in resp.headers["Allow"].split(",")]
    assert allowed == ["GET", "PUT", "PATCH"] and "DELETE" not in allowed
    photo = api.graph("DELETE", "/teams/%s/photo" % SALES, token)
    assert photo.status_code == 405 and photo.headers["Allow"] == "GET"
    assert api.graph("PUT", "/teams/%s/photo" % SALES, token, data=_jpeg(), headers=JPEG).status_code == 405
    assert _photo_sha(api, SALES) == before
    # The group path still removes it.
    assert api.graph("DELETE", "/groups/%s/photo/$value" % SALES, api.mint(roles=["Group.ReadWrite.All"])).status_code == 200
    assert _photo_sha(api, SALES) is None


@pytest.mark.parametrize("group_id", [MARKETING, FINANCE, UNKNOWN, "sales@contoso.onmicrosoft.com"])
def test_not_a_team_is_404_no_team_found(api, group_id):
    """A group that is not a Team, a security group, an unknown id and a mail as key: 404 NotFound, for reads and
    writes alike, and nothing is stored."""
    token = _writer(api)
    message = "No team found with Group Id %s" % group_id
    _error(api.graph("GET", "/teams/%s/photo" % group_id, token), 404, "NotFound", message)
    _error(api.graph("GET", "/teams/%s/photo/$value" % group_id, token), 404, "NotFound", message)
    for method in ("PUT", "PATCH"):
        _error(api.graph(method, "/teams/%s/photo/$value" % group_id, token, data=_jpeg(), headers=JPEG), 404, "NotFound", message)
    if group_id in (MARKETING, FINANCE):
        assert _group(api, group_id)["has_photo"] is False


def test_only_the_team_photo_and_value_are_team_photo_paths(api):
    token = _writer(api)
    for suffix in ("/photos", "/photos/240x240"):
        _error(api.graph("GET", "/teams/%s%s" % (SALES, suffix), token), 400, "BadRequest")


@pytest.mark.parametrize("roles", [["TeamSettings.ReadWrite.All"], ["TeamSettings.Read.All"], ["Team.ReadBasic.All"], ["Group.Read.All"],
                                   ["Directory.Read.All"]])
def test_get_team_answers_the_team_resource(api, roles):
    """GET /teams/{id}: what an app holding only TeamSettings.ReadWrite.All can learn of a Team (its name), where
    /groups/{id} needs Group.Read.All. The team resource has no mail."""
    resp = api.graph("GET", "/teams/" + SALES, api.mint(roles=roles))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["id"], body["displayName"], body["tenantId"]) == (SALES, "Sales", "00000000-0000-4000-8000-00000000c0de")
    assert "mail" not in body and "mailNickname" not in body
    assert api.log()[-1]["group"] == SALES


@pytest.mark.parametrize("roles", [["ProfilePhoto.ReadWrite.All"], ["User.Read.All"]])
def test_get_team_needs_a_team_or_group_read_permission(api, roles):
    _error(api.graph("GET", "/teams/" + SALES, api.mint(roles=roles)), 403, "Authorization_RequestDenied")


@pytest.mark.parametrize("group_id", [MARKETING, FINANCE, UNKNOWN])
def test_get_team_of_a_group_that_is_no_team_is_404(api, group_id):
    _error(api.graph("GET", "/teams/" + group_id, _writer(api)), 404, "NotFound", "No team found with Group Id %s" % group_id)


def test_get_team_is_read_only(api):
    resp = api.graph("PATCH", "/teams/" + SALES, _writer(api), json={"displayName": "x"})
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"


# (roles, reads allowed, writes allowed): writes take TeamSettings.ReadWrite.All only (fact); reads also take
# TeamSettings.Read.All and the group photo permissions (assumption).
TEAM_PERMISSIONS = [
    (["TeamSettings.ReadWrite.All"], True, True),
    (["TeamSettings.Read.All"], True, False),
    (["ProfilePhoto.Read.All"], True, False),
    (["ProfilePhoto.ReadWrite.All"], True, False),
    (["Group.Read.All"], True, False),
    (["Group.ReadWrite.All"], True, False),
    (["User.ReadWrite.All"], False, False),
    (["Directory.ReadWrite.All"], False, False),
]


@pytest.mark.parametrize("roles, can_read, can_write", TEAM_PERMISSIONS)
def test_team_photo_permissions(api, roles, can_read, can_write):
    token = api.mint(roles=roles)
    for suffix in ("/photo", "/photo/$value"):
        resp = api.graph("GET", "/teams/%s%s" % (SALES, suffix), token)
        if can_read:
            assert resp.status_code == 200, resp.text
        else:
            _error(resp, 403, *DENIED)
    upload = _jpeg(color=(3, 2, 1))
    for method in ("PUT", "PATCH"):
        resp = api.graph(method, "/teams/%s/photo/$value" % PHOENIX, token, data=upload, headers=JPEG)
        if can_write:
            assert resp.status_code == 200, resp.text
        else:
            _error(resp, 403, *DENIED)
    assert _photo_sha(api, PHOENIX) == (hashlib.sha256(upload).hexdigest() if can_write else None)


def test_delegated_team_photo_write(api):
    upload = _jpeg()
    path = "/teams/%s/photo/$value" % PHOENIX
    _error(api.graph("PUT", path, api.mint(user="alex.wilber@contoso.onmicrosoft.com", scopes=["Group.ReadWrite.All"]), data=upload,
                     headers=JPEG), 403, *DENIED)
    delegated = api.mint(user="alex.wilber@contoso.onmicrosoft.com", scopes=["TeamSettings.ReadWrite.All"])
    assert api.graph("PUT", path, delegated, data=upload, headers=JPEG).status_code == 200
    assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()


def test_group_app_only_writes_refuse_leaves_team_writes_alone(api):
    """The switch is about /groups/...: the Team call of an app-only TeamSettings token still writes (design note)."""
    api.behave(group_app_only_writes="refuse")
    upload = _jpeg()
    assert api.graph("PUT", "/teams/%s/photo/$value" % PHOENIX, _writer(api), data=upload, headers=JPEG).status_code == 200
    assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()
    _error(api.graph("PUT", "/groups/%s/photo/$value" % PHOENIX, api.mint(roles=["Group.ReadWrite.All"]), data=upload, headers=JPEG),
           403, "AppOnlyTokenNotSupportedForGroupUpdate")


def test_batch_items_on_teams(api):
    """$batch items on /teams run the same pipeline: read, write, the refused DELETE and the not-a-Team 404."""
    token = _writer(api)
    upload = _jpeg((120, 120))
    resp = api.graph("POST", "/$batch", token, json={"requests": [
        {"id": "meta", "method": "GET", "url": "/teams/%s/photo" % SALES},
        {"id": "value", "method": "GET", "url": "teams/%s/photo/$value" % SALES},
        {"id": "put", "method": "PUT", "url": "/teams/%s/photo/$value" % PHOENIX, "headers": JPEG, "body": base64.b64encode(upload).decode()},
        {"id": "patch", "method": "PATCH", "url": "/teams/%s/photo/$value" % SALES, "headers": JPEG, "body": base64.b64encode(upload).decode(),
         "dependsOn": ["value"]},
        {"id": "delete", "method": "DELETE", "url": "/teams/%s/photo/$value" % SALES},
        {"id": "not-a-team", "method": "GET", "url": "/teams/%s/photo" % MARKETING},
    ]})
    assert resp.status_code == 200, resp.text
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["meta"]["status"] == 200 and items["meta"]["body"]["id"] == "240x240"
    assert Image.open(io.BytesIO(base64.b64decode(items["value"]["body"]))).size == (240, 240)
    assert items["put"]["status"] == 200 and items["patch"]["status"] == 200
    assert _photo_sha(api, PHOENIX) == _photo_sha(api, SALES) == hashlib.sha256(upload).hexdigest()
    assert items["delete"]["status"] == 405 and "DELETE" not in items["delete"]["headers"]["Allow"]
    assert (items["not-a-team"]["status"], items["not-a-team"]["body"]["error"]["code"]) == (404, "NotFound")
    inner = [entry for entry in api.log() if entry["batch"]]
    expected = [(SALES, None), (SALES, None), (PHOENIX, None), (SALES, None), (None, None), (None, None)]  # the 405 and the 404 name none
    assert [(entry["group"], entry["user"]) for entry in inner] == expected
    refused = api.graph("POST", "/$batch", api.mint(roles=["Group.ReadWrite.All"]), json={"requests": [
        {"id": "1", "method": "PUT", "url": "/teams/%s/photo/$value" % PHOENIX, "headers": JPEG, "body": base64.b64encode(_jpeg()).decode()}]})
    item = refused.json()["responses"][0]
    assert (item["status"], item["body"]["error"]["code"]) == (403, "ErrorAccessDenied")
    assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()
