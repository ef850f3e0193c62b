# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os

from ansible_collections.o365.outlook.plugins.module_utils._report import PhotoReport, save_export
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg


def test_export_replaces_and_stays_inside(tmp_path):
    first = save_export(str(tmp_path), "../evil/adele@x", jpeg((1, 1, 1)))
    second = save_export(str(tmp_path), "../evil/adele@x", jpeg((2, 2, 2)))
    assert first == second == str(tmp_path / "evil_adele@x.jpg")
    assert os.listdir(str(tmp_path)) == ["evil_adele@x.jpg"]  # no temp file left


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
