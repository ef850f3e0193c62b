# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine with a state file (issue 11): a record that still holds skips the download; anything else compares."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job, summarize
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import StateFile
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg

IDENTITY = dict(api_url="https://graph.microsoft.com/v1.0", tenant="contoso.onmicrosoft.com")
SETTINGS = dict(compare="auto", pixel_tolerance=4.0, convert=True)


def sha(data):
    return hashlib.sha256(data).hexdigest()


class NoEtagTenant(FakeTenant):
    """A service whose metadata carries no @odata.mediaEtag."""

    def _meta(self, user):
        meta = super()._meta(user)
        if isinstance(meta, PhotoMetadata):
            meta.etag = None
        return meta


@pytest.fixture
def red(tmp_path):
    path = tmp_path / "red.jpg"
    path.write_bytes(jpeg((200, 0, 0)))
    return path


@pytest.fixture
def state(tmp_path):
    return StateFile(str(tmp_path / "state.json"), IDENTITY, SETTINGS)


def run(tenant, jobs, state, **kwargs):
    policy = kwargs.pop("policy", PhotoPolicy(read_after_write=False))
    engine = BulkEngine(tenant, policy, state_file=state, **kwargs)
    results = engine.run(jobs)
    return engine, results


def downloads(tenant):
    """Users whose photo was downloaded (batched or one by one)."""
    found = []
    for call in tenant.calls:
        if call[0] == "content_many":
            found.extend(call[1])
        elif call[0] == "content":
            found.append(call[1])
    return found


def users(count):
    return ["u%02d@x" % n for n in range(count)]


def test_a_record_that_still_holds_skips_the_download(red, state):
    tenant = FakeTenant({user: red.read_bytes() for user in users(45)})
    jobs = [Job(user, src=str(red)) for user in users(45)]
    engine, first = run(tenant, jobs, state, parallelism=3)
    assert summarize(first)["unchanged"] == 45 and sorted(downloads(tenant)) == users(45)
    assert engine.download_stats == dict(state_file_hits=0, photos_downloaded=45, bytes_downloaded=45 * len(red.read_bytes()))
    assert state.record("u07@x") == (sha(red.read_bytes()), tenant._meta("u07@x").etag)

    tenant.calls.clear()
    engine, second = run(tenant, jobs, state, parallelism=3, want_diff=True)
    assert downloads(tenant) == []
    assert [c[0] for c in tenant.calls] == ["metadata_many"] * 3   # one metadata $batch per 20 users, nothing else
    assert engine.download_stats == dict(state_file_hits=45, photos_downloaded=0, bytes_downloaded=0)
    assert {r["action"] for r in second} == {"unchanged"} and [r["user"] for r in second] == users(45)
    entry = second[0]
    assert entry["comparison"] == dict(method="state_file", distance=None)
    assert entry["message"] == "same photo (state file: same source file and etag as when last compared; not downloaded)"
    assert entry["photo"]["etag"] == tenant._meta("u00@x").etag and entry["sha256"] is None and entry["previous_sha256"] is None
    assert entry["changed"] is False and entry["diff"]["before"] == entry["diff"]["after"]


def test_a_changed_etag_is_compared_and_uploaded(red, state):
    tenant = FakeTenant({"a@x": red.read_bytes(), "b@x": red.read_bytes()})
    jobs = [Job("a@x", src=str(red)), Job("b@x", src=str(red))]
    run(tenant, jobs, state)
    tenant.photos["a@x"] = jpeg((0, 0, 200))   # someone set another photo: its etag changes
    tenant.calls.clear()
    engine, results = run(tenant, jobs, state)
    assert downloads(tenant) == ["a@x"]
    assert [r["action"] for r in results] == ["uploaded", "unchanged"]
    assert results[1]["comparison"]["method"] == "state_file"
    assert engine.download_stats["state_file_hits"] == 1
    # After an upload the etag is not known: recorded without one.
    assert state.record("a@x") == (sha(red.read_bytes()), None)


def test_a_changed_source_file_is_compared(red, state, tmp_path):
    tenant = FakeTenant({"a@x": red.read_bytes()})
    run(tenant, [Job("a@x", src=str(red))], state)
    red.write_bytes(jpeg((0, 200, 0)))   # HR replaced the photo
    tenant.calls.clear()
    _engine, results = run(tenant, [Job("a@x", src=str(red))], state)
    assert downloads(tenant) == ["a@x"] and results[0]["action"] == "uploaded"


def test_a_record_for_another_file_of_the_same_bytes_still_holds(red, state, tmp_path):
    """The record is about the bytes, not the path: a folder moved to another share is not downloaded again."""
    tenant = FakeTenant({"a@x": red.read_bytes()})
    run(tenant, [Job("a@x", src=str(red))], state)
    moved = tmp_path / "moved.jpg"
    moved.write_bytes(red.read_bytes())
    tenant.calls.clear()
    _engine, results = run(tenant, [Job("a@x", src=str(moved))], state)
    assert downloads(tenant) == [] and results[0]["comparison"]["method"] == "state_file"


def test_no_etag_means_every_run_compares(red, state):
    tenant = NoEtagTenant({"a@x": red.read_bytes()})
    for _unused in range(3):
        tenant.calls.clear()
        engine, results = run(tenant, [Job("a@x", src=str(red))], state)
        assert downloads(tenant) == ["a@x"] and results[0]["action"] == "unchanged"
        assert results[0]["comparison"]["method"] == "sha256" and engine.download_stats["state_file_hits"] == 0
    assert state.record("a@x") == (sha(red.read_bytes()), None)


def test_after_an_upload_one_more_comparison_then_no_download(red, state):
    tenant = FakeTenant({})
    jobs = [Job("a@x", src=str(red))]
    _engine, first = run(tenant, jobs, state)
    assert first[0]["action"] == "uploaded" and state.record("a@x") == (sha(red.read_bytes()), None)
    tenant.calls.clear()
    _engine, second = run(tenant, jobs, state)
    assert downloads(tenant) == ["a@x"] and second[0]["action"] == "unchanged"
    assert state.record("a@x") == (sha(red.read_bytes()), tenant._meta("a@x").etag)
    tenant.calls.clear()
    _engine, third = run(tenant, jobs, state)
    assert downloads(tenant) == [] and third[0]["comparison"]["method"] == "state_file"


def test_a_record_made_by_another_user_key_is_not_used(red, state):
    """Keys are case-insensitive, as Graph is, but a user named by UPN is not the same key as by object id."""
    tenant = FakeTenant({"Adele@X": red.read_bytes(), "0000-adele": red.read_bytes()})
    run(tenant, [Job("Adele@X", src=str(red))], state)
    tenant.calls.clear()
    run(tenant, [Job("0000-adele", src=str(red))], state)
    assert downloads(tenant) == ["0000-adele"]
    state.remember("adele@x", sha(red.read_bytes()), tenant._meta("Adele@X").etag)
    tenant.calls.clear()
    run(tenant, [Job("Adele@X", src=str(red))], state)
    assert downloads(tenant) == []


def test_removed_and_failed_users_lose_their_record(red, state, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    good = sha(red.read_bytes())
    tenant = FakeTenant({"gone@x": red.read_bytes(), "bad@x": red.read_bytes(), "dup@x": red.read_bytes()})
    for user in ("gone@x", "bad@x", "dup@x", "other@x"):
        state.remember(user, good, "E")
    jobs = [Job("gone@x", state="absent"), Job("bad@x", src=str(broken)),
            Job("dup@x", src=str(red), problem=ConfigurationError("user dup@x is listed 2 times"))]
    _engine, results = run(tenant, jobs, state)
    assert [r["action"] for r in results] == ["removed", "failed", "failed"]
    assert state.record("gone@x") is None and state.record("bad@x") is None and state.record("dup@x") is None
    assert state.record("other@x") == (good, "E")   # not in this run: kept


def test_a_user_the_read_failed_for_is_never_trusted(red, state):
    class BrokenContent(FakeTenant):
        def get_content_many(self, users):
            raise RuntimeError("the $batch answer was not JSON")
    tenant = BrokenContent({"a@x": jpeg((0, 0, 200))})
    _engine, results = run(tenant, [Job("a@x", src=str(red))], state)
    assert results[0]["action"] == "failed" and state.record("a@x") is None


def test_check_mode_uses_records_but_changes_none(red, state):
    tenant = FakeTenant({"same@x": red.read_bytes(), "old@x": jpeg((0, 0, 200))})
    state.remember("same@x", sha(red.read_bytes()), tenant._meta("same@x").etag)
    _engine, results = run(tenant, [Job("same@x", src=str(red)), Job("old@x", src=str(red)), Job("gone@x", state="absent")],
                           state, check_mode=True)
    assert [r["action"] for r in results] == ["unchanged", "uploaded", "unchanged"]
    assert downloads(tenant) == ["old@x"] and tenant.writes() == []
    assert state.record("old@x") is None and len(state) == 1


def test_only_if_missing_never_consults_the_records(red, state):
    tenant = FakeTenant({"has@x": jpeg((0, 0, 200))})
    state.remember("has@x", sha(red.read_bytes()), "stale")
    engine, results = run(tenant, [Job("has@x", src=str(red)), Job("none@x", src=str(red))], state,
                          policy=PhotoPolicy(only_if_missing=True, read_after_write=False))
    assert [r["action"] for r in results] == ["skipped", "uploaded"]
    assert downloads(tenant) == [] and engine.download_stats["state_file_hits"] == 0
    assert state.record("has@x") == (sha(red.read_bytes()), "stale")   # skipped: left as it was


def test_without_a_state_file_downloads_are_still_counted(red):
    blue = jpeg((0, 0, 200))
    tenant = FakeTenant({"a@x": red.read_bytes(), "b@x": blue})
    engine = BulkEngine(tenant, PhotoPolicy(read_after_write=False))
    engine.run([Job("a@x", src=str(red)), Job("b@x", src=str(red)), Job("c@x", src=str(red))])
    assert engine.download_stats == dict(state_file_hits=0, photos_downloaded=2, bytes_downloaded=len(red.read_bytes()) + len(blue))


def test_a_converted_source_is_recorded_by_its_file_bytes(state, tmp_path):
    """A PNG is uploaded as a JPEG conversion; the record holds the file's own SHA-256, which the next run can compute
    again without decoding or converting anything."""
    import io

    from PIL import Image

    from ansible_collections.o365.outlook.plugins.module_utils.photo._image import file_sha256, load_source
    png = tmp_path / "red.png"
    buffer = io.BytesIO()
    Image.new("RGB", (60, 60), (200, 0, 0)).save(buffer, "PNG")
    png.write_bytes(buffer.getvalue())
    source = load_source(str(png))
    assert source.conversion and source.file_sha256 == sha(png.read_bytes()) == file_sha256(str(png)) != source.sha256
    assert file_sha256(str(tmp_path / "missing.png")) is None

    tenant = FakeTenant({})
    _engine, first = run(tenant, [Job("a@x", src=str(png))], state)
    assert first[0]["action"] == "uploaded" and state.record("a@x") == (sha(png.read_bytes()), None)
    run(tenant, [Job("a@x", src=str(png))], state)   # compares the stored JPEG with the PNG: the same; etag recorded
    tenant.calls.clear()
    _engine, third = run(tenant, [Job("a@x", src=str(png))], state)
    assert downloads(tenant) == [] and third[0]["comparison"]["method"] == "state_file"
