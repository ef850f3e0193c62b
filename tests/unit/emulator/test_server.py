# SPDX-License-Identifier: GPL-3.0-or-later
"""Server mechanics that a benchmark relies on: keep-alive, handshakes off the accept loop, in-process start and stop."""

from __future__ import annotations

import http.client
import json
import socket
import ssl

import pytest
import requests

from emulator.server import EmulatorServer


def _tls_connection(info):
    context = ssl.create_default_context(cafile=info["ca_path"])
    return http.client.HTTPSConnection("127.0.0.1", info["port"], context=context, timeout=5)


def test_requests_share_one_keep_alive_connection(api):
    conn = _tls_connection(api.info)
    try:
        sockets = set()
        for dummy in range(3):
            conn.request("GET", "/_emulator/health")
            resp = conn.getresponse()
            assert json.loads(resp.read()) == {"ok": True}
            assert resp.getheader("Connection") != "close"
            sockets.add(id(conn.sock))
        assert len(sockets) == 1
    finally:
        conn.close()


def test_a_client_that_never_handshakes_does_not_block_others(api):
    silent = socket.create_connection(("127.0.0.1", api.info["port"]), timeout=5)
    try:
        conn = _tls_connection(api.info)
        conn.request("GET", "/_emulator/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        silent.close()


def test_unknown_paths_answer_404_and_are_logged(api):
    resp = api.call("GET", "/favicon.ico")
    assert resp.status_code == 404
    assert api.log()[-1]["path"] == "/favicon.ico"


def test_in_process_server_starts_and_stops(tmp_path):
    with EmulatorServer(str(tmp_path)) as server:
        info = server.info
        assert info["port"] > 0 and info["ca_path"].startswith(str(tmp_path))
        assert set(info) >= {"graph_url", "outlook_url", "authority_host", "control_url", "ca_path", "identity_endpoint",
                             "identity_header", "imds_host", "port", "pid"}
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(info["control_url"] + "/health", verify=info["ca_path"], timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(info["control_url"] + "/health", verify=info["ca_path"], timeout=2)
