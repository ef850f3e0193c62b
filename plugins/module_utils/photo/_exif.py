# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""A JPEG's EXIF Orientation tag, read without Pillow.

Phones and cameras store the sensor's pixels and say in EXIF how to turn them; the service re-encodes what it stores
and shows the pixels as they are, so a JPEG whose Orientation is not 1 must be turned before it is sent. Without
Pillow nothing can be turned, but the module must still know, to refuse or warn: hence this small reader of the
APP1 Exif segment's first IFD (TIFF header, either byte order), which never raises on damaged data.
"""

from __future__ import annotations

import struct

from ._image import jpeg_header_segments

# Orientation 1 is upright; 2-8 mirror and/or rotate (EXIF 2.3, tag 0x0112). 5-8 swap width and height.
UPRIGHT = 1
SWAPS_SIDES = frozenset((5, 6, 7, 8))
_ORIENTATION_TAG = 0x0112
# SHORT as EXIF says, and LONG and SLONG, which some writers use and Pillow reads too: what Pillow turns, we must know.
_INTEGER_TYPES = {3: ("H", 2), 4: ("I", 4), 9: ("i", 4)}


def jpeg_orientation(data: bytes) -> int | None:
    """The Orientation of a JPEG's first Exif segment (1-8), or None when there is no EXIF, no such tag, or a value
    outside 1-8 (which every viewer ignores). An APP1 after the frame header still counts, as for Pillow."""
    for marker, pos, length in jpeg_header_segments(data):
        segment = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            return _tiff_orientation(segment[6:])
    return None


def _tiff_orientation(tiff: bytes) -> int | None:
    """Orientation from IFD0 of a TIFF structure (the body of an Exif segment)."""
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return None
    try:
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
        for index in range(count):
            entry = tiff[ifd + 2 + 12 * index:ifd + 14 + 12 * index]
            tag, kind, number = struct.unpack(order + "HHI", entry[:8])
            if tag == _ORIENTATION_TAG:
                if kind not in _INTEGER_TYPES or number < 1:
                    return None
                code, width = _INTEGER_TYPES[kind]
                (value,) = struct.unpack(order + code, entry[8:8 + width])
                return value if 1 <= value <= 8 else None
    except struct.error:  # cut off inside the directory
        return None
    return None
