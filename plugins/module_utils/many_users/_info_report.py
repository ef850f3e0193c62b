# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading photo facts for many users (outlook_user_photo_info): batched, parallel, memory-bounded."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from ..photo._files import image_extension, refuse_symlink, safe_file_stem
from ..photo._current import recheck_no_content
from ._engine import content_groups, map_chunks, stops_run
from ._run_deadline import RunDeadline
from ..common._errors import ConfigurationError, OutlookError, as_outlook_error

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient


def save_export(dest_dir: str, user: str, data: bytes) -> str:
    """Writes dest_dir/<user>.<ext> atomically, mode 0600; returns the path.

    The name is unique per user key (safe_file_stem), so an export only ever replaces an older export of the
    same user; a symbolic link in its place is refused, not followed or replaced.
    """
    path = os.path.join(dest_dir, "%s.%s" % (safe_file_stem(user), image_extension(data)))
    refuse_symlink(path, "dest_dir")
    handle, temporary = tempfile.mkstemp(dir=dest_dir, prefix=".export-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


class PhotoReport:
    """Builds one entry per user: has_photo and the metadata, optionally sha256, sizes and an exported file."""

    def __init__(self, client: PhotoClient, include_sha256: bool = False, include_sizes: bool = False, dest_dir: str | None = None,
                 parallelism: int = 8, deadline: RunDeadline | None = None) -> None:
        self.client = client
        self.deadline = deadline or RunDeadline(None)
        self.include_sha256 = include_sha256
        self.include_sizes = include_sizes
        self.dest_dir = dest_dir
        self.parallelism = parallelism
        # The first error no user can escape (credentials refused, service gone): later chunks are not read.
        self.stop_error = None
        self.not_attempted = set()
        self._lock = threading.Lock()

    def run(self, users: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """users: list of (user key, object id or None)."""
        if self.dest_dir:
            try:
                os.makedirs(self.dest_dir, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError("dest_dir %s cannot be created: %s." % (self.dest_dir, exc.strerror)) from None
        return map_chunks(users, self._chunk, self.parallelism)

    def _chunk(self, chunk: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        if self.deadline.passed:
            with self._lock:
                self.stop_error = self.stop_error or self.deadline.error()
        if self.stop_error is not None:
            with self._lock:
                self.not_attempted.update(key for key, _object_id in chunk)
            problem = OutlookError("not attempted: the run stopped (%s)" % self.stop_error.msg)
            return [self._entry(key, object_id, problem, None, None) for key, object_id in chunk]
        try:
            entries = self._read_chunk(chunk)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Containment: whatever went wrong reading this chunk is these users' error, never the run's crash.
            problem = as_outlook_error(exc, "reading the photos of %d users" % len(chunk))
            entries = [self._entry(key, object_id, problem, None, None) for key, object_id in chunk]
        return entries

    def _read_chunk(self, chunk: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        keys = [key for key, _object_id in chunk]
        metadata = self.client.get_metadata_many(keys)
        with_photo = [key for key in keys if metadata[key] is not None and not isinstance(metadata[key], OutlookError)]
        content = {}
        if self.include_sha256 or self.dest_dir:
            for group in content_groups(with_photo, metadata):
                content.update(self.client.get_content_many(group))
            recheck_no_content(self.client, with_photo, metadata, content)
        sizes = self.client.get_sizes_many(with_photo) if self.include_sizes and with_photo else {}
        return [self._entry(key, object_id, metadata[key], content.get(key), sizes.get(key)) for key, object_id in chunk]

    def _entry(self, key: str, object_id: str | None, meta: PhotoMetadata | OutlookError | None, data: bytes | OutlookError | None,
               sizes: list[PhotoMetadata] | OutlookError | None) -> dict[str, Any]:
        entry = dict(user=key, user_id=object_id, has_photo=None, id=None, width=None, height=None, content_type=None,
                     etag=None, sha256=None, sizes=None, dest_file=None, error=None)
        problem = next((value for value in (meta, data, sizes) if isinstance(value, OutlookError)), None)
        if problem is not None:
            if stops_run(problem):
                with self._lock:
                    self.stop_error = self.stop_error or problem
            entry["error"] = problem.msg
            return entry
        entry["has_photo"] = meta is not None
        if meta is None:
            return entry
        entry.update(meta.to_dict())
        if data is not None:
            if self.include_sha256:
                # Of the very bytes written to dest_file: no other user's export can replace that file.
                entry["sha256"] = hashlib.sha256(data).hexdigest()
            if self.dest_dir:
                try:
                    entry["dest_file"] = save_export(self.dest_dir, key, data)
                except (OSError, OutlookError) as exc:
                    entry["error"] = "cannot save the photo into dest_dir: %s" % (
                        exc.msg if isinstance(exc, OutlookError) else exc.strerror or exc)
        if sizes is not None:
            entry["sizes"] = [dict(id=size.photo_id, width=size.width, height=size.height) for size in sizes]
        return entry
