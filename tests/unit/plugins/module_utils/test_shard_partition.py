# SPDX-License-Identifier: GPL-3.0-or-later
"""Shards of a tenant's users (issue 24): the partition is stable across runs, disjoint and complete, whatever the
keys and the count; and the options that choose a shard are checked before any request."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.many_users._shards import MAX_SHARDS, Shard, shard_of
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._shard_options import ShardOptions

KEYS = st.one_of(st.emails(), st.uuids().map(str), st.text(min_size=0, max_size=40))
# Keys whose case can be changed back and forth: UPNs and object ids are ASCII. (Some letters are not: the micro sign
# upper-cases to a Greek capital that lower-cases to another letter.)
ASCII_KEYS = st.one_of(st.emails(), st.uuids().map(str), st.text(alphabet=st.characters(max_codepoint=127), max_size=40))


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(KEYS, max_size=60), count=st.integers(min_value=1, max_value=64))
def test_every_key_is_in_exactly_one_shard(keys, count):
    for key in keys:
        holders = [index for index in range(1, count + 1) if Shard(index, count).holds(key)]
        assert holders == [shard_of(key, count)]


@settings(max_examples=200, deadline=None)
@given(key=ASCII_KEYS, count=st.integers(min_value=1, max_value=MAX_SHARDS))
def test_a_key_lands_in_the_same_shard_whatever_its_case_and_on_every_run(key, count):
    assert shard_of(key, count) == shard_of(key.upper(), count) == shard_of(key.lower(), count)
    # Defined by the SHA-256 alone (no per-process hash seed): what another node computes for the key.
    digest = hashlib.sha256(key.lower().encode("utf-8")).digest()
    assert shard_of(key, count) == int.from_bytes(digest[:8], "big") % count + 1


def test_the_shards_are_close_to_even_over_many_users():
    counts = [0] * 4
    for number in range(10000):
        counts[shard_of("user%05d@contoso.com" % number, 4) - 1] += 1
    assert all(2300 <= count <= 2700 for count in counts), counts


def test_one_shard_holds_everything():
    assert all(Shard().holds(key) for key in ("a@b.c", "", None))


@pytest.mark.parametrize("index, count, label", [(1, 1, "01of01"), (2, 4, "02of04"), (12, 99, "12of99"), (7, 100, "007of100")])
def test_labels_are_zero_padded_as_the_inventory_names_hosts(index, count, label):
    assert Shard(index, count).label == label


def task(**params):
    return TaskContext(dict(dict(shard_count=1, shard_index=None), **params), warn=pytest.fail, redactor=None)


@pytest.mark.parametrize("params, words", [
    (dict(shard_count=0), "shard_count must be from 1"),
    (dict(shard_count=MAX_SHARDS + 1), "shard_count must be from 1"),
    (dict(shard_count=4), "shard_index is needed"),
    (dict(shard_count=4, shard_index=0), "shard_index must be from 1 to shard_count (4), not 0"),
    (dict(shard_count=4, shard_index=5), "not 5"),
    (dict(shard_index=2), "shard_index must be from 1 to shard_count (1)"),
])
def test_bad_shard_options_are_refused(params, words):
    with pytest.raises(ConfigurationError) as caught:
        ShardOptions().validate(task(**params))
    assert words in caught.value.msg


def test_good_shard_options():
    assert ShardOptions().validate(task()).view() == dict(index=1, count=1)
    assert ShardOptions().validate(task(shard_count=4, shard_index=4)).view() == dict(index=4, count=4)
