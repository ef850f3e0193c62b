# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.photo._files import check_writable_dir, safe_file_stem, save_backup
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError

NOW = datetime.datetime(2026, 11, 27, 10, 15, 0, 123456, tzinfo=datetime.timezone.utc)
JPEG = b"\xff\xd8\xff\xe0 jpeg"


@pytest.mark.parametrize("user, stem", [
    ("adele@contoso.com", "adele@contoso.com"),
    ("a_b@x.com", "a_b@x.com"),
    ("../../etc/passwd", "etc_passwd~"),
    ("/absolute/path", "absolute_path~"),
    ("john_fabrikam.com#EXT#@contoso.onmicrosoft.com", "john_fabrikam.com_EXT_@contoso.onmicrosoft.com~"),
    ("a+b%c/d?e@x", "a+b_c_d_e@x~"),
    ("zoë.müller@x", "zo_.m_ller@x~"),
    ("..", "user~"),
    (".hidden", "hidden~"),
    (None, "me"),
    ("x" * 500, "x" * 120 + "~"),
])
def test_safe_stems(user, stem):
    """A key that is already a safe name is kept as it is; any other gets ~ and 12 hex digits of its hash."""
    got = safe_file_stem(user)
    if stem.endswith("~"):
        assert got.startswith(stem) and len(got) == len(stem) + 12
        assert all(c in "0123456789abcdef" for c in got[len(stem):])
    else:
        assert got == stem
    assert os.sep not in got and "\\" not in got and not got.startswith(".")


def test_regression_stems_never_collide():
    """issue 8 defect 3: a/b@x.com, a\\b@x.com and a_b@x.com, and keys sharing their first 120 characters,
    all mapped to one file name."""
    keys = ["a/b@x.com", "a\\b@x.com", "a_b@x.com", "a?b@x.com", "A/b@x.com",
            "p" * 120 + "1@x.com", "p" * 120 + "2@x.com", "p" * 121]
    stems = [safe_file_stem(key) for key in keys]
    assert len(set(stems)) == len(keys)


def test_hashed_names_cannot_be_forged_by_another_key():
    """The stem of a changed key cannot equal an unchanged key: '~' is never kept from a key."""
    forged = safe_file_stem("a/b@x.com")
    assert safe_file_stem(forged) != forged


def test_backup_stays_inside_the_folder_and_never_overwrites(tmp_path):
    folder = tmp_path / "backups"
    first = save_backup(str(folder), "../../escape", JPEG, now=NOW)
    second = save_backup(str(folder), "../../escape", JPEG, now=NOW)
    assert os.path.dirname(first) == str(folder) and os.path.dirname(second) == str(folder)
    stem = safe_file_stem("../../escape")
    assert stem.startswith("escape~")
    assert os.path.basename(first) == stem + ".20261127T101500123456Z.jpg"
    assert os.path.basename(second) == stem + ".20261127T101500123456Z-1.jpg"
    assert oct(os.stat(first).st_mode & 0o777) == "0o600"
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700"


def test_backup_extension_follows_content(tmp_path):
    assert save_backup(str(tmp_path), "u", b"\x89PNG\r\n\x1a\n....", now=NOW).endswith(".png")
    assert save_backup(str(tmp_path), "v", b"unknown", now=NOW).endswith(".bin")


def test_backup_dir_that_is_a_file(tmp_path):
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="cannot be created|Cannot write"):
        save_backup(str(blocker), "u", JPEG, now=NOW)


def test_backup_never_writes_through_a_symlink(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    target = tmp_path / "victim"
    target.write_text("keep me")
    (folder / "u.20261127T101500123456Z.jpg").symlink_to(target)
    path = save_backup(str(folder), "u", JPEG, now=NOW)
    assert os.path.basename(path) == "u.20261127T101500123456Z-1.jpg"
    assert target.read_text() == "keep me"


def test_writable_dir_checks_before_any_request(tmp_path):
    check_writable_dir(str(tmp_path / "new" / "deeper"), "backup_dir")  # created on first use: fine
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="backup_dir .* is not a directory"):
        check_writable_dir(str(blocker / "sub"), "backup_dir")
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root may write anywhere
        with pytest.raises(ConfigurationError, match="not writable"):
            check_writable_dir(str(readonly), "dest_dir")
