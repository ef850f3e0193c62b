# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault hooks added for issue 8's fault matrix: raw bodies, cut-off answers, drops after the write was applied,
hostile $batch answers (mangle), skip and body_regex, random throttling with a seed, token revocation; and issue 16's
wire faults: answers that trickle, answers padded to any size (with Content-Length or chunked), absurd Retry-After."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import ssl
import time

import pytest
import requests
from PIL import Image

from emulator.server import PIECE_BYTES, EmulatorServer, body_pieces, chunk_framed  # conftest.py put tests/ on sys.path

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
    {"status": 503, "trickle": "slow"},
    {"status": 503, "trickle": {"bytes": 1}},
    {"status": 503, "trickle": {"every_ms": 0}},
    {"status": 503, "trickle": {"every_ms": 10, "bytes": 0}},
    {"status": 503, "trickle": {"every_ms": 10, "headers": 1}},
    {"status": 503, "trickle": {"every_ms": 10, "speed": 1}},
    {"status": 503, "pad_to": 0},
    {"status": 503, "pad_to": True},
    {"status": 503, "pad_to": "1MB"},
    {"status": 503, "chunked": "yes"},
    {"status": "drop", "pad_to": 10},
    {"status": "drop_after", "trickle": {"every_ms": 5}},
    {"status": "drop", "chunked": True},
    {"pad_to": 10},
])
def test_bad_faults_are_refused(api, fault):
    resp = api.control("PUT", "/behaviours", json={"faults": [fault]})
    assert resp.status_code == 400, fault
    assert api.control("GET", "/behaviours").json()["faults"] == []


def test_fault_defaults_are_shown(api):
    faults = api.behave(faults=[{"status": "drop_after"}, {"mangle": "list"}, {"status": 503, "trickle": {"every_ms": 5}}])["faults"]
    assert (faults[0]["status"], faults[0]["after_apply"], faults[0]["skip"]) == ("drop", True, 0)
    assert (faults[1]["status"], faults[1]["mangle"], faults[1]["after_apply"]) == (None, "list", True)
    assert (faults[0]["trickle"], faults[0]["pad_to"], faults[0]["chunked"]) == (None, None, False)
    assert faults[2]["trickle"] == {"bytes": 1, "every_ms": 5, "headers": False}


@pytest.mark.parametrize("fault, message", [
    ({"status": 503, "trickle": {"every_ms": 0}}, "faults: trickle every_ms must be a number > 0 and <= 600000"),
    ({"status": 503, "trickle": {"every_ms": 1, "bytes": 0}}, "faults: trickle bytes must be an integer from 1 to 1048576"),
    ({"status": 503, "trickle": {"every_ms": 1, "pace": 2}}, "faults: unknown trickle key 'pace' (known: bytes, every_ms, headers)"),
    ({"status": 503, "pad_to": -5}, "faults: pad_to must be an integer >= 1 (bytes of the body once padded)"),
    ({"status": 503, "chunked": 1}, "faults: chunked must be true or false"),
    ({"status": "drop", "trickle": {"every_ms": 1}}, 'faults: a "drop" sends nothing: raw_body, mangle, truncate_to, trickle,'),
])
def test_bad_wire_faults_say_what_is_wrong(api, fault, message):
    resp = api.control("PUT", "/behaviours", json={"faults": [fault]})
    assert resp.status_code == 400 and resp.json()["error"].startswith(message), resp.text


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


# ---------------------------------------------------------------- issue 16: wire faults and absurd waits


def _open(info, timeout):
    """A TLS connection to the emulator whose every recv() gives up after `timeout` seconds of silence (an idle
    timeout, like requests' read timeout)."""
    context = ssl.create_default_context(cafile=info["ca_path"])
    plain = socket.create_connection((info["host"], info["port"]), timeout=timeout)
    return context.wrap_socket(plain, server_hostname=info["host"])


def _send_get(conn, info, path, token):
    conn.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                  % (path, info["host"], info["port"], token)).encode("ascii"))


class _Arrivals:
    """Reads one Content-Length answer from a connection, noting when each piece arrived (monotonic seconds)."""

    def __init__(self, conn):
        self.conn = conn
        self.started = time.monotonic()
        self.data = b""
        self.head_at = None
        self.first_byte_at = None
        self.gaps = []
        self.recvs_before_head = 0

    def read_answer(self):
        last = self.started
        while not self._complete():
            chunk = self.conn.recv(65536)  # socket.timeout here means an idle gap longer than the client allows
            if not chunk:
                raise AssertionError("the server closed after %d bytes" % len(self.data))
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now
            if self.first_byte_at is None:
                self.first_byte_at = now - self.started
            self.data += chunk
            if self.head_at is None:
                self.recvs_before_head += 1
                if b"\r\n\r\n" in self.data:
                    self.head_at = now - self.started
        self.done_at = time.monotonic() - self.started
        return self

    def _complete(self):
        head, found, body = self.data.partition(b"\r\n\r\n")
        return bool(found) and len(body) >= int(self.headers(head)["content-length"])

    @staticmethod
    def headers(head):
        lines = head.decode("latin-1").split("\r\n")
        return {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}

    @property
    def status_line(self):
        return self.data.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def body(self):
        return self.data.partition(b"\r\n\r\n")[2]


def _wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_trickle_sends_the_body_slowly_and_never_stays_silent_for_long(api, rw_token):
    real = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).content
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "after_apply": True,
                        "trickle": {"bytes": 16, "every_ms": 200}}])
    pieces = -(-len(real) // 16)
    with _open(api.info, timeout=3.0) as conn:  # an idle timeout 15 times the pause: it must never fire
        _send_get(conn, api.info, "/v1.0/users/%s/photo" % ALEX, rw_token)
        answer = _Arrivals(conn).read_answer()
    assert answer.status_line.startswith("HTTP/1.1 200") and answer.body == real
    # Every piece waits its pause, so the whole answer takes longer than the idle timeout allows for one silence.
    assert answer.done_at >= 0.95 * pieces * 0.2 > 3.0
    assert answer.head_at < answer.done_at / 2  # the headers came at once, the body trickled after them
    assert max(answer.gaps) < 3.0
    assert [entry["fault"] for entry in api.log() if entry["method"] == "GET"][-1] == "after_apply+trickle"


def test_trickle_of_the_headers_too_on_a_graph_error(api, rw_token):
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": 503, "retry_after": "1",
                        "trickle": {"bytes": 64, "every_ms": 150, "headers": True}}])
    with _open(api.info, timeout=3.0) as conn:
        _send_get(conn, api.info, "/v1.0/users/%s/photo" % ALEX, rw_token)
        answer = _Arrivals(conn).read_answer()
    head = answer.data.partition(b"\r\n\r\n")[0]
    assert answer.status_line.startswith("HTTP/1.1 503")
    assert _Arrivals.headers(head)["retry-after"] == "1"
    assert json.loads(answer.body)["error"]["code"] == "ServiceUnavailable"
    assert answer.first_byte_at >= 0.15  # not even the status line comes at once
    assert answer.recvs_before_head >= 2 and answer.head_at >= 0.95 * (len(head) // 64) * 0.15


def test_a_trickling_answer_holds_no_one_else_and_stops_when_its_client_hangs_up(api, emulator, rw_token):
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "status": 200, "raw_body": "x" * 10_000,
                        "trickle": {"bytes": 1, "every_ms": 50}}])  # 500 s of answer
    conn = _open(api.info, timeout=10.0)
    try:
        _send_get(conn, api.info, "/v1.0/users/%s/photo" % ALEX, rw_token)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")  # the headers, at once
        assert conn.recv(1) == b"x"
        assert emulator.trickling == 1
        # Another client is served meanwhile: one thread per connection.
        other = api.graph("GET", "/users/%s/photos" % ALEX, rw_token)
        assert other.status_code == 200 and other.json()["value"]
        assert emulator.trickling == 1
    finally:
        conn.close()
    assert _wait_for(lambda: emulator.trickling == 0), "the trickle went on after its client hung up"
    assert [entry["fault"] for entry in api.log() if entry["path"].endswith("/photo")] == ["raw_body+trickle"]


def test_stop_ends_a_trickle_whose_client_waits_on(tmp_path):
    server = EmulatorServer(str(tmp_path / "emulator"), profile="ideal").start()
    control = requests.Session()
    control.trust_env, control.verify = False, server.info["ca_path"]
    with control:
        token = control.post(server.info["control_url"] + "/tokens", json={}, timeout=10).json()["access_token"]
        control.put(server.info["control_url"] + "/behaviours", json={"faults": [
            {"status": 503, "trickle": {"bytes": 1, "every_ms": 1000}}]}, timeout=10).raise_for_status()
    with _open(server.info, timeout=10.0) as conn:
        _send_get(conn, server.info, "/v1.0/users/%s/photo" % ALEX, token)
        assert conn.recv(65536).startswith(b"HTTP/1.1 503")  # the headers; the body trickles, a byte a second
        assert server.trickling == 1
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert _closed_soon(conn), "the stopped emulator left the trickling connection open"


def _closed_soon(conn):
    """True when the server closes the connection before the client's 10 s idle timeout (a byte or two may come)."""
    while True:
        try:
            if not conn.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:  # reset: closed as well
            return True


def test_pad_to_announces_and_sends_the_padded_length(api, rw_token):
    real = api.graph("GET", "/users/%s/photo" % ALEX, rw_token).content
    api.behave(faults=[{"method": "GET", "path_regex": "photo$", "after_apply": True, "pad_to": 3_000_000}])
    resp = api.graph("GET", "/users/%s/photo" % ALEX, rw_token)
    assert resp.status_code == 200 and resp.headers["Content-Length"] == "3000000" and len(resp.content) == 3_000_000
    assert resp.content.startswith(real) and not resp.content[len(real):].strip()
    assert resp.json() == json.loads(real)  # whitespace padding: still the same JSON
    entry = [entry for entry in api.log() if entry["method"] == "GET"][-1]
    assert (entry["fault"], entry["response_size"]) == ("after_apply+pad", 3_000_000)


def _streamed(resp):
    """(bytes received, first bytes) of a streamed requests answer."""
    total, first = 0, b""
    for chunk in resp.iter_content(1 << 20):
        if len(first) < 1 << 16:
            first += chunk[:1 << 16]
        total += len(chunk)
    return total, first


def test_pad_to_chunked_sends_no_content_length(api, rw_token):
    photo = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    api.behave(faults=[{"method": "GET", "path_regex": r"\$value$", "after_apply": True, "pad_to": 6_000_000, "chunked": True}])
    with api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token, stream=True) as resp:
        assert "Content-Length" not in resp.headers and resp.headers["Transfer-Encoding"] == "chunked"
        total, first = _streamed(resp)
    assert total == 6_000_000 and first.startswith(photo)
    assert [entry["fault"] for entry in api.log() if entry["method"] == "GET"][-1] == "after_apply+pad+chunked"


def test_a_batch_item_with_a_wire_fault_pads_the_whole_envelope(api, rw_token):
    photo = api.graph("GET", "/users/%s/photo/$value" % ALEX, rw_token).content
    api.behave(faults=[{"method": "GET", "path_regex": r"photo/\$value$", "after_apply": True, "pad_to": 2_000_000, "chunked": True}])
    resp = _batch(api, rw_token, "/users/%s/photo/$value" % ALEX, "/users/%s/photo" % ALEX)
    assert "Content-Length" not in resp.headers and len(resp.content) == 2_000_000
    items = {entry["id"]: entry for entry in resp.json()["responses"]}
    assert base64.b64decode(items["0"]["body"]) == photo and items["1"]["status"] == 200  # the items themselves intact
    faults = {entry["api"]: entry["fault"] for entry in api.log() if entry["fault"]}
    assert faults == {"graph": "after_apply+pad+chunked", "batch": "item_wire+pad+chunked"}


def test_pad_to_gigabytes_is_streamed_and_a_client_may_hang_up_early(api, rw_token):
    api.behave(faults=[{"method": "POST", "path_regex": r"/\$batch$", "after_apply": True, "pad_to": 4_000_000_000}])
    payload = json.dumps({"requests": [{"id": "0", "method": "GET", "url": "/users/%s/photo" % ALEX}]}).encode("ascii")
    with _open(api.info, timeout=10.0) as conn:
        conn.sendall(("POST /v1.0/$batch HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n" % (api.info["host"], api.info["port"], rw_token, len(payload))).encode("ascii") + payload)
        data = b""
        while len(data) < 1 << 20:
            data += conn.recv(1 << 16)
    head, dummy, body = data.partition(b"\r\n\r\n")
    assert _Arrivals.headers(head)["content-length"] == "4000000000"
    assert json.loads(body.rstrip(b" "))["responses"][0]["status"] == 200
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200  # the emulator let the stream go


def test_padded_pieces_are_small_whatever_the_size():
    sizes = [len(piece) for piece in body_pieces(b"{}", 10 ** 10)]  # 10 GB of answer, never held
    assert sum(sizes) == 10 ** 10 and max(sizes) == PIECE_BYTES
    assert b"".join(body_pieces(b"abcdef", 10, limit=4)) == b"abcd"
    assert b"".join(chunk_framed(body_pieces(b"abc", 5))) == b"3\r\nabc\r\n2\r\n  \r\n0\r\n\r\n"
    assert b"".join(chunk_framed(body_pieces(b"abc", 3, limit=2), complete=False)) == b"2\r\nab\r\n"


def test_an_absurd_retry_after_is_sent_as_given(api, rw_token):
    api.behave(faults=[{"method": "PUT", "path_regex": PUT_PATH, "status": 429, "retry_after": "86400"},
                       {"method": "POST", "path_regex": r"/\$batch$", "status": 429, "retry_after": 86400},
                       {"method": "GET", "path_regex": "photo$", "status": 429, "retry_after": "86400"}])
    put = api.graph("PUT", "/users/%s/photo/$value" % ADELE, rw_token, data=_jpeg(), headers=JPEG)
    assert (put.status_code, put.headers["Retry-After"], put.json()["error"]["code"]) == (429, "86400", "TooManyRequests")
    assert api.oracle(ADELE)["has_photo"] is False  # refused before the work
    envelope = _batch(api, rw_token, "/users/%s/photo" % ALEX)
    assert (envelope.status_code, envelope.headers["Retry-After"]) == (429, "86400")
    item = _batch(api, rw_token, "/users/%s/photo" % ALEX).json()["responses"][0]
    assert (item["status"], item["headers"]["Retry-After"]) == (429, "86400")
    assert [entry["retry_after"] for entry in api.log() if entry["status"] == 429] == ["86400"] * 3
