# SPDX-License-Identifier: GPL-3.0-or-later
"""Profiles (issue 10): production is what run.py start gives; ideal is every behaviour off. Also the $batch rules that
hold in every profile (answers matched by id, items run concurrently, dependsOn checked) and per-method latency."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests
from PIL import Image

from emulator import graph as graph_module
from emulator.state import DEFAULT_BEHAVIOURS, PRODUCTION_PROPAGATION_DELAY_S, State

ALEX = "alex.wilber@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
RUN_PY = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator", "run.py"))


def _jpeg(color):
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _batch(api, token, items):
    resp = api.graph("POST", "/$batch", token, json={"requests": items})
    return resp


# --------------------------------------------------------------------------- the profiles themselves

def test_a_new_state_is_on_the_production_profile():
    behaviours = State().get_behaviours()
    assert behaviours["profile"] == "production"
    assert behaviours["reencode"] is True
    assert behaviours["propagation_delay_s"] == PRODUCTION_PROPAGATION_DELAY_S > 0
    assert behaviours["batch_order"] == "shuffled" and behaviours["batch_concurrency"] == 4


def test_ideal_is_every_behaviour_off():
    behaviours = State("ideal").get_behaviours()
    assert behaviours.pop("profile") == "ideal"
    assert behaviours == DEFAULT_BEHAVIOURS
    assert behaviours["reencode"] is False and behaviours["propagation_delay_s"] == 0 and behaviours["batch_order"] == "request"


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile 'prod'"):
        State("prod")
    with pytest.raises(ValueError, match="unknown profile"):
        State("ideal").update_behaviours({"profile": "fast"})


def test_switching_profile_replaces_every_behaviour_and_reset_restores_the_start_profile(api):
    api.behave(latency_ms=7, throttle={"every": 5})
    switched = api.behave(profile="production", jitter_ms=3)
    assert switched["profile"] == "production" and switched["reencode"] is True
    assert switched["latency_ms"] == 0 and switched["throttle"] is None  # the earlier changes are gone
    assert switched["jitter_ms"] == 3  # the keys beside "profile" apply on top of it
    assert api.control("POST", "/reset").status_code == 200
    assert api.control("GET", "/behaviours").json()["profile"] == "ideal"  # this session's server started ideal
    refused = api.control("PUT", "/behaviours", json={"profile": "staging"})
    assert refused.status_code == 400 and "unknown profile" in refused.text


def test_production_profile_end_to_end(api, rw_token):
    """Re-encoded storage, a read straight after a write that still sees the old photo, then the new one."""
    api.behave(profile="production")
    upload = _jpeg((10, 200, 30))
    before = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    put = api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=upload, headers={"Content-Type": "image/jpeg"})
    assert put.status_code == 200
    assert api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content == before  # the read lags the write
    time.sleep(PRODUCTION_PROPAGATION_DELAY_S + 0.1)
    stored = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    assert stored != before and stored != upload  # the new photo, but not the uploaded bytes
    assert Image.open(io.BytesIO(stored)).size == (64, 64)


def _run_cli(*args):
    return subprocess.run([sys.executable, RUN_PY] + list(args), capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("extra, expected", [((), "production"), (("--profile", "ideal"), "ideal")])
def test_run_py_start_is_production_unless_told(tmp_path, extra, expected):
    state_dir = str(tmp_path / "emu")
    started = _run_cli("start", "--background", "--state-dir", state_dir, *extra)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout.strip().splitlines()[-1])
    try:
        assert info["profile"] == expected
        with requests.Session() as http:
            http.trust_env = False
            behaviours = http.get(info["control_url"] + "/behaviours", verify=info["ca_path"], timeout=10).json()
        assert behaviours["profile"] == expected
        assert behaviours["reencode"] is (expected == "production")
    finally:
        assert _run_cli("stop", "--state-dir", state_dir).returncode == 0


def test_run_py_refuses_an_unknown_profile(tmp_path):
    started = _run_cli("start", "--background", "--state-dir", str(tmp_path / "emu"), "--profile", "staging")
    assert started.returncode == 2 and "invalid choice" in started.stderr


# --------------------------------------------------------------------------- $batch as Graph runs it

def test_shuffled_answers_carry_every_id_once(api, rw_token):
    api.behave(batch_order="shuffled")
    ids = [str(number) for number in range(20)]
    resp = _batch(api, rw_token, [{"id": item_id, "method": "GET", "url": "/users/%s/photo" % ALEX} for item_id in ids])
    assert resp.status_code == 200
    answered = [item["id"] for item in resp.json()["responses"]]
    assert sorted(answered, key=int) == ids
    assert answered != ids  # 1 chance in 20! of passing by luck


def test_request_order_without_shuffling(api, rw_token):
    ids = [str(number) for number in range(20)]
    resp = _batch(api, rw_token, [{"id": item_id, "method": "GET", "url": "/users/%s/photo" % ALEX} for item_id in ids])
    assert [item["id"] for item in resp.json()["responses"]] == ids


class _Overlap:
    """Wraps GraphApi._execute: each call holds for a moment; records the most calls in flight at once."""

    def __init__(self, real):
        self.real = real
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __call__(self, api_self, req, call):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.05)
            return self.real(api_self, req, call)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("concurrency, depends, expected", [(4, False, 4), (1, False, 1), (4, True, 1)])
def test_batch_items_run_concurrently_unless_they_depend(api, rw_token, monkeypatch, concurrency, depends, expected):
    overlap = _Overlap(graph_module.GraphApi._execute)

    def held_execute(api_self, req, call):
        return overlap(api_self, req, call)
    monkeypatch.setattr(graph_module.GraphApi, "_execute", held_execute)
    api.behave(batch_concurrency=concurrency)
    users = [ALEX, ADELE] * 4
    items = [{"id": str(index), "method": "GET", "url": "/users/%s/photo" % user} for index, user in enumerate(users)]
    if depends:
        items[-1]["dependsOn"] = ["0"]
    resp = _batch(api, rw_token, items)
    assert resp.status_code == 200 and len(resp.json()["responses"]) == 8
    assert overlap.most == expected


def test_concurrent_batch_writes_all_apply(api, rw_token):
    api.behave(batch_concurrency=4, batch_order="shuffled")
    names = ["w%d@contoso.onmicrosoft.com" % index for index in range(8)]
    assert api.control("POST", "/users", json={"users": [{"userPrincipalName": name} for name in names]}).status_code == 200
    uploads = {name: _jpeg((index * 30, 0, 0)) for index, name in enumerate(names)}
    resp = _batch(api, rw_token, [
        {"id": name, "method": "PUT", "url": "/users/%s/photo/$value" % name, "headers": {"Content-Type": "image/jpeg"},
         "body": base64.b64encode(data).decode()} for name, data in uploads.items()])
    assert {item["id"]: item["status"] for item in resp.json()["responses"]} == dict.fromkeys(names, 200)
    for name, data in uploads.items():
        assert api.oracle(name)["photo"]["size"] == len(data)


@pytest.mark.parametrize("depends_on, message", [
    (["nope"], "depends on 'nope', which is not a request of this batch"),
    (["1"], "depends on '1', which is not a request of this batch"),  # itself
    ("0", "must be an array of ids"),
])
def test_bad_depends_on_refuses_the_whole_batch(api, rw_token, depends_on, message):
    resp = _batch(api, rw_token, [
        {"id": "0", "method": "GET", "url": "/users/%s/photo" % ALEX},
        {"id": "1", "method": "GET", "url": "/users/%s/photo" % ALEX, "dependsOn": depends_on}])
    assert resp.status_code == 400 and message in resp.json()["error"]["message"]
    assert [entry for entry in api.log() if entry.get("batch")] == []  # no item ran


def test_duplicate_ids_refuse_the_whole_batch(api, rw_token):
    resp = _batch(api, rw_token, [{"id": "7", "method": "GET", "url": "/users/%s/photo" % ALEX}] * 2)
    assert resp.status_code == 400 and "'7' repeats" in resp.json()["error"]["message"]


# --------------------------------------------------------------------------- per-method latency

def test_latency_per_method_with_jitter():
    state = State("ideal")
    state.update_behaviours({"latency_ms": 5, "method_latency_ms": {"put": 1000, "BATCH": 250}, "jitter_ratio": 0.2})
    puts = [state.latency_seconds("PUT") for dummy in range(200)]
    assert 0.8 <= min(puts) < 0.9 and 1.1 < max(puts) <= 1.2  # +/- 20 %, and it does vary
    assert all(0.2 <= state.latency_seconds("BATCH") <= 0.3 for dummy in range(50))
    assert all(0.004 <= state.latency_seconds("GET") <= 0.006 for dummy in range(50))  # falls back to latency_ms
    with pytest.raises(ValueError, match="unknown key 'HEAD'"):
        state.update_behaviours({"method_latency_ms": {"HEAD": 1}})
    with pytest.raises(ValueError, match="from 0.0 to 1.0"):
        state.update_behaviours({"jitter_ratio": 2})


def test_each_request_sleeps_its_methods_latency(api, rw_token, monkeypatch):
    slept = []
    monkeypatch.setattr(graph_module.time, "sleep", slept.append)
    api.behave(method_latency_ms={"GET": 60, "PUT": 1000, "BATCH": 250})
    api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    api.graph("PUT", "/users/%s/photo/$value" % ALEX, rw_token, data=_jpeg((1, 2, 3)), headers={"Content-Type": "image/jpeg"})
    _batch(api, rw_token, [{"id": "1", "method": "GET", "url": "/users/%s/photo" % ALEX},
                           {"id": "2", "method": "GET", "url": "/users/%s/photo" % ADELE}])
    assert slept == [0.06, 1.0, 0.25]  # a $batch pays once, on the envelope
