# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading photo facts for many users and groups (outlook_user_photo_info): batched, parallel, memory-bounded."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from ..photo._files import image_extension, refuse_symlink, safe_file_stem
from ..photo._current import recheck_no_content
from ..graph._groups import GroupRef
from ..graph._owners import GROUP, Owner
from ._engine import content_groups, map_chunks, stops_run
from ._group_jobs import resolve_group_keys
from ._run_deadline import RunDeadline
from ..common._errors import ConfigurationError, OutlookError, as_outlook_error

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient


def save_export(dest_dir: str, user: str | Owner, data: bytes) -> str:
    """Writes dest_dir/<user>.<ext> atomically, mode 0600; returns the path.

    The name is unique per user key (safe_file_stem), so an export only ever replaces an older export of the
    same user; a symbolic link in its place is refused, not followed or replaced. A group's Owner is named group:<id>,
    which becomes group_<id>~<hash>: no user key holds ':', so a group's file is never a user's.
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


class GroupToRead(NamedTuple):
    """One group entry to report: how the task named it (with all_groups, its object id), and the group when already
    known (all_groups lists them with their details); None: the name is resolved in the group's chunk."""
    named: str
    ref: Optional[GroupRef] = None


class PhotoReport:
    """Builds one entry per user or group: has_photo and the metadata, optionally sha256, sizes and an exported file."""

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
        self.not_attempted_groups = set()  # as the task named them
        self._lock = threading.Lock()

    def run(self, users: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """users: list of (user key, object id or None)."""
        self._make_dest_dir()
        return map_chunks(users, self._chunk, self.parallelism)

    def run_groups(self, groups: list[GroupToRead]) -> list[dict[str, Any]]:
        """One entry per group, in the order given; after run(), a run that stopped there reads no group."""
        self._make_dest_dir()
        return map_chunks(groups, self._group_chunk, self.parallelism)

    def _make_dest_dir(self) -> None:
        if self.dest_dir:
            try:
                os.makedirs(self.dest_dir, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError("dest_dir %s cannot be created: %s." % (self.dest_dir, exc.strerror)) from None

    def _stopped(self) -> OutlookError | None:
        """The problem of a chunk the run no longer reads (it stopped, or run_timeout passed), else None."""
        with self._lock:
            if self.deadline.passed:
                self.stop_error = self.stop_error or self.deadline.error()
            if self.stop_error is None:
                return None
            return OutlookError("not attempted: the run stopped (%s)" % self.stop_error.msg)

    def _chunk(self, chunk: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        problem = self._stopped()
        if problem is not None:
            with self._lock:
                self.not_attempted.update(key for key, _object_id in chunk)
            return [self._entry(key, object_id, problem, None, None) for key, object_id in chunk]
        try:
            found = self._read_photos([key for key, _object_id in chunk])
            entries = [self._entry(key, object_id, *found[key]) for key, object_id in chunk]
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Containment: whatever went wrong reading this chunk is these users' error, never the run's crash.
            problem = as_outlook_error(exc, "reading the photos of %d users" % len(chunk))
            entries = [self._entry(key, object_id, problem, None, None) for key, object_id in chunk]
        return entries

    def _group_chunk(self, chunk: list[GroupToRead]) -> list[dict[str, Any]]:
        problem = self._stopped()
        if problem is not None:
            with self._lock:
                self.not_attempted_groups.update(group.named for group in chunk)
            return [self._group_entry(group.named, group.ref or problem, problem) for group in chunk]
        try:
            entries = self._read_group_chunk(chunk)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Containment, as for users: this chunk's groups fail, the other chunks and the users are unaffected.
            problem = as_outlook_error(exc, "reading the photos of %d groups" % len(chunk))
            entries = [self._group_entry(group.named, group.ref or problem, problem) for group in chunk]
        return entries

    def _read_group_chunk(self, chunk: list[GroupToRead]) -> list[dict[str, Any]]:
        """The chunk's names resolved (one $batch per 20), then the photos of the groups found, as for users."""
        unresolved = [group.named for group in chunk if group.ref is None]
        resolved = resolve_group_keys(self.client, unresolved, lambda keys, work: work(keys)) if unresolved else {}
        refs = [group.ref or resolved[group.named] for group in chunk]
        owners = list(dict.fromkeys(Owner(GROUP, ref.id) for ref in refs if isinstance(ref, GroupRef)))
        found = self._read_photos(owners) if owners else {}
        entries = []
        for group, ref in zip(chunk, refs):
            if isinstance(ref, GroupRef):
                entries.append(self._group_entry(group.named, ref, *found[Owner(GROUP, ref.id)]))
            else:
                entries.append(self._group_entry(group.named, ref, ref))
        return entries

    def _read_photos(self, keys: list[Any]) -> dict[Any, tuple[Any, Any, Any]]:
        """{key: (metadata, content, sizes)} for user keys or Owners, each value None when not read, or an OutlookError."""
        metadata = self.client.get_metadata_many(keys)
        with_photo = [key for key in keys if metadata[key] is not None and not isinstance(metadata[key], OutlookError)]
        content = {}
        if self.include_sha256 or self.dest_dir:
            for group in content_groups(with_photo, metadata):
                content.update(self.client.get_content_many(group))
            recheck_no_content(self.client, with_photo, metadata, content)
        sizes = self.client.get_sizes_many(with_photo) if self.include_sizes and with_photo else {}
        return {key: (metadata[key], content.get(key), sizes.get(key)) for key in keys}

    def _entry(self, key: str, object_id: str | None, meta: PhotoMetadata | OutlookError | None, data: bytes | OutlookError | None,
               sizes: list[PhotoMetadata] | OutlookError | None) -> dict[str, Any]:
        entry = dict(kind="user", user=key, user_id=object_id)
        entry.update(self._photo_fields(key, meta, data, sizes))
        return entry

    def _group_entry(self, named: str, ref: GroupRef | OutlookError, meta: PhotoMetadata | OutlookError | None = None,
                     data: bytes | OutlookError | None = None, sizes: list[PhotoMetadata] | OutlookError | None = None) -> dict[str, Any]:
        """A group's entry: who it is (null where not known) and its photo fields; the photo's size id is photo_id, since
        id is the group's."""
        known = ref if isinstance(ref, GroupRef) else None
        entry = dict(kind="group", group=named, id=known.id if known else None, display_name=known.display_name if known else None,
                     mail=known.mail if known else None, team=known.is_team if known else None)
        fields = self._photo_fields(Owner(GROUP, known.id) if known else None, meta, data, sizes)
        entry["has_photo"] = fields.pop("has_photo")
        entry["photo_id"] = fields.pop("id")
        entry.update(fields)
        return entry

    def _photo_fields(self, key: str | Owner | None, meta: PhotoMetadata | OutlookError | None, data: bytes | OutlookError | None,
                      sizes: list[PhotoMetadata] | OutlookError | None) -> dict[str, Any]:
        entry = dict(has_photo=None, id=None, width=None, height=None, content_type=None, etag=None, sha256=None, sizes=None,
                     dest_file=None, error=None)
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
