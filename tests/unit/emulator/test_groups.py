# SPDX-License-Identifier: GPL-3.0-or-later
"""Groups in the Graph emulator (issue 19): GET /groups with $filter, $select and paging, GET /groups/{id}, the
directory permissions, group photos and their permissions, the group_app_only_writes and security_group_photos
switches, the control API's group endpoints, re-encoding and propagation delay on group photos, the request log and
$batch."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from urllib.parse import quote

import pytest
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
SALES = "9a000000-0000-4000-8000-000000000001"  # Unified, Team, 240x240 photo
PHOENIX = "9a000000-0000-4000-8000-000000000002"  # Unified, Team, no photo
MARKETING = "9a000000-0000-4000-8000-000000000003"  # Unified, not a Team, no photo
FINANCE = "9a000000-0000-4000-8000-000000000004"  # security group, no mail, no photo
SALES_MAIL = "sales@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}
ALL_SEEDED = [FINANCE, MARKETING, PHOENIX, SALES]  # by displayName: Finance Approvers, Marketing, Project Phoenix, Sales
NOT_FOUND_MESSAGE = "Resource '%s' does not exist or one of its queried reference-property objects are not present."


def _jpeg(size=(200, 200), color=(30, 140, 60), quality=90):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _error(resp, status, code, message=None):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    return error


def _reader(api):
    return api.mint(roles=["Group.Read.All"])


def _group(api, key):
    """The oracle's view of a group (control API), or None."""
    resp = api.control("GET", "/groups/" + quote(key, safe=""))
    return resp.json() if resp.status_code == 200 else None


def _photo_sha(api, key):
    photo = _group(api, key)["photo"]
    return photo["sha256"] if photo else None


def _add_groups(api, *specs):
    resp = api.control("POST", "/groups", json={"groups": list(specs)})
    assert resp.status_code == 200, resp.text
    return resp.json()["groups"]


def _ids(resp):
    assert resp.status_code == 200, resp.text
    return [group["id"] for group in resp.json()["value"]]


# --------------------------------------------------------------------------- GET /groups and $filter

@pytest.mark.parametrize("text, expected", [
    ("mail eq 'sales@contoso.onmicrosoft.com'", [SALES]),
    ("mail eq 'SALES@Contoso.OnMicrosoft.com'", [SALES]),  # directory string comparisons ignore case
    ("mailNickname eq 'phoenix'", [PHOENIX]),
    ("displayName eq 'Finance Approvers'", [FINANCE]),
    ("id eq '%s'" % MARKETING, [MARKETING]),
    ("startswith(displayName,'p')", [PHOENIX]),
    ("startswith(mail, 'mar')", [MARKETING]),
    ("startswith(mailNickname,'finance-')", [FINANCE]),
    ("startswith(mail,'f')", []),  # the security group has no mail: it never matches a mail clause
    ("groupTypes/any(c:c eq 'Unified')", [MARKETING, PHOENIX, SALES]),
    ("groupTypes/any(g: g eq 'unified')", [MARKETING, PHOENIX, SALES]),
    ("resourceProvisioningOptions/any(x:x eq 'Team')", [PHOENIX, SALES]),
    ("groupTypes/any(c:c eq 'Unified') and resourceProvisioningOptions/any(x:x eq 'Team')", [PHOENIX, SALES]),
    ("groupTypes/any(c:c eq 'Unified') and resourceProvisioningOptions/any(x:x eq 'Team') and startswith(displayName,'S')", [SALES]),
    ("mailNickname eq 'sales' AND displayName eq 'Sales'", [SALES]),
    ("mailNickname eq 'sales' and displayName eq 'Marketing'", []),
    ("mail eq 'nobody@contoso.onmicrosoft.com'", []),
])
def test_filter_forms(api, text, expected):
    """Every $filter form the design note lists finds exactly the groups it names, in displayName order."""
    assert _ids(api.graph("GET", "/groups", _reader(api), params={"$filter": text})) == expected


def test_filter_quotes_double_the_apostrophe_and_and_inside_quotes_is_text(api):
    """'' is one apostrophe inside a quoted value, and " and " inside quotes does not split the filter."""
    obrien, both = _add_groups(api, {"displayName": "O'Brien's Team", "mailNickname": "obrien"},
                               {"displayName": "Sales and Marketing", "mailNickname": "sm"})
    reader = _reader(api)
    found = api.graph("GET", "/groups", reader, params={"$filter": "displayName eq 'O''Brien''s Team'"})
    assert _ids(found) == [obrien["id"]] and found.json()["value"][0]["displayName"] == "O'Brien's Team"
    assert _ids(api.graph("GET", "/groups", reader, params={"$filter": "startswith(displayName,'O''B')"})) == [obrien["id"]]
    text = "displayName eq 'Sales and Marketing' and startswith(mailNickname,'s')"
    assert _ids(api.graph("GET", "/groups", reader, params={"$filter": text})) == [both["id"]]


@pytest.mark.parametrize("text", [
    "mail eq sales@contoso.onmicrosoft.com",  # unquoted
    "mail ne 'sales@contoso.onmicrosoft.com'",
    "jobTitle eq 'x'",
    "startswith(id,'9a')",
    "groupTypes/any(c:d eq 'Unified')",  # the lambda variable must be the one declared
    "groupTypes/any(c:c ne 'Unified')",
    "mail eq 'a' or mail eq 'b'",
    "mail eq 'a' and",
    "displayName eq 'unterminated",
    "displayName eq 'it's'",
    "mail eq 'a' and and mail eq 'b'",
])
def test_bad_filters_are_400(api, text):
    """A filter the emulator does not understand is a 400, never an unfiltered listing."""
    error = _error(api.graph("GET", "/groups", _reader(api), params={"$filter": text}), 400, "BadRequest")
    assert error["message"].startswith("Invalid filter clause")


@pytest.mark.parametrize("params", [{"$orderby": "displayName"}, {"$top": "0"}, {"$top": "1000"}, {"$top": "x"},
                                    {"$select": "id,nope"}, {"$skiptoken": "garbage"}, {"$count": "true"}])
def test_bad_query_options_are_400(api, params):
    _error(api.graph("GET", "/groups", _reader(api), params=params), 400, "BadRequest")


def test_select_on_listing_and_entity(api):
    """$select keeps only the named properties (canonical case) and names them in @odata.context."""
    reader = _reader(api)
    body = api.graph("GET", "/groups", reader, params={"$select": "ID,displayName", "$filter": "mailNickname eq 'sales'"}).json()
    assert body["@odata.context"] == "%s/v1.0/$metadata#groups(id,displayName)" % api.origin
    assert body["value"] == [{"id": SALES, "displayName": "Sales"}]
    entity = api.graph("GET", "/groups/%s?$select=mailNickname,groupTypes" % FINANCE, reader).json()
    assert {name: value for name, value in entity.items() if not name.startswith("@")} == {"mailNickname": "finance-approvers", "groupTypes": []}
    _error(api.graph("GET", "/groups/%s?$select=nope" % SALES, reader), 400, "BadRequest")


def test_default_group_properties(api):
    """Without $select a group carries Graph's default properties; a security group has no mail and no groupTypes."""
    reader = _reader(api)
    sales = api.graph("GET", "/groups/" + SALES, reader).json()
    assert sales["@odata.context"] == "%s/v1.0/$metadata#groups/$entity" % api.origin
    assert (sales["displayName"], sales["mail"], sales["mailNickname"], sales["groupTypes"], sales["resourceProvisioningOptions"],
            sales["mailEnabled"], sales["securityEnabled"]) == ("Sales", SALES_MAIL, "sales", ["Unified"], ["Team"], True, False)
    finance = api.graph("GET", "/groups/" + FINANCE, reader).json()
    assert (finance["mail"], finance["groupTypes"], finance["resourceProvisioningOptions"], finance["mailEnabled"],
            finance["securityEnabled"]) == (None, [], [], False, True)


def _pages(api, token, url):
    """[[ids of page 1], [ids of page 2], ...] following @odata.nextLink; asserts the last page has none."""
    pages = []
    while url:
        resp = api.http.get(url, headers={"Authorization": "Bearer " + token}, timeout=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(api.origin + "/v1.0/groups?") and "$skiptoken=" in url
    return pages


def test_paging_carries_filter_and_select_across_pages(api):
    """With $filter and $top the nextLink keeps both the filter and $select: every page holds only matching groups,
    none twice, and a full last page has no nextLink."""
    assert api.control("POST", "/groups/generate", json={"count": 25, "team_ratio": 0.4}).json()["teams"] == 10
    reader = _reader(api)
    url = api.origin + "/v1.0/groups?$top=4&$select=id,resourceProvisioningOptions&$filter=" + quote(
        "resourceProvisioningOptions/any(x:x eq 'Team')")
    pages = _pages(api, reader, url)
    assert [len(page) for page in pages] == [4, 4, 4]  # 10 generated Teams + Sales and Project Phoenix
    seen = [group["id"] for page in pages for group in page]
    assert len(set(seen)) == 12 and PHOENIX in seen and SALES in seen
    assert all(set(group) == {"id", "resourceProvisioningOptions"} and group["resourceProvisioningOptions"] == ["Team"]
               for page in pages for group in page)
    partial = _pages(api, reader, url.replace("$top=4", "$top=5"))
    assert [len(page) for page in partial] == [5, 5, 2]
    everything = _pages(api, reader, api.origin + "/v1.0/groups?$top=10")
    assert [len(page) for page in everything] == [10, 10, 9]
    names = [group["displayName"] for page in everything for group in page]
    assert names == sorted(names, key=str.lower)


def test_get_group_by_object_id_only(api):
    """/groups/{id} takes the object id (any case); a mail or a mailNickname as key is an unknown object."""
    reader = _reader(api)
    assert api.graph("GET", "/groups/" + SALES, reader).json()["id"] == SALES
    assert api.graph("GET", "/groups/" + SALES.upper(), reader).json()["id"] == SALES
    for key in (SALES_MAIL, "sales", "9a000000-0000-4000-8000-0000000000ff"):
        _error(api.graph("GET", "/groups/" + key, reader), 404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE % key)
    # The photo endpoints resolve the same way: by object id only.
    photo_reader = api.mint(roles=["ProfilePhoto.Read.All"])
    _error(api.graph("GET", "/groups/%s/photo" % SALES_MAIL, photo_reader), 404, "Request_ResourceNotFound")
    assert api.graph("GET", "/groups/%s/photo" % SALES, photo_reader).status_code == 200


@pytest.mark.parametrize("roles", [["ProfilePhoto.Read.All"], ["ProfilePhoto.ReadWrite.All"], ["User.Read.All"],
                                   ["TeamSettings.ReadWrite.All"], ["PeopleSettings.ReadWrite.All"]])
def test_directory_reads_refuse_other_permissions(api, roles):
    """Reading the group object needs Group.* or Directory.*: the photo permissions do not give it (fact sheet)."""
    token = api.mint(roles=roles)
    for path in ("/groups", "/groups/" + SALES, "/groups?$filter=mail eq '%s'" % SALES_MAIL):
        _error(api.graph("GET", path, token), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


@pytest.mark.parametrize("roles", [["Group.Read.All"], ["Group.ReadWrite.All"], ["Directory.Read.All"], ["Directory.ReadWrite.All"]])
def test_directory_reads_with_group_or_directory_permissions(api, roles):
    token = api.mint(roles=roles)
    assert _ids(api.graph("GET", "/groups", token)) == ALL_SEEDED
    assert api.graph("GET", "/groups/" + PHOENIX, token).json()["displayName"] == "Project Phoenix"


def test_directory_reads_with_a_delegated_token(api):
    """Delegated Group.Read.All reads groups too; delegated User.Read (one's own profile) does not."""
    assert _ids(api.graph("GET", "/groups", api.mint(user=ALEX, scopes=["Group.Read.All"]))) == ALL_SEEDED
    _error(api.graph("GET", "/groups", api.mint(user=ALEX, scopes=["User.Read"])), 403, "Authorization_RequestDenied")


# --------------------------------------------------------------------------- group photos

def test_group_photo_round_trip(api):
    """PUT, GET (metadata, $value, photos, photos/{size}), PATCH and DELETE on a group photo, as for a user."""
    token = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    path = "/groups/%s/photo" % MARKETING
    _error(api.graph("GET", path, token), 404, "ImageNotFound")
    _error(api.graph("GET", path + "/$value", token), 404, "ImageNotFound")
    upload = _jpeg((300, 300))
    resp = api.graph("PUT", path + "/$value", token, data=upload, headers=JPEG)
    assert resp.status_code == 200 and resp.content == b""
    meta = api.graph("GET", path, token).json()
    assert meta["@odata.context"] == "%s/v1.0/$metadata#groups('%s')/photo/$entity" % (api.origin, MARKETING)
    assert meta["@odata.id"] == "%s/v1.0/groups('%s')/photo" % (api.origin, MARKETING)  # no @tenant for a group
    assert (meta["id"], meta["width"], meta["height"], meta["@odata.mediaContentType"]) == ("300x300", 300, 300, "image/jpeg")
    assert api.graph("GET", path + "/$value", token).content == upload
    listing = api.graph("GET", "/groups/%s/photos" % MARKETING, token).json()
    assert listing["@odata.context"] == "%s/v1.0/$metadata#groups('%s')/photos" % (api.origin, MARKETING)
    assert [entry["id"] for entry in listing["value"]] == ["48x48", "64x64", "96x96", "120x120", "240x240", "300x300"]
    sized = api.graph("GET", "/groups/%s/photos/96x96" % MARKETING, token).json()
    assert (sized["id"], sized["width"]) == ("96x96", 96) and sized["@odata.id"].endswith("/groups('%s')/photos('96x96')" % MARKETING)
    assert Image.open(io.BytesIO(api.graph("GET", "/groups/%s/photos/96x96/$value" % MARKETING, token).content)).size == (96, 96)
    _error(api.graph("GET", "/groups/%s/photos/360x360" % MARKETING, token), 404, "ImageNotFound")
    second = _jpeg((120, 120), (200, 0, 0))
    assert api.graph("PATCH", path + "/$value", token, data=second, headers=JPEG).status_code == 200
    assert _photo_sha(api, MARKETING) == hashlib.sha256(second).hexdigest()
    assert api.graph("DELETE", path + "/$value", token).status_code == 200
    assert _group(api, MARKETING)["has_photo"] is False
    _error(api.graph("GET", path, token), 404, "ImageNotFound")
    _error(api.graph("DELETE", path + "/$value", token), 404, "ImageNotFound")
    _error(api.graph("PUT", path, token, data=upload, headers=JPEG), 405, "BadRequest")  # /photo itself takes GET only


def test_group_photo_writes_are_validated_like_user_photos(api):
    token = api.mint(roles=["Group.ReadWrite.All"])
    path = "/groups/%s/photo/$value" % MARKETING
    _error(api.graph("PUT", path, token, data=b"not an image", headers=JPEG), 400, "ImageProcessingFailed")
    _error(api.graph("PUT", path, token, data=_jpeg(), headers={"Content-Type": "text/plain"}), 400, "BadRequest")
    _error(api.graph("PUT", path, token, data=b"\xff" * (4 * 1024 * 1024 + 1), headers=JPEG), 413, "RequestEntityTooLarge")
    _error(api.graph("PUT", "/groups/9a000000-0000-4000-8000-0000000000ff/photo/$value", token, data=_jpeg(), headers=JPEG),
           404, "Request_ResourceNotFound")
    assert _group(api, MARKETING)["has_photo"] is False


# (roles, reads allowed, writes allowed): profilephoto-get / -update as the fact sheet gives them.
PHOTO_PERMISSIONS = [
    (["ProfilePhoto.Read.All"], True, False),
    (["ProfilePhoto.ReadWrite.All"], True, True),
    (["Group.Read.All"], True, False),
    (["Group.ReadWrite.All"], True, True),
    (["TeamSettings.ReadWrite.All"], False, False),  # a Team permission: not for /groups
    (["TeamSettings.Read.All"], False, False),
    (["Directory.Read.All"], False, False),  # reads the group object, not its photo
    (["User.ReadWrite.All"], False, False),  # a user photo permission
]


@pytest.mark.parametrize("roles, can_read, can_write", PHOTO_PERMISSIONS)
def test_group_photo_permissions(api, roles, can_read, can_write):
    """Each permission reads and writes a group photo exactly as far as the table says; a refusal changes nothing."""
    token = api.mint(roles=roles)
    for suffix in ("/photo", "/photo/$value", "/photos", "/photos/240x240", "/photos/240x240/$value"):
        resp = api.graph("GET", "/groups/%s%s" % (SALES, suffix), token)
        if can_read:
            assert resp.status_code == 200, (suffix, resp.text)
        else:
            _error(resp, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    sales_before = _photo_sha(api, SALES)
    upload = _jpeg(color=(1, 2, 3))
    for method in ("PUT", "PATCH"):
        resp = api.graph(method, "/groups/%s/photo/$value" % MARKETING, token, data=upload, headers=JPEG)
        assert resp.status_code == (200 if can_write else 403), resp.text
    resp = api.graph("DELETE", "/groups/%s/photo/$value" % SALES, token)
    assert resp.status_code == (200 if can_write else 403), resp.text
    if can_write:
        assert _photo_sha(api, MARKETING) == hashlib.sha256(upload).hexdigest() and _photo_sha(api, SALES) is None
    else:
        assert resp.json()["error"]["code"] == "ErrorAccessDenied"
        assert _photo_sha(api, MARKETING) is None and _photo_sha(api, SALES) == sales_before


def test_delegated_group_photo_write(api):
    """A delegated token with Group.ReadWrite.All writes a group photo; delegated User.ReadWrite (own photo) does not."""
    upload = _jpeg()
    path = "/groups/%s/photo/$value" % PHOENIX
    _error(api.graph("PUT", path, api.mint(user=ALEX, scopes=["User.ReadWrite"]), data=upload, headers=JPEG), 403, "ErrorAccessDenied")
    assert api.graph("PUT", path, api.mint(user=ALEX, scopes=["Group.ReadWrite.All"]), data=upload, headers=JPEG).status_code == 200
    assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest()


# --------------------------------------------------------------------------- switches

APP_ONLY = ("AppOnlyTokenNotSupportedForGroupUpdate",
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ProfileAccessDeniedException' was thrown.")


def test_behaviour_switches_validate(api):
    behaviours = api.control("GET", "/behaviours").json()
    assert (behaviours["group_app_only_writes"], behaviours["security_group_photos"]) == ("allow", "refuse")
    for patch in ({"group_app_only_writes": "deny"}, {"security_group_photos": True}, {"group_app_only_writes": None}):
        assert api.control("PUT", "/behaviours", json=patch).status_code == 400, patch


def test_group_app_only_writes_allow_is_the_default(api):
    """Since July 2024 the docs let application permissions change a group's photo: allowed unless switched."""
    token = api.mint(roles=["Group.ReadWrite.All"])
    assert api.graph("PUT", "/groups/%s/photo/$value" % PHOENIX, token, data=_jpeg(), headers=JPEG).status_code == 200
    assert _group(api, PHOENIX)["has_photo"] is True


def test_group_app_only_writes_refuse(api):
    """refuse: every app-only group write (PUT, PATCH, DELETE; direct or in $batch) gets the 403 of before July 2024 and
    stores nothing; reads, user writes and delegated group writes still work."""
    api.behave(group_app_only_writes="refuse")
    app = api.mint(roles=["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"])
    sales_before = _photo_sha(api, SALES)
    for method, group in (("PUT", PHOENIX), ("PATCH", PHOENIX), ("DELETE", SALES)):
        resp = api.graph(method, "/groups/%s/photo/$value" % group, app, data=_jpeg() if method != "DELETE" else None, headers=JPEG)
        _error(resp, 403, *APP_ONLY)
    batch = api.graph("POST", "/$batch", app, json={"requests": [
        {"id": "1", "method": "PUT", "url": "/groups/%s/photo/$value" % PHOENIX, "headers": JPEG, "body": base64.b64encode(_jpeg()).decode()}]})
    item = batch.json()["responses"][0]
    assert (item["status"], item["body"]["error"]["code"]) == (403, APP_ONLY[0])
    assert _group(api, PHOENIX)["has_photo"] is False and _photo_sha(api, SALES) == sales_before
    assert api.graph("GET", "/groups/%s/photo/$value" % SALES, app).status_code == 200
    assert api.graph("PUT", "/users/%s/photo/$value" % ADELE, app, data=_jpeg(), headers=JPEG).status_code == 200
    delegated = api.mint(user=ALEX, scopes=["Group.ReadWrite.All"])
    upload = _jpeg(color=(9, 9, 9))
    assert api.graph("PUT", "/groups/%s/photo/$value" % PHOENIX, delegated, data=upload, headers=JPEG).status_code == 200
    assert api.graph("DELETE", "/groups/%s/photo/$value" % SALES, delegated).status_code == 200
    assert _photo_sha(api, PHOENIX) == hashlib.sha256(upload).hexdigest() and _photo_sha(api, SALES) is None


def _seed_finance_photo(api, data):
    resp = api.control("PUT", "/groups/%s/photo" % FINANCE, data=data, headers=JPEG)
    assert resp.status_code == 200, resp.text


def test_security_group_photos_refuse_is_the_default(api):
    """refuse (assumption): a security group's photo reads like no photo, even when one is stored, and writes are a 400
    that change nothing; the group object itself still reads."""
    stored = _jpeg(color=(50, 50, 200))
    _seed_finance_photo(api, stored)
    token = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    for suffix in ("/photo", "/photo/$value", "/photos", "/photos/200x200", "/photos/200x200/$value"):
        _error(api.graph("GET", "/groups/%s%s" % (FINANCE, suffix), token), 404, "ImageNotFound")
    for method in ("PUT", "PATCH", "DELETE"):
        error = _error(api.graph(method, "/groups/%s/photo/$value" % FINANCE, token, data=_jpeg(), headers=JPEG), 400, "BadRequest")
        assert FINANCE in error["message"]
    assert _photo_sha(api, FINANCE) == hashlib.sha256(stored).hexdigest()
    assert api.graph("GET", "/groups/" + FINANCE, _reader(api)).json()["securityEnabled"] is True


def test_security_group_photos_allow_serves_them(api):
    stored = _jpeg(color=(50, 50, 200))
    _seed_finance_photo(api, stored)
    api.behave(security_group_photos="allow")
    token = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    assert api.graph("GET", "/groups/%s/photo/$value" % FINANCE, token).content == stored
    assert api.graph("GET", "/groups/%s/photo" % FINANCE, token).json()["width"] == 200
    upload = _jpeg((64, 64))
    assert api.graph("PUT", "/groups/%s/photo/$value" % FINANCE, token, data=upload, headers=JPEG).status_code == 200
    assert _photo_sha(api, FINANCE) == hashlib.sha256(upload).hexdigest()
    assert api.graph("DELETE", "/groups/%s/photo/$value" % FINANCE, token).status_code == 200
    assert _group(api, FINANCE)["has_photo"] is False


def test_reencode_applies_to_group_photos(api):
    """reencode: the stored group photo is Graph's re-encoding (other bytes, same size); the oracle still names the upload."""
    api.behave(reencode=True)
    token = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    upload = _jpeg((180, 180), quality=98)
    assert api.graph("PUT", "/groups/%s/photo/$value" % MARKETING, token, data=upload, headers=JPEG).status_code == 200
    stored = api.graph("GET", "/groups/%s/photo/$value" % MARKETING, token).content
    assert stored != upload and Image.open(io.BytesIO(stored)).size == (180, 180)
    photo = _group(api, MARKETING)["photo"]
    assert photo["uploaded_sha256"] == hashlib.sha256(upload).hexdigest() != photo["sha256"]
    assert photo["sha256"] == hashlib.sha256(stored).hexdigest()


def test_propagation_delay_applies_to_group_photos(api):
    """After a group photo write, readers see the previous state until propagation_delay_s has passed."""
    api.behave(propagation_delay_s=0.5)
    token = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    path = "/groups/%s/photo" % MARKETING
    assert api.graph("PUT", path + "/$value", token, data=_jpeg(), headers=JPEG).status_code == 200
    assert _group(api, MARKETING)["has_photo"] is True  # the truth changed at once
    _error(api.graph("GET", path, token), 404, "ImageNotFound")
    time.sleep(0.55)
    assert api.graph("GET", path, token).json()["width"] == 200


# --------------------------------------------------------------------------- the control API

@pytest.mark.parametrize("spec, words", [
    ({}, "displayName"),
    ({"displayName": "  "}, "displayName"),
    ({"displayName": "X", "mailNickname": "a b"}, "mailNickname"),
    ({"displayName": "X", "mailNickname": "a@b"}, "mailNickname"),
    ({"displayName": "X", "mailNickname": ""}, "mailNickname"),
    ({"displayName": "X", "groupTypes": "Unified"}, "groupTypes"),
    ({"displayName": "X", "resourceProvisioningOptions": [1]}, "resourceProvisioningOptions"),
    ({"displayName": "X", "groupTypes": [], "team": True}, "Team"),
    ({"displayName": "X", "team": "yes"}, "team"),
    ({"displayName": "X", "mailEnabled": "yes"}, "mailEnabled"),
    ({"displayName": "X", "securityEnabled": 1}, "securityEnabled"),
    ({"displayName": "X", "mail": "nope"}, "mail"),
    ({"displayName": "X", "id": 5}, "id"),
    ({"displayName": "X", "photo_b64": "!!not base64!!"}, "base64"),
    ({"displayName": "X", "photo_b64": base64.b64encode(b"not an image").decode()}, "not an image"),
    ({"displayName": "X", "photo_etag": "ABCD0123"}, "photo_b64"),
    ("not an object", "displayName"),
])
def test_control_add_group_validation(api, spec, words):
    """A bad group spec is a 400 naming what is wrong; with one bad spec in the list nothing at all is added."""
    resp = api.control("POST", "/groups", json={"groups": [{"displayName": "Good One"}, spec]})
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]
    assert len(api.control("GET", "/groups").json()["groups"]) == 4


@pytest.mark.parametrize("body", [{"groups": {}}, {"group": []}, [], "x"])
def test_control_add_groups_needs_a_list(api, body):
    assert api.control("POST", "/groups", json=body).status_code == 400
    assert api.control("POST", "/groups", data=b"{not json").status_code == 400


def test_control_add_groups(api):
    """A Team with a photo, and a security group: the defaults follow the group type; Graph serves them at once."""
    photo = _jpeg((96, 96))
    team, security = _add_groups(api, {"displayName": "Design Team", "team": True, "photo_b64": base64.b64encode(photo).decode()},
                                 {"displayName": "Auditors", "groupTypes": []})
    assert (team["mail"], team["mailNickname"], team["groupTypes"], team["resourceProvisioningOptions"], team["team"],
            team["mailEnabled"], team["securityEnabled"], team["has_photo"]) == (
        "DesignTeam@contoso.onmicrosoft.com", "DesignTeam", ["Unified"], ["Team"], True, True, False, True)
    assert team["photo"]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (security["mail"], security["mailEnabled"], security["securityEnabled"], security["team"]) == (None, False, True, False)
    reader = _reader(api)
    assert _ids(api.graph("GET", "/groups", reader, params={"$filter": "mailNickname eq 'designteam'"})) == [team["id"]]
    assert api.graph("GET", "/teams/%s/photo/$value" % team["id"], api.mint(roles=["TeamSettings.Read.All"])).content == photo
    # Adding a group with the same mail again replaces it and keeps its id.
    again, = _add_groups(api, {"displayName": "Design Team (renamed)", "mail": "designteam@contoso.onmicrosoft.com"})
    assert again["id"] == team["id"] and again["displayName"] == "Design Team (renamed)"
    assert len(api.control("GET", "/groups").json()["groups"]) == 6
    chosen, = _add_groups(api, {"displayName": "Fixed", "id": "9b000000-0000-4000-8000-000000000001"})
    assert api.graph("GET", "/groups/9b000000-0000-4000-8000-000000000001", reader).json()["displayName"] == chosen["displayName"]


def test_control_generate_groups(api):
    """generate: team_ratio and photo_ratio of the groups, evenly spread; ids are deterministic."""
    resp = api.control("POST", "/groups/generate", json={"count": 10, "team_ratio": 0.5, "photo_ratio": 0.3, "photo_size": 64})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"created": 10, "teams": 5, "with_photo": 3, "first": "group00001@contoso.onmicrosoft.com",
                           "last": "group00010@contoso.onmicrosoft.com"}
    groups = [group for group in api.control("GET", "/groups").json()["groups"] if group["mailNickname"].startswith("group")]
    assert len(groups) == 10 and all(group["groupTypes"] == ["Unified"] for group in groups)
    assert {group["photo"]["width"] for group in groups if group["has_photo"]} == {64}
    teams = api.graph("GET", "/groups", _reader(api), params={"$filter": "resourceProvisioningOptions/any(x:x eq 'Team')"})
    assert len(_ids(teams)) == 7
    ids = sorted(group["id"] for group in groups)
    assert api.control("POST", "/groups/generate", json={"count": 10, "team_ratio": 0.5}).json()["created"] == 10
    again = [group for group in api.control("GET", "/groups").json()["groups"] if group["mailNickname"].startswith("group")]
    assert sorted(group["id"] for group in again) == ids
    named = api.control("POST", "/groups/generate", json={"count": 2, "prefix": "crew"}).json()
    assert (named["first"], named["teams"], named["with_photo"]) == ("crew00001@contoso.onmicrosoft.com", 0, 0)


@pytest.mark.parametrize("body", [{}, {"count": 0}, {"count": "3"}, {"count": 3, "team_ratio": 1.5}, {"count": 3, "photo_ratio": "x"},
                                  {"count": 3, "prefix": ""}, {"count": 3, "photo_size": 0}, {"count": 3, "team_ratio": True}])
def test_control_generate_groups_validation(api, body):
    resp = api.control("POST", "/groups/generate", json=body)
    assert resp.status_code == 400 and resp.json()["error"]
    assert len(api.control("GET", "/groups").json()["groups"]) == 4


def test_control_get_group_by_id_mail_or_unique_nickname(api):
    for key in (SALES, SALES.upper(), SALES_MAIL, "Sales@Contoso.onmicrosoft.com", "sales", "SALES"):
        assert _group(api, key)["id"] == SALES, key
    assert _group(api, "finance-approvers")["id"] == FINANCE  # a security group has no mail: its nickname finds it
    twin, = _add_groups(api, {"displayName": "Sales EU", "mailNickname": "sales", "mail": "sales@eu.contoso.com"})
    assert _group(api, "sales") is None  # two groups share the nickname: it no longer names one
    missing = api.control("GET", "/groups/sales")
    assert missing.status_code == 404 and "sales" in missing.json()["error"]
    assert _group(api, SALES_MAIL)["id"] == SALES and _group(api, "sales@eu.contoso.com")["id"] == twin["id"]
    assert _group(api, "nobody") is None


def test_control_delete_group(api):
    reader = _reader(api)
    assert api.control("DELETE", "/groups/" + SALES_MAIL).json() == {"deleted": True}
    _error(api.graph("GET", "/groups/" + SALES, reader), 404, "Request_ResourceNotFound")
    _error(api.graph("GET", "/groups/%s/photo" % SALES, api.mint(roles=["ProfilePhoto.Read.All"])), 404, "Request_ResourceNotFound")
    assert _group(api, SALES) is None
    assert api.control("DELETE", "/groups/" + SALES).status_code == 404
    assert api.control("DELETE", "/groups/phoenix").status_code == 200  # by its unique mailNickname
    assert api.control("DELETE", "/groups/" + MARKETING).status_code == 200  # by id
    assert _ids(api.graph("GET", "/groups", reader)) == [FINANCE]


def test_control_group_photo_put_and_delete(api):
    """The oracle writes exactly the bytes, at once (no propagation delay, no re-encoding)."""
    api.behave(propagation_delay_s=30, reencode=True)
    upload = _jpeg((150, 150))
    resp = api.control("PUT", "/groups/%s/photo" % PHOENIX, data=upload, headers=JPEG)
    assert resp.status_code == 200 and resp.json()["photo"]["sha256"] == hashlib.sha256(upload).hexdigest()
    token = api.mint(roles=["ProfilePhoto.Read.All"])
    assert api.graph("GET", "/groups/%s/photo/$value" % PHOENIX, token).content == upload
    bad = api.control("PUT", "/groups/%s/photo" % PHOENIX, data=b"not an image", headers=JPEG)
    assert bad.status_code == 400 and "not an image" in bad.json()["error"]
    assert api.control("PUT", "/groups/nobody/photo", data=upload, headers=JPEG).status_code == 404
    assert api.control("DELETE", "/groups/phoenix/photo").json()["has_photo"] is False
    _error(api.graph("GET", "/groups/%s/photo" % PHOENIX, token), 404, "ImageNotFound")
    assert api.control("DELETE", "/groups/nobody/photo").status_code == 404
    assert api.control("POST", "/groups/%s/photo" % PHOENIX).status_code == 405


# --------------------------------------------------------------------------- the request log and $batch

def test_request_log_names_the_group(api):
    """Group and Team calls carry the group's id under "group" and None under "user"; listings and unknown groups name none."""
    token = api.mint(roles=["Group.ReadWrite.All", "TeamSettings.Read.All"])
    upload = _jpeg()
    api.graph("GET", "/groups", token)
    api.graph("GET", "/groups/" + SALES, token)
    api.graph("PUT", "/groups/%s/photo/$value" % MARKETING, token, data=upload, headers=JPEG)
    api.graph("GET", "/teams/%s/photo" % SALES, token)
    api.graph("GET", "/groups/9a000000-0000-4000-8000-0000000000ff/photo", token)
    api.graph("GET", "/users/%s/photo" % ALEX, api.mint(roles=["ProfilePhoto.Read.All"]))
    entries = [entry for entry in api.log() if entry["api"] == "graph"]
    assert [(entry["status"], entry["group"], entry["user"]) for entry in entries] == [
        (200, None, None), (200, SALES, None), (200, MARKETING, None), (200, SALES, None), (404, None, None),
        (200, None, "a1e80000-0000-4000-8000-000000000002")]
    assert entries[2]["body_sha256"] == hashlib.sha256(upload).hexdigest() and entries[2]["method"] == "PUT"
    assert all(entry["tenant"] == "00000000-0000-4000-8000-00000000c0de" for entry in entries)


def test_batch_items_on_groups(api):
    """$batch items reach /groups listings, group objects and group photos through the same pipeline, permissions too."""
    token = api.mint(roles=["Group.ReadWrite.All"])
    upload = _jpeg((100, 100))
    resp = api.graph("POST", "/$batch", token, json={"requests": [
        {"id": "list", "method": "GET", "url": "/groups?$filter=mail eq '%s'&$select=id,mail" % SALES_MAIL},
        {"id": "object", "method": "GET", "url": "groups/" + PHOENIX},
        {"id": "value", "method": "GET", "url": "/groups/%s/photo/$value" % SALES},
        {"id": "put", "method": "PUT", "url": "/groups/%s/photo/$value" % MARKETING, "headers": JPEG, "body": base64.b64encode(upload).decode()},
        {"id": "by-mail", "method": "GET", "url": "/groups/%s/photo" % SALES_MAIL},
        {"id": "bad-filter", "method": "GET", "url": "/groups?$filter=mail ne 'x'"},
        {"id": "delete", "method": "DELETE", "url": "/groups/%s/photo/$value" % SALES, "dependsOn": ["value"]},
    ]})
    assert resp.status_code == 200, resp.text
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["list"]["status"] == 200 and items["list"]["body"]["value"] == [{"id": SALES, "mail": SALES_MAIL}]
    assert items["object"]["body"]["displayName"] == "Project Phoenix"
    assert items["value"]["status"] == 200 and Image.open(io.BytesIO(base64.b64decode(items["value"]["body"]))).size == (240, 240)
    assert items["put"]["status"] == 200 and _photo_sha(api, MARKETING) == hashlib.sha256(upload).hexdigest()
    assert (items["by-mail"]["status"], items["by-mail"]["body"]["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert (items["bad-filter"]["status"], items["bad-filter"]["body"]["error"]["code"]) == (400, "BadRequest")
    assert items["delete"]["status"] == 200 and _group(api, SALES)["has_photo"] is False
    inner = [entry for entry in api.log() if entry["batch"]]
    assert [entry["group"] for entry in inner] == [None, PHOENIX, SALES, MARKETING, None, None, SALES]
    assert all(entry["user"] is None for entry in inner)
    photo_only = api.mint(roles=["ProfilePhoto.ReadWrite.All"])
    refused = api.graph("POST", "/$batch", photo_only, json={"requests": [{"id": "1", "method": "GET", "url": "/groups"}]}).json()
    assert refused["responses"][0]["status"] == 403 and refused["responses"][0]["body"]["error"]["code"] == "Authorization_RequestDenied"


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_filter_is_refused_not_read_as_every_group(api, empty):
    """A filter that came out empty (an unset variable, say) must not list the whole directory for a client to act on."""
    reader = api.mint(roles=["Group.Read.All"])
    resp = api.graph("GET", "/groups", reader, params={"$filter": empty})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "BadRequest"
    assert "empty" in resp.json()["error"]["message"]
