# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine with a state file (issues 11 and 17): a trusted, fresh record skips the download; anything else
compares. An etag is trusted only for the bytes it came with: an ETag header on the same $value answer, or two runs'
downloads that agree."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job, summarize
from ansible_collections.o365.outlook.plugins.module_utils.many_users._photo_trust import DAY, PhotoTrust
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import Record, StateFile
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


class EtagTenant(FakeTenant):
    """A service that sends an ETag header with each $value answer: the etag of the bytes it served."""

    def read_content_many(self, users):
        content = self.get_content_many(users)
        return content, {user: sha(data)[:8] for user, data in content.items() if isinstance(data, bytes)}


class LaggingTenant(FakeTenant):
    """A replica that lags: the next content reads of chosen users serve their previous photo's bytes (and, with
    etag_headers, that photo's etag), while the metadata already describes the new photo."""

    def __init__(self, photos, etag_headers=False):
        super().__init__(photos)
        self.previous = {}
        self.lagging = set()
        self.etag_headers = etag_headers

    def changed_by_someone_else(self, user, data):
        self.previous[user] = self.photos.get(user)
        self.photos[user] = data
        self.lagging.add(user)

    def read_content_many(self, users):
        content = self.get_content_many(users)
        for user in users:
            if user in self.lagging:
                self.lagging.discard(user)
                content[user] = self.previous[user]
        etags = {user: sha(data)[:8] for user, data in content.items() if isinstance(data, bytes)} if self.etag_headers else {}
        return content, etags


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def run(tenant, jobs, state, **kwargs):
    policy = kwargs.pop("policy", PhotoPolicy(read_after_write=False))
    kwargs.setdefault("trust", PhotoTrust(7, kwargs.pop("clock", Clock())))
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


def trusted(tenant, user, source_bytes, compared_at=1_800_000_000):
    """The record a trusted comparison of user's current photo with source_bytes leaves."""
    meta = tenant._meta(user)
    return Record(sha(source_bytes), meta.etag, meta.width, meta.height, meta.content_type, sha(tenant.photos[user]), True,
                  compared_at)


def test_a_record_is_trusted_once_two_runs_downloads_agree(red, state):
    tenant = FakeTenant({user: red.read_bytes() for user in users(45)})
    jobs = [Job(user, src=str(red)) for user in users(45)]
    engine, first = run(tenant, jobs, state, parallelism=3)
    assert summarize(first)["unchanged"] == 45 and sorted(downloads(tenant)) == users(45)
    assert engine.download_stats == dict(state_file_hits=0, photos_downloaded=45, bytes_downloaded=45 * len(red.read_bytes()))
    pending = state.record("u07@x")
    assert pending == Record(sha(red.read_bytes()), tenant._meta("u07@x").etag, 60, 60, "image/jpeg", sha(red.read_bytes()),
                             False, 1_800_000_000)

    tenant.calls.clear()
    _engine, second = run(tenant, jobs, state, parallelism=3)
    assert sorted(downloads(tenant)) == users(45)   # pending: compared once more
    assert state.record("u07@x").trusted

    tenant.calls.clear()
    engine, third = run(tenant, jobs, state, parallelism=3, want_diff=True)
    assert downloads(tenant) == []
    assert [c[0] for c in tenant.calls] == ["metadata_many"] * 3   # one metadata $batch per 20 users, nothing else
    assert engine.download_stats == dict(state_file_hits=45, photos_downloaded=0, bytes_downloaded=0)
    assert {r["action"] for r in third} == {"unchanged"} and [r["user"] for r in third] == users(45)
    entry = third[0]
    assert entry["comparison"] == dict(method="state_file", distance=None)
    assert entry["message"] == "same photo (state file: same source file and etag as when last compared; not downloaded)"
    assert entry["photo"]["etag"] == tenant._meta("u00@x").etag and entry["sha256"] is None and entry["previous_sha256"] is None
    assert entry["changed"] is False and entry["diff"]["before"] == entry["diff"]["after"]


def test_an_etag_header_on_the_compared_bytes_is_trusted_at_once(red, state):
    tenant = EtagTenant({"a@x": red.read_bytes()})
    run(tenant, [Job("a@x", src=str(red))], state)
    assert state.record("a@x").trusted
    tenant.calls.clear()
    _engine, second = run(tenant, [Job("a@x", src=str(red))], state)
    assert downloads(tenant) == [] and second[0]["comparison"]["method"] == "state_file"


@pytest.mark.parametrize("etag_headers", [False, True])
def test_regression_old_bytes_served_once_under_the_new_etag_are_put_right(red, state, etag_headers):
    """issue 17 defect 1: someone else changed the photo; on the next run one content read lagged and served the old
    bytes, which match the source. 1.0.0 recorded the new photo's etag with the source, and every later run skipped
    the user while the tenant showed a photo nobody compared. Now the run after the lag puts the wanted photo back."""
    tenant = LaggingTenant({"a@x": red.read_bytes()}, etag_headers=etag_headers)
    jobs = [Job("a@x", src=str(red))]
    for _night in range(2):
        run(tenant, jobs, state)
    assert state.record("a@x").trusted   # the record holds for the red photo
    blue = jpeg((0, 0, 200))
    tenant.changed_by_someone_else("a@x", blue)
    _engine, lagged = run(tenant, jobs, state)
    assert lagged[0]["action"] == "unchanged"   # the replica served red: nothing to do, as far as this run can tell
    assert not state.record("a@x").trusted
    _engine, after = run(tenant, jobs, state)
    assert after[0]["action"] == "uploaded" and tenant.photos["a@x"] == red.read_bytes()


def test_a_changed_etag_is_compared_and_uploaded(red, state):
    tenant = FakeTenant({"a@x": red.read_bytes(), "b@x": red.read_bytes()})
    for user in ("a@x", "b@x"):
        state.remember(user, trusted(tenant, user, red.read_bytes()))
    jobs = [Job("a@x", src=str(red)), Job("b@x", src=str(red))]
    tenant.photos["a@x"] = jpeg((0, 0, 200))   # someone set another photo: its etag changes
    engine, results = run(tenant, jobs, state)
    assert downloads(tenant) == ["a@x"]
    assert [r["action"] for r in results] == ["uploaded", "unchanged"]
    assert results[1]["comparison"]["method"] == "state_file"
    assert engine.download_stats["state_file_hits"] == 1
    # After an upload nothing was read back: the source alone, not trusted.
    assert state.record("a@x") == Record(sha(red.read_bytes()))


@pytest.mark.parametrize("change", [dict(width=61), dict(height=59), dict(content_type="image/png")])
def test_a_colliding_etag_of_another_size_or_type_is_compared(red, state, change):
    """An etag that collides (the emulator's is a CRC32) or is reused does not hide a photo of another size or type."""
    tenant = FakeTenant({"a@x": red.read_bytes()})
    record = trusted(tenant, "a@x", red.read_bytes())
    for name, value in change.items():
        setattr(record, name, value)
    state.remember("a@x", record)
    run(tenant, [Job("a@x", src=str(red))], state)
    assert downloads(tenant) == ["a@x"]


def test_a_colliding_etag_holds_no_longer_than_state_file_max_age(red, state):
    """The same etag, size and type over another picture: trusted until the record's re-check day, at most
    state_file_max_age days after the comparison; then compared and put right."""
    tenant = FakeTenant({"a@x": red.read_bytes()})
    state.remember("a@x", trusted(tenant, "a@x", red.read_bytes(), compared_at=1_800_000_000))
    etag = tenant._meta("a@x").etag
    tenant.photos["a@x"] = jpeg((0, 0, 200))

    class SameEtag(FakeTenant):
        def _meta(self, user):
            meta = super()._meta(user)
            meta.etag = etag
            return meta
    tenant = SameEtag(tenant.photos)
    trust = PhotoTrust(7, Clock())
    due = trust.recheck_day("a@x", 1_800_000_000)
    assert 1_800_000_000 // DAY < due <= 1_800_000_000 // DAY + 7
    _engine, before = run(tenant, [Job("a@x", src=str(red))], state, clock=Clock(due * DAY - 1))
    assert before[0]["comparison"]["method"] == "state_file"
    _engine, at = run(tenant, [Job("a@x", src=str(red))], state, clock=Clock(due * DAY + 1))
    assert at[0]["action"] == "uploaded" and tenant.photos["a@x"] == red.read_bytes()


def test_state_file_max_age_0_trusts_no_record(red, state):
    tenant = EtagTenant({"a@x": red.read_bytes()})
    for _night in range(3):
        tenant.calls.clear()
        run(tenant, [Job("a@x", src=str(red))], state, trust=PhotoTrust(0))
        assert downloads(tenant) == ["a@x"]
    assert state.record("a@x").trusted   # still recorded: a later run with a max age uses it


def test_a_record_from_the_future_is_not_trusted(red, state):
    """A clock set back (or a file copied from another host) must not make a record last longer."""
    tenant = FakeTenant({"a@x": red.read_bytes()})
    state.remember("a@x", trusted(tenant, "a@x", red.read_bytes(), compared_at=1_800_000_000 + 3600))
    run(tenant, [Job("a@x", src=str(red))], state)
    assert downloads(tenant) == ["a@x"]


def test_a_changed_source_file_is_compared(red, state, tmp_path):
    tenant = FakeTenant({"a@x": red.read_bytes()})
    state.remember("a@x", trusted(tenant, "a@x", red.read_bytes()))
    red.write_bytes(jpeg((0, 200, 0)))   # HR replaced the photo
    _engine, results = run(tenant, [Job("a@x", src=str(red))], state)
    assert downloads(tenant) == ["a@x"] and results[0]["action"] == "uploaded"


def test_a_record_for_another_file_of_the_same_bytes_still_holds(red, state, tmp_path):
    """The record is about the bytes, not the path: a folder moved to another share is not downloaded again."""
    tenant = FakeTenant({"a@x": red.read_bytes()})
    state.remember("a@x", trusted(tenant, "a@x", red.read_bytes()))
    moved = tmp_path / "moved.jpg"
    moved.write_bytes(red.read_bytes())
    _engine, results = run(tenant, [Job("a@x", src=str(moved))], state)
    assert downloads(tenant) == [] and results[0]["comparison"]["method"] == "state_file"


def test_no_etag_means_every_run_compares(red, state):
    tenant = NoEtagTenant({"a@x": red.read_bytes()})
    for _unused in range(3):
        tenant.calls.clear()
        engine, results = run(tenant, [Job("a@x", src=str(red))], state)
        assert downloads(tenant) == ["a@x"] and results[0]["action"] == "unchanged"
        assert results[0]["comparison"]["method"] == "sha256" and engine.download_stats["state_file_hits"] == 0
    assert state.record("a@x").etag is None and not state.record("a@x").trusted


def test_after_an_upload_two_comparisons_then_no_download(red, state):
    tenant = FakeTenant({})
    jobs = [Job("a@x", src=str(red))]
    _engine, first = run(tenant, jobs, state)
    assert first[0]["action"] == "uploaded" and state.record("a@x") == Record(sha(red.read_bytes()))
    for _night in range(2):
        tenant.calls.clear()
        _engine, again = run(tenant, jobs, state)
        assert downloads(tenant) == ["a@x"] and again[0]["action"] == "unchanged"
    assert state.record("a@x") == trusted(tenant, "a@x", red.read_bytes())
    tenant.calls.clear()
    _engine, fourth = run(tenant, jobs, state)
    assert downloads(tenant) == [] and fourth[0]["comparison"]["method"] == "state_file"


ADELE = "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"


class NamedTenant(FakeTenant):
    """Metadata that names its owner (@odata.id): Adele under her UPN and her object id."""

    @staticmethod
    def _owner(user):
        return ADELE if user.lower() in ("adele@x", ADELE) else user

    def _meta(self, user):
        meta = super()._meta(self._owner(user))
        if isinstance(meta, PhotoMetadata):
            meta.owner_id = ADELE
        return meta

    def get_content_many(self, users):
        self._record("content_many", tuple(users))
        return {user: self.photos.get(self._owner(user)) for user in users}


def test_records_are_kept_under_the_object_id_once_it_is_known(red, state):
    """A user named by UPN one night and by object id the next shares one record (1.0.0 kept two)."""
    tenant = NamedTenant({ADELE: red.read_bytes()})
    state.remember("adele@x", Record(sha(red.read_bytes())))   # an upload under the UPN, before the id was known
    for _night in range(2):
        run(tenant, [Job("Adele@X", src=str(red))], state)
    assert state.record("adele@x") is None and state.record(ADELE).trusted
    tenant.calls.clear()
    _engine, results = run(tenant, [Job(ADELE.upper(), src=str(red))], state)
    assert downloads(tenant) == [] and results[0]["comparison"]["method"] == "state_file"


def test_metadata_that_names_another_object_fails_that_user(red, state):
    """A 200 that is not what it claims: the metadata for object id A names object B."""
    tenant = NamedTenant({"0b7c1e52-0000-4000-8000-000000000001": red.read_bytes()})
    _engine, results = run(tenant, [Job("0b7c1e52-0000-4000-8000-000000000001", src=str(red))], state)
    assert results[0]["action"] == "failed" and "names another object" in results[0]["message"]
    assert downloads(tenant) == [] and tenant.writes() == []


def test_removed_and_failed_users_lose_their_record(red, state, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    good = sha(red.read_bytes())
    tenant = FakeTenant({"gone@x": red.read_bytes(), "bad@x": red.read_bytes(), "dup@x": red.read_bytes()})
    for user in ("gone@x", "bad@x", "dup@x", "other@x"):
        state.remember(user, Record(good, "E"))
    jobs = [Job("gone@x", state="absent"), Job("bad@x", src=str(broken)),
            Job("dup@x", src=str(red), problem=ConfigurationError("user dup@x is listed 2 times"))]
    _engine, results = run(tenant, jobs, state)
    assert [r["action"] for r in results] == ["removed", "failed", "failed"]
    assert state.record("gone@x") is None and state.record("bad@x") is None and state.record("dup@x") is None
    assert state.record("other@x") == Record(good, "E")   # not in this run: kept


def test_a_user_the_read_failed_for_is_never_trusted(red, state):
    class BrokenContent(FakeTenant):
        def get_content_many(self, users):
            raise RuntimeError("the $batch answer was not JSON")
    tenant = BrokenContent({"a@x": jpeg((0, 0, 200))})
    _engine, results = run(tenant, [Job("a@x", src=str(red))], state)
    assert results[0]["action"] == "failed" and state.record("a@x") is None


def test_check_mode_uses_records_but_changes_none(red, state):
    tenant = FakeTenant({"same@x": red.read_bytes(), "old@x": jpeg((0, 0, 200))})
    state.remember("same@x", trusted(tenant, "same@x", red.read_bytes()))
    _engine, results = run(tenant, [Job("same@x", src=str(red)), Job("old@x", src=str(red)), Job("gone@x", state="absent")],
                           state, check_mode=True)
    assert [r["action"] for r in results] == ["unchanged", "uploaded", "unchanged"]
    assert downloads(tenant) == ["old@x"] and tenant.writes() == []
    assert state.record("old@x") is None and len(state) == 1


def test_only_if_missing_never_consults_the_records(red, state):
    tenant = FakeTenant({"has@x": jpeg((0, 0, 200))})
    state.remember("has@x", Record(sha(red.read_bytes()), "stale"))
    engine, results = run(tenant, [Job("has@x", src=str(red)), Job("none@x", src=str(red))], state,
                          policy=PhotoPolicy(only_if_missing=True, read_after_write=False))
    assert [r["action"] for r in results] == ["skipped", "uploaded"]
    assert downloads(tenant) == [] and engine.download_stats["state_file_hits"] == 0
    assert state.record("has@x") == Record(sha(red.read_bytes()), "stale")   # skipped: left as it was


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

    from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source, source_sha256 as file_sha256
    png = tmp_path / "red.png"
    buffer = io.BytesIO()
    Image.new("RGB", (60, 60), (200, 0, 0)).save(buffer, "PNG")
    png.write_bytes(buffer.getvalue())
    source = load_source(str(png))
    assert source.conversion and source.file_sha256 == sha(png.read_bytes()) == file_sha256(str(png)) != source.sha256
    assert file_sha256(str(tmp_path / "missing.png")) is None

    tenant = EtagTenant({})
    _engine, first = run(tenant, [Job("a@x", src=str(png))], state)
    assert first[0]["action"] == "uploaded" and state.record("a@x") == Record(sha(png.read_bytes()))
    run(tenant, [Job("a@x", src=str(png))], state)   # compares the stored JPEG with the PNG: the same; trusted (header)
    tenant.calls.clear()
    _engine, third = run(tenant, [Job("a@x", src=str(png))], state)
    assert downloads(tenant) == [] and third[0]["comparison"]["method"] == "state_file"
