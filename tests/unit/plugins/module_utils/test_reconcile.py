# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import os

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import (
    GraphError, MalformedAnswerError, PhotoDisagreementError, WrittenThenFailedError)
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import ImageInfo, SourceImage
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.photo._current import CurrentPhoto
from ansible_collections.o365.outlook.plugins.module_utils.photo._propagation import WaitTimeoutError
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy, ensure_absent, ensure_present
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock


class FakeClient:
    """In-memory photo store with the PhotoClient interface; records reads and writes.

    reencode makes it store a JPEG re-encode of what is put, as Microsoft 365 does; stale_reads makes
    the next N metadata reads after a write answer the old state (propagation delay).
    """

    def __init__(self, photo=None, dims=(240, 240), reencode=False, stale_reads=0):
        self.photo = photo
        self.dims = dims
        self.reencode = reencode
        self.stale_reads = stale_reads
        self._stale = None
        self.writes = []
        self.reads = []

    def _visible(self):
        if self._stale is not None and self._stale[0] > 0:
            self._stale[0] -= 1
            return self._stale[1], self._stale[2]
        return self.photo, self.dims

    def get_metadata(self, user):
        self.reads.append(("metadata", user))
        photo, dims = self._visible()
        if photo is None:
            return None
        width, height = dims
        return PhotoMetadata("%dx%d" % (width, height), width, height, "image/jpeg", hashlib.sha256(photo).hexdigest()[:8])

    def get_content(self, user):
        self.reads.append(("content", user))
        return self.photo

    def _remember_for_stale_reads(self):
        if self.stale_reads:
            self._stale = [self.stale_reads, self.photo, self.dims]

    def put_content(self, user, data, content_type):
        self.writes.append(("put", user, content_type))
        self._remember_for_stale_reads()
        if self.reencode:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=80)
            data = buffer.getvalue()
            self.dims = image.size
        else:
            self.dims = (100, 50)
        self.photo = data

    def delete_content(self, user):
        self.writes.append(("delete", user))
        self._remember_for_stale_reads()
        self.photo = None


def source(data=b"\xff\xd8\xffnew", dims=(100, 50)):
    return SourceImage("/tmp/new.jpg", data, ImageInfo("jpeg", *dims))


def real_source(color=(200, 30, 60), size=(120, 120)):
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.paste((20, 20, 220), (30, 30, 90, 90))
    image.save(buffer, "PNG")
    return SourceImage("/tmp/real.png", buffer.getvalue(), ImageInfo("png", *size))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_upload_when_user_has_no_photo():
    client = FakeClient()
    changed, result, diff = ensure_present(client, "a", source(), check_mode=False)
    assert changed
    assert client.writes == [("put", "a", "image/jpeg")]
    assert result["photo"]["width"] == 100 and result["photo"]["height"] == 50
    assert result["previous_sha256"] is None
    assert result["sha256"] == sha(b"\xff\xd8\xffnew")
    assert result["comparison"] == dict(method="none", distance=None)
    assert diff["before"]["has_photo"] is False and diff["after"]["sha256"] == result["sha256"]


def test_no_write_when_bytes_match():
    client = FakeClient(photo=b"\xff\xd8\xffnew")
    changed, result, diff = ensure_present(client, "a", source(), check_mode=False)
    assert not changed
    assert client.writes == []
    assert result["previous_sha256"] == result["sha256"]
    assert result["comparison"]["method"] == "sha256"
    assert diff["before"] == diff["after"]


def test_replace_when_bytes_differ():
    client = FakeClient(photo=b"old")
    changed, result = ensure_present(client, "a", source(), check_mode=False)[:2]
    assert changed and client.writes == [("put", "a", "image/jpeg")]
    assert result["previous_sha256"] == sha(b"old")


def test_check_mode_predicts_without_writing():
    client = FakeClient(photo=b"old")
    changed, result, diff = ensure_present(client, "a", source(), check_mode=True)
    assert changed and client.writes == []
    assert result["photo"] == dict(id="100x50", width=100, height=50, content_type="image/jpeg", etag=None)
    assert diff["before"]["width"] == 240 and diff["after"]["width"] == 100


def test_reencoding_service_is_idempotent_with_auto_but_not_sha256():
    client = FakeClient(reencode=True)
    wanted = real_source()
    assert ensure_present(client, "a", wanted, False)[0] is True
    assert client.photo != wanted.data  # the service changed the bytes
    changed, result = ensure_present(client, "a", wanted, False, PhotoPolicy(compare="auto"))[:2]
    assert not changed and result["comparison"]["method"] == "pixels"
    assert result["comparison"]["distance"] < 4.0
    assert ensure_present(client, "a", wanted, True, PhotoPolicy(compare="sha256"))[0] is True
    assert len(client.writes) == 1


def test_auto_without_pillow_warns(monkeypatch):
    from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    warnings = []
    changed = ensure_present(FakeClient(photo=b"reencoded"), "a", source(), True, PhotoPolicy(warn=warnings.append))[0]
    assert changed and len(warnings) == 1 and "install Pillow" in warnings[0]


def test_only_if_missing_keeps_existing_photo_without_downloading_it():
    client = FakeClient(photo=b"chosen by the user")
    changed, result = ensure_present(client, "a", source(), False, PhotoPolicy(only_if_missing=True))[:2]
    assert not changed and client.writes == []
    assert client.reads == [("metadata", "a")]
    assert result["comparison"]["method"] == "only_if_missing"
    assert result["photo"]["width"] == 240


def test_only_if_missing_sets_missing_photo():
    client = FakeClient()
    assert ensure_present(client, "a", source(), False, PhotoPolicy(only_if_missing=True))[0] is True
    assert client.writes == [("put", "a", "image/jpeg")]


def test_backup_before_replace_and_remove(tmp_path):
    client = FakeClient(photo=b"\xff\xd8\xff old jpeg")
    policy = PhotoPolicy(backup_dir=str(tmp_path / "backups"))
    result = ensure_present(client, "adele@contoso.com", source(), False, policy)[1]
    assert open(result["backup_file"], "rb").read() == b"\xff\xd8\xff old jpeg"
    assert os.path.basename(result["backup_file"]).startswith("adele@contoso.com.")
    assert result["backup_file"].endswith(".jpg")
    removed = ensure_absent(client, "adele@contoso.com", False, policy)[1]
    assert open(removed["backup_file"], "rb").read() == b"\xff\xd8\xffnew"
    assert removed["backup_file"] != result["backup_file"]


def test_no_backup_in_check_mode_or_without_photo(tmp_path):
    backups = tmp_path / "backups"
    ensure_present(FakeClient(photo=b"old"), "a", source(), True, PhotoPolicy(backup_dir=str(backups)))
    ensure_present(FakeClient(), "a", source(), False, PhotoPolicy(backup_dir=str(backups)))
    assert not backups.exists() or not list(backups.iterdir())


def test_wait_polls_until_new_photo_is_served():
    fake_time = FakeClock(start=0.0)
    client = FakeClient(photo=b"old", stale_reads=3)
    policy = PhotoPolicy(wait=True, wait_timeout=30, sleep=fake_time.sleep, clock=fake_time.monotonic)
    changed, result = ensure_present(client, "a", source(), False, policy)[:2]
    assert changed and result["photo"]["width"] == 100
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_wait_times_out_with_a_clear_message():
    fake_time = FakeClock(start=0.0)
    client = FakeClient(photo=b"old", stale_reads=1000)
    policy = PhotoPolicy(wait=True, wait_timeout=10, sleep=fake_time.sleep, clock=fake_time.monotonic)
    with pytest.raises(WaitTimeoutError, match="still served the previous state after 10 seconds"):
        ensure_present(client, "a", source(), False, policy)
    assert sum(fake_time.sleeps) == pytest.approx(10.0)


def test_wait_after_remove():
    fake_time = FakeClock(start=0.0)
    client = FakeClient(photo=b"old", stale_reads=2)
    policy = PhotoPolicy(wait=True, sleep=fake_time.sleep, clock=fake_time.monotonic)
    assert ensure_absent(client, "a", False, policy)[0] is True
    assert fake_time.sleeps == [0.5, 1.0]


def test_absent_removes_and_reports_previous_hash():
    client = FakeClient(photo=b"old")
    changed, result, diff = ensure_absent(client, "a", check_mode=False)
    assert changed and client.writes == [("delete", "a")]
    assert result["photo"] is None and result["previous_sha256"] == sha(b"old")
    assert diff["after"]["has_photo"] is False


def test_absent_is_ok_without_photo_and_reads_only_metadata():
    client = FakeClient()
    changed, result = ensure_absent(client, "a", check_mode=False)[:2]
    assert not changed and client.writes == []
    assert client.reads == [("metadata", "a")]
    assert result["previous_sha256"] is None


def test_absent_check_mode():
    client = FakeClient(photo=b"old")
    changed = ensure_absent(client, None, check_mode=True)[0]
    assert changed and client.writes == []


class FailingReadBack(FakeClient):
    """The write succeeds; every metadata read after it fails the way a hostile or broken service would."""

    def __init__(self, error, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def get_metadata(self, user):
        if self.writes:
            raise self.error
        return super().get_metadata(user)


@pytest.mark.parametrize("error", [
    GraphError(500, "InternalServerError", "oops", method="GET", url="https://graph/users/a/photo"),
    MalformedAnswerError("the body is not JSON", method="GET", url="https://graph/users/a/photo"),
    ValueError("Expecting value: line 1 column 1 (char 0)"),
])
def test_regression_read_back_failure_still_reports_the_write(error):
    """issue 8 defect 2: a failing read-back after a successful PUT reported changed=false."""
    client = FailingReadBack(error, photo=b"old")
    with pytest.raises(WrittenThenFailedError) as caught:
        ensure_present(client, "a@x", real_source(), False, PhotoPolicy())
    assert caught.value.details["changed"] is True
    assert caught.value.msg.startswith("The upload of the photo of a@x succeeded, but then: ")
    assert len(client.writes) == 1


def test_read_back_failure_keeps_the_backup_path(tmp_path):
    client = FailingReadBack(GraphError(503, None, "busy"), photo=real_source(color=(1, 2, 3)).data)
    with pytest.raises(WrittenThenFailedError) as caught:
        ensure_present(client, "a@x", real_source(), False, PhotoPolicy(backup_dir=str(tmp_path)))
    assert os.path.isfile(caught.value.details["backup_file"])


class ContentLess(FakeClient):
    """Metadata lists a photo; $value answers 'no photo' the first `misses` times."""

    def __init__(self, misses, **kwargs):
        super().__init__(**kwargs)
        self.misses = misses

    def get_content(self, user):
        self.reads.append(("content", user))
        if self.misses:
            self.misses -= 1
            return None
        return self.photo


@pytest.mark.parametrize("state", ["present", "absent"])
def test_regression_metadata_without_content_fails_instead_of_no_photo(state):
    """issue 8 defect 4: state=absent reported ok and deleted nothing; state=present replaced without a backup."""
    client = ContentLess(misses=2, photo=real_source(color=(9, 9, 9)).data)
    with pytest.raises(PhotoDisagreementError, match="twice"):
        if state == "present":
            ensure_present(client, "a@x", real_source(), False, PhotoPolicy())
        else:
            ensure_absent(client, "a@x", False, PhotoPolicy())
    assert client.writes == []
    assert client.reads.count(("content", "a@x")) == 2


def test_metadata_without_content_once_is_asked_again():
    photo = real_source(color=(9, 9, 9)).data
    client = ContentLess(misses=1, photo=photo)
    changed, result, _diff = ensure_absent(client, "a@x", False, PhotoPolicy())
    assert changed is True and result["previous_sha256"] == hashlib.sha256(photo).hexdigest()


class ReadsForbidden(FakeClient):
    """A client for a photo already read: a read before any write is a test failure; writes are recorded."""

    def __init__(self, reads_after_write=False, **kwargs):
        super().__init__(**kwargs)
        self.reads_after_write = reads_after_write

    def _refuse_before_write(self, what):
        if not (self.reads_after_write and self.writes):
            raise AssertionError("%s read through the client although the current photo was given" % what)

    def get_metadata(self, user):
        self._refuse_before_write("metadata")
        return super().get_metadata(user)

    def get_content(self, user):
        self._refuse_before_write("content")
        return super().get_content(user)


def meta_of(data, dims=(240, 240)):
    return PhotoMetadata("%dx%d" % dims, dims[0], dims[1], "image/jpeg", sha(data)[:8])


@pytest.mark.parametrize("check_mode", [False, True])
def test_present_with_current_given_never_reads_through_the_client(check_mode):
    same = source()
    no_read = PhotoPolicy(read_after_write=False)
    for current, expected in ((CurrentPhoto(None), True), (CurrentPhoto(meta_of(b"old"), b"old"), True),
                              (CurrentPhoto(meta_of(same.data), same.data), False)):
        client = ReadsForbidden()
        changed, result, diff = ensure_present(client, "a", same, check_mode, no_read, current=current)
        assert changed is expected
        assert client.reads == []
        assert client.writes == ([("put", "a", "image/jpeg")] if expected and not check_mode else [])
        assert result["previous_sha256"] == (sha(current.data) if current.data else None)
        assert diff["before"]["has_photo"] is current.exists


def test_present_with_current_given_matches_reading_through_the_client(tmp_path):
    """The same photo, read by reconcile or handed to it, gives the same outcome, backup included."""
    old = real_source(color=(1, 2, 3)).data
    read = ensure_present(FakeClient(photo=old), "a", real_source(), False, PhotoPolicy(backup_dir=str(tmp_path / "read")))
    client = ReadsForbidden(reads_after_write=True, photo=old)
    given = ensure_present(client, "a", real_source(), False, PhotoPolicy(backup_dir=str(tmp_path / "given")),
                           current=CurrentPhoto(meta_of(old), old))
    assert given[0] is read[0] is True
    assert given[2] == read[2]
    assert open(given[1]["backup_file"], "rb").read() == old
    # Only the read-back after the upload went to the client.
    assert client.reads == [("metadata", "a")]


def test_only_if_missing_with_current_given_reads_nothing():
    client = ReadsForbidden()
    current = CurrentPhoto(meta_of(b"chosen by the user"))  # content not downloaded: it is not needed
    changed, result = ensure_present(client, "a", source(), False, PhotoPolicy(only_if_missing=True), current=current)[:2]
    assert not changed and client.reads == [] and client.writes == []
    assert result["comparison"]["method"] == "only_if_missing"


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_with_current_given_never_reads_through_the_client(check_mode):
    for current in (CurrentPhoto(None), CurrentPhoto(meta_of(b"old"), b"old")):
        client = ReadsForbidden(photo=current.data)
        changed, result = ensure_absent(client, "a", check_mode, PhotoPolicy(), current=current)[:2]
        assert changed is current.exists
        assert client.reads == []
        assert client.writes == ([("delete", "a")] if current.exists and not check_mode else [])
        assert result["previous_sha256"] == (sha(b"old") if current.exists else None)


def test_wait_with_current_given_polls_through_the_client():
    fake_time = FakeClock(start=0.0)
    client = ReadsForbidden(reads_after_write=True, photo=b"old", stale_reads=2)
    policy = PhotoPolicy(wait=True, sleep=fake_time.sleep, clock=fake_time.monotonic)
    assert ensure_absent(client, "a", False, policy, current=CurrentPhoto(meta_of(b"old"), b"old"))[0] is True
    assert fake_time.sleeps == [0.5, 1.0]
    assert client.reads == [("metadata", "a")] * 3


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("misses, fails", [(1, True), (0, False)])
def test_current_given_without_content_is_asked_once_more_through_the_client(state, misses, fails):
    """Metadata lists a photo, its content said "no photo": one more ask, then PhotoDisagreementError."""
    photo = real_source(color=(9, 9, 9)).data
    client = ContentLess(misses=misses, photo=photo)
    current = CurrentPhoto(meta_of(photo), None)

    def reconcile():
        if state == "present":
            return ensure_present(client, "a@x", real_source(), False, PhotoPolicy(read_after_write=False), current=current)
        return ensure_absent(client, "a@x", False, PhotoPolicy(), current=current)
    if fails:
        with pytest.raises(PhotoDisagreementError, match="twice"):
            reconcile()
        assert client.writes == []
    else:
        assert reconcile()[1]["previous_sha256"] == sha(photo)
    assert client.reads == [("content", "a@x")]


def test_regression_stale_read_back_reports_the_uploaded_image_not_the_previous_photo():
    """issue 10 (production profile): a read straight after the PUT can still show the previous photo; the result
    used to report that photo's dimensions as the new one's."""
    client = FakeClient(photo=real_source(color=(9, 9, 9)).data, dims=(240, 240), stale_reads=1)
    wanted = real_source(color=(200, 10, 10))
    changed, result, dummy = ensure_present(client, "a@x", wanted, False, PhotoPolicy())
    assert changed and len(client.writes) == 1
    assert (result["photo"]["width"], result["photo"]["height"]) == (wanted.info.width, wanted.info.height) != (240, 240)


def test_fresh_read_back_is_reported_as_read():
    client = FakeClient(photo=real_source(color=(9, 9, 9)).data, dims=(240, 240), reencode=True)
    changed, result, dummy = ensure_present(client, "a@x", real_source(color=(200, 10, 10)), False, PhotoPolicy())
    assert changed and result["photo"]["id"] == "%dx%d" % client.dims
