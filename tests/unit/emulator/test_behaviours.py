# SPDX-License-Identifier: GPL-3.0-or-later
"""The switchable real-world behaviours: re-encoding, no-photo answers, id case, 204, propagation delay, throttling,
per-mailbox concurrency, injected faults (including dropped connections) and latency."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}


def _jpeg(size=(200, 100), color=(90, 10, 160), quality=95):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _parallel(api, count, request):
    """Run request(session) once on each of `count` warmed-up connections, all released at the same moment."""
    barrier = threading.Barrier(count)

    def worker(_index):
        with api.new_session() as session:
            session.get(api.info["control_url"] + "/health", timeout=10)  # open the connection first: only the request races
            barrier.wait()
            return request(session)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(worker, range(count)))


def test_behaviours_validate_and_reset(api):
    assert api.control("GET", "/behaviours").json()["no_photo"] == "404"
    assert api.control("PUT", "/behaviours", json={"nope": 1}).status_code == 400
    assert api.control("PUT", "/behaviours", json={"write_status": 201}).status_code == 400
    assert api.control("PUT", "/behaviours", json={"faults": [{"status": 503, "path_regex": "("}]}).status_code == 400
    assert api.behave(latency_ms=5)["latency_ms"] == 5
    api.control("POST", "/reset")
    assert api.control("GET", "/behaviours").json()["latency_ms"] == 0


def test_reencode_changes_bytes_but_keeps_dimensions(api, rw_token):
    api.behave(reencode=True)
    upload = _jpeg()
    api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=upload, headers=JPEG).raise_for_status()
    stored = api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).content
    assert stored != upload
    assert Image.open(io.BytesIO(stored)).size == (200, 100)
    meta = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    assert (meta["width"], meta["height"], meta["@odata.mediaContentType"]) == (200, 100, "image/jpeg")


def test_no_photo_placeholder_and_code_switch(api, rw_token):
    api.behave(no_photo="placeholder")
    meta = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()
    assert (meta["id"], meta["width"], meta["@odata.mediaContentType"], meta["@odata.mediaEtag"]) == ("1x1", 1, "image/gif", "")
    assert api.graph("GET", "/users/%s/photo/$value" % ADELE, rw_token).status_code == 404
    api.behave(no_photo="404", no_photo_code="ErrorItemNotFound")
    error = api.graph("GET", "/users/%s/photo" % ADELE, rw_token).json()["error"]
    assert (error["code"], error["message"]) == ("ErrorItemNotFound", "The photo wasn't found.")


def test_id_case_and_write_status(api, rw_token):
    api.behave(id_case="upper", write_status=204)
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).json()["id"] == "240X240"
    resp = api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=_jpeg(), headers=JPEG)
    assert resp.status_code == 204 and resp.content == b""


def test_propagation_delay_serves_the_previous_state(api, rw_token):
    api.behave(propagation_delay_s=0.4)
    path = "/users/%s/photo" % ADELE
    api.graph("PUT", path + "/$value", rw_token, data=_jpeg(), headers=JPEG).raise_for_status()
    assert api.oracle(ADELE)["has_photo"] is True  # the truth changed at once
    assert api.graph("GET", path, rw_token).status_code == 404  # readers still see "no photo"
    time.sleep(0.5)
    assert api.graph("GET", path, rw_token).json()["width"] == 200
    api.graph("DELETE", path + "/$value", rw_token).raise_for_status()
    assert api.graph("GET", path, rw_token).status_code == 200  # the deleted photo lingers for a while
    time.sleep(0.5)
    assert api.graph("GET", path, rw_token).status_code == 404


def test_throttle_every_nth_request_with_fractional_retry_after(api, rw_token):
    api.behave(throttle={"every": 3, "retry_after": "2.128"})
    statuses = [api.graph("GET", "/users/%s/photo" % ALEX, rw_token) for dummy in range(6)]
    assert [resp.status_code for resp in statuses] == [200, 200, 429, 200, 200, 429]
    throttled = statuses[2]
    assert throttled.headers["Retry-After"] == "2.128"
    body = throttled.json()["error"]
    assert (body["code"], body["message"]) == ("TooManyRequests", "Please retry again later.")
    assert (body["innerError"]["status"], body["innerError"]["code"]) == ("429", "429")
    assert [entry["retry_after"] for entry in api.log() if entry["status"] == 429] == ["2.128", "2.128"]


def test_mailbox_concurrency_limits_parallel_requests_per_user(api, rw_token):
    api.behave(mailbox_concurrency=2, latency_ms=400)
    url = "%s/v1.0/users/%s/photo" % (api.origin, ALEX)
    results = _parallel(api, 5, lambda session: session.get(url, headers={"Authorization": "Bearer " + rw_token}, timeout=10))
    statuses = sorted(resp.status_code for resp in results)
    assert statuses == [200, 200, 429, 429, 429]
    throttled = [resp for resp in results if resp.status_code == 429]
    assert all(resp.headers["Retry-After"] == "1" for resp in throttled)
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    # Another mailbox is not affected.
    assert api.graph("GET", "/users/%s/photo" % ADELE, rw_token).status_code == 404


def test_latency_does_not_serialize_concurrent_requests(api, rw_token):
    api.behave(latency_ms=200)
    url = "%s/v1.0/users/%s/photo" % (api.origin, ALEX)
    started = time.monotonic()
    results = _parallel(api, 8, lambda session: session.get(url, headers={"Authorization": "Bearer " + rw_token}, timeout=10))
    elapsed = time.monotonic() - started
    assert all(resp.status_code == 200 for resp in results)
    assert elapsed < 0.8, elapsed  # serialized would be 8 x 200 ms
    single = time.monotonic()
    api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    assert time.monotonic() - single >= 0.2


def test_faults_are_consumed_in_order(api, rw_token):
    api.behave(faults=[{"method": "PUT", "path_regex": r"/photo/\$value$", "status": 503, "count": 2, "retry_after": "1"},
                       {"method": "*", "path_regex": "alex", "status": 504}])
    path = "/users/%s/photo/$value" % ADELE
    first = api.graph("PUT", path, rw_token, data=_jpeg(), headers=JPEG)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert first.json()["error"]["code"] == "ServiceUnavailable"
    assert api.graph("GET", path, rw_token).status_code == 404  # GET does not match the PUT fault
    assert api.graph("PUT", path, rw_token, data=_jpeg(), headers=JPEG).status_code == 503
    assert api.graph("PUT", path, rw_token, data=_jpeg(), headers=JPEG).status_code == 200
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 504
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200
    assert api.control("GET", "/behaviours").json()["faults"] == []


def test_drop_fault_closes_the_connection_without_an_answer(api, rw_token):
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": "drop", "count": 1}])
    with pytest.raises(requests.exceptions.ConnectionError):
        api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200
    dropped = [entry for entry in api.log() if entry["api"] == "graph"][0]
    assert dropped["dropped"] is True and dropped["status"] == 0
