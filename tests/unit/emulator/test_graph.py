# SPDX-License-Identifier: GPL-3.0-or-later
"""Graph v1.0 side of the emulator: photo round trip, errors, permissions, tricky user keys, sizes, /users paging."""

from __future__ import annotations

import hashlib
import io
import re
from urllib.parse import quote

import pytest
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ALEX_ID = "a1e80000-0000-4000-8000-000000000002"
RO_CLIENT = "22222222-2222-4222-8222-222222222222"
RO_SECRET = "emulator-readonly-secret"


def _jpeg(size=(300, 200), color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _png(size=(64, 64)):
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 90, 200, 128)).save(out, format="PNG")
    return out.getvalue()


def _graph_error(resp, status, code):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert resp.headers["request-id"] == error["innerError"]["request-id"]
    return error


def test_photo_round_trip_and_request_log(api, rw_token):
    path = "/users/%s/photo" % ADELE
    _graph_error(api.graph("GET", path, rw_token), 404, "ImageNotFound")
    _graph_error(api.graph("GET", path + "/$value", rw_token), 404, "ImageNotFound")
    upload = _jpeg()
    resp = api.graph("PUT", path + "/$value", rw_token, data=upload, headers={"Content-Type": "image/jpeg", "client-request-id": "c-r-1"})
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["client-request-id"] == "c-r-1" and resp.headers["request-id"]
    meta = api.graph("GET", path, rw_token).json()
    assert meta["@odata.context"].endswith("/v1.0/$metadata#users('ade1e000-0000-4000-8000-000000000001')/photo/$entity")
    # <object id>@<tenant id>, as in the docs' example (the emulator's tenant is 00000000-0000-4000-8000-00000000c0de).
    assert meta["@odata.id"] == ("%s/v1.0/users('ade1e000-0000-4000-8000-000000000001@00000000-0000-4000-8000-00000000c0de')"
                                 "/photo" % api.origin)
    assert (meta["id"], meta["width"], meta["height"], meta["@odata.mediaContentType"]) == ("300x200", 300, 200, "image/jpeg")
    assert re.fullmatch(r'"[0-9A-F]{8}"', meta["@odata.mediaEtag"])
    value = api.graph("GET", path + "/$value", rw_token)
    assert value.content == upload and value.headers["Content-Type"] == "image/jpeg"
    assert api.graph("DELETE", path + "/$value", rw_token).status_code == 200
    _graph_error(api.graph("GET", path, rw_token), 404, "ImageNotFound")
    _graph_error(api.graph("DELETE", path + "/$value", rw_token), 404, "ImageNotFound")

    graph_log = [entry for entry in api.log() if entry["api"] == "graph"]
    assert [(entry["method"], entry["status"]) for entry in graph_log] == [
        ("GET", 404), ("GET", 404), ("PUT", 200), ("GET", 200), ("GET", 200), ("DELETE", 200), ("GET", 404), ("DELETE", 404)]
    put = graph_log[2]
    assert put["body_sha256"] == hashlib.sha256(upload).hexdigest() and put["body_size"] == len(upload)
    assert (put["user"], put["client_id"], put["token_kind"], put["content_type"]) == (
        "ade1e000-0000-4000-8000-000000000001", "11111111-1111-4111-8111-111111111111", "app", "image/jpeg")
    assert put["path"] == "/v1.0/users/%s/photo/$value" % ADELE and put["batch"] is False
    assert graph_log[0]["body_sha256"] is None


def test_etag_changes_with_the_bytes(api, rw_token):
    path = "/users/%s/photo" % ADELE
    etags = []
    for color in ((1, 2, 3), (250, 250, 250)):
        api.graph("PUT", path + "/$value", rw_token, data=_jpeg(color=color), headers={"Content-Type": "image/jpeg"})
        etags.append(api.graph("GET", path, rw_token).json()["@odata.mediaEtag"])
    assert etags[0] != etags[1]


def test_png_upload_is_stored_as_png(api, rw_token):
    # png=reject is the default (issue 10); this test is about the png=accept alternative.
    api.behave(png="accept")
    path = "/users/%s/photo" % ADELE
    assert api.graph("PATCH", path + "/$value", rw_token, data=_png(), headers={"Content-Type": "image/png"}).status_code == 200
    assert api.graph("GET", path, rw_token).json()["@odata.mediaContentType"] == "image/png"


@pytest.mark.parametrize("headers, message", [
    ({}, "Access token is empty."),
    ({"Authorization": "Bearer "}, "Access token is empty."),
    ({"Authorization": "Bearer not-a-token"}, "IDX14100: JWT is not well formed, there are no dots (.)."),
])
def test_401_bodies(api, headers, message):
    resp = api.graph("GET", "/users/%s/photo" % ALEX, headers=headers)
    error = _graph_error(resp, 401, "InvalidAuthenticationToken")
    assert error["message"].startswith(message)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")


def test_expired_token_then_a_fresh_one_works(api, rw_token):
    assert api.control("POST", "/tokens/expire").json()["expired"] >= 1
    error = _graph_error(api.graph("GET", "/users/%s/photo" % ALEX, rw_token), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Lifetime validation failed, the token is expired."
    assert api.graph("GET", "/users/%s/photo" % ALEX, api.token()).status_code == 200


@pytest.mark.parametrize("resource", [
    # The token endpoint now refuses another cloud's Graph (AADSTS500011, test_entra.py), so the control API mints it.
    "https://graph.microsoft.us",
    "https://outlook.office.com",  # an Outlook token is valid, but not for Graph
])
def test_token_of_another_resource_is_invalid_audience(api, resource):
    token = api.mint(resource=resource)
    error = _graph_error(api.graph("GET", "/users/%s/photo" % ALEX, token), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Invalid audience."
    assert api.graph("GET", "/users/%s/photo" % ALEX, api.mint()).status_code == 200  # a Graph token still works


def test_read_only_app_cannot_write(api):
    token = api.token(RO_CLIENT, RO_SECRET)
    assert api.graph("GET", "/users/%s/photo" % ALEX, token).status_code == 200
    for method in ("PUT", "PATCH", "DELETE"):
        error = _graph_error(api.graph(method, "/users/%s/photo/$value" % ALEX, token, data=_jpeg(), headers={"Content-Type": "image/jpeg"}),
                             403, "ErrorAccessDenied")
        assert error["message"] == "Access is denied. Check credentials and try again."


def test_app_without_photo_roles_cannot_read(api):
    token = api.mint(roles=["Mail.Read"])
    _graph_error(api.graph("GET", "/users/%s/photo" % ALEX, token), 403, "ErrorAccessDenied")


def test_me_needs_a_delegated_token(api, rw_token):
    error = _graph_error(api.graph("GET", "/me/photo", rw_token), 400, "BadRequest")
    assert error["message"] == "/me request is only valid with delegated authentication flow."
    own = api.mint(user=ALEX, scopes=["User.Read"])
    meta = api.graph("GET", "/me/photo", own)
    assert meta.status_code == 200 and meta.json()["id"] == "240x240"
    assert api.log()[-1]["token_kind"] == "delegated" and api.log()[-1]["user"] == ALEX_ID
    _graph_error(api.graph("GET", "/users/%s/photo" % ADELE, own), 403, "ErrorAccessDenied")  # User.Read covers only oneself
    _graph_error(api.graph("PUT", "/me/photo/$value", own, data=_jpeg(), headers={"Content-Type": "image/jpeg"}), 403, "ErrorAccessDenied")
    writer = api.mint(user=ALEX, scopes=["User.ReadWrite"])
    assert api.graph("PUT", "/me/photo/$value", writer, data=_jpeg(), headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert api.oracle(ALEX)["photo"]["width"] == 300


@pytest.mark.parametrize("upn", [
    "john_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    "o'brien@contoso.onmicrosoft.com",
    "zo\u00eb.m\u00fcller@contoso.onmicrosoft.com",
    "a+b%c/d?e@contoso.onmicrosoft.com",
])
def test_tricky_upns_travel_as_one_segment(api, rw_token, upn):
    encoded = quote(upn, safe="@+")
    put = api.graph("PUT", "/users/%s/photo/$value" % encoded, rw_token, data=_jpeg(), headers={"Content-Type": "image/jpeg"})
    assert put.status_code == 200, put.text
    assert api.graph("GET", "/users/%s/photo" % quote(upn.upper(), safe="@"), rw_token).status_code == 200  # case-insensitive
    assert api.oracle(upn)["has_photo"] is True
    assert api.log()[-2]["path"] == "/v1.0/users/%s/photo/$value" % encoded  # the raw, still-encoded path


def test_unencoded_characters_break_the_key_as_on_the_real_service(api, rw_token):
    reader = api.mint(roles=["User.Read.All"])
    # An unencoded '#' starts a fragment: the request becomes /users/john_fabrikam.com (pnp/pnpjs#2238).
    error = _graph_error(api.graph("GET", "/users/john_fabrikam.com#EXT#@contoso.onmicrosoft.com/photo", reader), 404, "Request_ResourceNotFound")
    assert error["message"] == ("Resource 'john_fabrikam.com' does not exist or one of its queried reference-property "
                                "objects are not present.")
    # An unencoded '/' splits the key: 'd' is then an unknown segment.
    error = _graph_error(api.graph("GET", "/users/a+b%25c/d%3Fe@contoso.onmicrosoft.com/photo", rw_token), 400, "BadRequest")
    assert error["message"] == "Resource not found for the segment 'd?e@contoso.onmicrosoft.com'."


def test_photos_sizes_and_resized_value(api, rw_token):
    listing = api.graph("GET", "/users/%s/photos" % ALEX, rw_token).json()
    assert [entry["id"] for entry in listing["value"]] == ["48x48", "64x64", "96x96", "120x120", "240x240"]
    meta = api.graph("GET", "/users/%s/photos/96x96" % ALEX, rw_token).json()
    assert (meta["width"], meta["height"], meta["id"]) == (96, 96, "96x96")
    value = api.graph("GET", "/users/%s/photos/96x96/$value" % ALEX, rw_token)
    assert value.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(value.content)).size == (96, 96)
    _graph_error(api.graph("GET", "/users/%s/photos/360x360" % ALEX, rw_token), 404, "ImageNotFound")
    api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=_jpeg((300, 200)), headers={"Content-Type": "image/jpeg"})
    listing = api.graph("GET", "/users/%s/photos" % ADELE, rw_token).json()
    assert [entry["id"] for entry in listing["value"]] == ["48x48", "64x64", "96x96", "120x120", "300x200"]


def test_write_validation(api, rw_token):
    path = "/users/%s/photo/$value" % ADELE
    # application/octet-stream is taken since issue 10 (test_content_types.py); a label that is no image type is not.
    error = _graph_error(api.graph("PUT", path, rw_token, data=_jpeg(), headers={"Content-Type": "text/plain"}), 400, "BadRequest")
    assert "image/jpeg" in error["message"] and "'text/plain'" in error["message"]
    _graph_error(api.graph("PUT", path, rw_token, data=b"not an image", headers={"Content-Type": "image/jpeg"}), 400, "ImageProcessingFailed")
    _graph_error(api.graph("PUT", path, rw_token, data=_jpeg()[:200], headers={"Content-Type": "image/jpeg"}), 400, "ImageProcessingFailed")
    limit = 4 * 1024 * 1024
    _graph_error(api.graph("PUT", path, rw_token, data=b"\xff" * (limit + 1), headers={"Content-Type": "image/jpeg"}), 413, "RequestEntityTooLarge")
    _graph_error(api.graph("PUT", path, rw_token, data=b"\xff" * limit, headers={"Content-Type": "image/jpeg"}), 400, "ImageProcessingFailed")
    _graph_error(api.graph("POST", path, rw_token, data=_jpeg(), headers={"Content-Type": "image/jpeg"}), 405, "BadRequest")
    assert api.oracle(ADELE)["has_photo"] is False


def test_users_listing_pages_with_skiptoken(api):
    assert api.control("POST", "/users/generate", json={"count": 250, "prefix": "pager"}).json()["created"] == 250
    token = api.mint(roles=["User.Read.All"])
    url, seen, pages = api.origin + "/v1.0/users?$top=100&$select=id,userPrincipalName", [], 0
    while url:
        page = api.http.get(url, headers={"Authorization": "Bearer " + token}, timeout=10).json()
        assert all(set(user) == {"id", "userPrincipalName"} for user in page["value"])
        seen.extend(user["userPrincipalName"] for user in page["value"])
        url = page.get("@odata.nextLink")
        assert url is None or "$skiptoken=" in url
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 257
    assert seen == sorted(seen, key=str.lower)
    default = api.graph("GET", "/users", token).json()["value"]
    assert len(default) == 100 and {"id", "userPrincipalName", "displayName", "mail"} <= set(default[0])
    _graph_error(api.graph("GET", "/users?$top=1000", token), 400, "BadRequest")
    _graph_error(api.graph("GET", "/users?$select=nope", token), 400, "BadRequest")
    _graph_error(api.graph("GET", "/users", api.token()), 403, "Authorization_RequestDenied")  # photo roles cannot list users


def test_user_entity(api):
    token = api.mint(roles=["User.ReadBasic.All"])
    user = api.graph("GET", "/users/%s?$select=id,displayName" % quote(ALEX.upper()), token).json()
    assert (user["id"], user["displayName"]) == (ALEX_ID, "Alex Wilber")


def test_dollar_upn_only_as_odata_key(api, rw_token):
    created = api.control("POST", "/users", json={"users": [{"userPrincipalName": "$svc@contoso.onmicrosoft.com"}]})
    assert created.status_code == 200, created.text
    plain = api.graph("GET", "/users/%24svc%40contoso.onmicrosoft.com/photo", rw_token)
    _graph_error(plain, 400, "BadRequest")
    keyed = api.graph("GET", "/users('%24svc%40contoso.onmicrosoft.com')/photo", rw_token)
    _graph_error(keyed, 404, "ImageNotFound")
