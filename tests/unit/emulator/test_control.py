# SPDX-License-Identifier: GPL-3.0-or-later
"""The control API: seeding users and photos (also in bulk), the oracle view, tokens, the request log, reset."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from urllib.parse import quote

from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"


def _jpeg(seed):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, (seed // 256) % 256, 7)).save(out, format="JPEG")
    return out.getvalue()


def test_health_and_default_seed(api):
    assert api.control("GET", "/health").json() == {"ok": True}
    users = {user["userPrincipalName"]: user for user in api.control("GET", "/users").json()["users"]}
    assert len(users) == 7
    assert users[ALEX]["has_photo"] is True and users[ALEX]["photo"]["width"] == 240
    assert users["john_fabrikam.com#EXT#@contoso.onmicrosoft.com"]["userType"] == "Guest"
    assert sum(user["has_photo"] for user in users.values()) == 1


def test_add_users_in_bulk_is_fast_and_replaces(api, rw_token):
    photos = [base64.b64encode(_jpeg(index)).decode() for index in range(2000)]
    specs = [{"userPrincipalName": "bulk%05d@contoso.onmicrosoft.com" % index, "photo_b64": photos[index]} for index in range(2000)]
    started = time.monotonic()
    created = api.control("POST", "/users", json={"users": specs}).json()["users"]
    assert time.monotonic() - started < 3
    assert len(created) == 2000 and created[0]["photo"]["sha256"] == hashlib.sha256(_jpeg(0)).hexdigest()
    first_id = created[0]["id"]
    again = api.control("POST", "/users", json={"users": [{"userPrincipalName": "BULK00000@contoso.onmicrosoft.com", "displayName": "Renamed"}]})
    assert again.json()["users"][0]["id"] == first_id and again.json()["users"][0]["has_photo"] is False
    assert api.graph("GET", "/users/%s/photo" % first_id, rw_token).status_code == 404
    fixed = api.control("POST", "/users", json={"users": [{"userPrincipalName": "fixed@contoso.onmicrosoft.com", "id": "f1xed"}]})
    assert fixed.json()["users"][0]["id"] == "f1xed"
    assert api.control("POST", "/users", json={"users": [{"displayName": "no upn"}]}).status_code == 400
    assert api.control("POST", "/users", json={"users": [{"userPrincipalName": "x@y", "photo_b64": "bm90IGFuIGltYWdl"}]}).status_code == 400


def test_generate_users_is_deterministic(api):
    first = api.control("POST", "/users/generate", json={"count": 20, "photo_ratio": 0.25, "photo_size": 48}).json()
    assert first == {"created": 20, "with_photo": 5, "first": "user00001@contoso.onmicrosoft.com", "last": "user00020@contoso.onmicrosoft.com"}
    view = api.oracle("user00004@contoso.onmicrosoft.com")
    api.control("POST", "/reset")
    api.control("POST", "/users/generate", json={"count": 20, "photo_ratio": 0.25, "photo_size": 48})
    assert api.oracle("user00004@contoso.onmicrosoft.com") == view
    assert view["photo"]["width"] == 48
    assert api.control("POST", "/users/generate", json={"count": 0}).status_code == 400


def test_photo_oracle_writes_exact_bytes_and_deletes(api, rw_token):
    api.behave(reencode=True, propagation_delay_s=60)
    data = _jpeg(3)
    key = quote("o'brien@contoso.onmicrosoft.com", safe="")
    view = api.control("PUT", "/users/%s/photo" % key, data=data, headers={"Content-Type": "image/jpeg"}).json()
    assert view["photo"]["sha256"] == hashlib.sha256(data).hexdigest() and view["photo"]["size"] == len(data)
    assert api.graph("GET", "/users/%s/photo/$value" % key, rw_token).content == data  # no re-encode, no delay
    assert api.control("DELETE", "/users/%s/photo" % key).json()["has_photo"] is False
    assert api.control("PUT", "/users/%s/photo" % key, data=b"junk").status_code == 400
    assert api.control("PUT", "/users/nobody/photo", data=data).status_code == 404
    assert api.control("DELETE", "/users/%s" % key).json() == {"deleted": True}
    assert api.control("GET", "/users/%s" % key).status_code == 404
    assert not [entry for entry in api.log() if entry["path"].startswith("/_emulator")]  # the control API is not logged


def test_tokens_and_request_log_paging(api):
    token = api.mint(roles=["ProfilePhoto.Read.All"], expires_in=-5)
    assert api.graph("GET", "/users/%s/photo" % ALEX, token).json()["error"]["message"].startswith("Lifetime validation failed")
    assert api.control("POST", "/tokens", json={"user": "nobody"}).status_code == 404
    last = api.control("GET", "/requests").json()["last_seq"]
    api.graph("GET", "/users/%s/photo" % ALEX, api.mint())
    newer = api.control("GET", "/requests", params={"since": last}).json()
    assert [entry["seq"] for entry in newer["requests"]] == [last + 1] and newer["last_seq"] == last + 1
    assert api.control("DELETE", "/requests").json() == {"ok": True}
    assert api.log() == []
    assert api.control("GET", "/nope").status_code == 404
    assert api.control("DELETE", "/health").status_code == 405
