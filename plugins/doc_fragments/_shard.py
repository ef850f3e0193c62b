# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only. Keep in step with ShardOptions in
# plugins/module_utils/module/_shard_options.py.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  shard_count:
    description:
      - Split the users (and groups) of the task into this many shards, and do only the one O(shard_index) names, so
        that the slices of an AWX job template (C(job_slice_count)), or any N runs, share the work of one tenant.
      - Each user or group belongs to the shard that the SHA-256 of its key, as the task gives it and lower-cased,
        falls to. The same key lands in the same shard on every run and every node, and every key in exactly one
        shard, whether it comes from a list, a folder, the directory or a list of users to remove.
      - One user named under two keys (a UPN in one place, the object id in another) can land in two shards, and two
        runs would then handle that user. Name each user one way.
      - A shard that gets no user is no failure. The shards of one tenant share that tenant's limits, so sharding adds
        nodes, not quota.
      - For AWX, give each inventory host its own O(shard_index) (one host per tenant and shard), since AWX deals the
        inventory's hosts to the slices.
    type: int
    default: 1
    version_added: 1.1.0
  shard_index:
    description:
      - Which shard this run does, from 1 to O(shard_count), as AWX numbers its slices. Needed when O(shard_count) is
        above 1. A value out of range fails the task before any request.
    type: int
    version_added: 1.1.0
"""
