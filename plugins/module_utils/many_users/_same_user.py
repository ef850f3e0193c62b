# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""One user, one entry: a task that names users both by object id and by another key (a UPN) may name one user
twice, with two sources, and the photo would flip on every run. Only then are the other keys resolved to object ids,
before any photo is written: from the @odata.id of the photo metadata (read anyway, and kept for the run), else from
GET /users/{key}?$select=id, 20 per $batch. Both entries of a user named twice fail. A key whose id cannot be had
keeps 1.0.0's behaviour, with one warning for the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ..common._errors import ConfigurationError, GraphError, MalformedAnswerError, OutlookError
from ..graph._answers import is_object_id
from ..graph._photo_client import BATCH, LIST_USERS, UserNotFoundError
from ._defaults import superseded

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient
    from ._engine import Job

Metadata = Dict[str, Any]  # user -> PhotoMetadata | None | OutlookError
Pairs = List[Tuple[str, Any]]
ReadAll = Callable[[List[str], Callable[[List[str]], Pairs]], Pairs]


def named_in_several_forms(jobs: Iterable[Job]) -> bool:
    """Whether the task's usable entries name users both by object id and by another key."""
    forms = {is_object_id(job.user) for job in jobs if job.problem is None and isinstance(job.user, str)}
    return len(forms) > 1


def owner_id(user: str, meta: Any) -> Optional[str]:
    """The object id of user: the key itself when it is one, else what its metadata's @odata.id names; a group's or a
    Team's own state key (group:<id>), which no user shares."""
    state_key = getattr(user, "state_key", None)
    if state_key:
        return state_key
    if is_object_id(user):
        return user.lower()
    return getattr(meta, "owner_id", None)


def check_owner(user: str, meta: Any) -> Any:
    """meta, or a MalformedAnswerError when it names another object than the object id asked for (another user's
    photo under this user's name is never compared, trusted or replaced)."""
    found = getattr(meta, "owner_id", None)
    if found is not None and is_object_id(user) and found != user.lower():
        return MalformedAnswerError("the photo metadata read for user %s names another object (%s)" % (user, found))
    return meta


class Resolution:
    """The object ids of one run's keys, the metadata read to find them (handed to the chunk reads, which then do not
    read it again), and why some keys have none."""

    def __init__(self) -> None:
        self.ids: Dict[str, str] = {}
        self.metadata: Metadata = {}
        self.unresolved: List[Tuple[str, str]] = []  # (user, reason), for the one warning

    def take_metadata(self, user: str) -> Any:
        """The metadata read while resolving, once (None when not read: the chunk reads it)."""
        return self.metadata.pop(user, None)

    def has_metadata(self, user: str) -> bool:
        return user in self.metadata


def resolve(client: PhotoClient, jobs: List[Job], read_all: ReadAll, known: Optional[Mapping[str, str]] = None) -> Resolution:
    """Object ids for the keys of jobs that are not object ids. read_all(users, work) runs work over chunks of users in
    parallel and returns the joined (user, value) pairs. known: ids already learned (the user listing's), not asked
    again. Raises only errors that stop the run."""
    resolution = Resolution()
    known = known or {}
    resolution.ids.update((user, object_id) for user, object_id in known.items())
    names = sorted({job.user for job in jobs if job.problem is None and isinstance(job.user, str) and not is_object_id(job.user)
                    and job.user not in known})
    metadata = dict(read_all(names, lambda chunk: list(client.get_metadata_many(chunk).items())))
    asked = []
    for user in names:
        meta = metadata.get(user)
        resolution.metadata[user] = meta
        found = getattr(meta, "owner_id", None)
        if found:
            resolution.ids[user] = found
        elif not isinstance(meta, UserNotFoundError):
            asked.append(user)
    if not asked:
        return resolution
    if not (BATCH in client.dialect.capabilities and LIST_USERS in client.dialect.capabilities):
        resolution.unresolved.extend((user, "the %s API names no object id here" % client.dialect.name) for user in asked)
        return resolution
    for user, found in read_all(asked, lambda chunk: list(client.get_object_ids_many(chunk).items())):
        if isinstance(found, str):
            resolution.ids[user] = found
        elif not isinstance(found, UserNotFoundError):
            resolution.unresolved.append((user, _reason(found)))
    return resolution


def _reason(found: Any) -> str:
    if isinstance(found, GraphError) and found.status == 403:
        return "403 on GET /users/{key}?$select=id: resolving needs User.ReadBasic.All"
    if isinstance(found, OutlookError):
        return found.msg
    return "the answer named no object id"


def mark_named_twice(jobs: List[Job], ids: Mapping[str, str]) -> int:
    """Gives every entry of a user named under several keys a "named twice" problem; the number of such users."""
    entries: Dict[str, List[Job]] = {}
    for job in jobs:
        if not isinstance(job.user, str):
            continue  # groups: the sync plan caught a group named twice when it resolved them
        found = job.user.lower() if is_object_id(job.user) else ids.get(job.user)
        if job.problem is None and found:
            entries.setdefault(found, []).append(job)
    twice = 0
    for found, named in entries.items():
        if len(named) < 2:
            continue
        # A user selected for the default who also has an entry of their own gets that entry; one selected twice for
        # the default, once.
        reason = superseded(named)
        defaults = [job for job in named if job.default]
        for job in defaults if reason else defaults[1:]:
            job.superseded = reason or "is selected for the default under another name too (%s)" % defaults[0].user
        named = [job for job in named if not job.superseded]
        if len(named) < 2:
            continue
        twice += 1
        forms = ", ".join("%s (%s%s)" % (job.user, job.state, " " + job.shown_src if job.src else "") for job in named)
        for job in named:
            job.problem = ConfigurationError("user %s is named twice: %s are one user, object id %s; keep one entry"
                                             % (job.user, forms, found))
    return twice


def unresolved_warning(unresolved: List[Tuple[str, str]]) -> Optional[str]:
    """The run's one warning about keys whose object id could not be had, or None."""
    if not unresolved:
        return None
    user, reason = unresolved[0]
    return ("The object id of %d of the users this task names by UPN could not be learned (first: %s, %s), so for them "
            "one user named both by UPN and by object id is not caught as named twice: name each user one way, or "
            "grant User.ReadBasic.All." % (len(unresolved), user, reason))
