# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import json

import pytest
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.module import _outlook_module
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError, MalformedAnswerError
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_reconcile import FakeClient


@pytest.fixture
def jpeg(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 120, 200)).save(buffer, "JPEG")
    path = tmp_path / "photo.jpg"
    path.write_bytes(buffer.getvalue())
    return str(path), buffer.getvalue()


@pytest.fixture
def run(monkeypatch, capfd):
    def runner(args, client):
        seen = {}

        def fake_open_client(settings, auth, redactor, **options):
            seen["settings"] = settings
            redactor.add("runtime-token-value")
            return client

        monkeypatch.setattr(_outlook_module, "open_client", fake_open_client)
        with patch_module_args(dict(args, access_token="given-token")):
            with pytest.raises(SystemExit) as caught:
                outlook_user_photo.main()
        out = json.loads(capfd.readouterr().out)
        out["_rc"] = caught.value.code
        return out
    return runner


def test_upload_then_idempotent(run, jpeg):
    path, data = jpeg
    client = FakeClient()
    first = run(dict(user="adele@contoso.com", src=path), client)
    assert first["changed"] is True and first["_rc"] == 0
    assert first["sha256"] == hashlib.sha256(data).hexdigest()
    assert first["photo"]["width"] == 100  # what the (fake) service reports after the write
    second = run(dict(user="adele@contoso.com", src=path), client)
    assert second["changed"] is False
    assert len(client.writes) == 1


def test_check_and_diff_mode(run, jpeg):
    path = jpeg[0]
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", src=path, _ansible_check_mode=True, _ansible_diff=True), client)
    assert result["changed"] is True and client.writes == []
    assert result["photo"]["width"] == 96 and result["photo"]["height"] == 64
    assert result["diff"]["before"]["sha256"] == hashlib.sha256(b"old").hexdigest()
    assert result["diff"]["after"]["width"] == 96


def test_no_diff_key_without_diff_mode(run, jpeg):
    path = jpeg[0]
    assert "diff" not in run(dict(user="a", src=path), FakeClient())


def test_src_required_for_present(run):
    result = run(dict(user="a"), FakeClient())
    assert result["failed"] is True
    assert "state is present but any of the following are missing: src, content" in result["msg"]


def test_bad_src_fails_before_any_request(run, tmp_path):
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", src=str(tmp_path / "nope.jpg")), client)
    assert result["failed"] is True and "does not exist" in result["msg"]
    assert client.reads == [] and client.writes == []


@pytest.mark.parametrize("user", ["", "   ", " padded@x.com"])
def test_blank_or_padded_user_is_refused(run, jpeg, user):
    result = run(dict(user=user, src=jpeg[0]), FakeClient())
    assert result["failed"] is True and "user" in result["msg"]


def test_absent(run):
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", state="absent"), client)
    assert result["changed"] is True and client.writes == [("delete", "a")]
    assert result["photo"] is None


def test_typed_error_becomes_one_failure_without_secrets(run, jpeg, monkeypatch):
    class Failing(FakeClient):
        def get_metadata(self, user):
            raise AuthenticationError("Could not get a token: AADSTS7000215: Invalid client secret provided. runtime-token-value",
                                      error="invalid_client", error_codes=[7000215])
    result = run(dict(user="a", src=jpeg[0], client_secret="super-secret"), Failing())
    assert result["failed"] is True
    assert "AADSTS7000215" in result["msg"]
    assert result["auth_error_codes"] == [7000215]
    text = json.dumps(result)
    assert "runtime-token-value" not in text and "super-secret" not in text and "given-token" not in text


def test_aliases_and_connection_defaults(run, jpeg):
    client = FakeClient()
    result = run(dict(upn="x@y", src=jpeg[0]), client)
    assert result["user"] == "x@y"
    assert client.writes[0][1] == "x@y"


@pytest.mark.parametrize("extra, message", [
    (dict(pixel_tolerance=-1.0), "pixel_tolerance must be between 0 and 255"),
    (dict(pixel_tolerance=300.0), "pixel_tolerance must be between 0 and 255"),
    (dict(wait_timeout=0), "wait_timeout must be a positive number"),
])
def test_policy_values_are_checked_before_any_request(run, jpeg, extra, message):
    client = FakeClient()
    result = run(dict(user="a", src=jpeg[0], **extra), client)
    assert result["failed"] is True and message in result["msg"]
    assert client.reads == []


def test_outlook_v2_absent_is_refused_before_any_request(run):
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", state="absent", api="outlook_v2"), client)
    assert result["failed"] is True and "use api=graph" in result["msg"]
    assert client.reads == []


def test_result_reports_conversion_and_comparison(run, tmp_path):
    path = tmp_path / "badge.gif"
    Image.new("RGB", (90, 60), (1, 2, 3)).save(str(path), "GIF")
    result = run(dict(user="a", src=str(path)), FakeClient())
    assert result["conversion"] == "GIF 90x60 to JPEG 90x60"
    assert result["comparison"] == dict(method="none", distance=None)
    assert result["backup_file"] is None


def test_wait_timeout_reports_the_write_as_changed(run, jpeg, monkeypatch):
    from ansible_collections.o365.outlook.plugins.module_utils.photo import _reconcile

    def never(probe, timeout, what, **kwargs):
        from ansible_collections.o365.outlook.plugins.module_utils.photo._propagation import wait_until
        return wait_until(lambda: None, 0.01, what, sleep=lambda s: None)
    monkeypatch.setattr(_reconcile, "wait_until", never)
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", src=jpeg[0], wait=True, wait_timeout=1), client)
    assert result["failed"] is True and result["changed"] is True
    assert "the write was accepted" in result["msg"]
    assert client.writes == [("put", "a", "image/jpeg")]


class ReadBackFails(FakeClient):
    def get_metadata(self, user):
        if self.writes:
            raise MalformedAnswerError("the body is not JSON", method="GET", url="https://graph/users/a/photo")
        return super().get_metadata(user)


def test_regression_write_then_failed_read_back_reports_changed(run, jpeg):
    """issue 8 defect 2: the PUT succeeded, the read-back failed, and the task said changed=false."""
    client = ReadBackFails(photo=b"old")
    result = run(dict(user="a", src=jpeg[0]), client)
    assert result["failed"] is True and result["changed"] is True
    assert "The upload of the photo of a succeeded, but then:" in result["msg"]
    assert len(client.writes) == 1


def test_unexpected_exception_is_one_failure_without_secrets(run, jpeg, monkeypatch):
    from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo as module

    def broken(*args, **kwargs):
        raise TypeError("unhashable thing near runtime-token-value and super-secret")
    monkeypatch.setattr(module, "ensure_present", broken)
    result = run(dict(user="a", src=jpeg[0], client_secret="super-secret"), FakeClient())
    assert result["failed"] is True and result["_rc"] == 1
    assert result["msg"].startswith("Unexpected TypeError:") and "please report it" in result["msg"]
    text = json.dumps(result)
    assert "runtime-token-value" not in text and "super-secret" not in text


def test_regression_bomb_src_fails_cleanly_for_a_user_with_a_photo(run, tmp_path):
    """issue 8 defect 1: the same PNG bomb crashed the single-user module."""
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk_containment import png_bomb
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    client = FakeClient(photo=b"\xff\xd8\xffold")
    result = run(dict(user="a", src=str(bomb)), client)
    assert result["failed"] is True and result.get("changed", False) is False
    assert "bomb.png" in result["msg"] and "pixels" in result["msg"]
    assert client.writes == [] and client.reads == []


def test_unusable_backup_dir_fails_before_any_request(run, jpeg, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    client = FakeClient(photo=b"old")
    result = run(dict(user="a", src=jpeg[0], backup_dir=str(blocker / "sub")), client)
    assert result["failed"] is True and "backup_dir" in result["msg"] and "not a directory" in result["msg"]
    assert client.reads == [] and client.writes == []
