# SPDX-License-Identifier: GPL-3.0-or-later
"""The many-user engine's containment contract (issue 8, defects 1 and 4, build items 1 and 4).

Whatever goes wrong for one user is that user's failed entry; errors nobody can escape stop the run, and the
run still accounts for every user.
"""
from __future__ import annotations

import struct
import zlib

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.many_users import _engine as _bulk
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import ACTIONS, BulkEngine, Job
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError, GraphError, TransportError
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg


def png_bomb(width=50000, height=50000):
    """A tiny, valid-looking PNG whose header declares width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def red(tmp_path):
    path = tmp_path / "red.jpg"
    path.write_bytes(jpeg((200, 0, 0)))
    return str(path)


def engine(tenant, **kwargs):
    return BulkEngine(tenant, PhotoPolicy(read_after_write=False), **kwargs)


def adds_up(eng, users):
    assert eng.summary["total"] == users
    assert sum(eng.summary[action] for action in ACTIONS) == users


def test_regression_bomb_source_fails_only_that_user(tmp_path, red):
    """issue 8 defect 1: a PNG declaring 50000x50000 pixels, for a user who already has a photo, crashed the run."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    tenant = FakeTenant({"has@x": jpeg((0, 200, 0)), "other@x": jpeg((0, 0, 200))})
    eng = engine(tenant, parallelism=2)
    results = eng.run([Job("has@x", src=str(bomb)), Job("other@x", src=red)])
    assert [r["action"] for r in results] == ["failed", "uploaded"]
    assert "bomb.png" in results[0]["message"]
    assert tenant.writes() == [("put", "other@x")]
    assert eng.failed_users == ["has@x"] and eng.written == 1
    adds_up(eng, 2)


class Surprising(FakeTenant):
    """Raises non-OutlookError exceptions from chosen calls, as a buggy parser or library would."""

    def __init__(self, photos, broken_chunk_user=None, broken_content=False):
        super().__init__(photos)
        self.broken_chunk_user = broken_chunk_user
        self.broken_content = broken_content

    def get_metadata_many(self, users):
        if self.broken_chunk_user in users:
            raise TypeError("string indices must be integers")
        return super().get_metadata_many(users)

    def get_content_many(self, users):
        if self.broken_content:
            raise ValueError("Incorrect padding")
        return super().get_content_many(users)


def test_regression_unexpected_read_errors_fail_that_chunk_only(red):
    """issue 8 defect 1: a malformed $batch answer raised TypeError/KeyError out of the reader thread and the task
    returned nothing although photos had been replaced."""
    users = ["u%02d@x" % n for n in range(45)]
    tenant = Surprising({}, broken_chunk_user="u25@x")
    eng = engine(tenant, parallelism=4)
    results = eng.run([Job(user, src=red) for user in users])
    failed = [r["user"] for r in results if r["action"] == "failed"]
    assert failed == users[20:40]  # the chunk of 20 that held u25
    assert all("unexpected TypeError" in r["message"] for r in results if r["action"] == "failed")
    assert eng.written == 25 and len(tenant.writes()) == 25
    adds_up(eng, 45)


def test_unexpected_content_errors_fail_those_users(red):
    tenant = Surprising({"a@x": jpeg((0, 200, 0)), "b@x": jpeg((0, 0, 200))}, broken_content=True)
    eng = engine(tenant)
    results = eng.run([Job("a@x", src=red), Job("b@x", src=red), Job("c@x", src=red)])
    assert [r["action"] for r in results] == ["failed", "failed", "failed"]
    assert "Incorrect padding" in results[0]["message"]
    assert tenant.writes() == []


def test_a_worker_bug_fails_its_user_not_the_run(monkeypatch, red):
    calls = []

    def flaky_load(path, **options):
        calls.append(path)
        if len(calls) == 2:
            raise RecursionError("maximum recursion depth exceeded")
        return real_load(path, **options)
    real_load = _bulk.load_source
    monkeypatch.setattr(_bulk, "load_source", flaky_load)
    eng = engine(FakeTenant({}), parallelism=1)
    results = eng.run([Job("a@x", src=red), Job("b@x", src=red), Job("c@x", src=red)])
    assert [r["action"] for r in results] == ["uploaded", "failed", "uploaded"]
    assert "RecursionError" in results[1]["message"]


class Revoking(FakeTenant):
    """Accepts `allowed` writes, then every request fails with error (credentials revoked, service gone)."""

    def __init__(self, error, allowed):
        super().__init__({})
        self.error = error
        self.allowed = allowed

    def _check(self):
        with self.lock:
            if len(self.writes()) >= self.allowed:
                raise self.error

    def get_metadata_many(self, users):
        self._check()
        return super().get_metadata_many(users)

    def put_content(self, user, data, content_type):
        self._check()
        super().put_content(user, data, content_type)


@pytest.mark.parametrize("error", [
    AuthenticationError("Could not get a token: AADSTS7000222: the secret expired"),
    TransportError("GET https://graph failed after 6 attempts: ConnectionError: Connection refused"),
    GraphError(401, "InvalidAuthenticationToken", "Access token validation failure."),
])
def test_an_error_nobody_escapes_stops_the_run_and_accounts_for_everyone(error, red):
    users = ["u%03d@x" % n for n in range(100)]
    tenant = Revoking(error, allowed=10)
    eng = engine(tenant, parallelism=1)
    results = eng.run([Job(user, src=red) for user in users])
    assert eng.stop.error is error
    assert eng.written == 10 and len(tenant.writes()) == 10
    assert eng.summary["uploaded"] == 10
    assert eng.summary["failed"] >= 1
    assert eng.summary["not_attempted"] >= 60  # later chunks were not even read
    assert eng.not_attempted_users == [r["user"] for r in results if r["action"] == "not_attempted"]
    assert all(error.msg in r["message"] for r in results if r["action"] == "not_attempted")
    adds_up(eng, 100)
    # Requests after the stop: none but the one that met the error per chunk already in flight.
    reads = [c for c in tenant.calls if c[0] == "metadata_many"]
    assert len(reads) <= 2


def test_a_per_user_error_does_not_stop_the_run(red):
    tenant = FakeTenant({}, unknown={"ghost@x"})
    eng = engine(tenant)
    eng.run([Job("ghost@x", src=red)] + [Job("u%d@x" % n, src=red) for n in range(30)])
    assert eng.stop.error is None and eng.summary["uploaded"] == 30 and eng.summary["failed"] == 1


class Disagreeing(FakeTenant):
    """Metadata lists a photo, but its content answers 'no photo' (None) `misses` times."""

    def __init__(self, photos, misses):
        super().__init__(photos)
        self.misses = misses

    def get_content_many(self, users):
        self._record("content_many", tuple(users))
        return {user: None for user in users}

    def get_content(self, user):
        self._record("content", user)
        if self.misses > 1:
            self.misses -= 1
            return None
        return self.photos.get(user)


@pytest.mark.parametrize("state", ["present", "absent"])
def test_regression_metadata_without_content_is_an_error_not_no_photo(state, red):
    """issue 8 defect 4: metadata present but $value 404 was read as 'no photo': absent reported ok and deleted
    nothing; present replaced the photo without a backup."""
    tenant = Disagreeing({"a@x": jpeg((0, 200, 0))}, misses=5)
    eng = engine(tenant)
    results = eng.run([Job("a@x", state=state, src=red if state == "present" else None)])
    assert results[0]["action"] == "failed"
    assert "answered 'no photo' for its content twice" in results[0]["message"]
    assert tenant.writes() == []
    assert [c[0] for c in tenant.calls].count("content") == 1  # the batch answer, then one retry on its own


def test_metadata_without_content_once_is_retried_and_then_fine(red):
    tenant = Disagreeing({"a@x": jpeg((200, 0, 0))}, misses=1)
    eng = engine(tenant)
    results = eng.run([Job("a@x", src=red)])
    assert results[0]["action"] == "unchanged"
