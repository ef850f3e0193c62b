# SPDX-License-Identifier: GPL-3.0-or-later
"""Empty path segments: msgraph-sdk (Python) joins its default base URL `https://graph.microsoft.com/v1.0/` and its
templates into `/v1.0//users/...`, and Graph serves that as `/v1.0/users/...`. So does the emulator."""

from __future__ import annotations

import io

from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ALEX_ID = "a1e80000-0000-4000-8000-000000000002"


def _jpeg(color):
    out = io.BytesIO()
    Image.new("RGB", (96, 96), color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_doubled_slash_after_the_version_reads_metadata_and_bytes(api, rw_token):
    single = api.call("GET", "/v1.0/users/%s/photo" % ALEX, rw_token)
    doubled = api.call("GET", "/v1.0//users/%s/photo" % ALEX, rw_token)
    assert doubled.status_code == 200, doubled.text
    assert doubled.json()["id"] == single.json()["id"] == "240x240"
    assert doubled.json()["@odata.mediaEtag"] == single.json()["@odata.mediaEtag"]
    data = api.call("GET", "/v1.0//users/%s/photo/$value" % ALEX, rw_token)
    assert data.status_code == 200
    assert data.content == api.call("GET", "/v1.0/users/%s/photo/$value" % ALEX, rw_token).content


def test_doubled_slash_write_reaches_the_same_user(api, rw_token):
    body = _jpeg((10, 200, 10))
    resp = api.call("PUT", "/v1.0//users/%s//photo/$value" % ALEX, rw_token, data=body,
                    headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 200, resp.text
    view = api.oracle(ALEX)
    assert (view["photo"]["width"], view["photo"]["height"]) == (96, 96)
    entry = api.log()[-1]
    assert entry["path"] == "/v1.0//users/%s//photo/$value" % ALEX  # the log keeps the raw path
    assert entry["user"] == ALEX_ID


def test_empty_segments_do_not_hide_an_unknown_segment(api, rw_token):
    resp = api.call("GET", "/v1.0//users/%s/nothing" % ALEX, rw_token)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "Resource not found for the segment 'nothing'."
