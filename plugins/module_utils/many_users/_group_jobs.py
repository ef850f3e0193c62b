# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Group keys resolved 20 per $batch, through the run's gate: a sync's group entries made into jobs (each group named by
mail or mailNickname resolved to its object id, one group named twice caught, each problem that group's failure), and
the groups outlook_user_photo_info reports (resolve_group_keys)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Union
from urllib.parse import quote

from ..common._errors import ConfigurationError, OutlookError, as_outlook_error
from ..graph._batch import MAX_BATCH, BatchItem, run_batch
from ..graph._groups import (GROUP_FIELDS, GroupNotFoundError, GroupRef, filter_path, group_from_listing, key_kind,
                             refused_resolution)
from ..graph._owners import GROUP, TEAM, Owner
from ._engine import Job

# read_all(keys, work): runs work over chunks of keys in parallel and returns the joined (key, value) pairs.
ReadAll = Callable[[List[str], Callable[[List[str]], List[Any]]], List[Any]]
Resolved = Union[GroupRef, OutlookError]


def details_path(group_id: str) -> str:
    """GET /groups/{id} with the fields a report shows, relative to the API root (a $batch item's url)."""
    return "/groups/%s?$select=%s" % (quote(group_id, safe=""), GROUP_FIELDS)


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def group_details(body: Any, origin: Any, group_id: str) -> GroupRef:
    """The GroupRef of GET /groups/{id}'s answer; MalformedAnswerError (origin.fail) when it is not one group object."""
    if not isinstance(body, dict):
        raise origin.fail("the group is not an object")
    answered = body.get("id")
    if answered is not None and (not isinstance(answered, str) or answered.lower() != group_id):
        raise origin.fail("the answer names group %r, not %s" % (answered, group_id))
    options = body.get("resourceProvisioningOptions")
    is_team = None
    if isinstance(options, list):
        is_team = any(isinstance(option, str) and option.lower() == "team" for option in options)
    return GroupRef(group_id, _text(body.get("displayName")), _text(body.get("mail")), is_team)


def _by_id(item: BatchItem, api_base: str, group_id: str) -> Resolved:
    """What GET /groups/{id} says of one group: its details; None details on a 403 (the app may not read groups, and
    the photo may still be readable); GroupNotFoundError on a 404; else the item's error."""
    if item.succeeded:
        return group_details(item.body, item.origin(api_base), group_id)
    error = item.error(api_base)
    status = getattr(error, "status", None) if item.failure is None else None
    if status == 403:
        return GroupRef(group_id, None, None, None)
    if status == 404:
        return GroupNotFoundError("group %s was not found." % group_id)
    return error


def _by_name(item: BatchItem, api_base: str, key: str, endpoint: str) -> Resolved:
    """The one group a filtered listing names, or why there is none."""
    if item.succeeded:
        return group_from_listing(item.body, item.origin(api_base), key, endpoint)
    error = item.error(api_base)
    return refused_resolution(key) if getattr(error, "status", None) == 403 else error


def _resolve_chunk(client: Any, keys: List[str], endpoints: Mapping[str, str]) -> List[Any]:
    """[(key, GroupRef | OutlookError)] for up to 20 keys per $batch. Raises only what stops the run."""
    api_base = client.dialect.api_base
    found = []
    for start in range(0, len(keys), MAX_BATCH):
        chunk = keys[start:start + MAX_BATCH]
        paths = [details_path(key.lower()) if key_kind(key) == "id" else filter_path(key) for key in chunk]
        items = run_batch(client.transport, api_base, [BatchItem(index, "GET", path) for index, path in enumerate(paths)])
        for key, item in zip(chunk, items):
            try:
                if key_kind(key) == "id":
                    found.append((key, _by_id(item, api_base, key.lower())))
                else:
                    found.append((key, _by_name(item, api_base, key, endpoints.get(key, GROUP))))
            except OutlookError as exc:  # not found, ambiguous, a malformed answer: that group's own problem
                found.append((key, exc))
            # One group's odd answer is its own failure, never the others'.
            except Exception as exc:  # pylint: disable=broad-exception-caught
                found.append((key, as_outlook_error(exc, "resolving group %s" % key)))
    return found


def resolve_group_keys(client: Any, keys: List[str], read_all: ReadAll, endpoints: Optional[Mapping[str, str]] = None) -> Dict[str, Resolved]:
    """{key: GroupRef | OutlookError} for group keys as the modules take them, 20 per $batch through the run's gate.

    A mail or mailNickname is looked up with $filter and must match exactly one group (Group.Read.All; a 403 says so);
    endpoints[key] == team also requires a Team. An object id is taken as it is, its details read with GET /groups/{id}
    (a 403 leaves them None, a 404 is GroupNotFoundError). A failed $batch is the error of its keys only. Raises only
    what stops the run (a 401, the service gone).
    """
    unique = sorted(set(keys))
    if not unique:
        return {}
    return dict(read_all(unique, lambda chunk: _resolve_chunk(client, chunk, endpoints or {})))


def resolve_group_jobs(client: Any, jobs: List[Job], read_all: ReadAll) -> None:
    """Gives every group job its Owner (job.user) or its problem. Raises only what stops the run (a 401)."""
    groups = [job for job in jobs if job.named is not None and job.problem is None]
    by_name = {job.named["group"]: job.named["endpoint"] for job in groups if key_kind(job.named["group"]) != "id"}
    resolved = resolve_group_keys(client, list(by_name), read_all, by_name)
    for job in groups:
        key, endpoint = job.named["group"], job.named["endpoint"]
        kind = TEAM if endpoint == TEAM else GROUP
        if key_kind(key) == "id":
            job.user = Owner(kind, key.lower())
            continue
        found = resolved.get(key)
        if isinstance(found, OutlookError):
            job.problem = found
        else:
            job.user = Owner(kind, found.id)
    _mark_named_twice(groups)


def _mark_named_twice(groups: List[Job]) -> None:
    """Two entries that turned out to be one group (by id and by mail, say) both fail: never a guess which one wins."""
    entries: Dict[str, List[Job]] = {}
    for job in groups:
        if job.problem is None and isinstance(job.user, Owner):
            entries.setdefault(job.user.key, []).append(job)
    for group_id, named in entries.items():
        if len(named) < 2:
            continue
        forms = ", ".join("%s (%s)" % (job.named["group"], job.state) for job in named)
        for job in named:
            job.problem = ConfigurationError("group %s is named twice: %s are one group, object id %s; keep one entry"
                                             % (job.named["group"], forms, group_id))
