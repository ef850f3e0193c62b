# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""A sync's group entries made into jobs: each group named by mail or mailNickname resolved to its object id (20 per
$batch, through the run's gate), one group named twice caught, and each problem that group's failure."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from ..common._errors import ConfigurationError, OutlookError, as_outlook_error
from ..graph._batch import MAX_BATCH, BatchItem, run_batch
from ..graph._groups import GroupNotFoundError, filter_path, group_from_listing, key_kind, refused_resolution
from ..graph._owners import GROUP, TEAM, Owner
from ._engine import Job

# read_all(keys, work): runs work over chunks of keys in parallel and returns the joined (key, value) pairs.
ReadAll = Callable[[List[str], Callable[[List[str]], List[Any]]], List[Any]]


def _listings(client: Any, keys: List[str]) -> List[Any]:
    """[(key, listing body | OutlookError)] for keys named by mail or mailNickname, up to 20 per $batch."""
    found = []
    for start in range(0, len(keys), MAX_BATCH):
        chunk = keys[start:start + MAX_BATCH]
        items = run_batch(client.transport, client.dialect.api_base, [BatchItem(index, "GET", filter_path(key)) for index, key in enumerate(chunk)])
        for key, item in zip(chunk, items):
            if item.succeeded:
                found.append((key, (item.body, item.origin(client.dialect.api_base))))
            else:
                error = item.error(client.dialect.api_base)
                found.append((key, refused_resolution(key) if getattr(error, "status", None) == 403 else error))
    return found


def resolve_group_jobs(client: Any, jobs: List[Job], read_all: ReadAll) -> None:
    """Gives every group job its Owner (job.user) or its problem. Raises only what stops the run (a 401)."""
    groups = [job for job in jobs if job.named is not None and job.problem is None]
    by_name = sorted({job.named["group"] for job in groups if key_kind(job.named["group"]) != "id"})
    listings: Dict[str, Any] = dict(read_all(by_name, lambda chunk: _listings(client, chunk))) if by_name else {}
    for job in groups:
        key, endpoint = job.named["group"], job.named["endpoint"]
        kind = TEAM if endpoint == TEAM else GROUP
        if key_kind(key) == "id":
            job.user = Owner(kind, key.lower())
            continue
        found = listings.get(key)
        if isinstance(found, OutlookError):
            job.problem = found
            continue
        try:
            job.user = Owner(kind, group_from_listing(found[0], found[1], key, endpoint).id)
        except (GroupNotFoundError, OutlookError) as exc:
            job.problem = exc
        except Exception as exc:  # pylint: disable=broad-exception-caught  (one group's odd answer is its own failure)
            job.problem = as_outlook_error(exc, "resolving group %s" % key)
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
