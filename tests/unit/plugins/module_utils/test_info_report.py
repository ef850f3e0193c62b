# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import os

from ansible_collections.o365.outlook.plugins.module_utils.photo._files import safe_file_stem
from ansible_collections.o365.outlook.plugins.module_utils.many_users._info_report import PhotoReport, save_export
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg


def test_export_replaces_and_stays_inside(tmp_path):
    first = save_export(str(tmp_path), "../evil/adele@x", jpeg((1, 1, 1)))
    second = save_export(str(tmp_path), "../evil/adele@x", jpeg((2, 2, 2)))
    name = safe_file_stem("../evil/adele@x") + ".jpg"
    assert name.startswith("evil_adele@x~")
    assert first == second == str(tmp_path / name)
    assert os.listdir(str(tmp_path)) == [name]  # no temp file left
    assert oct(os.stat(first).st_mode & 0o777) == "0o600"


def test_report_entries(tmp_path):
    photo = jpeg((9, 9, 9))
    tenant = FakeTenant({"has@x": photo}, unknown={"ghost@x"})
    report = PhotoReport(tenant, include_sha256=True, dest_dir=str(tmp_path / "out"), parallelism=2)
    entries = report.run([("has@x", "id-1"), ("none@x", None), ("ghost@x", None)])
    has, none, ghost = entries
    assert has["has_photo"] is True and has["user_id"] == "id-1" and has["width"] == 60
    assert open(has["dest_file"], "rb").read() == photo and has["sha256"] and has["error"] is None
    assert none["has_photo"] is False and none["dest_file"] is None
    assert ghost["has_photo"] is None and "was not found" in ghost["error"]
    assert [c[0] for c in tenant.calls] == ["metadata_many", "content_many"]


def test_metadata_only_by_default():
    tenant = FakeTenant({"has@x": jpeg((9, 9, 9))})
    entries = PhotoReport(tenant).run([("has@x", None)])
    assert entries[0]["sha256"] is None
    assert [c[0] for c in tenant.calls] == ["metadata_many"]


def test_regression_exports_of_different_users_never_share_a_file(tmp_path):
    """issue 8 defect 3: a/b@x.com, a\\b@x.com and a_b@x.com (and two UPNs sharing their first 120 characters)
    were written to one file, and the reported sha256 no longer matched it."""
    users = ["a/b@x.com", "a\\b@x.com", "a_b@x.com", "p" * 120 + "1@x.com", "p" * 120 + "2@x.com"]
    photos = {user: jpeg((n * 40, 0, 0)) for n, user in enumerate(users)}
    tenant = FakeTenant(photos)
    entries = PhotoReport(tenant, include_sha256=True, dest_dir=str(tmp_path), parallelism=1).run([(u, None) for u in users])
    files = [entry["dest_file"] for entry in entries]
    assert len(set(files)) == len(users)
    for entry in entries:
        with open(entry["dest_file"], "rb") as handle:
            data = handle.read()
        assert data == photos[entry["user"]]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert oct(os.stat(entry["dest_file"]).st_mode & 0o777) == "0o600"


def test_export_refuses_a_symlink_and_fails_only_that_user(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a@x.jpg").symlink_to(victim)
    tenant = FakeTenant({"a@x": jpeg((1, 1, 1)), "b@x": jpeg((2, 2, 2))})
    entries = PhotoReport(tenant, dest_dir=str(out)).run([("a@x", None), ("b@x", None)])
    assert "symbolic link" in entries[0]["error"] and entries[0]["dest_file"] is None
    assert entries[1]["dest_file"] == str(out / "b@x.jpg") and entries[1]["error"] is None
    assert victim.read_text() == "keep me"


def test_report_contains_unexpected_errors_and_stops_on_revoked_credentials():
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk_containment import Surprising

    broken = PhotoReport(Surprising({}, broken_chunk_user="u25@x"), parallelism=2)
    entries = broken.run([("u%02d@x" % n, None) for n in range(45)])
    assert [e["user"] for e in entries if e["error"]] == ["u%02d@x" % n for n in range(20, 40)]
    assert broken.stop_error is None

    class Revoked(FakeTenant):
        def get_metadata_many(self, users):
            self._record("metadata_many", tuple(users))
            raise AuthenticationError("Could not get a token: AADSTS7000222")
    tenant = Revoked({})
    report = PhotoReport(tenant, parallelism=1)
    entries = report.run([("u%02d@x" % n, None) for n in range(100)])
    assert report.stop_error is not None and len(entries) == 100
    assert len(tenant.calls) == 1  # later chunks were not read
    assert len(report.not_attempted) == 80
