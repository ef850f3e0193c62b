# SPDX-License-Identifier: GPL-3.0-or-later
"""photo._exif.jpeg_orientation: the EXIF Orientation of a JPEG, read without Pillow (issue 22)."""
from __future__ import annotations

import io
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.photo._exif import SWAPS_SIDES, UPRIGHT, jpeg_orientation

ORIENTATION = 0x0112
SHORT, LONG = 3, 4


def plain_jpeg(size=(48, 32)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def pillow_jpeg(orientation, size=(48, 32)):
    """A JPEG whose Exif segment Pillow wrote (Pillow writes big-endian, "MM", TIFF headers)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def tiff(order, entries, ifd_offset=8, next_ifd=True):
    """TIFF bytes built by hand: header, IFD0 at ifd_offset with entries [(tag, type, count, 4 value bytes)]."""
    fmt = "<" if order == "II" else ">"
    header = (b"II*\x00" if order == "II" else b"MM\x00*") + struct.pack(fmt + "I", ifd_offset)
    body = header + b"\x00" * (ifd_offset - 8) + struct.pack(fmt + "H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack(fmt + "HHI", tag, kind, count) + value
    return body + (struct.pack(fmt + "I", 0) if next_ifd else b"")


def short_value(order, value):
    """A SHORT in an IFD entry's 4-byte value field: left-justified, in the file's byte order."""
    fmt = "<" if order == "II" else ">"
    return struct.pack(fmt + "HH", value, 0)


def app1(payload, declared=None):
    length = len(payload) + 2 if declared is None else declared
    return b"\xff\xe1" + struct.pack(">H", length) + payload


def with_segments(*segments, base=None):
    """A JPEG with these segments right after SOI."""
    data = plain_jpeg() if base is None else base
    return data[:2] + b"".join(segments) + data[2:]


def exif_jpeg(order, orientation, kind=SHORT, count=1):
    fmt = "<" if order == "II" else ">"
    value = short_value(order, orientation) if kind == SHORT else struct.pack(fmt + "I", orientation)
    return with_segments(app1(b"Exif\x00\x00" + tiff(order, [(ORIENTATION, kind, count, value)])))


def pillow_reads(data):
    return Image.open(io.BytesIO(data)).getexif().get(ORIENTATION)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_pillow_writes_is_read(orientation):
    data = pillow_jpeg(orientation)
    assert b"Exif\x00\x00MM\x00*" in data  # Pillow's own byte order: big-endian
    assert jpeg_orientation(data) == orientation


@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_in_both_byte_orders(order, orientation):
    data = exif_jpeg(order, orientation)
    assert pillow_reads(data) == orientation  # the hand-made segment is valid EXIF
    assert jpeg_orientation(data) == orientation


@pytest.mark.parametrize("order", ["II", "MM"])
def test_orientation_after_other_tags_and_with_ifd_offset(order):
    # Orientation is the third entry of an IFD0 that does not follow the header directly.
    fmt = "<" if order == "II" else ">"
    entries = [(0x010F, 2, 4, b"Cam\x00"), (0x0110, 2, 4, b"Mod\x00"), (ORIENTATION, SHORT, 1, short_value(order, 8))]
    data = with_segments(app1(b"Exif\x00\x00" + tiff(order, entries, ifd_offset=20)))
    assert struct.unpack(fmt + "I", tiff(order, entries, ifd_offset=20)[4:8]) == (20,)
    assert pillow_reads(data) == 8
    assert jpeg_orientation(data) == 8


def test_exif_after_jfif_and_xmp_segments():
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    xmp = app1(b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
    exif = app1(b"Exif\x00\x00" + tiff("II", [(ORIENTATION, SHORT, 1, short_value("II", 5))]))
    assert jpeg_orientation(with_segments(app0, b"\xff\xff", xmp, exif)) == 5  # a fill byte too


def test_constants():
    assert UPRIGHT == 1
    assert SWAPS_SIDES == {5, 6, 7, 8}


def test_no_exif():
    data = plain_jpeg()
    assert b"Exif" not in data
    assert jpeg_orientation(data) is None


def test_exif_segment_without_the_tag():
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    assert b"Exif\x00\x00" in data
    assert jpeg_orientation(data) is None


@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("kind, expected", [(1, None), (LONG, 6), (9, 6)])
def test_integer_types_pillow_reads_are_read(order, kind, expected):
    # The standard says SHORT; LONG and SLONG are read as Pillow reads them (what it turns, we must know). BYTE is not.
    fmt = "<" if order == "II" else ">"
    value = struct.pack(fmt + ("i" if kind == 9 else "I"), 6) if kind != 1 else bytes([6, 0, 0, 0])
    data = with_segments(app1(b"Exif\x00\x00" + tiff(order, [(ORIENTATION, kind, 1, value)])))
    assert jpeg_orientation(data) == expected


def test_zero_count_is_none():
    assert jpeg_orientation(exif_jpeg("MM", 6, count=0)) is None


@pytest.mark.parametrize("value", [0, 9, 0xFFFF])
def test_out_of_range_is_none(value):
    for data in (pillow_jpeg(value), exif_jpeg("II", value), exif_jpeg("MM", value)):
        assert jpeg_orientation(data) is None


@pytest.mark.parametrize("order", ["II", "MM"])
def test_cut_off_ifd_is_none(order):
    full = tiff(order, [(0x010F, 2, 4, b"Cam\x00"), (ORIENTATION, SHORT, 1, short_value(order, 6))], next_ifd=False)
    assert jpeg_orientation(with_segments(app1(b"Exif\x00\x00" + full))) == 6
    for cut in range(0, len(full) - 2):
        # Cut anywhere before the Orientation's value is whole: never an exception, never a made-up value.
        data = with_segments(app1(b"Exif\x00\x00" + full[:cut]))
        assert jpeg_orientation(data) is None, cut


def test_ifd_offset_past_the_segment_is_none():
    for order, fmt in (("II", "<"), ("MM", ">")):
        body = tiff(order, [(ORIENTATION, SHORT, 1, short_value(order, 6))])
        moved = body[:4] + struct.pack(fmt + "I", 0xFFFF) + body[8:]
        assert jpeg_orientation(with_segments(app1(b"Exif\x00\x00" + body))) == 6
        assert jpeg_orientation(with_segments(app1(b"Exif\x00\x00" + moved))) is None


def test_count_larger_than_the_ifd_holds():
    # IFD0 claims 500 entries but holds one (not the Orientation): the reader stops at the end, no exception.
    body = b"MM\x00*" + struct.pack(">IH", 8, 500) + struct.pack(">HHI", 0x010F, 2, 4) + b"Cam\x00"
    assert jpeg_orientation(with_segments(app1(b"Exif\x00\x00" + body))) is None


def test_not_a_tiff_header_is_none():
    assert jpeg_orientation(with_segments(app1(b"Exif\x00\x00XX*\x00" + b"\x00" * 20))) is None


def test_app1_length_past_the_end_of_the_file():
    segment = app1(b"Exif\x00\x00" + tiff("MM", [(ORIENTATION, SHORT, 1, short_value("MM", 3))]), declared=0xFFFF)
    assert jpeg_orientation(b"\xff\xd8" + segment) == 3  # what there is, is read
    assert jpeg_orientation(b"\xff\xd8" + segment[:12]) is None


def test_garbage_after_app1():
    exif = app1(b"Exif\x00\x00" + tiff("II", [(ORIENTATION, SHORT, 1, short_value("II", 6))]))
    garbage = b"\x00\x13garbage, not a marker\xff"
    assert jpeg_orientation(b"\xff\xd8" + exif + garbage) == 6  # the first Exif segment answers
    xmp = app1(b"http://ns.adobe.com/xap/1.0/\x00<x/>")
    assert jpeg_orientation(b"\xff\xd8" + xmp + garbage) is None
    assert jpeg_orientation(b"\xff\xd8" + xmp + garbage + exif) is None  # not found past garbage


@pytest.mark.parametrize("data", [b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30,
                                  b"\xff\xd8\xff\xe1\x00\x01Exif", b"\xff\xd8\xff\xe1\x00\x00\x00\x00"])
def test_not_a_jpeg_or_too_short(data):
    assert jpeg_orientation(data) is None


def test_search_goes_past_the_frame_header_and_stops_at_the_scan():
    exif = app1(b"Exif\x00\x00" + tiff("MM", [(ORIENTATION, SHORT, 1, short_value("MM", 6))]))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 8, 8, 1, 1, 0)
    assert jpeg_orientation(b"\xff\xd8" + sof + exif) == 6  # Pillow reads an APP1 after the frame header too
    assert jpeg_orientation(b"\xff\xd8\xff\xda\x00\x02" + exif) is None
    assert jpeg_orientation(b"\xff\xd8\xff\xd9" + exif) is None
    assert jpeg_orientation(b"\xff\xd8\xff\xd0" + exif) == 6  # a stand-alone marker is stepped over


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_after_soi_never_raise(tail):
    result = jpeg_orientation(b"\xff\xd8" + tail)
    assert result is None or 1 <= result <= 8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from(["II", "MM"]))
def test_fuzz_random_tiff_in_an_exif_segment_never_raises(body, order):
    header = b"II*\x00" if order == "II" else b"MM\x00*"
    result = jpeg_orientation(with_segments(app1(b"Exif\x00\x00" + header + body)))
    assert result is None or 1 <= result <= 8


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=80), st.integers(min_value=0, max_value=255))
def test_fuzz_one_damaged_byte_never_raises(position, value):
    data = bytearray(exif_jpeg("II", 6))
    data[2 + position] = value
    result = jpeg_orientation(bytes(data))
    assert result is None or 1 <= result <= 8
