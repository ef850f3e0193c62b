# SPDX-License-Identifier: GPL-3.0-or-later
"""Etags and lagging replicas (issue 17): forced etags for seeded photos, the `stale` fault's rules, and which
requests it applies to."""

from __future__ import annotations

import re

_ETAG = re.compile(r"[0-9A-Za-z]{1,64}")
# Fault keys a "stale" fault goes with; every other key (an answer of its own, a drop, a wire shape) is refused.
STALE_KEYS = frozenset(("method", "path_regex", "body_regex", "count", "skip", "stale"))


def check_etag(value, name="etag"):
    """A forced etag as given (unquoted, 1-64 characters of 0-9, A-Z, a-z), or None when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ETAG.fullmatch(value):
        raise ValueError("%s must be 1-64 characters of 0-9, A-Z and a-z (it is served quoted), not %r" % (name, value))
    return value


def quoted_etag(value: str) -> str:
    """The form of @odata.mediaEtag and of the value_etag header: the etag in double quotes."""
    return '"%s"' % value


def check_stale(fault) -> bool:
    """Whether a fault object asks for a lagging replica; raises ValueError for a bad value or a key it refuses."""
    stale = fault.get("stale", False)
    if not isinstance(stale, bool):
        raise ValueError("stale must be true or false")
    if stale:
        refused = sorted(set(fault) - STALE_KEYS)
        if refused:
            raise ValueError('a "stale" fault answers with the previous photo: %r does not go with it (it goes with %s)'
                             % (refused[0], ", ".join(sorted(STALE_KEYS - {"stale"}))))
    return stale


def is_photo_read(method: str, segments) -> bool:
    """Whether a request reads a photo (metadata, sizes or bytes): the only requests a "stale" fault matches. Others
    pass it by, so it waits for the next photo read."""
    return method == "GET" and any(part.lower() in ("photo", "photos") for part in segments)
