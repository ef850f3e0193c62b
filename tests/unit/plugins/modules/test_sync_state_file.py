# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_user_photo_sync with state_file (issue 11): what the task writes, returns and warns."""
from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.plugins.module_utils.module import _outlook_module
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_sync
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg

TOKEN = "unit-test-token-value-5b1d"


class _Transport:
    stats = {"requests": 0, "retries": 0, "throttled": 0}


def warnings_of(result):
    """The warning texts of a result (ansible-core 2.19 returns each as a dict with its event)."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings") or []]


def sync(monkeypatch, capfd, client, check_mode=False, **args):
    client.transport = _Transport()
    for name in ("O365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                 "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLOUD", "O365_API_URL", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_outlook_module, "open_client", lambda *a, **k: client)
    args = dict(args, access_token=TOKEN, tenant_id="Contoso.onmicrosoft.com")
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            outlook_user_photo_sync.main()
    return json.loads(capfd.readouterr().out)


@pytest.fixture
def setup(tmp_path):
    red = tmp_path / "red.jpg"
    red.write_bytes(jpeg((200, 0, 0)))
    photos = [dict(user="u%02d@x" % n, src=str(red)) for n in range(30)]
    tenant = FakeTenant({"u%02d@x" % n: red.read_bytes() for n in range(30)})
    return tenant, photos, str(tmp_path / "state.json")


def test_third_run_downloads_nothing_and_says_so(monkeypatch, capfd, setup):
    """Without ETag headers a record is trusted once two runs' downloads agree (issue 17); the run after them
    downloads nothing."""
    tenant, photos, path = setup
    first = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path)
    assert first["stats"]["photos_downloaded"] == 30 and first["stats"]["state_file_hits"] == 0
    assert first["stats"]["bytes_downloaded"] == 30 * len(tenant.photos["u00@x"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(open(path, encoding="utf-8").read())
    assert saved["identity"] == dict(api_url="https://graph.microsoft.com/v1.0", tenant="contoso.onmicrosoft.com")
    assert saved["settings"] == dict(compare="auto", pixel_tolerance=4.0, convert=True,
                                     preparation=dict(version=2, crop="none", max_dimension=None))
    assert len(saved["users"]) == 30
    assert TOKEN not in open(path, encoding="utf-8").read()
    assert saved["version"] == 2 and not any(record["trusted"] for record in saved["users"].values())

    again = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path)
    assert again["stats"]["photos_downloaded"] == 30 and again["changed"] is False
    saved = json.loads(open(path, encoding="utf-8").read())
    assert all(record["trusted"] for record in saved["users"].values())

    tenant.calls.clear()
    second = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path, results="changed")
    assert second["changed"] is False and second["summary"]["unchanged"] == 30
    assert second["stats"]["state_file_hits"] == 30 and second["stats"]["photos_downloaded"] == 0
    assert second["stats"]["bytes_downloaded"] == 0
    assert [call[0] for call in tenant.calls] == ["metadata_many", "metadata_many"]
    assert [w for w in warnings_of(second) if "state_file" in w] == []


def test_check_mode_writes_no_state_file(monkeypatch, capfd, setup):
    tenant, photos, path = setup
    result = sync(monkeypatch, capfd, tenant, check_mode=True, photos=photos, state_file=path)
    assert result["summary"]["unchanged"] == 30
    assert not os.path.exists(path)


def test_a_foreign_file_warns_and_is_replaced(monkeypatch, capfd, setup):
    tenant, photos, path = setup
    sync(monkeypatch, capfd, tenant, photos=photos, state_file=path)
    tenant.calls.clear()
    other = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path, api_url="https://graph.example/v1.0")
    assert other["stats"]["photos_downloaded"] == 30 and other["stats"]["state_file_hits"] == 0
    warned = [w for w in warnings_of(other) if "state_file" in w]
    assert len(warned) == 1 and "was written for another API or tenant" in warned[0]
    assert json.loads(open(path, encoding="utf-8").read())["identity"]["api_url"] == "https://graph.example/v1.0"


def test_without_state_file_downloads_are_counted(monkeypatch, capfd, setup):
    tenant, photos, _path = setup
    result = sync(monkeypatch, capfd, tenant, photos=photos)
    assert result["stats"]["photos_downloaded"] == 30 and result["stats"]["state_file_hits"] == 0


def test_state_file_max_age_0_downloads_every_photo(monkeypatch, capfd, setup):
    tenant, photos, path = setup
    for _night in range(3):
        result = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path, state_file_max_age=0)
        assert result["stats"]["photos_downloaded"] == 30 and result["stats"]["state_file_hits"] == 0


def test_a_negative_state_file_max_age_is_refused_before_any_request(monkeypatch, capfd, setup):
    tenant, photos, path = setup
    result = sync(monkeypatch, capfd, tenant, photos=photos, state_file=path, state_file_max_age=-1)
    assert result["failed"] is True and "state_file_max_age must be 0" in result["msg"]
    assert tenant.calls == []
