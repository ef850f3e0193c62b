# SPDX-License-Identifier: GPL-3.0-or-later
"""PhotoTrust (issue 17): what a comparison proves, and for how long a record may stand in for a download."""
from __future__ import annotations

import collections
import hashlib

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.many_users._photo_trust import DAY, PhotoTrust
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import Record

T0 = 1_800_000_000
SOURCE = "a" * 64
PHOTO = b"stored jpeg bytes"


def meta(etag="E1", width=648, height=648, content_type="image/jpeg"):
    return PhotoMetadata("%dx%d" % (width, height), width, height, content_type, etag)


def trust(now=T0, max_age=7):
    return PhotoTrust(max_age, lambda: now)


def test_a_header_equal_to_the_metadata_etag_is_trusted_at_once():
    record = trust().after_comparison(None, SOURCE, meta(), PHOTO, "E1")
    assert record.trusted and record.etag == "E1" and record.served_sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert (record.width, record.height, record.content_type, record.compared_at) == (648, 648, "image/jpeg", T0)


def test_a_header_of_another_photo_records_nothing_but_the_source():
    """The bytes came with etag E0 while the metadata says E1: the metadata describes a photo nobody compared."""
    assert trust().after_comparison(None, SOURCE, meta(), PHOTO, "E0") == Record(SOURCE)


def test_without_headers_a_record_is_pending_until_a_second_download_agrees():
    first = trust().after_comparison(None, SOURCE, meta(), PHOTO, None)
    assert not first.trusted and first.etag == "E1"
    assert trust(T0 + DAY).after_comparison(first, SOURCE, meta(), PHOTO, None).trusted
    assert not trust(T0 + DAY).after_comparison(first, SOURCE, meta(), b"other bytes", None).trusted
    assert not trust(T0 + DAY).after_comparison(first, SOURCE, meta(etag="E2"), PHOTO, None).trusted
    assert not trust(T0 + DAY).after_comparison(first, SOURCE, meta(width=96), PHOTO, None).trusted


def test_an_empty_etag_is_never_trusted():
    record = trust().after_comparison(None, SOURCE, meta(etag=None), PHOTO, None)
    assert record.etag is None and not trust().after_comparison(record, SOURCE, meta(etag=None), PHOTO, None).trusted
    assert not trust().vouches("a@x", record, SOURCE, meta(etag=None))


def test_vouches_only_for_the_same_source_and_description():
    record = trust().after_comparison(None, SOURCE, meta(), PHOTO, "E1")
    assert trust(T0 + 60).vouches("a@x", record, SOURCE, meta())
    assert not trust(T0 + 60).vouches("a@x", record, "b" * 64, meta())
    for changed in (meta(etag="E2"), meta(width=647), meta(height=96), meta(content_type="image/png"), None):
        assert not trust(T0 + 60).vouches("a@x", record, SOURCE, changed)
    assert trust(T0 + 60).vouches("a@x", record, SOURCE, meta(content_type="IMAGE/JPEG"))


@pytest.mark.parametrize("max_age", [1, 2, 7, 30])
def test_property_every_record_is_rechecked_within_max_age_and_never_before_a_day(max_age):
    """For keys and comparison times spread over a month: a record holds for at least a day, at most max_age days,
    and runs every 6 hours see it stop holding on its key's own day."""
    for index in range(400):
        key = "user%04d@contoso.com" % index
        compared_at = T0 + index * 3607 % (31 * DAY)
        holds = [trust(compared_at + hours * 3600, max_age).fresh(key, compared_at) for hours in range(0, 24 * max_age + 48, 6)]
        # Once it stops holding, it never holds again (no flapping), and the step comes within the bounds.
        first_stale = holds.index(False)
        assert all(holds[:first_stale]) and not any(holds[first_stale:])
        assert DAY <= first_stale * 6 * 3600 <= max_age * DAY


def test_property_the_rechecks_spread_over_the_nights():
    """Compared on the same night, 7,000 users with max age 7 are compared again over the next 7 nights, about 1,000 a
    night, not all on the same one."""
    nights = collections.Counter(trust().recheck_day("user%05d@contoso.com" % n, T0) - T0 // DAY for n in range(7000))
    assert sorted(nights) == list(range(1, 8))
    assert all(800 < count < 1200 for count in nights.values())
    # ... and then each keeps its night: compared again on its re-check day, the next one is max_age days later.
    for n in range(200):
        key = "user%05d@contoso.com" % n
        day = trust().recheck_day(key, T0)
        assert trust().recheck_day(key, day * DAY + 3600) == day + 7


def test_max_age_0_trusts_nothing_and_the_future_holds_nothing():
    record = trust().after_comparison(None, SOURCE, meta(), PHOTO, "E1")
    assert not trust(T0 + 60, max_age=0).vouches("a@x", record, SOURCE, meta())
    assert not trust(T0 - 60).vouches("a@x", record, SOURCE, meta())
    assert not trust(T0 + 60).fresh("a@x", None)
