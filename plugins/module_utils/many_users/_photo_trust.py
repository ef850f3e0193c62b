# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""When a state file's record may stand in for a download, and what a comparison proves.

An etag is trusted only for the bytes it came with: (a) an ETag header on the very $value answer whose bytes were
compared, equal to the etag of the metadata; or (b) two runs' downloads of the same bytes under the same metadata
etag, width, height and content type. A record made under (b) is pending until the second download agrees: a
replica that served old bytes once, under a new etag, cannot make a record that lasts. Even a trusted record is
compared again within max_age days (a reused or colliding etag lasts no longer), on a day chosen by a hash of its
key so that a tenant's re-checks spread over the nights, and never before it is a day old.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Callable, Optional

from ._state_file import Record

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata

DAY = 24 * 60 * 60
DEFAULT_MAX_AGE_DAYS = 7


def _same_photo_description(record: Record, meta: PhotoMetadata) -> bool:
    return (bool(meta.etag) and record.etag == meta.etag and record.width == meta.width and record.height == meta.height
            and (record.content_type or "").lower() == (meta.content_type or "").lower())


class PhotoTrust:
    """The rules of trust for one run; max_age_days 0 trusts no record (every photo is compared)."""

    def __init__(self, max_age_days: int = DEFAULT_MAX_AGE_DAYS, clock: Callable[[], float] = time.time) -> None:
        self.max_age_days = max(0, int(max_age_days))
        self.clock = clock

    def vouches(self, key: str, record: Optional[Record], source_sha256: Optional[str], meta: Optional[PhotoMetadata]) -> bool:
        """Whether the photo need not be downloaded: a trusted, fresh record of this source file, and the metadata
        read now describes the photo exactly as it was when compared."""
        if record is None or meta is None or not record.trusted or record.source_sha256 != source_sha256:
            return False
        return _same_photo_description(record, meta) and self.fresh(key, record.compared_at)

    def fresh(self, key: str, compared_at: Optional[int]) -> bool:
        """Whether a comparison made at compared_at still holds: younger than a day, or not yet at its re-check day
        (at most max_age_days after it). A time in the future (a clock set back) holds nothing."""
        if not self.max_age_days or compared_at is None:
            return False
        now = self.clock()
        age = now - compared_at
        if age < 0 or age >= self.max_age_days * DAY:
            return False
        if age < DAY:
            return True
        return int(now // DAY) < self.recheck_day(key, compared_at)

    def recheck_day(self, key: str, compared_at: int) -> int:
        """The day number (days since 1970, UTC) from which a record compared at compared_at is compared again: the next
        day of the key's own phase in a cycle of max_age_days, so that each night re-checks about 1/max_age of the users."""
        phase = int(hashlib.sha256(key.lower().encode("utf-8")).hexdigest()[:8], 16) % self.max_age_days
        compared_day = int(compared_at // DAY)
        return compared_day + ((phase - compared_day - 1) % self.max_age_days) + 1

    def after_comparison(self, previous: Optional[Record], source_sha256: str, meta: PhotoMetadata, served: bytes,
                         served_etag: Optional[str]) -> Record:
        """The record a comparison that found the photo the same makes: trusted by (a) or (b), else pending."""
        served_sha256 = hashlib.sha256(served).hexdigest()
        now = int(self.clock())
        described = Record(source_sha256, meta.etag or None, meta.width, meta.height, meta.content_type, served_sha256,
                           False, now)
        if not meta.etag:
            described.etag = None
        elif served_etag is not None:
            # The header names the etag of these bytes: trusted when it is the metadata's; else the metadata described
            # another photo than the one compared, and nothing is recorded but the source.
            if served_etag == meta.etag:
                described.trusted = True
            else:
                described = Record(source_sha256)
        elif previous is not None and previous.served_sha256 == served_sha256 and _same_photo_description(previous, meta):
            described.trusted = True
        return described

    @staticmethod
    def after_upload(source_sha256: str) -> Record:
        """After an upload nothing was read back: the next runs compare, and trust follows from them."""
        return Record(source_sha256)
