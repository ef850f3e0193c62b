# SPDX-License-Identifier: GPL-3.0-or-later
"""--persist: the tenant, the request log and the CA survive a stop or a SIGKILL; tokens do not."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time

import requests
from PIL import Image

from emulator.server import EmulatorServer  # importable: conftest.py put tests/ on sys.path

# ideal: these tests compare what a restarted emulator serves with the very bytes uploaded before the restart;
# re-encoding on upload (the production profile) would make a lost and a kept write look alike.
IDEAL = "ideal"
RUN_PY = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator", "run.py"))
ADELE = "adele.vance@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}
RW_CLIENT = "11111111-1111-4111-8111-111111111111"
RW_SECRET = "emulator-secret-value"
TENANT = "00000000-0000-4000-8000-00000000c0de"


class CaSession(requests.Session):
    """Trusts only the emulator's CA, nothing from the environment (see conftest.CaSession)."""

    def __init__(self, ca_path):
        super().__init__()
        self.verify = ca_path
        self.trust_env = False


def _jpeg(color):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, format="JPEG")
    return out.getvalue()


def _token(session, info, client_id=RW_CLIENT, secret=RW_SECRET):
    resp = session.post("%s/%s/oauth2/v2.0/token" % (info["authority_host"], TENANT), timeout=10, data={
        "client_id": client_id, "client_secret": secret, "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default"})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def _oracle(session, info):
    return {user["userPrincipalName"]: user["photo"] for user in session.get(info["control_url"] + "/users", timeout=10).json()["users"]}


def test_persisted_state_survives_a_restart(tmp_path):
    state_dir = str(tmp_path / "emu")
    upload = _jpeg((200, 0, 0))
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server, CaSession(server.info["ca_path"]) as http:
        info = server.info
        ca_before = open(info["ca_path"], "rb").read()
        http.post(info["control_url"] + "/users", timeout=10, json={"users": [
            {"userPrincipalName": "kept@contoso.onmicrosoft.com", "photo_b64": base64.b64encode(_jpeg((0, 0, 255))).decode()},
            {"userPrincipalName": "gone@contoso.onmicrosoft.com"}]}).raise_for_status()
        http.delete(info["control_url"] + "/users/gone@contoso.onmicrosoft.com", timeout=10).raise_for_status()
        http.post(info["control_url"] + "/clients", timeout=10, json={
            "client_id": "99999999-9999-4999-8999-999999999999", "secret": "s3cret", "roles": ["ProfilePhoto.ReadWrite.All"]}).raise_for_status()
        token = _token(http, info)
        http.put(info["graph_url"] + "/users/%s/photo/$value" % ADELE, data=upload, headers=dict(JPEG, Authorization="Bearer " + token),
                 timeout=10).raise_for_status()
        http.delete(info["graph_url"] + "/users/alex.wilber@contoso.onmicrosoft.com/photo/$value",
                    headers={"Authorization": "Bearer " + token}, timeout=10).raise_for_status()
        before = _oracle(http, info)
        log_before = http.get(info["control_url"] + "/requests", timeout=10).json()
        identity_header = info["identity_header"]
    assert oct(os.stat(os.path.join(state_dir, "tenant.jsonl")).st_mode & 0o777) == "0o600"  # it holds client secrets
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server, CaSession(server.info["ca_path"]) as http:
        info = server.info
        assert open(info["ca_path"], "rb").read() == ca_before
        assert info["identity_header"] == identity_header
        assert _oracle(http, info) == before
        assert before[ADELE]["size"] == len(upload) and before["alex.wilber@contoso.onmicrosoft.com"] is None
        assert "gone@contoso.onmicrosoft.com" not in before
        stale = http.get(info["graph_url"] + "/users/%s/photo" % ADELE, headers={"Authorization": "Bearer " + token}, timeout=10)
        assert stale.status_code == 401  # tokens are not kept
        fresh = _token(http, info, "99999999-9999-4999-8999-999999999999", "s3cret")  # the registered client is kept
        got = http.get(info["graph_url"] + "/users/%s/photo/$value" % ADELE, headers={"Authorization": "Bearer " + fresh}, timeout=10)
        assert got.content == upload
        log_after = http.get(info["control_url"] + "/requests", timeout=10).json()
        old_seqs = [entry["seq"] for entry in log_before["requests"]]
        assert [entry["seq"] for entry in log_after["requests"]][:len(old_seqs)] == old_seqs  # the log is kept
        assert log_after["last_seq"] > log_before["last_seq"]  # and numbering goes on


def test_reset_and_clear_are_persisted_and_a_torn_line_is_skipped(tmp_path):
    state_dir = str(tmp_path / "emu")
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server, CaSession(server.info["ca_path"]) as http:
        control = server.info["control_url"]
        http.post(control + "/users", json={"users": [{"userPrincipalName": "temp@contoso.onmicrosoft.com"}]}, timeout=10)
        _token(http, server.info)
        http.post(control + "/reset", timeout=10).raise_for_status()
        http.post(control + "/users", json={"users": [{"userPrincipalName": "after@contoso.onmicrosoft.com"}]}, timeout=10)
        _token(http, server.info)
        last_seq = http.get(control + "/requests", timeout=10).json()["last_seq"]
    with open(os.path.join(state_dir, "tenant.jsonl"), "ab") as handle:
        handle.write(b'{"op": "user", "id": "x", "upn": "torn@cont')  # what a SIGKILL mid-write leaves
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server, CaSession(server.info["ca_path"]) as http:
        users = set(_oracle(http, server.info))
        assert "after@contoso.onmicrosoft.com" in users and ADELE in users
        assert not {"temp@contoso.onmicrosoft.com", "torn@cont"} & users
        log = http.get(server.info["control_url"] + "/requests", timeout=10).json()
        assert len(log["requests"]) == 1 and log["last_seq"] == last_seq  # reset cleared the log; seq kept growing
        http.delete(server.info["control_url"] + "/requests", timeout=10).raise_for_status()
    with EmulatorServer(state_dir, persist=True, profile=IDEAL) as server, CaSession(server.info["ca_path"]) as http:
        log = http.get(server.info["control_url"] + "/requests", timeout=10).json()
        assert log == {"requests": [], "last_seq": last_seq}


def test_without_persist_nothing_is_written_and_the_ca_is_new(tmp_path):
    state_dir = str(tmp_path / "emu")
    with EmulatorServer(state_dir) as server:
        first_ca = open(server.info["ca_path"], "rb").read()
        server.state.add_users([{"userPrincipalName": "x@contoso.onmicrosoft.com"}])
        assert server.info["persist"] is False
    assert sorted(os.listdir(state_dir)) == ["ca.pem"]
    with EmulatorServer(state_dir) as server:
        assert open(server.info["ca_path"], "rb").read() != first_ca
        assert server.state.find_user("x@contoso.onmicrosoft.com") is None


def _run(*args):
    return subprocess.run([sys.executable, RUN_PY] + list(args), capture_output=True, text=True, timeout=60, check=False)


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # ProcessLookupError: reaped between open() and read()
        return True


def test_sigkilled_emulator_restarts_on_the_same_port_with_the_same_photos(tmp_path):
    state_dir = str(tmp_path / "emu")
    started = _run("start", "--background", "--persist", "--profile", IDEAL, "--state-dir", state_dir)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout.strip().splitlines()[-1])
    upload = _jpeg((0, 120, 0))
    try:
        assert info["persist"] is True
        with CaSession(info["ca_path"]) as http:  # a client that keeps trusting the CA it got before the kill
            token = _token(http, info)
            http.put(info["graph_url"] + "/users/%s/photo/$value" % ADELE, data=upload,
                     headers=dict(JPEG, Authorization="Bearer " + token), timeout=10).raise_for_status()
            os.kill(info["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not _gone(info["pid"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            again = _run("start", "--background", "--persist", "--profile", IDEAL, "--state-dir", state_dir, "--port", str(info["port"]))
            assert again.returncode == 0, again.stderr
            restarted = json.loads(again.stdout.strip().splitlines()[-1])
            assert (restarted["port"], restarted["ca_path"]) == (info["port"], info["ca_path"]) and restarted["pid"] != info["pid"]
            old = http.get(info["graph_url"] + "/users/%s/photo/$value" % ADELE, headers={"Authorization": "Bearer " + token}, timeout=10)
            assert old.status_code == 401  # a restart revokes every token
            fresh = _token(http, info)
            got = http.get(info["graph_url"] + "/users/%s/photo/$value" % ADELE, headers={"Authorization": "Bearer " + fresh}, timeout=10)
            assert got.content == upload
            puts = [entry for entry in http.get(info["control_url"] + "/requests", timeout=10).json()["requests"] if entry["method"] == "PUT"]
            assert len(puts) == 1 and puts[0]["status"] == 200  # the log written before the kill is still there
    finally:
        stopped = _run("stop", "--state-dir", state_dir)
    assert stopped.returncode == 0
    try:
        requests.get(info["control_url"] + "/health", verify=info["ca_path"], timeout=2)
        raise AssertionError("the emulator still answers after stop")
    except requests.exceptions.ConnectionError:
        pass
