# SPDX-License-Identifier: GPL-3.0-or-later
"""write_rate_limit (issue 11): a token bucket per app over photo writes, 429 with Retry-After above it.

Time goes through a fake clock (State.clock); latency is checked by what the handlers ask time.sleep for, never by a
stopwatch.
"""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from emulator import graph as graph_module
from emulator.state import DEFAULT_BEHAVIOURS, PROFILES, State

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
MEGAN = "megan.bowen@contoso.onmicrosoft.com"
OTHER_APP = "99999999-9999-4999-8999-999999999999"
JPEG = {"Content-Type": "image/jpeg"}


def _jpeg(color):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _put(api, token, user, color=(1, 2, 3)):
    return api.graph("PUT", "/users/%s/photo/$value" % user, token, data=_jpeg(color), headers=JPEG)


# --------------------------------------------------------------------------- validation and profiles

def test_off_by_default_and_in_both_profiles():
    assert DEFAULT_BEHAVIOURS["write_rate_limit"] is None
    assert all("write_rate_limit" not in changes for changes in PROFILES.values())
    for profile in ("ideal", "production"):
        assert State(profile).get_behaviours()["write_rate_limit"] is None


def test_values_are_checked_and_completed():
    state = State("ideal")
    checked = state.update_behaviours({"write_rate_limit": {"per_second": 40}})["write_rate_limit"]
    assert checked == {"per_second": 40.0, "burst": 40, "retry_after": None}  # burst: one second's worth
    assert state.update_behaviours({"write_rate_limit": {"per_second": 2.5, "retry_after": 1}})["write_rate_limit"] == {
        "per_second": 2.5, "burst": 3, "retry_after": "1"}
    assert state.update_behaviours({"write_rate_limit": None})["write_rate_limit"] is None
    for bad, message in (({"per_second": 0}, "per_second must be a number > 0"),
                         ({"per_second": True}, "per_second must be a number > 0"),
                         ({}, "per_second must be a number > 0"),
                         ({"per_second": 5, "burst": 0}, "burst must be an integer >= 1"),
                         ({"per_second": 5, "burst": 1.5}, "burst must be an integer >= 1"),
                         ({"per_second": 5, "retry_after": []}, "retry_after must be a string or a number"),
                         ({"per_second": 5, "window": 1}, "unknown key 'window'"),
                         (40, "must be null or")):
        with pytest.raises(ValueError, match="write_rate_limit: " + message):
            state.update_behaviours({"write_rate_limit": bad})


def test_bad_values_get_400_over_the_control_api(api):
    resp = api.control("PUT", "/behaviours", json={"write_rate_limit": {"per_second": -1}})
    assert resp.status_code == 400 and "per_second" in resp.text


# --------------------------------------------------------------------------- the bucket

def test_bucket_refills_at_the_rate_and_answers_the_wait():
    state = State("ideal")
    now = [50.0]
    state.clock = lambda: now[0]
    state.update_behaviours({"write_rate_limit": {"per_second": 4, "burst": 2}})
    assert [state.take_write("app") for dummy in range(2)] == [None, None]  # the bucket starts full
    assert state.take_write("app") == "0.250"  # empty: one token comes back in 1/4 s
    now[0] += 0.1
    assert state.take_write("app") == "0.150"  # a refused write takes nothing
    now[0] += 0.15
    assert state.take_write("app") is None
    now[0] += 10  # refills up to the burst, no further
    assert [state.take_write("app") for dummy in range(3)] == [None, None, "0.250"]
    assert state.take_write("APP") == "0.250"  # client ids are case-insensitive
    assert state.take_write("another app") is None  # each app has its own bucket


def test_sustained_rate_over_a_simulated_minute():
    state = State("ideal")
    now = [0.0]
    state.clock = lambda: now[0]
    state.update_behaviours({"write_rate_limit": {"per_second": 40, "retry_after": "1"}})
    accepted = refused = 0
    for dummy in range(60 * 100):  # 100 attempts a second for 60 s
        if state.take_write("app") is None:
            accepted += 1
        else:
            refused += 1
        now[0] += 0.01
    assert 40 + 60 * 40 - 1 <= accepted <= 40 + 60 * 40  # the burst, then 40 a second (float steps: one either way)
    assert refused == 6000 - accepted


def test_setting_it_again_and_reset_refill_every_bucket():
    state = State("ideal")
    state.clock = lambda: 0.0
    state.update_behaviours({"write_rate_limit": {"per_second": 1, "burst": 1}})
    assert state.take_write("app") is None and state.take_write("app") is not None
    state.update_behaviours({"write_rate_limit": {"per_second": 1, "burst": 1}})
    assert state.take_write("app") is None
    state.update_behaviours({"profile": "ideal", "write_rate_limit": {"per_second": 1, "burst": 1}})
    assert state.take_write("app") is None and state.take_write("app") is not None
    state.reset()
    assert state.take_write("app") is None  # reset: back to the profile, no limit


# --------------------------------------------------------------------------- over HTTP

def test_writes_over_the_limit_get_429_and_change_nothing(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 2, "burst": 2, "retry_after": "1"})
    before = api.oracle(ALEX)["photo"]["sha256"]
    assert _put(api, rw_token, ADELE).status_code == 200
    assert _put(api, rw_token, MEGAN).status_code == 200
    refused = _put(api, rw_token, ALEX, (200, 0, 0))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "TooManyRequests" and error["innerError"]["status"] == "429"
    assert api.oracle(ALEX)["photo"]["sha256"] == before
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200  # reads do not count
    clock.now += 0.5  # one token back
    assert _put(api, rw_token, ALEX, (200, 0, 0)).status_code == 200
    assert api.oracle(ALEX)["photo"]["sha256"] != before
    entries = [entry for entry in api.log() if entry["method"] == "PUT"]
    assert [(entry["status"], entry["fault"]) for entry in entries] == [(200, None), (200, None), (429, "rate_limit"), (200, None)]
    assert entries[2]["retry_after"] == "1"


def test_deletes_patches_and_outlook_writes_count_too(api, rw_token, clock):
    outlook = api.mint(resource="https://outlook.office.com")
    api.behave(write_rate_limit={"per_second": 1, "burst": 3})
    assert api.graph("PATCH", "/users/%s/photo/$value" % ADELE, rw_token, data=_jpeg((5, 5, 5)), headers=JPEG).status_code == 200
    assert api.graph("DELETE", "/users/%s/photo/$value" % ALEX, rw_token).status_code == 200
    assert api.outlook("PUT", "/Users('%s')/photo/$value" % MEGAN, outlook, data=_jpeg((6, 6, 6)), headers=JPEG).status_code == 200
    refused = api.graph("DELETE", "/users/%s/photo/$value" % ADELE, rw_token)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1.000"  # computed: one token a second
    assert api.oracle(ADELE)["has_photo"] is True


def test_batch_items_count_and_the_envelope_does_not(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 1, "burst": 2})
    body = base64.b64encode(_jpeg((7, 7, 7))).decode()
    items = [{"id": str(index), "method": "PUT", "url": "/users/%s/photo/$value" % user, "body": body, "headers": JPEG}
             for index, user in enumerate((ADELE, MEGAN, ALEX))]
    items.append({"id": "read", "method": "GET", "url": "/users/%s/photo" % ALEX})
    resp = api.graph("POST", "/$batch", rw_token, json={"requests": items})
    assert resp.status_code == 200
    statuses = {answer["id"]: answer["status"] for answer in resp.json()["responses"]}
    assert statuses == {"0": 200, "1": 200, "2": 429, "read": 200}  # items run in request order (ideal profile)
    throttled = [answer for answer in resp.json()["responses"] if answer["status"] == 429][0]
    assert throttled["headers"]["Retry-After"] == "1.000"
    assert api.oracle(ADELE)["has_photo"] and api.oracle(MEGAN)["has_photo"]


def test_each_app_has_its_own_bucket(api, rw_token, clock):
    other = api.mint(client_id=OTHER_APP, roles=["ProfilePhoto.ReadWrite.All"])
    api.behave(write_rate_limit={"per_second": 1, "burst": 1})
    assert _put(api, rw_token, ADELE).status_code == 200
    assert _put(api, rw_token, ADELE).status_code == 429
    assert _put(api, other, ADELE).status_code == 200
    assert _put(api, other, ADELE).status_code == 429
    logged = [(entry["client_id"], entry["status"]) for entry in api.log() if entry["method"] == "PUT"]
    assert logged == [("11111111-1111-4111-8111-111111111111", 200), ("11111111-1111-4111-8111-111111111111", 429),
                      (OTHER_APP, 200), (OTHER_APP, 429)]


def test_a_refused_write_waits_a_round_trip_not_the_writes_latency(api, rw_token, clock, monkeypatch):
    slept = []
    monkeypatch.setattr(graph_module.time, "sleep", slept.append)
    api.behave(method_latency_ms={"GET": 60, "PUT": 1000}, write_rate_limit={"per_second": 1, "burst": 1})
    assert _put(api, rw_token, ADELE).status_code == 200
    assert _put(api, rw_token, ADELE).status_code == 429
    assert slept == [1.0, 0.06]
