# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json

import pytest
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.plugins.module_utils.module import _outlook_module
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_info, outlook_user_photo_sync


@pytest.mark.parametrize("module, args", [
    (outlook_user_photo_sync, dict(absent_users=["a@x"])),
    (outlook_user_photo_info, dict(users=["a@x"])),
])
@pytest.mark.parametrize("parallelism", [0, 65])
def test_parallelism_out_of_range_fails_before_connecting(module, args, parallelism, monkeypatch, capfd):
    connected = []
    monkeypatch.setattr(_outlook_module, "open_client", lambda *a, **k: connected.append(1))
    with patch_module_args(dict(args, parallelism=parallelism, access_token="unit-test-token-value")):
        with pytest.raises(SystemExit):
            module.main()
    result = json.loads(capfd.readouterr().out)
    assert result["failed"] is True
    assert result["msg"] == "parallelism must be between 1 and 64, got %d." % parallelism
    assert connected == []


class _Transport:
    stats = {"requests": 0, "retries": 0, "throttled": 0}


def _sync(monkeypatch, capfd, client, **args):
    client.transport = _Transport()
    monkeypatch.setattr(_outlook_module, "open_client", lambda *a, **k: client)
    with patch_module_args(dict(args, access_token="unit-test-token-value")):
        with pytest.raises(SystemExit):
            outlook_user_photo_sync.main()
    return json.loads(capfd.readouterr().out)


def _photos(tmp_path, count):
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import jpeg
    path = tmp_path / "red.jpg"
    path.write_bytes(jpeg((200, 0, 0)))
    return [dict(user="u%02d@x" % n, src=str(path)) for n in range(count)]


def test_regression_sync_returns_everything_when_a_chunk_breaks(monkeypatch, capfd, tmp_path):
    """issue 8 defect 1: a malformed $batch answer made the task fail with 'Module failed', changed=false and no
    results or summary, although photos were already replaced."""
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk_containment import Surprising
    client = Surprising({}, broken_chunk_user="u25@x")
    result = _sync(monkeypatch, capfd, client, photos=_photos(tmp_path, 45), fail_on_error=False, parallelism=2)
    assert result.get("failed") is not True
    assert result["changed"] is True
    assert result["summary"]["uploaded"] == 25 and result["summary"]["failed"] == 20 and result["summary"]["total"] == 45
    assert result["failed_users"] == ["u%02d@x" % n for n in range(20, 40)]
    assert len(result["results"]) == 45 and "stats" in result


def test_a_stopped_run_fails_and_says_what_was_done(monkeypatch, capfd, tmp_path):
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk_containment import Revoking
    client = Revoking(AuthenticationError("Could not get a token: AADSTS7000222"), allowed=5)
    result = _sync(monkeypatch, capfd, client, photos=_photos(tmp_path, 60), fail_on_error=False, parallelism=1)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith("The run stopped: Could not get a token: AADSTS7000222.")
    assert "5 photos were changed" in result["msg"]
    assert result["summary"]["uploaded"] == 5
    assert len(result["not_attempted_users"]) == result["summary"]["not_attempted"] >= 20
    assert result["summary"]["total"] == 60
