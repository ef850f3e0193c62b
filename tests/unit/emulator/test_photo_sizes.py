# SPDX-License-Identifier: GPL-3.0-or-later
"""Photos prepared the way people see them (issue 22): reencode_orientation (whether the re-encode applies EXIF
orientation: unconfirmed, "ignore" everywhere) and min_photo_side (the undocumented minimum; 24 px in production, the
smallest value consistent with a refused 23x23, microsoft-graph-docs#17475)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from emulator.behaviours import DEFAULT_BEHAVIOURS, profile_behaviours

ALEX = "alex.wilber@contoso.onmicrosoft.com"
SALES = "9a000000-0000-4000-8000-000000000001"  # Unified, Team
MARKETING = "9a000000-0000-4000-8000-000000000003"  # Unified, not a Team
JPEG = {"Content-Type": "image/jpeg"}
OUTLOOK_SCOPE = "https://outlook.office.com/.default"
ORIENTATION = 0x0112


def _jpeg(size, orientation=None, color=(200, 60, 20)):
    """A JPEG of size pixels; with orientation, an EXIF Orientation tag (6: the camera was turned, show it rotated)."""
    img = Image.new("RGB", size, color)
    img.paste((20, 60, 200), (0, 0, size[0] // 2, size[1] // 3))  # not symmetric, so a rotation shows
    out = io.BytesIO()
    if orientation is None:
        img.save(out, "JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _error(resp, status, code, message=None):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    return error


def _put(api, token, data, path="/users/%s/photo/$value" % ALEX, method="PUT"):
    return api.graph(method, path, token, data=data, headers=JPEG)


def _stored(api, token):
    resp = api.graph("GET", "/users/%s/photo/$value" % ALEX, token)
    assert resp.status_code == 200, resp.text
    return resp.content


def _group_photo(api, group_id):
    return api.control("GET", "/groups/" + group_id).json()["photo"]


def _group_writer(api):
    return api.mint(roles=["ProfilePhoto.ReadWrite.All", "TeamSettings.ReadWrite.All"])


# --------------------------------------------------------------------------- the values in each profile

def test_defaults_and_the_production_values():
    assert DEFAULT_BEHAVIOURS["reencode_orientation"] == "ignore" and DEFAULT_BEHAVIOURS["min_photo_side"] is None
    production = profile_behaviours("production")
    assert production["reencode_orientation"] == "ignore"  # unconfirmed: no profile applies orientation
    assert production["min_photo_side"] == 24
    assert profile_behaviours("ideal")["min_photo_side"] is None


@pytest.mark.parametrize("patch", [{"reencode_orientation": "upright"}, {"reencode_orientation": True},
                                   {"reencode_orientation": None}, {"reencode_orientation": 6},
                                   {"min_photo_side": 0}, {"min_photo_side": 10001}, {"min_photo_side": -3},
                                   {"min_photo_side": True}, {"min_photo_side": 24.0}, {"min_photo_side": "24"}])
def test_bad_values_are_refused(api, patch):
    resp = api.control("PUT", "/behaviours", json=patch)
    assert resp.status_code == 400, resp.text
    assert next(iter(patch)) in resp.text
    assert api.control("GET", "/behaviours").json()[next(iter(patch))] == DEFAULT_BEHAVIOURS[next(iter(patch))]


def test_good_values_are_taken(api):
    assert api.behave(reencode_orientation="apply", min_photo_side=10000)["min_photo_side"] == 10000
    assert api.behave(min_photo_side=1)["min_photo_side"] == 1
    back = api.behave(reencode_orientation="ignore", min_photo_side=None)
    assert (back["reencode_orientation"], back["min_photo_side"]) == ("ignore", None)


# --------------------------------------------------------------------------- reencode_orientation

def test_ignore_stores_an_orientation_6_photo_sideways_without_exif(api, rw_token):
    api.behave(reencode=True, reencode_orientation="ignore")
    assert _put(api, rw_token, _jpeg((480, 320), orientation=6)).status_code == 200
    meta = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    assert (meta["width"], meta["height"]) == (480, 320)
    with Image.open(io.BytesIO(_stored(api, rw_token))) as stored:
        assert stored.size == (480, 320)
        assert ORIENTATION not in stored.getexif() and "exif" not in stored.info
    assert (api.oracle(ALEX)["photo"]["width"], api.oracle(ALEX)["photo"]["height"]) == (480, 320)


def test_apply_stores_an_orientation_6_photo_upright(api, rw_token):
    api.behave(reencode=True, reencode_orientation="apply")
    upload = _jpeg((480, 320), orientation=6)
    assert _put(api, rw_token, upload).status_code == 200
    meta = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    assert (meta["width"], meta["height"], meta["id"]) == (320, 480, "320x480")
    with Image.open(io.BytesIO(_stored(api, rw_token))) as stored, Image.open(io.BytesIO(upload)) as sent:
        assert stored.size == (320, 480) and ORIENTATION not in stored.getexif()
        # Orientation 6 means "rotate 90 degrees clockwise to view": the blue block at the top left goes top right.
        assert stored.convert("RGB").getpixel((300, 20))[2] > 150 and stored.convert("RGB").getpixel((20, 20))[0] > 150
        assert sent.convert("RGB").getpixel((20, 20))[2] > 150


@pytest.mark.parametrize("orientation", ["ignore", "apply"])
def test_orientation_1_is_unchanged_either_way(api, rw_token, orientation):
    api.behave(reencode=True, reencode_orientation=orientation)
    assert _put(api, rw_token, _jpeg((480, 320), orientation=1)).status_code == 200
    with Image.open(io.BytesIO(_stored(api, rw_token))) as stored:
        assert stored.size == (480, 320) and ORIENTATION not in stored.getexif()


@pytest.mark.parametrize("orientation", ["ignore", "apply"])
def test_without_reencode_the_bytes_are_stored_as_sent_exif_kept(api, rw_token, orientation):
    api.behave(reencode=False, reencode_orientation=orientation)
    upload = _jpeg((480, 320), orientation=6)
    assert _put(api, rw_token, upload).status_code == 200
    stored = _stored(api, rw_token)
    assert stored == upload
    with Image.open(io.BytesIO(stored)) as img:
        assert img.getexif()[ORIENTATION] == 6
    meta = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    assert (meta["width"], meta["height"]) == (480, 320)  # the pixel array's


# --------------------------------------------------------------------------- min_photo_side

def test_production_refuses_23x23_as_too_narrow(api, rw_token):
    api.behave(profile="production")
    before = api.oracle(ALEX)["photo"]["sha256"]
    _error(_put(api, rw_token, _jpeg((23, 23))), 400, "ValidationWidthTooSmall",
           "The photo is 23x23 pixels; the smallest accepted is 24 pixels wide.")
    assert api.oracle(ALEX)["photo"]["sha256"] == before  # nothing stored


def test_production_refuses_30x23_as_too_short_and_checks_width_first(api, rw_token):
    api.behave(profile="production")
    _error(_put(api, rw_token, _jpeg((30, 23))), 400, "ValidationHeightTooSmall",
           "The photo is 30x23 pixels; the smallest accepted is 24 pixels high.")
    _error(_put(api, rw_token, _jpeg((10, 5))), 400, "ValidationWidthTooSmall")


def test_production_accepts_24x24_by_put_and_patch(api, rw_token):
    api.behave(profile="production")
    for method in ("PUT", "PATCH"):
        assert _put(api, rw_token, _jpeg((24, 24)), method=method).status_code == 200
        photo = api.oracle(ALEX)["photo"]
        assert (photo["width"], photo["height"]) == (24, 24)


def test_the_size_checked_is_the_upload_before_orientation(api, rw_token):
    """A 480x20 pixel array with Orientation 6 is 20 px high as uploaded, whatever it would be upright."""
    api.behave(reencode=True, reencode_orientation="apply", min_photo_side=24)
    _error(_put(api, rw_token, _jpeg((480, 20), orientation=6)), 400, "ValidationHeightTooSmall")


def test_off_accepts_1x1(api, rw_token):
    api.behave(profile="production", min_photo_side=None)
    assert _put(api, rw_token, _jpeg((1, 1))).status_code == 200
    photo = api.oracle(ALEX)["photo"]
    assert (photo["width"], photo["height"]) == (1, 1)


def test_the_control_api_stores_a_1x1_regardless(api):
    api.behave(profile="production")
    tiny = _jpeg((1, 1))
    resp = api.control("PUT", "/users/%s/photo" % ALEX, data=tiny, headers=JPEG)
    assert resp.status_code == 200, resp.text
    assert api.oracle(ALEX)["photo"]["width"] == 1
    resp = api.control("PUT", "/groups/%s/photo" % MARKETING, data=tiny, headers=JPEG)
    assert resp.status_code == 200, resp.text
    assert _group_photo(api, MARKETING)["width"] == 1


def test_outlook_v2_writes_are_checked(api):
    api.behave(profile="production")
    token = api.token(scope=OUTLOOK_SCOPE)
    path = "/Users('%s')/photo/$value" % ALEX
    _error(api.outlook("PUT", path, token, data=_jpeg((23, 40)), headers=JPEG), 400, "ValidationWidthTooSmall")
    assert api.outlook("PATCH", path, token, data=_jpeg((24, 40)), headers=JPEG).status_code == 200


@pytest.mark.parametrize("path", ["/groups/%s/photo/$value" % MARKETING, "/teams/%s/photo/$value" % SALES])
def test_group_and_team_writes_are_checked(api, path):
    api.behave(profile="production")
    token = _group_writer(api)
    group_id = MARKETING if path.startswith("/groups") else SALES
    before = _group_photo(api, group_id)
    _error(_put(api, token, _jpeg((23, 23)), path), 400, "ValidationWidthTooSmall")
    _error(_put(api, token, _jpeg((64, 12)), path, method="PATCH"), 400, "ValidationHeightTooSmall",
           "The photo is 64x12 pixels; the smallest accepted is 24 pixels high.")
    assert _group_photo(api, group_id) == before
    assert _put(api, token, _jpeg((24, 24)), path).status_code == 200
    assert (_group_photo(api, group_id)["width"], _group_photo(api, group_id)["height"]) == (24, 24)


def test_batch_items_are_checked(api, rw_token):
    api.behave(profile="production")

    def item(item_id, size):
        return {"id": item_id, "method": "PUT", "url": "/users/%s/photo/$value" % ALEX, "headers": JPEG,
                "body": base64.b64encode(_jpeg(size)).decode("ascii")}

    resp = api.graph("POST", "/$batch", rw_token, json={"requests": [item("small", (23, 23)), item("ok", (48, 48))]})
    assert resp.status_code == 200, resp.text
    answers = {entry["id"]: entry for entry in resp.json()["responses"]}
    assert answers["small"]["status"] == 400 and answers["small"]["body"]["error"]["code"] == "ValidationWidthTooSmall"
    assert answers["ok"]["status"] == 200
