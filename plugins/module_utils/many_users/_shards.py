# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Shards of one tenant's users, for AWX job slicing: shard k of N holds the keys whose SHA-256 (of the key as given,
lower-cased) falls to k. The same key lands in the same shard on every run and every node, with no state shared;
every key lands in exactly one shard. A user named under two keys (UPN and object id) may land in two."""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Optional

# More shards than this is a typo; AWX slices a job into at most a few hundred jobs.
MAX_SHARDS = 1000


def shard_of(key: Optional[str], count: int) -> int:
    """The shard (1 to count) of a key."""
    digest = hashlib.sha256((key or "").lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


class Shard:
    """Shard index of count (1-based, as AWX numbers its slices); Shard(1, 1) holds every key."""

    __slots__ = ("index", "count")

    def __init__(self, index: int = 1, count: int = 1) -> None:
        self.index = index
        self.count = count

    def holds(self, key: Optional[str]) -> bool:
        return self.count == 1 or shard_of(key, self.count) == self.index

    def view(self) -> Dict[str, Any]:
        """The result's shard: {index, count}."""
        return dict(index=self.index, count=self.count)

    @property
    def label(self) -> str:
        """kk of NN, zero-padded alike so that names sort in shard order: 01of04."""
        width = max(2, len(str(self.count)))
        return "%0*dof%0*d" % (width, self.index, width, self.count)
