# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import threading

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BATCH_PIXEL_BUDGET, BulkEngine, Job, content_groups, summarize
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata, UserNotFoundError
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy


def jpeg(color, size=(60, 60)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


class FakeTenant:
    """PhotoClient interface over a dict user -> bytes, counting batched and single calls; thread-safe."""

    def __init__(self, photos, unknown=()):
        self.photos = dict(photos)
        self.unknown = set(unknown)
        self.lock = threading.Lock()
        self.calls = []

    def _record(self, *call):
        with self.lock:
            self.calls.append(call)

    def _meta(self, user):
        if user in self.unknown:
            return UserNotFoundError(404, "Request_ResourceNotFound", "user %r was not found" % user)
        data = self.photos.get(user)
        if data is None:
            return None
        return PhotoMetadata("60x60", 60, 60, "image/jpeg", hashlib.sha256(data).hexdigest()[:8])

    def get_metadata_many(self, users):
        self._record("metadata_many", tuple(users))
        return {user: self._meta(user) for user in users}

    def get_content_many(self, users):
        self._record("content_many", tuple(users))
        return {user: self.photos.get(user) for user in users}

    def read_content_many(self, users):
        # No ETag headers: the service is not known to send them on $value.
        return self.get_content_many(users), {}

    def get_metadata(self, user):
        self._record("metadata", user)
        return self._meta(user)

    def get_content(self, user):
        self._record("content", user)
        return self.photos.get(user)

    def put_content(self, user, data, content_type):
        self._record("put", user)
        with self.lock:
            self.photos[user] = data

    def delete_content(self, user):
        self._record("delete", user)
        with self.lock:
            self.photos.pop(user, None)

    def writes(self):
        return [c for c in self.calls if c[0] in ("put", "delete")]


@pytest.fixture
def sources(tmp_path):
    paths = {}
    for name, color in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        path = tmp_path / (name + ".jpg")
        path.write_bytes(jpeg(color))
        paths[name] = str(path)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    paths["broken"] = str(tmp_path / "broken.jpg")
    return paths


def run(tenant, jobs, **kwargs):
    policy = kwargs.pop("policy", PhotoPolicy(read_after_write=False))
    return BulkEngine(tenant, policy, **kwargs).run(jobs)


def test_mixed_cases_each_reported_and_one_failure_stops_nothing(sources):
    red = open(sources["red"], "rb").read()
    tenant = FakeTenant({"same@x": red, "old@x": jpeg((0, 200, 0)), "leaver@x": red}, unknown={"ghost@x"})
    jobs = [Job("new@x", src=sources["red"]), Job("same@x", src=sources["red"]), Job("old@x", src=sources["blue"]),
            Job("ghost@x", src=sources["red"]), Job("badfile@x", src=sources["broken"]), Job("leaver@x", state="absent"),
            Job("dup@x", src=sources["red"], problem=ConfigurationError("user dup@x is listed 2 times"))]
    results = run(tenant, jobs, parallelism=1)
    assert [r["action"] for r in results] == ["uploaded", "unchanged", "uploaded", "failed", "failed", "removed", "failed"]
    assert "was not found" in results[3]["message"]
    assert "not an image" in results[4]["message"]
    assert summarize(results) == dict(total=7, uploaded=2, removed=1, unchanged=1, skipped=0, failed=3, not_attempted=0)
    assert sorted(tenant.writes()) == [("delete", "leaver@x"), ("put", "new@x"), ("put", "old@x")]
    # Reads are batched: no single-user GET at all when nothing waits for propagation.
    assert {c[0] for c in tenant.calls} == {"metadata_many", "content_many", "put", "delete"}
    assert "dup@x" not in tenant.calls[0][1]


def test_second_run_sends_no_write(sources):
    tenant = FakeTenant({})
    jobs = [Job("u%02d@x" % n, src=sources["red" if n % 2 else "blue"]) for n in range(45)]
    first = run(tenant, jobs, parallelism=4)
    assert summarize(first)["uploaded"] == 45
    before = len(tenant.writes())
    second = run(tenant, jobs, parallelism=4)
    assert summarize(second)["unchanged"] == 45 and len(tenant.writes()) == before
    assert [r["user"] for r in second] == [j.user for j in jobs]  # input order kept across workers


def test_chunks_of_twenty_and_no_download_without_photo(sources):
    tenant = FakeTenant({"has@x": jpeg((1, 2, 3))})
    jobs = [Job("u%02d@x" % n, src=sources["red"]) for n in range(39)] + [Job("has@x", src=sources["red"])]
    run(tenant, jobs, parallelism=1, check_mode=True)
    batches = [c for c in tenant.calls if c[0] == "metadata_many"]
    assert [len(c[1]) for c in batches] == [20, 20]
    assert [c for c in tenant.calls if c[0] == "content_many"] == [("content_many", ("has@x",))]
    assert tenant.writes() == []


def test_only_if_missing_downloads_nothing(sources):
    tenant = FakeTenant({"has@x": jpeg((1, 2, 3))})
    results = run(tenant, [Job("has@x", src=sources["red"]), Job("none@x", src=sources["red"])],
                  policy=PhotoPolicy(only_if_missing=True, read_after_write=False))
    assert [r["action"] for r in results] == ["skipped", "uploaded"]
    assert not [c for c in tenant.calls if c[0] == "content_many"]


def test_check_mode_and_diff(sources):
    tenant = FakeTenant({"old@x": jpeg((0, 200, 0))})
    results = run(tenant, [Job("old@x", src=sources["red"])], check_mode=True, want_diff=True)
    assert results[0]["action"] == "uploaded" and results[0]["message"].startswith("would be replaced")
    assert results[0]["diff"]["before"]["has_photo"] is True
    assert tenant.writes() == []


def test_content_groups_respect_the_pixel_budget():
    big = PhotoMetadata("4000x4000", 4000, 4000, "image/jpeg", "x")
    small = PhotoMetadata("96x96", 96, 96, "image/jpeg", "y")
    metadata = {"big1": big, "big2": big, "s1": small, "s2": small}
    groups = list(content_groups(["s1", "big1", "big2", "s2"], metadata))
    assert groups == [["s1"], ["big1"], ["big2"], ["s2"]]  # an oversize photo travels alone
    assert 4000 * 4000 > BATCH_PIXEL_BUDGET
    smalls = {"s%d" % n: small for n in range(30)}
    assert [len(g) for g in content_groups(sorted(smalls), smalls)] == [30]  # small photos share one group


def test_removing_a_deleted_user_is_skipped_not_failed():
    tenant = FakeTenant({}, unknown={"gone@x"})
    results = run(tenant, [Job("gone@x", state="absent")])
    assert results[0]["action"] == "skipped" and "nothing to remove" in results[0]["message"]
    assert tenant.writes() == []


def test_failed_entries_have_every_key(sources):
    results = run(FakeTenant({}), [Job("a@x", src=sources["broken"])])
    assert results[0]["action"] == "failed"
    assert {"photo", "sha256", "previous_sha256", "comparison", "backup_file", "conversion"} <= set(results[0])


def test_keep_limits_entries_but_summary_counts_everyone(sources):
    from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import KEEP
    red = open(sources["red"], "rb").read()
    tenant = FakeTenant({"same@x": red}, unknown={"ghost@x"})
    jobs = [Job("same@x", src=sources["red"]), Job("new@x", src=sources["red"]), Job("ghost@x", src=sources["red"])]
    engine = BulkEngine(tenant, PhotoPolicy(read_after_write=False), keep=KEEP["failed"])
    results = engine.run(jobs)
    assert [r["user"] for r in results] == ["ghost@x"]
    assert engine.summary == dict(total=3, uploaded=1, removed=0, unchanged=1, skipped=0, failed=1, not_attempted=0)
    engine = BulkEngine(tenant, PhotoPolicy(read_after_write=False), keep=KEEP["changed"])
    assert [r["action"] for r in engine.run(jobs + [Job("other@x", src=sources["blue"])])] == ["failed", "uploaded"]


class BatchOnly(FakeTenant):
    """A tenant whose one-user reads fail the test: everything the engine decides on must come from its batches."""

    def get_metadata(self, user):
        raise AssertionError("single-user metadata read for %s" % user)

    def get_content(self, user):
        raise AssertionError("single-user content read for %s" % user)


@pytest.mark.parametrize("only_if_missing", [False, True])
def test_reconcile_decides_on_what_the_batch_read(sources, only_if_missing):
    red = open(sources["red"], "rb").read()
    tenant = BatchOnly({"same@x": red, "old@x": jpeg((0, 200, 0)), "leaver@x": red, "gone@x": None})
    jobs = [Job("new@x", src=sources["red"]), Job("same@x", src=sources["red"]), Job("old@x", src=sources["blue"]),
            Job("leaver@x", state="absent"), Job("gone@x", state="absent")]
    results = run(tenant, jobs, parallelism=2, policy=PhotoPolicy(only_if_missing=only_if_missing, read_after_write=False))
    kept = "skipped" if only_if_missing else None
    assert [r["action"] for r in results] == ["uploaded", kept or "unchanged", kept or "uploaded", "removed", "unchanged"]
    assert all(r["message"] for r in results)
    assert {c[0] for c in tenant.calls} <= {"metadata_many", "content_many", "put", "delete"}


def test_a_png_sent_as_png_is_warned_once_per_run(tmp_path, monkeypatch):
    """Issue 10: without conversion a PNG goes out as image/png; the cause is run-wide, so one warning, not one per user."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(buffer, "PNG")
    path = tmp_path / "green.png"
    path.write_bytes(buffer.getvalue())
    warnings = []
    policy = PhotoPolicy(read_after_write=False, warn=warnings.append)
    tenant = FakeTenant({})
    results = BulkEngine(tenant, policy, convert=False, parallelism=4).run([Job("u%d@x" % n, src=str(path)) for n in range(30)])
    assert [r["action"] for r in results] == ["uploaded"] * 30
    assert len(warnings) == 1 and "convert=false" in warnings[0] and "every PNG source of this run" in warnings[0]
