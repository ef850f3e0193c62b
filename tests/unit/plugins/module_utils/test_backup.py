# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.o365.outlook.plugins.module_utils._backup import safe_file_stem, save_backup

NOW = datetime.datetime(2026, 11, 27, 10, 15, 0, 123456, tzinfo=datetime.timezone.utc)
JPEG = b"\xff\xd8\xff\xe0 jpeg"


@pytest.mark.parametrize("user, stem", [
    ("adele@contoso.com", "adele@contoso.com"),
    ("../../etc/passwd", "etc_passwd"),
    ("/absolute/path", "absolute_path"),
    ("john_fabrikam.com#EXT#@contoso.onmicrosoft.com", "john_fabrikam.com_EXT_@contoso.onmicrosoft.com"),
    ("a+b%c/d?e@x", "a+b_c_d_e@x"),
    ("zoë.müller@x", "zo_.m_ller@x"),
    ("..", "user"),
    (".hidden", "hidden"),
    (None, "me"),
    ("x" * 500, "x" * 120),
])
def test_safe_stems(user, stem):
    assert safe_file_stem(user) == stem
    assert os.sep not in safe_file_stem(user)


def test_backup_stays_inside_the_folder_and_never_overwrites(tmp_path):
    folder = tmp_path / "backups"
    first = save_backup(str(folder), "../../escape", JPEG, now=NOW)
    second = save_backup(str(folder), "../../escape", JPEG, now=NOW)
    assert os.path.dirname(first) == str(folder) and os.path.dirname(second) == str(folder)
    assert os.path.basename(first) == "escape.20261127T101500123456Z.jpg"
    assert os.path.basename(second) == "escape.20261127T101500123456Z-1.jpg"
    assert oct(os.stat(first).st_mode & 0o777) == "0o600"
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700"


def test_backup_extension_follows_content(tmp_path):
    assert save_backup(str(tmp_path), "u", b"\x89PNG\r\n\x1a\n....", now=NOW).endswith(".png")
    assert save_backup(str(tmp_path), "v", b"unknown", now=NOW).endswith(".bin")


def test_backup_dir_that_is_a_file(tmp_path):
    from ansible_collections.o365.outlook.plugins.module_utils._errors import ConfigurationError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="cannot be created|Cannot write"):
        save_backup(str(blocker), "u", JPEG, now=NOW)
