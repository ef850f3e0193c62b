# SPDX-License-Identifier: GPL-3.0-or-later
"""POST /v1.0/$batch: items run through the normal handlers, binary bodies as base64, the 20-item limit, the log."""

from __future__ import annotations

import base64
import hashlib
import io

from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (240, 200, 0)).save(out, format="JPEG")
    return out.getvalue()


def _batch(api, token, requests_):
    return api.graph("POST", "/$batch", token, json={"requests": requests_})


def test_batch_reads_and_writes_photos(api, rw_token):
    upload = _jpeg()
    resp = _batch(api, rw_token, [
        {"id": "1", "method": "GET", "url": "/users/%s/photo" % ALEX},
        {"id": "2", "method": "GET", "url": "/users/%s/photo/$value" % ALEX},
        {"id": "3", "method": "PUT", "url": "/users/%s/photo/$value" % ADELE, "headers": {"Content-Type": "image/jpeg"},
         "body": base64.b64encode(upload).decode()},
        {"id": "4", "method": "GET", "url": "users/nobody@contoso.onmicrosoft.com/photo"},
    ])
    assert resp.status_code == 200, resp.text
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["1"]["status"] == 200 and items["1"]["body"]["id"] == "240x240"
    direct = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    assert base64.b64decode(items["2"]["body"]) == direct
    assert items["2"]["headers"]["Content-Type"] == "image/jpeg"
    assert items["3"]["status"] == 200 and "body" not in items["3"]
    assert items["4"]["status"] == 404 and items["4"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert api.oracle(ADELE)["photo"]["sha256"] == hashlib.sha256(upload).hexdigest()

    log = api.log()
    inner = [entry for entry in log if entry["batch"]]
    assert [(entry["method"], entry["status"]) for entry in inner] == [("GET", 200), ("GET", 200), ("PUT", 200), ("GET", 404)]
    assert inner[2]["body_sha256"] == hashlib.sha256(upload).hexdigest() and inner[2]["api"] == "graph"
    # response_size: a photo download counts the photo's bytes (before base64), a write's empty answer nothing.
    assert inner[1]["response_size"] == len(direct) and inner[2]["response_size"] == 0
    envelope_size = [entry["response_size"] for entry in log if entry["api"] == "batch"][0]
    assert envelope_size == len(resp.content) > len(direct)
    envelope = [entry for entry in log if entry["api"] == "batch"]
    assert len(envelope) == 1 and envelope[0]["seq"] > inner[-1]["seq"] and envelope[0]["path"] == "/v1.0/$batch"


def test_batch_limits_and_validation(api, rw_token):
    many = [{"id": str(index), "method": "GET", "url": "/users/%s/photo" % ALEX} for index in range(21)]
    resp = _batch(api, rw_token, many)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "BadRequest"
    assert _batch(api, rw_token, many[:20]).status_code == 200
    assert _batch(api, rw_token, [many[0], many[0]]).status_code == 400  # duplicate ids
    assert api.graph("POST", "/$batch", rw_token, data=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert _batch(api, None, many[:1]).status_code == 401


def test_batch_items_share_throttling_and_depends_on(api, rw_token):
    api.behave(throttle={"every": 2, "retry_after": "3"})
    resp = _batch(api, rw_token, [
        {"id": "a", "method": "GET", "url": "/users/%s/photo" % ALEX},
        {"id": "b", "method": "GET", "url": "/users/%s/photo" % ALEX},
        {"id": "c", "method": "GET", "url": "/users/%s/photo" % ALEX, "dependsOn": ["b"]},
    ])
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["a"]["status"] == 200
    assert items["b"]["status"] == 429 and items["b"]["headers"]["Retry-After"] == "3"
    assert items["c"]["status"] == 424
