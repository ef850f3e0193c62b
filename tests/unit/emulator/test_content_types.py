# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo writes: the content types Graph takes (image/jpeg, application/octet-stream), the bytes deciding what the
image is, and the `png` behaviour (reject, the documented contract, by default; accept as the alternative)."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

ADELE = "adele.vance@contoso.onmicrosoft.com"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
PATH = "/users/%s/photo/$value" % ADELE
PNG_REFUSED = "The photo must be a JPEG image (Content-Type: image/jpeg); PNG images are not accepted."


def _jpeg(size=(120, 80), color=(10, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _png(size=(90, 60)):
    out = io.BytesIO()
    Image.new("RGBA", size, (200, 40, 40, 128)).save(out, format="PNG")
    return out.getvalue()


def _put(api, token, data, content_type, method="PUT", path=PATH):
    return api.graph(method, path, token, data=data, headers={"Content-Type": content_type})


def _refused_as_png(resp):
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["message"]) == ("BadRequest", PNG_REFUSED)
    assert resp.headers["request-id"] == error["innerError"]["request-id"]


def test_png_defaults_to_reject_and_takes_only_its_two_values(api):
    assert api.control("GET", "/behaviours").json()["png"] == "reject"
    assert api.control("PUT", "/behaviours", json={"png": "maybe"}).status_code == 400
    assert api.control("PUT", "/behaviours", json={"png": True}).status_code == 400
    assert api.behave(png="accept")["png"] == "accept"
    api.control("POST", "/reset")
    assert api.control("GET", "/behaviours").json()["png"] == "reject"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/jpeg", "Image/JPEG; charset=binary"])
def test_jpeg_bytes_are_taken_with_either_content_type(api, rw_token, method, content_type):
    upload = _jpeg()
    assert _put(api, rw_token, upload, content_type, method).status_code == 200
    meta = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    assert (meta["@odata.mediaContentType"], meta["width"], meta["height"]) == ("image/jpeg", 120, 80)
    assert api.oracle(ADELE)["photo"]["sha256"] == hashlib.sha256(upload).hexdigest()
    put = [entry for entry in api.log() if entry["method"] == method and entry["api"] == "graph"]
    assert put[-1]["status"] == 200


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/octet-stream"])
def test_png_bytes_are_refused_by_default_whatever_the_label(api, rw_token, content_type):
    before = api.oracle(ALEX)["photo"]["sha256"]
    _refused_as_png(_put(api, rw_token, _png(), content_type, path="/users/%s/photo/$value" % ALEX))
    assert api.oracle(ALEX)["photo"]["sha256"] == before  # the photo the user had is kept


def test_the_png_label_is_refused_by_default_even_on_jpeg_bytes(api, rw_token):
    _refused_as_png(_put(api, rw_token, _jpeg(), "image/png"))
    assert api.oracle(ADELE)["has_photo"] is False


def test_other_labels_are_refused_before_the_bytes_are_read(api, rw_token):
    for content_type in ("text/plain", "", "image/gif"):
        resp = _put(api, rw_token, _jpeg(), content_type)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "BadRequest"
        assert "image/jpeg or application/octet-stream" in resp.json()["error"]["message"]
    assert api.oracle(ADELE)["has_photo"] is False


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/octet-stream"])
def test_with_png_accept_the_bytes_decide_the_stored_type(api, rw_token, content_type):
    api.behave(png="accept")
    upload = _png()
    assert _put(api, rw_token, upload, content_type).status_code == 200
    meta = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    assert (meta["@odata.mediaContentType"], meta["width"], meta["height"]) == ("image/png", 90, 60)
    value = api.graph("GET", PATH, rw_token)
    assert value.content == upload and value.headers["Content-Type"] == "image/png"


def test_with_png_accept_jpeg_bytes_labelled_png_are_stored_as_jpeg(api, rw_token):
    api.behave(png="accept")
    assert _put(api, rw_token, _jpeg(), "image/png").status_code == 200
    assert api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()["@odata.mediaContentType"] == "image/jpeg"


def test_with_png_accept_and_reencode_a_png_is_stored_as_jpeg(api, rw_token):
    api.behave(png="accept", reencode=True)
    assert _put(api, rw_token, _png(), "image/png").status_code == 200
    stored = api.graph("GET", PATH, rw_token)
    assert stored.headers["Content-Type"] == "image/jpeg" and Image.open(io.BytesIO(stored.content)).size == (90, 60)


def test_outlook_v2_follows_the_same_rules(api):
    rw_token = api.token(scope="https://outlook.office.com/.default")  # the audience the v2.0 dialect takes
    path = "/Users('%s')/photo/$value" % ADELE
    assert api.outlook("PUT", path, rw_token, data=_jpeg(), headers={"Content-Type": "application/octet-stream"}).status_code == 200
    _refused_as_png(api.outlook("PATCH", path, rw_token, data=_png(), headers={"Content-Type": "image/jpeg"}))
    api.behave(png="accept")
    assert api.outlook("PATCH", path, rw_token, data=_png(), headers={"Content-Type": "image/png"}).status_code == 200
    assert api.oracle(ADELE)["photo"]["content_type"] == "image/png"


def test_batch_items_follow_the_same_rules(api, rw_token):
    def item(item_id, data, content_type):
        return {"id": item_id, "method": "PUT", "url": "/users/%s/photo/$value" % ADELE,
                "headers": {"Content-Type": content_type}, "body": base64.b64encode(data).decode()}

    resp = api.graph("POST", "/$batch", rw_token, json={"requests": [item("png", _png(), "image/jpeg")]})
    answer = resp.json()["responses"][0]
    assert answer["status"] == 400 and answer["body"]["error"]["message"] == PNG_REFUSED
    assert api.oracle(ADELE)["has_photo"] is False
    resp = api.graph("POST", "/$batch", rw_token, json={"requests": [item("jpeg", _jpeg(), "application/octet-stream")]})
    assert resp.json()["responses"][0]["status"] == 200
    assert api.oracle(ADELE)["photo"]["content_type"] == "image/jpeg"
