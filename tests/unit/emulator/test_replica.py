# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 17: the ETag header on $value answers (value_etag), lagging replicas (the "stale" fault, which serves the
user's previous photo), forced etags for etag collisions, the documented @odata.id form, and GET /users/{key}?$select=id."""

from __future__ import annotations

import base64
import hashlib
import io
import time

import pytest
import requests
from PIL import Image

from emulator.server import EmulatorServer  # conftest.py put tests/ on sys.path
from emulator.state import State

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ALEX_ID = "a1e80000-0000-4000-8000-000000000002"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ADELE_ID = "ade1e000-0000-4000-8000-000000000001"
TENANT = "00000000-0000-4000-8000-00000000c0de"
JPEG = {"Content-Type": "image/jpeg"}
OUTLOOK = "https://outlook.office.com"
STALE_VALUE = {"method": "GET", "path_regex": r"/photo/\$value$", "stale": True}


def _image(color, fmt="JPEG", size=(64, 64)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def _control_photo(api, key, data, content_type="image/jpeg", **params):
    resp = api.control("PUT", "/users/%s/photo" % requests.utils.quote(key, safe=""), data=data,
                       headers={"Content-Type": content_type}, params=params)
    return resp


def _batch(api, token, *urls):
    payload = {"requests": [{"id": str(index), "method": "GET", "url": url} for index, url in enumerate(urls)]}
    resp = api.graph("POST", "/$batch", token, json=payload)
    assert resp.status_code == 200, resp.text
    return {entry["id"]: entry for entry in resp.json()["responses"]}


def _etag(api, key):
    return '"%s"' % api.oracle(key)["photo"]["etag"].strip('"')


# --------------------------------------------------------------------------- value_etag

def test_value_etag_is_off_in_both_profiles_and_validated(api):
    assert State("ideal").get_behaviours()["value_etag"] is False
    assert State("production").get_behaviours()["value_etag"] is False  # unconfirmed: the module must not rely on it
    for bad in ("true", 1, None, "yes"):
        resp = api.control("PUT", "/behaviours", json={"value_etag": bad})
        assert resp.status_code == 400 and "value_etag" in resp.text
    assert api.behave(value_etag=True)["value_etag"] is True
    api.control("POST", "/reset")
    assert api.control("GET", "/behaviours").json()["value_etag"] is False


def test_without_value_etag_no_value_answer_has_an_etag(api, rw_token):
    assert "ETag" not in api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).headers
    assert "ETag" not in api.graph("GET", "/users/%s/photos/48x48/$value" % ALEX, rw_token).headers
    answers = _batch(api, rw_token, "/users/%s/photo/$value" % ALEX)
    assert answers["0"]["status"] == 200 and "ETag" not in answers["0"]["headers"]


def test_value_etag_on_graph_direct_answers(api, rw_token):
    api.behave(value_etag=True)
    meta = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    value = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token)
    assert value.status_code == 200
    assert value.headers["ETag"] == meta["@odata.mediaEtag"] == _etag(api, ALEX)  # the quoted 8-hex form
    assert value.headers["ETag"].startswith('"') and len(value.headers["ETag"]) == 10
    sized = api.graph("GET", "/users/%s/photos/48x48/$value" % ALEX, rw_token)
    size_meta = api.graph("GET", "/users/%s/photos/48x48" % ALEX, rw_token).json()
    assert sized.status_code == 200 and sized.headers["ETag"] == size_meta["@odata.mediaEtag"] == meta["@odata.mediaEtag"]
    assert "ETag" not in api.graph("GET", "/users/%s/photo" % ALEX, rw_token).headers  # metadata: no header
    assert "ETag" not in api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).headers  # 404: none either


def test_value_etag_in_batch_items(api, rw_token):
    api.behave(value_etag=True)
    etag = _etag(api, ALEX)
    answers = _batch(api, rw_token, "/users/%s/photo/$value" % ALEX, "/users/%s/photos/48x48/$value" % ALEX,
                     "/users/%s/photo" % ALEX, "/users/%s/photo/$value" % ADELE)
    assert answers["0"]["headers"]["ETag"] == answers["1"]["headers"]["ETag"] == etag
    assert base64.b64decode(answers["0"]["body"]) == api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    assert "ETag" not in answers["2"]["headers"] and answers["2"]["body"]["@odata.mediaEtag"] == etag
    assert answers["3"]["status"] == 404 and "ETag" not in answers["3"]["headers"]


def test_value_etag_on_outlook_v2(api):
    api.behave(value_etag=True)
    token = api.mint(resource=OUTLOOK)
    meta = api.outlook("GET", "/Users('%s')/photo" % ALEX, token).json()
    value = api.outlook("GET", "/Users('%s')/photo/$value" % ALEX, token)
    assert value.status_code == 200 and value.headers["ETag"] == meta["@odata.mediaEtag"] == _etag(api, ALEX)
    api.behave(value_etag=False)
    assert "ETag" not in api.outlook("GET", "/Users('%s')/photo/$value" % ALEX, token).headers


# --------------------------------------------------------------------------- stale: a lagging replica

def test_stale_value_after_a_write_through_the_api(api, rw_token):
    old = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    new = _image((10, 200, 30))
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=new, headers=JPEG).raise_for_status()
    api.behave(faults=[STALE_VALUE])
    lagging = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token)
    assert (lagging.status_code, lagging.content, lagging.headers["Content-Type"]) == (200, old, "image/jpeg")
    assert "ETag" not in lagging.headers  # value_etag off
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == new  # once: count 1
    assert [entry["fault"] for entry in api.log() if entry["method"] == "GET"] == [None, "stale", None]
    assert api.control("GET", "/behaviours").json()["faults"] == []


def test_stale_value_with_value_etag_carries_the_old_photos_etag(api, rw_token):
    api.behave(value_etag=True)
    old_etag = _etag(api, ALEX)
    old = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=_image((10, 200, 30)), headers=JPEG).raise_for_status()
    new_etag = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()["@odata.mediaEtag"]
    assert new_etag != old_etag
    api.behave(faults=[STALE_VALUE])
    lagging = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token)
    assert lagging.content == old and lagging.headers["ETag"] == old_etag
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).headers["ETag"] == new_etag


def test_stale_after_a_change_through_the_control_api_keeps_content_type_and_etag(api, rw_token):
    png, jpeg = _image((0, 0, 255), "PNG"), _image((255, 0, 0))
    assert _control_photo(api, ADELE, png, "image/png").status_code == 200
    png_etag = _etag(api, ADELE)
    assert _control_photo(api, ADELE, jpeg).status_code == 200
    api.behave(value_etag=True, faults=[dict(STALE_VALUE, count=2)])
    for dummy in range(2):
        lagging = api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token)
        assert (lagging.content, lagging.headers["Content-Type"], lagging.headers["ETag"]) == (png, "image/png", png_etag)
    current = api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token)
    assert current.content == jpeg and current.headers["ETag"] == _etag(api, ADELE) != png_etag


def test_stale_after_post_users_replaces_a_user(api, rw_token):
    first, second = _image((1, 2, 3)), _image((200, 100, 50))
    for data in (first, second):
        api.control("POST", "/users", json={"users": [{"userPrincipalName": ADELE, "photo_b64": base64.b64encode(data).decode()}]}
                    ).raise_for_status()
    api.behave(faults=[STALE_VALUE])
    assert api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).content == first
    assert api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).content == second


def test_stale_in_a_batch_item_only_touches_the_item_it_matches(api, rw_token):
    api.behave(value_etag=True)
    old, old_etag = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content, _etag(api, ALEX)
    new, adele = _image((10, 200, 30)), _image((30, 30, 30))
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=new, headers=JPEG).raise_for_status()
    api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=adele, headers=JPEG).raise_for_status()
    api.behave(faults=[{"path_regex": r"alex.*/photo/\$value$", "stale": True}])  # any method: the envelope is no photo read
    answers = _batch(api, rw_token, "/users/%s/photo/$value" % ADELE, "/users/%s/photo/$value" % ALEX)
    assert base64.b64decode(answers["1"]["body"]) == old and answers["1"]["headers"]["ETag"] == old_etag
    assert base64.b64decode(answers["0"]["body"]) == adele and answers["0"]["headers"]["ETag"] == _etag(api, ADELE)
    faults = {entry["path"]: entry["fault"] for entry in api.log() if entry["batch"] or entry["api"] == "batch"}
    assert faults == {"/v1.0/users/%s/photo/$value" % ADELE: None, "/v1.0/users/%s/photo/$value" % ALEX: "stale",
                      "/v1.0/$batch": None}
    answers = _batch(api, rw_token, "/users/%s/photo/$value" % ALEX)
    assert base64.b64decode(answers["0"]["body"]) == new


def test_stale_metadata_read_shows_the_previous_photos_metadata(api, rw_token):
    old_meta = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=_image((5, 5, 5), size=(300, 200)), headers=JPEG
              ).raise_for_status()
    api.behave(faults=[{"method": "GET", "path_regex": "/photo$", "stale": True},
                       {"method": "GET", "path_regex": "/photos$", "stale": True}])
    lagging = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    assert lagging == old_meta and (lagging["width"], lagging["height"]) == (240, 240)
    sizes = api.graph("GET", "/users/%s/photos" % ALEX, rw_token).json()["value"]
    assert "240x240" in [entry["id"] for entry in sizes]
    current = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()
    assert (current["width"], current["height"]) == (300, 200) and current["@odata.mediaEtag"] != old_meta["@odata.mediaEtag"]


def test_stale_with_no_previous_photo_answers_as_for_no_photo(api, rw_token):
    api.behave(faults=[dict(STALE_VALUE, count=3), {"method": "GET", "path_regex": "/photo$", "stale": True}])
    # Alex's seeded photo never changed: there is no previous one.
    error = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token)
    assert error.status_code == 404 and error.json()["error"]["code"] == "ImageNotFound"
    # Adele had none before her first photo.
    api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=_image((9, 9, 9)), headers=JPEG).raise_for_status()
    assert api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).status_code == 404
    assert api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()["error"]["code"] == "ImageNotFound"
    token = api.mint(resource=OUTLOOK)
    assert api.outlook("GET", "/Users('%s')/photo/$value" % ADELE, token).json()["error"]["code"] == "ErrorItemNotFound"


def test_stale_after_a_removal_serves_the_removed_photo(api, rw_token):
    old = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    api.graph("DELETE", "/users/%s/photo/$value" % ALEX, rw_token).raise_for_status()
    api.behave(faults=[STALE_VALUE])
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == old
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).status_code == 404


def test_stale_serves_the_previous_photo_after_the_propagation_delay_is_over(api, rw_token):
    api.behave(propagation_delay_s=0.2)
    old = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    new = _image((10, 200, 30))
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=new, headers=JPEG).raise_for_status()
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == old  # every reader lags
    time.sleep(0.3)
    api.behave(faults=[STALE_VALUE])
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == old  # this replica still does
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == new


def test_stale_is_matched_by_photo_reads_only_and_honours_skip(api, rw_token):
    api.behave(faults=[{"stale": True, "skip": 1}])  # any method, any path
    new = _image((10, 200, 30))
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=new, headers=JPEG).raise_for_status()
    assert api.graph("GET", "/users/%s" % ALEX, api.mint(roles=["User.ReadBasic.All"])).status_code == 200
    assert api.control("GET", "/behaviours").json()["faults"][0]["skip"] == 1  # the PUT and the user read passed it by
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == new  # skipped
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content != new  # the lagging one
    assert api.control("GET", "/behaviours").json()["faults"] == []


@pytest.mark.parametrize("extra", [{"status": 503}, {"status": "drop"}, {"status": "drop_after"}, {"raw_body": "{}"},
                                   {"raw_body_b64": "e30="}, {"mangle": "list"}, {"after_apply": True}, {"truncate_to": 3},
                                   {"pad_to": 10}, {"chunked": True}, {"retry_after": "1"}])
def test_stale_is_refused_with_keys_that_answer_otherwise(api, extra):
    resp = api.control("PUT", "/behaviours", json={"faults": [dict(STALE_VALUE, **extra)]})
    assert resp.status_code == 400 and "stale" in resp.text
    assert api.control("GET", "/behaviours").json()["faults"] == []


def test_stale_value_must_be_a_bool(api):
    resp = api.control("PUT", "/behaviours", json={"faults": [{"stale": "yes"}]})
    assert resp.status_code == 400 and "stale must be true or false" in resp.text
    shown = api.behave(faults=[dict(STALE_VALUE, count=2, skip=1, body_regex="x?")])["faults"][0]
    assert (shown["stale"], shown["count"], shown["skip"]) == (True, 2, 1)
    assert api.behave(faults=[{"status": 503}])["faults"][0]["stale"] is False


# --------------------------------------------------------------------------- forced etags

def test_forced_etag_lets_another_picture_reuse_an_etag(api, rw_token):
    api.behave(value_etag=True)
    first, second = _image((1, 100, 1)), _image((100, 1, 1))
    assert _control_photo(api, ADELE, first, etag="Same1").json()["photo"]["etag"] == '"Same1"'
    meta = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    assert meta["@odata.mediaEtag"] == '"Same1"'
    assert _control_photo(api, ADELE, second, etag="Same1").status_code == 200
    again = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    value = api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token)
    assert again["@odata.mediaEtag"] == '"Same1"' and value.headers["ETag"] == '"Same1"'
    assert value.content == second != first  # a different picture under the etag seen before
    item = _batch(api, rw_token, "/users/%s/photo/$value" % ADELE)["0"]
    assert item["headers"]["ETag"] == '"Same1"'
    sized = api.graph("GET", "/users/%s/photos" % ADELE, rw_token).json()["value"]
    assert {entry["@odata.mediaEtag"] for entry in sized} == {'"Same1"'}
    # Without etag, the CRC32 of the stored bytes again.
    assert _control_photo(api, ADELE, second).json()["photo"]["etag"] != '"Same1"'


def test_forced_etag_under_a_stale_replica(api, rw_token):
    api.behave(value_etag=True)
    first, second = _image((1, 100, 1)), _image((100, 1, 1))
    _control_photo(api, ADELE, first, etag="E17").raise_for_status()
    _control_photo(api, ADELE, second, etag="E17").raise_for_status()
    api.behave(faults=[STALE_VALUE])
    lagging = api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token)
    assert lagging.content == first and lagging.headers["ETag"] == '"E17"'  # old bytes, same etag: only bytes tell


def test_forced_etag_through_post_users(api, rw_token):
    data = base64.b64encode(_image((3, 4, 5))).decode()
    view = api.control("POST", "/users", json={"users": [{"userPrincipalName": "etag@contoso.onmicrosoft.com",
                                                          "photo_b64": data, "photo_etag": "abcDEF0123"}]}).json()
    assert view["users"][0]["photo"]["etag"] == '"abcDEF0123"'
    meta = api.graph("GET", "/users/etag@contoso.onmicrosoft.com/photo", rw_token).json()
    assert meta["@odata.mediaEtag"] == '"abcDEF0123"'


@pytest.mark.parametrize("etag", ["", "A" * 65, "has space", "quo\"te", "dash-ed", "\u00e9"])
def test_forced_etag_is_validated(api, etag):
    resp = _control_photo(api, ADELE, _image((1, 1, 1)), etag=etag)
    assert resp.status_code == 400 and "etag" in resp.text
    resp = api.control("POST", "/users", json={"users": [{"userPrincipalName": "x@contoso.onmicrosoft.com",
                                                          "photo_b64": base64.b64encode(_image((1, 1, 1))).decode(), "photo_etag": etag}]})
    assert resp.status_code == 400 and "photo_etag" in resp.text
    assert api.oracle(ADELE)["has_photo"] is False
    assert api.control("POST", "/users", json={"users": [{"userPrincipalName": "x@contoso.onmicrosoft.com",
                                                          "photo_etag": 17}]}).status_code == 400
    resp = api.control("POST", "/users", json={"users": [{"userPrincipalName": "x@contoso.onmicrosoft.com", "photo_etag": "A1"}]})
    assert resp.status_code == 400 and "needs photo_b64" in resp.text


def test_forced_etag_survives_a_persisted_restart(tmp_path):
    state_dir = str(tmp_path / "emu")
    with EmulatorServer(state_dir, persist=True, profile="ideal") as server, requests.Session() as http:
        http.trust_env, http.verify = False, server.info["ca_path"]
        http.put(server.info["control_url"] + "/users/%s/photo" % ADELE, data=_image((7, 7, 7)), params={"etag": "Kept1"},
                 headers=JPEG, timeout=10).raise_for_status()
    with EmulatorServer(state_dir, persist=True, profile="ideal") as server, requests.Session() as http:
        http.trust_env, http.verify = False, server.info["ca_path"]
        view = http.get(server.info["control_url"] + "/users/%s" % ADELE, timeout=10).json()
        assert view["photo"]["etag"] == '"Kept1"'
        assert view["photo"]["sha256"] == hashlib.sha256(_image((7, 7, 7))).hexdigest()


# --------------------------------------------------------------------------- @odata.id and $select=id

def test_graph_odata_id_names_the_owner_with_the_tenant(api, rw_token):
    assert api.info["tenant_id"] == TENANT
    owner = "%s/v1.0/users('%s@%s')" % (api.origin, ALEX_ID, TENANT)
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()["@odata.id"] == owner + "/photo"
    assert api.graph("GET", "/users/%s/photos/48x48" % ALEX, rw_token).json()["@odata.id"] == owner + "/photos('48x48')"
    listed = api.graph("GET", "/users/%s/photos" % ALEX, rw_token).json()["value"]
    assert {entry["@odata.id"] for entry in listed} == {owner + "/photos('%s')" % entry["id"] for entry in listed}
    item = _batch(api, rw_token, "/users/%s/photo" % ALEX)["0"]
    assert item["body"]["@odata.id"] == owner + "/photo"
    # The context keeps the plain id; Outlook v2.0 keeps Users('<id>') (its documented example shows no tenant).
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()["@odata.context"].endswith("#users('%s')/photo/$entity" % ALEX_ID)
    outlook = api.outlook("GET", "/Users('%s')/photo" % ALEX, api.mint(resource=OUTLOOK)).json()
    assert outlook["@odata.id"] == "%s/api/v2.0/Users('%s')/photo" % (api.origin, ALEX_ID)


def test_select_id_by_upn_and_by_id_direct_and_in_batch(api):
    token = api.mint(roles=["User.ReadBasic.All"])
    for key in (ALEX, ALEX_ID, ALEX.upper()):
        resp = api.graph("GET", "/users/%s" % key, token, params={"$select": "id"})
        assert resp.status_code == 200
        body = resp.json()
        assert body == {"@odata.context": "%s/v1.0/$metadata#users/$entity" % api.origin, "id": ALEX_ID}
    answers = _batch(api, token, "/users/%s?$select=id" % ALEX, "/users/%s?$select=id" % ADELE_ID,
                     "/users/nobody@contoso.onmicrosoft.com?$select=id")
    assert (answers["0"]["status"], answers["0"]["body"]["id"]) == (200, ALEX_ID)
    assert (answers["1"]["status"], answers["1"]["body"]["id"]) == (200, ADELE_ID)
    error = answers["2"]["body"]["error"]
    assert answers["2"]["status"] == 404 and error["code"] == "Request_ResourceNotFound"
    assert "nobody@contoso.onmicrosoft.com" in error["message"]


def test_select_id_of_an_unknown_user_is_404_request_resource_not_found(api):
    token = api.mint(roles=["User.ReadBasic.All"])
    for key in ("nobody@contoso.onmicrosoft.com", "99999999-0000-4000-8000-000000000000"):
        resp = api.graph("GET", "/users/%s" % key, token, params={"$select": "id"})
        error = resp.json()["error"]
        assert resp.status_code == 404 and error["code"] == "Request_ResourceNotFound"
        assert error["message"] == ("Resource '%s' does not exist or one of its queried reference-property objects are not "
                                    "present." % key)
    # Without a directory permission (the seeded photo clients), the answer is 403, as for a known user.
    photo_only = api.mint()
    assert api.graph("GET", "/users/%s" % ALEX, photo_only, params={"$select": "id"}).json()["error"]["code"] == \
        "Authorization_RequestDenied"
