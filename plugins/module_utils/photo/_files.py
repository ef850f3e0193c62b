# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Saving the current photo before it is replaced or removed."""

from __future__ import annotations

import datetime
import hashlib
import os
import re

from ..common._errors import ConfigurationError
from ..common._users import shown_user
from ._image import sniff_format

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp", "webp": "webp", "tiff": "tif"}
MAX_NAME = 120
# Hex digits of SHA-256(user key) added when the safe stem is not the key itself. Two keys could only share a
# name if they had the same stem AND the same 48-bit hash: a handful of keys per stem make that ~1e-14.
_KEY_HASH_DIGITS = 12
# Joins stem and hash. It is a character _UNSAFE replaces, so no unchanged key can look like a hashed name.
_HASH_SEPARATOR = "~"


def safe_file_stem(user: str | None) -> str:
    """A file name stem, unique per user key, that can never leave its folder.

    Path separators, '..', '#', '?', control and non-ASCII characters all become '_', a leading dot is dropped
    (never hidden or relative) and long keys are cut. Whenever that changed the key, a short hash of the exact
    key is added, so `a/b@x`, `a\\b@x` and `a_b@x` (or two keys that share their first characters) never share a file.
    """
    key = shown_user(user)
    stem = _UNSAFE.sub("_", key).strip("._") or "user"
    if stem == key and len(stem) <= MAX_NAME:
        return stem
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_KEY_HASH_DIGITS]
    return "%s%s%s" % (stem[:MAX_NAME], _HASH_SEPARATOR, digest)


def refuse_symlink(path: str, option: str) -> None:
    """ConfigurationError when path is a symbolic link: a file we write must never write through one."""
    if os.path.islink(path):
        raise ConfigurationError("%s: %s is a symbolic link; refusing to write through it." % (option, path))


def check_writable_dir(path: str, option: str) -> None:
    """Refuse, before any request, a folder that cannot be used: not a folder, or not writable (it or the nearest
    existing parent when it does not exist yet, since it is created on first use)."""
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe.rstrip(os.sep)) or "."
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise ConfigurationError("%s %s cannot be used: %s is not a directory." % (option, path, probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigurationError("%s %s cannot be used: %s is not writable by the user that runs the module." % (
            option, path, probe))


def image_extension(data: bytes) -> str:
    return _EXTENSIONS.get(sniff_format(data) or "", "bin")


def save_backup(backup_dir: str, user: str | None, data: bytes, now: datetime.datetime | None = None) -> str:
    """Writes data to backup_dir/<user>.<UTC timestamp>.<ext> without overwriting anything; returns the path."""
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    try:
        os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError("backup_dir %s cannot be created: %s. Nothing was changed." % (backup_dir, exc.strerror)) from None
    root = os.path.realpath(backup_dir)
    base = "%s.%s" % (safe_file_stem(user), now.strftime("%Y%m%dT%H%M%S%fZ"))
    ext = image_extension(data)
    for attempt in range(100):
        name = "%s%s.%s" % (base, "" if attempt == 0 else "-%d" % attempt, ext)
        path = os.path.join(root, name)
        if os.path.dirname(os.path.abspath(path)) != root:  # defence in depth; the stem has no separators
            raise ConfigurationError("refusing backup file name %r outside backup_dir" % name)
        try:
            # O_EXCL never follows a symbolic link or replaces a file; O_NOFOLLOW says so twice where it exists.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigurationError("Cannot write a backup into backup_dir %s: %s. Nothing was changed." % (
                backup_dir, exc.strerror)) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path
    raise ConfigurationError("Too many backups named %s.* in %s." % (base, backup_dir))
