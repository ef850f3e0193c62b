# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib

from ansible_collections.o365.outlook.plugins.module_utils._image import ImageInfo, SourceImage
from ansible_collections.o365.outlook.plugins.module_utils._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils._reconcile import ensure_absent, ensure_present


class FakeClient:
    """In-memory photo store with the PhotoClient interface; records writes."""

    def __init__(self, photo=None, dims=(240, 240)):
        self.photo = photo
        self.dims = dims
        self.writes = []
        self.reads = []

    def get_metadata(self, user):
        self.reads.append(("metadata", user))
        if self.photo is None:
            return None
        width, height = self.dims
        return PhotoMetadata("%dx%d" % (width, height), width, height, "image/jpeg", "E" + hashlib.sha256(self.photo).hexdigest()[:7])

    def get_content(self, user):
        self.reads.append(("content", user))
        return self.photo

    def put_content(self, user, data, content_type):
        self.writes.append(("put", user, content_type))
        self.photo = data
        self.dims = (100, 50)

    def delete_content(self, user):
        self.writes.append(("delete", user))
        self.photo = None


def source(data=b"\xff\xd8\xffnew", dims=(100, 50)):
    return SourceImage("/tmp/new.jpg", data, ImageInfo("jpeg", *dims))


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
    assert diff["before"]["has_photo"] is False and diff["after"]["sha256"] == result["sha256"]


def test_no_write_when_bytes_match():
    client = FakeClient(photo=b"\xff\xd8\xffnew")
    changed, result, diff = ensure_present(client, "a", source(), check_mode=False)
    assert not changed
    assert client.writes == []
    assert result["previous_sha256"] == result["sha256"]
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
