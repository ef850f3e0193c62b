# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.o365.outlook.plugins.module_utils import _module
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_info, outlook_user_photo_sync


@pytest.mark.parametrize("module, args", [
    (outlook_user_photo_sync, dict(absent_users=["a@x"])),
    (outlook_user_photo_info, dict(users=["a@x"])),
])
@pytest.mark.parametrize("parallelism", [0, 65])
def test_parallelism_out_of_range_fails_before_connecting(module, args, parallelism, monkeypatch, capfd):
    connected = []
    monkeypatch.setattr(_module, "connect", lambda *a, **k: connected.append(1))
    with patch_module_args(dict(args, parallelism=parallelism, access_token="unit-test-token-value")):
        with pytest.raises(SystemExit):
            module.main()
    result = json.loads(capfd.readouterr().out)
    assert result["failed"] is True
    assert result["msg"] == "parallelism must be between 1 and 64, got %d." % parallelism
    assert connected == []
