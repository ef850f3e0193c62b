# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault hooks added for issue 8's fault matrix: raw bodies, cut-off answers, drops after the write was applied,
hostile $batch answers (mangle), skip and body_regex, random throttling with a seed, token revocation."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import ssl

import pytest
import requests
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}
PUT_PATH = r"/photo/\$value$"


def _jpeg(color=(10, 200, 30)):
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _raw_exchange(api, method, path, token):
    """(status line, headers, body bytes received until the server closed) over a raw TLS socket."""
    context = ssl.create_default_context(cafile=api.info["ca_path"])
    with socket.create_connection((api.info["host"], api.info["port"]), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname=api.info["host"]) as conn:
            conn.sendall(("%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n"
                          % (method, path, api.info["host"], api.info["port"], token)).encode("ascii"))
            data = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not chunk:
                    break
                data += chunk
    head, dummy, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    return lines[0], headers, body


def _batch(api, token, *urls):
    payload = {"requests": [{"id": str(index), "method": "GET", "url": url} for index, url in enumerate(urls)]}
    return api.graph("POST", "/$batch", token, json=payload)


def test_raw_body_is_answered_byte_for_byte(api, rw_token):
    raw = '{"responses": [1, "two"'  # not even JSON
    api.behave(faults=[{"method": "POST", "path_regex": r"/\$batch$", "status": 200, "raw_body": raw, "count": 1}])
    resp = _batch(api, rw_token, "/users/%s/photo" % ALEX)
    assert resp.status_code == 200 and resp.content == raw.encode("utf-8")
    assert resp.headers["Content-Type"] == "application/json"
    assert _batch(api, rw_token, "/users/%s/photo" % ALEX).json()["responses"][0]["status"] == 200  # count consumed
    entry = [entry for entry in api.log() if entry["api"] == "batch"][0]
    assert entry["fault"] == "raw_body"


def test_raw_body_b64_with_content_type_and_any_status(api, rw_token):
    data = b"\x00\xffnot an image\r\n"
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": 203, "raw_body_b64": base64.b64encode(data).decode(),
                        "content_type": "text/plain"}])
    resp = api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    assert (resp.status_code, resp.content, resp.headers["Content-Type"]) == (203, data, "text/plain")


def test_truncate_to_announces_the_full_length_then_closes(api, rw_token):
    full = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).content  # the untouched answer, for its length
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "after_apply": True, "truncate_to": 10}])
    status, headers, body = _raw_exchange(api, "GET", "/v1.0/users/%s/photo" % ALEX, rw_token)
    assert status.startswith("HTTP/1.1 200")
    assert int(headers["content-length"]) == len(full) > 10
    assert body == full[:10]
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "after_apply": True, "truncate_to": 10}])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.graph("GET", "/users/%s/photo" % ALEX, rw_token)


def test_drop_after_applies_and_logs_the_write_then_closes(api, rw_token):
    upload = _jpeg()
    api.behave(faults=[{"method": "PUT", "path_regex": PUT_PATH, "status": "drop_after"}])
    with pytest.raises(requests.exceptions.ConnectionError):
        api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=upload, headers=JPEG)
    assert api.oracle(ADELE)["photo"]["sha256"] == hashlib.sha256(upload).hexdigest()  # applied although unanswered
    entry = [entry for entry in api.log() if entry["method"] == "PUT"][0]
    assert (entry["status"], entry["dropped"], entry["fault"]) == (0, True, "drop_after")
    assert entry["body_sha256"] == hashlib.sha256(upload).hexdigest()
    shown = api.control("GET", "/behaviours").json()["faults"]
    assert shown == []


def test_drop_before_the_answer_does_not_apply_the_write(api, rw_token):
    api.behave(faults=[{"method": "PUT", "path_regex": PUT_PATH, "status": "drop"}])
    with pytest.raises(requests.exceptions.ConnectionError):
        api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=_jpeg(), headers=JPEG)
    assert api.oracle(ADELE)["has_photo"] is False
    assert [entry["fault"] for entry in api.log() if entry["method"] == "PUT"] == ["drop"]


def test_after_apply_with_an_error_status_reports_failure_of_an_applied_write(api, rw_token):
    upload = _jpeg((1, 2, 3))
    api.behave(faults=[{"method": "PUT", "path_regex": PUT_PATH, "status": 500, "after_apply": True}])
    resp = api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=upload, headers=JPEG)
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "InternalServerError"
    assert api.oracle(ADELE)["photo"]["sha256"] == hashlib.sha256(upload).hexdigest()
    assert [entry["fault"] for entry in api.log() if entry["method"] == "PUT"] == ["status_after"]


def test_skip_lets_the_first_matches_pass_and_later_faults_still_apply(api, rw_token):
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": 503, "skip": 2, "count": 1},
                       {"method": "GET", "path_regex": "photo$", "status": 500, "skip": 0, "count": 1}])
    statuses = [api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code for dummy in range(4)]
    # 1st: the 503 skips (1 left), the 500 fires; 2nd: the 503 skips its last; 3rd: the 503 fires; 4th: nothing left.
    assert statuses == [500, 200, 503, 200]


def test_body_regex_selects_requests_by_their_body(api, rw_token):
    api.behave(faults=[{"method": "POST", "path_regex": r"/\$batch$", "body_regex": r"\$value", "status": 502}])
    assert _batch(api, rw_token, "/users/%s/photo" % ALEX).status_code == 200
    assert _batch(api, rw_token, "/users/%s/photo/$value" % ALEX).status_code == 502


def _mangled(api, token, how, *urls):
    api.behave(faults=[{"method": "POST", "path_regex": r"/\$batch$", "mangle": how}])
    resp = _batch(api, token, *urls)
    assert resp.status_code == 200
    return resp.json()


def test_mangle_list_and_non_dict_entries(api, rw_token):
    urls = ["/users/%s/photo" % ALEX, "/users/%s/photo" % ADELE, "/users/%s" % ALEX]
    as_list = _mangled(api, rw_token, "list", *urls)
    assert isinstance(as_list, list) and [entry["id"] for entry in as_list] == ["0", "1", "2"]
    entries = _mangled(api, rw_token, "non_dict_entries", *urls)["responses"]
    assert not isinstance(entries[0], dict) and isinstance(entries[1], dict) and not isinstance(entries[2], dict)


def test_mangle_bad_base64_and_string_status(api, rw_token):
    bad = _mangled(api, rw_token, "bad_base64", "/users/%s/photo/$value" % ALEX, "/users/%s/photo" % ALEX)["responses"]
    binary = [entry for entry in bad if entry["id"] == "0"][0]
    with pytest.raises(ValueError):
        base64.b64decode(binary["body"], validate=True)
    assert isinstance([entry for entry in bad if entry["id"] == "1"][0]["body"], dict)  # JSON bodies untouched
    strings = _mangled(api, rw_token, "string_status", "/users/%s/photo" % ALEX)["responses"]
    assert strings[0]["status"] == "200"


def test_mangle_duplicate_and_missing_ids(api, rw_token):
    urls = ["/users/%s/photo" % ALEX, "/users/%s/photo" % ADELE]
    duplicated = _mangled(api, rw_token, "duplicate_ids", *urls)["responses"]
    assert [entry["id"] for entry in duplicated] == ["0", "1", "1"]
    assert (duplicated[1]["status"], duplicated[2]["status"]) == (404, 200)  # the twin carries another user's answer
    assert duplicated[2]["body"] == duplicated[0]["body"]
    missing = _mangled(api, rw_token, "missing_ids", *urls)["responses"]
    assert [entry["id"] for entry in missing] == ["1"]
    assert [entry["fault"] for entry in api.log() if entry["api"] == "batch"] == ["mangle:duplicate_ids", "mangle:missing_ids"]


def test_raw_body_on_a_batch_item_that_is_not_json_arrives_as_text(api, rw_token):
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": 200, "raw_body": "<html>no</html>"}])
    entry = _batch(api, rw_token, "/users/%s/photo" % ALEX).json()["responses"][0]
    assert (entry["status"], entry["body"]) == (200, "<html>no</html>")


@pytest.mark.parametrize("fault", [
    {"status": 503, "bogus": 1},
    {"status": 200},
    {"status": 200, "raw_body": "x", "raw_body_b64": "eA=="},
    {"status": "drop", "raw_body": "x"},
    {"status": "drop_after", "truncate_to": 3},
    {"mangle": "shuffle"},
    {"mangle": "list", "raw_body": "x"},
    {"status": 503, "truncate_to": -1},
    {"status": 503, "skip": -1},
    {"status": 503, "body_regex": "("},
    {"raw_body_b64": "***"},
    {"raw_body": 5},
    {"path_regex": ".*"},
])
def test_bad_faults_are_refused(api, fault):
    resp = api.control("PUT", "/behaviours", json={"faults": [fault]})
    assert resp.status_code == 400, fault
    assert api.control("GET", "/behaviours").json()["faults"] == []


def test_fault_defaults_are_shown(api):
    faults = api.behave(faults=[{"status": "drop_after"}, {"mangle": "list"}])["faults"]
    assert (faults[0]["status"], faults[0]["after_apply"], faults[0]["skip"]) == ("drop", True, 0)
    assert (faults[1]["status"], faults[1]["mangle"], faults[1]["after_apply"]) == (None, "list", True)


def _throttled_pattern(api, token, ratio, seed, count):
    api.behave(throttle={"ratio": ratio, "retry_after": "0.05", "seed": seed})
    return [api.graph("GET", "/users/%s/photo" % ALEX, token).status_code == 429 for dummy in range(count)]


def test_throttle_ratio_is_random_but_repeatable_with_a_seed(api, rw_token):
    first = _throttled_pattern(api, rw_token, 0.3, 7, 120)
    assert _throttled_pattern(api, rw_token, 0.3, 7, 120) == first  # setting it again restarts the same sequence
    assert 15 <= sum(first) <= 60  # 36 expected; far outside means the ratio is not applied
    assert _throttled_pattern(api, rw_token, 0.3, 8, 120) != first
    assert not any(_throttled_pattern(api, rw_token, 0.0, 1, 20))
    assert all(_throttled_pattern(api, rw_token, 1.0, 1, 5))
    throttled = [entry for entry in api.log() if entry["status"] == 429]
    assert throttled and all(entry["retry_after"] == "0.05" and entry["fault"] == "throttle" for entry in throttled)


@pytest.mark.parametrize("throttle", [{"every": 2, "ratio": 0.5}, {"retry_after": "1"}, {"ratio": 1.5}, {"ratio": "x"},
                                      {"ratio": 0.5, "seed": "one"}, {"ratio": 0.5, "extra": 1}])
def test_bad_throttles_are_refused(api, throttle):
    assert api.control("PUT", "/behaviours", json={"throttle": throttle}).status_code == 400


def test_revoked_tokens_are_unknown(api, rw_token):
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200
    assert api.control("POST", "/tokens/revoke").json()["revoked"] >= 1
    resp = api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert api.graph("GET", "/users/%s/photo" % ALEX, api.token()).status_code == 200  # a new token works


def test_json_of_behaviours_round_trips(api):
    shown = api.behave(faults=[{"method": "put", "path_regex": "x", "status": 503, "raw_body": "é", "count": 2}])["faults"][0]
    assert shown["method"] == "PUT" and base64.b64decode(shown["raw_body_b64"]).decode("utf-8") == "é"
    assert json.loads(json.dumps(shown)) == shown
