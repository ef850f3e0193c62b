# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The sync's default photo: one image (default_src or default_content) for the selected users who have none.

Never a photo someone chose. Who has a photo comes from the metadata the engine reads anyway (no download). A user
with a photo keeps it, unless the state file proves that the photo is a default an earlier run set: a trusted record
"got the default with SHA-256 X" whose etag, width, height and content type are those the metadata shows now. The
record becomes trusted when the run that set the default reads it back and finds the default's pixels under that
etag (confirm). Only then may a changed default replace it; a changed etag means the user chose a photo since.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, Optional, Sequence, Set

from ..common._errors import ConfigurationError, GraphError, OutlookError
from ..common._users import EMPTY, PADDED, user_key_problem
from ..photo._source import load_source
from ._state_file import Record

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient
    from ..photo._image import SourceImage
    from ..photo._prepare import Preparation
    from ._engine import Job

# What a default job does, from the user's metadata and state-file record (default_step).
SET = "set"  # no photo: the default goes up
REPLACE = "replace"  # holds an earlier default, proven by a trusted record and an unchanged etag: the new default goes up
HOLDS = "holds"  # holds this default, proven the same way: nothing to do, nothing downloaded
CONFIRM = "confirm"  # an earlier run set this default but could not read it back: download and compare, once
OWN = "own"  # a photo of the user's own, or one that no record proves is a default: kept, never downloaded

# How long the run that set defaults waits for the service to show them, to learn their etags (confirm). A read can lag
# a write; what is not shown by then is compared once by the next run that meets the user.
CONFIRM_WAIT_SECONDS = 20.0


def _described_as(record: Record, meta: PhotoMetadata) -> bool:
    return (bool(meta.etag) and record.etag == meta.etag and record.width == meta.width and record.height == meta.height
            and (record.content_type or "").lower() == (meta.content_type or "").lower())


def default_step(record: Optional[Record], meta: Optional[PhotoMetadata], default_sha256: Optional[str]) -> str:
    """SET, REPLACE, HOLDS, CONFIRM or OWN for a selected user; meta None means the user has no photo."""
    if meta is None:
        return SET
    if record is None or not record.default:
        return OWN
    if record.trusted and record.etag:
        if not _described_as(record, meta):
            return OWN  # changed since the default was set: the user's choice
        return HOLDS if record.source_sha256 == default_sha256 else REPLACE
    if record.etag is None and record.source_sha256 == default_sha256:
        return CONFIRM
    return OWN  # set as another default and never confirmed: nothing proves it still is one


def default_record(source_sha256: str, meta: Optional[PhotoMetadata] = None, served_sha256: Optional[str] = None,
                   compared_at: Optional[int] = None) -> Record:
    """After an upload of the default: pending (no etag). After the read-back found the default under meta's etag:
    trusted, with that etag."""
    if meta is None:
        return Record(source_sha256, default=True)
    return Record(source_sha256, meta.etag, meta.width, meta.height, meta.content_type, served_sha256, True, compared_at,
                  default=True)


class DefaultPhoto:
    """The default image: its source (a path or an ImageContent), loaded and prepared once for the whole run; a source
    that cannot be loaded is every default user's failure, with the same message."""

    def __init__(self, src: Any, convert: bool, preparation: Preparation) -> None:
        self.src = src
        self.convert = convert
        self.preparation = preparation
        self._lock = threading.Lock()
        self._image: Optional[SourceImage] = None
        self._error: Optional[Exception] = None

    @property
    def shown_src(self) -> Optional[str]:
        return self.src if isinstance(self.src, str) else None

    def image(self) -> SourceImage:
        with self._lock:
            if self._image is None and self._error is None:
                try:
                    self._image = load_source(self.src, convert=self.convert, preparation=self.preparation)
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    self._error = exc
            if self._error is not None:
                raise self._error
            return self._image

    @property
    def sha256(self) -> Optional[str]:
        """The SHA-256 of the source as given (what records keep), once loaded."""
        return self._image.file_sha256 if self._image is not None else None


def own_keys(jobs: Iterable[Job]) -> Set[str]:
    """The lower-cased keys of the users the task names itself (list entries, files, absent_users)."""
    return {job.user.lower() for job in jobs if isinstance(job.user, str) and job.named is None}


def listed_users(client: PhotoClient, user_filter: Optional[str]) -> List[tuple]:
    """[(object id, UPN)] of the tenant's users, or those user_filter selects; a refused filter or permission is a
    ConfigurationError before any photo is read."""
    try:
        return list(client.list_users(user_filter=user_filter))
    except GraphError as exc:
        if exc.status == 400 and user_filter is not None:
            raise ConfigurationError("user_filter %r was refused by the service (%s): give an OData $filter on users, for "
                                     "example userType eq 'Guest' or accountEnabled eq true." % (user_filter, exc.msg)) from None
        if exc.status == 403:
            raise ConfigurationError("Listing the tenant's users for all_users was refused (%s): the app needs "
                                     "User.ReadBasic.All (or User.Read.All)." % exc.msg) from None
        raise


def default_jobs(job_type: Callable[..., Job], jobs: Sequence[Job], listed: Iterable[tuple], default_users: Iterable[str],
                 src: Any) -> tuple:
    """(the default jobs, {UPN: object id} of the listed users): one per selected user without an entry of their own,
    named by UPN (results show it), in the listing's order, then default_users in theirs. A user selected twice (listed
    and in default_users, or twice in default_users) gets one job; an empty or padded name fails its own job."""
    taken = own_keys(jobs)
    found, ids = [], {}
    for object_id, upn in listed:
        keys = {object_id.lower(), upn.lower()}
        if keys & taken:
            continue
        taken |= keys
        ids[upn] = object_id.lower()
        found.append(job_type(upn, "present", src, default=True))
    for user in default_users:
        if user.lower() in taken:
            continue
        taken.add(user.lower())
        problem = user_key_problem(user)
        error = None
        if problem == EMPTY:
            error = ConfigurationError("default_users has an empty user")
        elif problem == PADDED:
            error = ConfigurationError("user %r in default_users has leading or trailing white space" % user)
        found.append(job_type(user, "present", src, error, default=True))
    return found, ids


def superseded(jobs: Sequence[Job]) -> Optional[str]:
    """Among the jobs of one user (one object id), named under several keys: the text for the default ones, which
    step aside for an entry of the user's own; None when only default jobs name the user (the first one stays)."""
    own = [job for job in jobs if not job.default]
    if own:
        return "has an entry of its own (%s), which is used instead of the default" % own[0].user
    return None


def confirmable(metadata: Mapping[str, Any], previous: Mapping[str, Any]) -> List[str]:
    """The users whose metadata now shows a photo other than the one before the write (so, once propagated, the
    default): a non-empty etag that is not the previous photo's."""
    shown = []
    for user, meta in metadata.items():
        etag = getattr(meta, "etag", None)
        if meta is None or isinstance(meta, OutlookError) or not etag:
            continue
        before = previous.get(user)
        if before is not None and before.etag == etag:
            continue
        shown.append(user)
    return shown
