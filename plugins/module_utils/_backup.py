# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Saving the current photo before it is replaced or removed."""

from __future__ import annotations

import datetime
import os
import re

from ._errors import ConfigurationError
from ._image import sniff_format

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp", "webp": "webp", "tiff": "tif"}
MAX_NAME = 120


def safe_file_stem(user):
    """A file name stem from a user key that can never leave its folder.

    Path separators, '..', '#', '?', control and non-ASCII characters all become '_';
    a leading dot is dropped so the file is never hidden or relative.
    """
    stem = _UNSAFE.sub("_", user if user is not None else "me").strip("._") or "user"
    return stem[:MAX_NAME]


def image_extension(data):
    return _EXTENSIONS.get(sniff_format(data) or "", "bin")


def save_backup(backup_dir, user, data, now=None):
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
        if os.path.dirname(os.path.realpath(path)) != root:  # defence in depth; the stem has no separators
            raise ConfigurationError("refusing backup file name %r outside backup_dir" % name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigurationError("Cannot write a backup into backup_dir %s: %s. Nothing was changed." % (
                backup_dir, exc.strerror)) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path
    raise ConfigurationError("Too many backups named %s.* in %s." % (base, backup_dir))
