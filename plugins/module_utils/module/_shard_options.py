# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""shard_count and shard_index: which part of the tenant's users this run does (many_users._shards). Documented in
the doc fragment o365.outlook._shard."""

from __future__ import annotations

from ..common._errors import ConfigurationError
from ..many_users._shards import MAX_SHARDS, Shard
from ._options import ArgSpec, OptionGroup, TaskContext


class ShardOptions(OptionGroup):
    """Validated into a many_users._shards.Shard, before any request."""

    name = "shard"
    doc_fragment = "o365.outlook._shard"

    def options(self) -> ArgSpec:
        return dict(shard_count=dict(type="int", default=1), shard_index=dict(type="int"))

    def validate(self, task: TaskContext) -> Shard:
        count, index = task.params["shard_count"], task.params["shard_index"]
        if not 1 <= count <= MAX_SHARDS:
            raise ConfigurationError("shard_count must be from 1 (no shards) to %d, not %d." % (MAX_SHARDS, count))
        if index is None:
            if count > 1:
                raise ConfigurationError("shard_count is %d, so shard_index is needed: which shard this run does, from 1 "
                                         "to %d (AWX numbers its slices so)." % (count, count))
            index = 1
        if not 1 <= index <= count:
            raise ConfigurationError("shard_index must be from 1 to shard_count (%d), not %d." % (count, index))
        return Shard(index, count)
