# SPDX-License-Identifier: GPL-3.0-or-later
"""throttle_headers (issue 18): x-ms-throttle-limit-percentage and x-ms-throttle-scope on the answers to an app whose
use of its write_rate_limit is above 0.8, and on the bucket's 429s; the bucket is per app, shared by its tokens,
connections and client processes.

Time goes through a fake clock (State.clock), so the use is exact and no test depends on how fast it runs.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import pytest
from PIL import Image

from emulator.state import DEFAULT_BEHAVIOURS, PROFILES, TENANT_ID, State

RW_CLIENT = "11111111-1111-4111-8111-111111111111"
OTHER_APP = "99999999-9999-4999-8999-999999999999"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
MEGAN = "megan.bowen@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}
PERCENTAGE = "x-ms-throttle-limit-percentage"
SCOPE = "x-ms-throttle-scope"
RW_SCOPE = "Tenant_Application/Write/%s/%s" % (RW_CLIENT, TENANT_ID)


def _jpeg(color=(1, 2, 3)):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, format="JPEG", quality=95)
    return out.getvalue()


PHOTO = _jpeg()


def _put(api, token, user=ADELE, session=None):
    if session is None:
        return api.graph("PUT", "/users/%s/photo/$value" % user, token, data=PHOTO, headers=JPEG)
    return session.put(api.info["graph_url"] + "/users/%s/photo/$value" % user, data=PHOTO, timeout=10,
                       headers=dict(JPEG, Authorization="Bearer " + token))


def _get(api, token):
    return api.graph("GET", "/users/%s/photo" % ALEX, token)


def _percentage(headers):
    """The header's value as a float, after checking its form: 0.8 to 1.8, one or two decimals."""
    text = headers[PERCENTAGE]
    whole, dot, decimals = text.partition(".")
    assert whole.isdigit() and dot == "." and decimals.isdigit() and 1 <= len(decimals) <= 2, text
    value = float(text)
    assert 0.8 <= value <= 1.8, text
    return value


def _no_throttle_headers(headers):
    return PERCENTAGE not in headers and SCOPE not in headers


def _batch_item(index, user=ADELE, **extra):
    return dict({"id": str(index), "method": "PUT", "url": "/users/%s/photo/$value" % user, "headers": JPEG,
                 "body": base64.b64encode(PHOTO).decode("ascii")}, **extra)


# --------------------------------------------------------------------------- the switch

def test_off_by_default_and_in_both_profiles():
    assert DEFAULT_BEHAVIOURS["throttle_headers"] is False
    assert all("throttle_headers" not in changes for changes in PROFILES.values())
    for profile in ("ideal", "production"):
        assert State(profile).get_behaviours()["throttle_headers"] is False


def test_only_a_bool_is_taken(api):
    state = State("ideal")
    for bad in (1, 0, "true", None, [], {}):
        with pytest.raises(ValueError, match="throttle_headers"):
            state.update_behaviours({"throttle_headers": bad})
        resp = api.control("PUT", "/behaviours", json={"throttle_headers": bad})
        assert resp.status_code == 400 and "throttle_headers" in resp.text
    assert api.control("GET", "/behaviours").json()["throttle_headers"] is False  # a refused change changes nothing
    assert api.behave(throttle_headers=True)["throttle_headers"] is True
    assert api.behave(profile="production", throttle_headers=True)["throttle_headers"] is True  # with a profile too
    assert api.behave(profile="production")["throttle_headers"] is False  # the profile's own value
    api.behave(throttle_headers=True)
    api.control("POST", "/reset")
    assert api.control("GET", "/behaviours").json()["throttle_headers"] is False


def test_no_headers_when_the_switch_is_off_even_over_the_limit(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 20, "burst": 2, "retry_after": "1"})
    answers = [_put(api, rw_token) for dummy in range(30)]
    assert [resp.status_code for resp in answers] == [200, 200] + [429] * 28
    assert api.state.write_limit_use(RW_CLIENT) == 1.5  # far over: the headers are missing because of the switch
    assert all(_no_throttle_headers(resp.headers) for resp in answers)
    assert _no_throttle_headers(_get(api, rw_token).headers)


def test_no_headers_without_a_write_rate_limit(api, rw_token, clock):
    api.behave(throttle_headers=True)
    answers = [_put(api, rw_token) for dummy in range(30)]
    assert all(resp.status_code == 200 and _no_throttle_headers(resp.headers) for resp in answers)


# --------------------------------------------------------------------------- the use of the limit

def test_use_is_the_writes_of_the_last_window_over_what_the_limit_allows():
    state = State("ideal")
    now = [0.0]
    state.clock = lambda: now[0]
    assert state.write_limit_use("app") is None  # no limit
    state.update_behaviours({"write_rate_limit": {"per_second": 40, "burst": 40}, "throttle_headers": True})
    assert state.write_limit_use("app") == 0.0
    for dummy in range(34):
        state.take_write("app")
    assert state.write_limit_use("app") == 34 / 40
    assert state.throttle_headers("app") == {PERCENTAGE: "0.85", SCOPE: "Tenant_Application/Write/app/" + TENANT_ID}
    now[0] = 0.999
    assert state.write_limit_use("app") == 34 / 40  # still inside the 1 s window
    now[0] = 1.0
    assert state.write_limit_use("app") == 0.0 and state.throttle_headers("app") == {}
    for dummy in range(100):  # refused writes count too: 40 accepted, 60 refused
        state.take_write("app")
    assert state.write_limit_use("app") >= 1.8  # exact up to the cap, at least the cap beyond it
    assert state.throttle_headers("app")[PERCENTAGE] == "1.8"  # capped as the docs' range says
    now[0] = 2.0
    for dummy in range(2):  # two ticks of 17 writes half a second apart: 34 in the window, at the last write
        for dummy in range(17):
            state.take_write("app")
        now[0] += 0.5
    now[0] -= 0.5
    assert state.throttle_headers("app")[PERCENTAGE] == "0.85"
    # A slow limit is measured over a longer window (20 writes' worth): 0.5 a second over 40 s.
    state.update_behaviours({"write_rate_limit": {"per_second": 0.5, "burst": 1}})
    for tick in range(20):
        now[0] = 100.0 + 2.0 * tick
        state.take_write("slow")
    assert state.write_limit_use("slow") == 1.0  # exactly at the rate: 1.0, not 2.0 as a 1 s window would say
    assert state.throttle_headers("slow")[PERCENTAGE] == "1.0"
    now[0] += 2.0  # the first write leaves the 40 s window
    assert state.write_limit_use("slow") == 19 / 20


def test_below_0_8_no_headers(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 40, "burst": 40}, throttle_headers=True)
    answers = []
    for dummy in range(3 * 32):  # 32 a second for 3 s: 0.8 of the limit, not above it
        clock.now += 1 / 32  # exact in binary floating point
        answers.append(_put(api, rw_token))
    assert all(resp.status_code == 200 for resp in answers)
    assert all(_no_throttle_headers(resp.headers) for resp in answers)
    assert api.state.write_limit_use(RW_CLIENT) == 0.8
    assert _no_throttle_headers(_get(api, rw_token).headers)


def test_a_client_at_85_percent_sees_about_0_85(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 20, "burst": 20}, throttle_headers=True)
    answers = []
    for dummy in range(3 * 17):  # 17 a second for 3 s: 85% of the rate
        clock.now += 1 / 17
        answers.append(_put(api, rw_token))
    assert all(resp.status_code == 200 for resp in answers)  # under the limit: nothing refused
    assert all(_no_throttle_headers(resp.headers) for resp in answers[:16])  # the first second: not yet
    steady = answers[17:]
    assert all(resp.headers[SCOPE] == RW_SCOPE for resp in steady)
    # 17 writes in the window, or 18 when float steps of 1/17 s keep the write of a second ago inside it.
    assert all(resp.headers[PERCENTAGE] in ("0.85", "0.9") for resp in steady)
    read = _get(api, rw_token)  # reads carry it too: every answer to the app
    assert read.status_code == 200 and 0.8 < _percentage(read.headers) <= 0.9 and read.headers[SCOPE] == RW_SCOPE
    clock.now += 1.0  # a second without writes: the window is empty
    assert _no_throttle_headers(_get(api, rw_token).headers)


def test_a_client_past_the_limit_sees_0_95_or_more_and_the_429s_carry_both(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 20, "burst": 20, "retry_after": "1"}, throttle_headers=True)
    answers = []
    for dummy in range(3 * 30):  # 30 a second for 3 s: 1.5 times the rate
        clock.now += 1 / 30
        answers.append(_put(api, rw_token))
    steady = answers[30:]
    refused = [resp for resp in steady if resp.status_code == 429]
    accepted = [resp for resp in steady if resp.status_code == 200]
    assert refused and accepted
    for resp in steady:
        assert resp.headers[SCOPE] == RW_SCOPE
        assert _percentage(resp.headers) >= 0.95
    assert all(1.4 <= _percentage(resp.headers) <= 1.6 for resp in steady)  # ~1.5: the writes asked for, refused too
    assert all(resp.headers["Retry-After"] == "1" and resp.json()["error"]["code"] == "TooManyRequests" for resp in refused)


def test_a_429_from_the_bucket_carries_the_scope_even_at_a_low_use(api, rw_token, clock):
    # A bucket of one against 40 a second: the second write at the same moment is refused at a use of 0.05.
    api.behave(write_rate_limit={"per_second": 40, "burst": 1}, throttle_headers=True)
    assert _put(api, rw_token).status_code == 200
    refused = _put(api, rw_token)
    assert refused.status_code == 429
    assert refused.headers[SCOPE] == RW_SCOPE and PERCENTAGE not in refused.headers
    assert _no_throttle_headers(_get(api, rw_token).headers)


def test_batch_items_and_the_envelope_carry_them(api, rw_token, clock):
    api.behave(write_rate_limit={"per_second": 20, "burst": 20, "retry_after": "1"}, throttle_headers=True)
    resp = api.graph("POST", "/$batch", rw_token, json={"requests": [_batch_item(index) for index in range(18)]})
    assert resp.status_code == 200
    items = {int(answer["id"]): answer for answer in resp.json()["responses"]}
    assert all(answer["status"] == 200 for answer in items.values())
    for index, answer in items.items():  # item n is the (n+1)th write in the window (ideal profile: in request order)
        if (index + 1) / 20 > 0.8:
            assert _percentage(answer["headers"]) == (index + 1) / 20 and answer["headers"][SCOPE] == RW_SCOPE
        else:
            assert _no_throttle_headers(answer["headers"]), index
    assert _percentage(resp.headers) == 0.9 and resp.headers[SCOPE] == RW_SCOPE  # the envelope: the use after its items
    # A second batch at the same moment: 2 tokens left, 18 items refused; a dependent item answered 424 carries them too.
    requests = [_batch_item(index) for index in range(19)] + [
        {"id": "after", "method": "GET", "url": "/users/%s/photo" % ALEX, "dependsOn": ["18"]}]
    resp = api.graph("POST", "/$batch", rw_token, json={"requests": requests})
    answers = {answer["id"]: answer for answer in resp.json()["responses"]}
    assert [answers[str(index)]["status"] for index in range(19)] == [200, 200] + [429] * 17
    assert answers["after"]["status"] == 424
    for answer in answers.values():
        assert answer["headers"][SCOPE] == RW_SCOPE and _percentage(answer["headers"]) >= 0.95
    assert answers["18"]["headers"]["Retry-After"] == "1" and answers["18"]["headers"][PERCENTAGE] == "1.8"
    assert resp.headers[PERCENTAGE] == "1.8"


def test_outlook_v2_answers_carry_them(api, clock):
    outlook = api.mint(resource="https://outlook.office.com")
    api.behave(write_rate_limit={"per_second": 20, "burst": 20}, throttle_headers=True)
    path = "/Users('%s')/photo/$value" % MEGAN
    answers = [api.outlook("PUT", path, outlook, data=PHOTO, headers=JPEG) for dummy in range(21)]
    assert [resp.status_code for resp in answers] == [200] * 20 + [429]
    assert all(_no_throttle_headers(resp.headers) for resp in answers[:16])  # up to 16 of 20: 0.8
    assert [resp.headers[PERCENTAGE] for resp in answers[16:]] == ["0.85", "0.9", "0.95", "1.0", "1.05"]
    assert answers[-1].headers[SCOPE] == RW_SCOPE


# --------------------------------------------------------------------------- one bucket per app

def test_two_tokens_of_one_app_share_the_bucket_on_two_connections(api, clock):
    api.behave(write_rate_limit={"per_second": 20, "burst": 20, "retry_after": "1"}, throttle_headers=True)
    first, second = api.token(), api.token()  # two tokens from the token endpoint
    minted = api.mint(client_id=RW_CLIENT)  # and a third from the control API
    assert len({first, second, minted}) == 3
    with api.new_session() as other_connection:
        # 20 writes taking turns: the first token on this connection, the others on another one.
        answers = [_put(api, first) if index % 3 == 0 else _put(api, (second, minted)[index % 3 - 1], session=other_connection)
                   for index in range(20)]
        assert all(resp.status_code == 200 for resp in answers)
        # The use is the app's, not the token's: no token wrote more than 7 of the 20, yet the 17th answer says 0.85.
        assert answers[16].headers[PERCENTAGE] == "0.85" and answers[19].headers[PERCENTAGE] == "1.0"
        refused = _put(api, first)  # the app's bucket of 20 is empty, for every token
        assert refused.status_code == 429 and refused.headers[SCOPE] == RW_SCOPE
        assert _put(api, second, session=other_connection).status_code == 429
        assert _put(api, minted, session=other_connection).status_code == 429


def test_two_apps_have_separate_buckets_and_headers(api, rw_token, clock):
    other = api.mint(client_id=OTHER_APP, roles=["ProfilePhoto.ReadWrite.All"])
    api.behave(write_rate_limit={"per_second": 20, "burst": 20}, throttle_headers=True)
    ours = [_put(api, rw_token) for dummy in range(21)]
    assert [resp.status_code for resp in ours] == [200] * 20 + [429]
    assert ours[-1].headers[SCOPE] == RW_SCOPE and ours[-1].headers[PERCENTAGE] == "1.05"
    theirs = [_put(api, other) for dummy in range(17)]  # the other app's bucket is full, its use its own
    assert all(resp.status_code == 200 for resp in theirs)
    assert all(_no_throttle_headers(resp.headers) for resp in theirs[:16])
    assert theirs[-1].headers[SCOPE] == "Tenant_Application/Write/%s/%s" % (OTHER_APP, TENANT_ID)
    assert theirs[-1].headers[PERCENTAGE] == "0.85"
    assert _get(api, rw_token).headers[PERCENTAGE] == "1.05"  # ours unchanged by theirs


_CLIENT_PROCESS = r"""
import json, sys
import requests
info, count = json.loads(sys.argv[1]), int(sys.argv[2])
session = requests.Session()
session.verify = info["ca_path"]
session.trust_env = False
token = session.post(info["authority"] + "/oauth2/v2.0/token", timeout=30, data={
    "client_id": "11111111-1111-4111-8111-111111111111", "client_secret": "emulator-secret-value",
    "grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
statuses = []
for dummy in range(count):
    resp = session.put(info["graph_url"] + "/users/adele.vance@contoso.onmicrosoft.com/photo/$value",
                       data=bytes.fromhex(sys.argv[3]), timeout=30,
                       headers={"Content-Type": "image/jpeg", "Authorization": "Bearer " + token})
    statuses.append(resp.status_code)
print(json.dumps(statuses))
"""


def test_four_client_processes_of_one_app_share_one_limit(api, clock):
    # As 4 AWX slices writing to one tenant with one app: 4 processes, each its own token and connection, 5 writes
    # each, at one moment of the emulator's clock: the bucket of 8 lets 8 through in all, not 8 per process.
    api.behave(write_rate_limit={"per_second": 8, "burst": 8, "retry_after": "1"}, throttle_headers=True)
    info = json.dumps({key: api.info[key] for key in ("ca_path", "authority", "graph_url")})
    processes = [subprocess.Popen([sys.executable, "-c", _CLIENT_PROCESS, info, "5", PHOTO.hex()],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for dummy in range(4)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    statuses = [status for result in results for status in result]
    assert sorted(statuses) == [200] * 8 + [429] * 12
    assert api.state.write_limit_use(RW_CLIENT) == 1.0  # 20 writes in a window of 2.5 s (20 writes' worth at 8/s)
    puts = [entry for entry in api.log() if entry["method"] == "PUT"]
    assert len(puts) == 20 and {entry["client_id"] for entry in puts} == {RW_CLIENT}
    assert _get(api, api.token()).headers[PERCENTAGE] == "1.0"
