# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import os
import random
import re
import stat
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, PngImagePlugin

from ansible_collections.o365.outlook.plugins.module_utils.photo import _image, _pillow, _source
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import MissingLibraryError, SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import (
    MAX_IMAGE_PIXELS, SourceImage, inspect_image, jpeg_dimensions, jpeg_structure_problem, png_structure_problem,
    sniff_format)
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source, source_sha256 as file_sha256
from ansible_collections.o365.outlook.plugins.module_utils.photo._pillow import ImageTooLarge, UndecodableImage, decode_image, flatten_on_white


def encode(fmt, size=(120, 80), **kwargs):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, kwargs, expected", [
    ("JPEG", {}, "jpeg"),
    ("JPEG", {"progressive": True}, "jpeg"),
    ("PNG", {}, "png"),
    ("GIF", {}, "gif"),
    ("BMP", {}, "bmp"),
    ("WEBP", {}, "webp"),
    ("TIFF", {}, "tiff"),
])
def test_sniff_format(fmt, kwargs, expected):
    assert sniff_format(encode(fmt, **kwargs)) == expected


def test_sniff_unknown():
    assert sniff_format(b"hello world, not an image") is None


@pytest.mark.parametrize("fmt, kwargs", [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {})])
def test_dimensions_from_header(fmt, kwargs):
    info = inspect_image(encode(fmt, size=(321, 123), **kwargs))
    assert (info.width, info.height) == (321, 123)
    assert info.content_type == ("image/png" if fmt == "PNG" else "image/jpeg")


def test_jpeg_with_exif_segment_before_frame():
    exif = Image.Exif()
    exif[0x010F] = "Camera maker " * 40  # a long APP1 segment before SOF
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "JPEG", exif=exif)
    assert jpeg_dimensions(buffer.getvalue()) == (64, 48)


def test_truncated_jpeg_has_no_dimensions():
    data = encode("JPEG")
    assert inspect_image(data[:20]) is None


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_load_source_ok(tmp_path):
    data = encode("JPEG", size=(240, 240))
    source = load_source(write(tmp_path, "a.jpg", data))
    assert source.sha256 == hashlib.sha256(data).hexdigest()
    assert source.content_type == "image/jpeg"
    assert source.predicted_metadata() == dict(id="240x240", width=240, height=240, content_type="image/jpeg", etag=None)


def photo_like_png(size=(320, 200)):
    """A PNG with smooth shapes and a transparent corner, as a real portrait or logo would have."""
    image = Image.new("RGBA", size, (40, 120, 200, 255))
    for step in range(0, size[0], 8):
        image.paste((step % 256, 90, 255 - step % 256, 255), (step, size[1] // 3, step + 8, size[1] * 2 // 3))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 4, size[1] // 4))
    return encoded(image, "PNG")


def test_png_becomes_jpeg_with_pillow_and_convert(tmp_path):
    """issue 10: the service documents only JPEG, so a PNG within 4 MB is converted too, transparency on white."""
    data = photo_like_png()
    calls = []
    source = load_source(write(tmp_path, "a.png", data), warn=calls.append)
    assert (source.content_type, source.conversion, source.warning, calls) == ("image/jpeg", "PNG 320x200 to JPEG 320x200", None, [])
    assert sniff_format(source.data) == "jpeg" and (inspect_image(source.data).width, inspect_image(source.data).height) == (320, 200)
    assert source.predicted_metadata()["content_type"] == "image/jpeg"
    pixels = Image.open(io.BytesIO(source.data)).convert("RGB")
    assert min(pixels.getpixel((5, 5))) > 245  # the transparent corner is white, not black
    # Same file, same bytes: reruns compare equal by sha256.
    assert load_source(write(tmp_path, "again.png", data)).sha256 == source.sha256


def test_a_png_stored_earlier_matches_its_jpeg_conversion_by_pixels(tmp_path):
    """A tenant that kept an earlier PNG upload is not rewritten just because the module now sends JPEG."""
    from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import compare_photos
    data = photo_like_png()
    source = load_source(write(tmp_path, "a.png", data))
    verdict = compare_photos(source.data, source.sha256, data, hashlib.sha256(data).hexdigest())
    assert (verdict.same, verdict.method) == (True, "pixels")
    other = photo_like_png((200, 320))
    assert compare_photos(source.data, source.sha256, other, hashlib.sha256(other).hexdigest()).same is False


@pytest.mark.parametrize("pillow, convert, why", [(False, True, "because Pillow is not installed"),
                                                  (False, False, "because convert=false"),
                                                  (True, False, "because convert=false")])
def test_png_is_sent_as_png_with_a_warning_without_pillow_or_convert(tmp_path, pillow, convert, why):
    data = photo_like_png()
    calls = []
    with pillow_setting(pillow):
        source = load_source(write(tmp_path, "a.png", data), convert=convert, warn=calls.append)
    assert (source.data, source.content_type, source.conversion) == (data, "image/png", None)
    assert calls == [source.warning]
    assert why in source.warning and "a.png" in source.warning
    assert "may refuse PNG" in source.warning and "image/jpeg" in source.warning


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
def test_a_jpeg_gives_no_warning(tmp_path, pillow):
    calls = []
    with pillow_setting(pillow):
        source = load_source(write(tmp_path, "a.jpg", encode("JPEG")), warn=calls.append)
    assert (source.warning, calls, source.conversion) == (None, [], None)


@pytest.mark.parametrize("setup, message", [
    (lambda p: str(p / "missing.jpg"), "does not exist"),
    (str, "is not a regular file (directory)"),
    (lambda p: write(p, "empty.jpg", b""), "is empty"),
    (lambda p: write(p, "x.jpg", b"plain text pretending"), "not an image this module knows"),
    (lambda p: write(p, "x.heic", b"\0\0\0\x18ftypheic" + b"\0" * 40), "a HEIC image"),
    (lambda p: write(p, "x.jpg", encode("JPEG")[:30]), "truncated or corrupt"),
])
def test_load_source_rejections(tmp_path, setup, message):
    with pytest.raises(SourceImageError, match=re.escape(message)):
        load_source(setup(tmp_path))


def test_load_source_requires_a_path():
    with pytest.raises(SourceImageError, match="src is required"):
        load_source(None)


def noisy_png(size):
    """A PNG that does not compress: random pixels."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_oversize_is_scaled_down_to_fit(tmp_path):
    data = noisy_png((1400, 1000))
    assert len(data) > 1_500_000
    source = load_source(write(tmp_path, "big.png", data), max_bytes=600_000)
    assert len(source.data) <= 600_000
    assert source.content_type == "image/jpeg"
    assert source.info.width < 1400 and abs(source.info.width / source.info.height - 1.4) < 0.01
    assert source.conversion.startswith("PNG 1400x1000 to JPEG")
    # The same file always gives the same bytes, so sha256 comparison stays idempotent.
    assert load_source(write(tmp_path, "big2.png", data), max_bytes=600_000).sha256 == source.sha256


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_formats_become_jpeg(tmp_path, fmt):
    source = load_source(write(tmp_path, "x." + fmt.lower(), encode(fmt, size=(50, 40))))
    assert source.content_type == "image/jpeg"
    assert inspect_image(source.data).width == 50
    assert source.conversion == "%s 50x40 to JPEG 50x40" % fmt


def test_transparency_is_flattened_on_white(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(buffer, "GIF")
    source = load_source(write(tmp_path, "clear.gif", buffer.getvalue()))
    pixel = Image.open(io.BytesIO(source.data)).convert("RGB").getpixel((5, 5))
    assert min(pixel) > 245


def test_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    Image.new("RGB", (60, 30)).save(buffer, "WEBP", exif=exif)
    source = load_source(write(tmp_path, "turned.webp", buffer.getvalue()))
    assert (source.info.width, source.info.height) == (30, 60)


def test_without_conversion_other_formats_are_refused(tmp_path):
    with pytest.raises(SourceImageError, match="not GIF. Allow conversion"):
        load_source(write(tmp_path, "x.gif", encode("GIF")), convert=False)


def test_without_pillow_the_error_says_what_to_install(tmp_path, monkeypatch):
    from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import MissingLibraryError
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError: No module named 'PIL'")
    with pytest.raises(MissingLibraryError) as caught:
        load_source(write(tmp_path, "x.bmp", encode("BMP")))
    assert caught.value.library == "Pillow"
    assert "pip install Pillow" in caught.value.msg and "not BMP" in caught.value.msg


def test_damaged_convertible_file(tmp_path):
    with pytest.raises(SourceImageError, match="cannot be decoded"):
        load_source(write(tmp_path, "x.bmp", encode("BMP")[:40]))


def test_unreadable_file(tmp_path, monkeypatch):
    # chmod 0 does not stop root (CI runs as root), so the refusal comes from open() itself.
    path = write(tmp_path, "locked.jpg", encode("JPEG"))
    real_open = os.open

    def refuse(name, flags, *args, **kwargs):
        if name == path:
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(SourceImageError, match="cannot be read: Permission denied"):
        load_source(path)
    assert "cannot be read: Permission denied" in _source.source_problem(path).msg


# ---- issue 8: images are checked whole before any write ----

@contextlib.contextmanager
def without_pillow():
    """As if Pillow were not installed (the same switch the tests above flip with monkeypatch)."""
    saved = (_pillow._PILLOW, _pillow._PILLOW_ERROR)
    _pillow._PILLOW, _pillow._PILLOW_ERROR = None, "ImportError: No module named 'PIL'"
    try:
        yield
    finally:
        _pillow._PILLOW, _pillow._PILLOW_ERROR = saved


@contextlib.contextmanager
def pillow_setting(pillow):
    if pillow:
        yield
    else:
        with without_pillow():
            yield


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width=50000, height=50000):
    """A few hundred bytes whose IHDR declares width x height RGB pixels: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def bmp_bomb(width, height):
    """A BMP header declaring width x height 24-bit pixels, followed by a little pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    pixels = b"\0" * 1024
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def noisy(mode, size, seed=0):
    """Random pixels in mode: they do not compress, so a JPEG's scan data is most of the file."""
    length = len(Image.new(mode, size).tobytes())
    return Image.frombytes(mode, size, random.Random(seed).getrandbits(8 * length).to_bytes(length, "big"))


def encoded(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def cut_in_scan(data):
    """data cut halfway through its (last) JPEG scan: header intact, no end-of-image marker."""
    sos = data.rindex(b"\xff\xda")
    cut = sos + (len(data) - sos) // 2
    assert sos + 20 < cut < len(data) - 20
    return data[:cut]


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
def test_regression_png_bomb_refused_before_decoding(tmp_path, pillow):
    """issue 8 defect 1: a tiny PNG declaring 50000x50000 pixels was accepted (JPEG/PNG were never decoded),
    then crashed the comparison with DecompressionBombError."""
    data = png_bomb()
    assert len(data) < 500
    with pillow_setting(pillow):
        with pytest.raises(SourceImageError) as caught:
            load_source(write(tmp_path, "bomb.png", data))
    assert "is a PNG image of 50000x50000 pixels (2500000000), over the limit of %d pixels: refused before decoding" % MAX_IMAGE_PIXELS in caught.value.msg
    assert "bomb.png" in caught.value.msg and "Scale it down first" in caught.value.msg


def test_regression_png_bomb_refused_in_conversion(tmp_path):
    """issue 8 defect 1: over max_bytes the bomb went to conversion, where Pillow's DecompressionBombError escaped."""
    with pytest.raises(SourceImageError, match="50000x50000 pixels"):
        load_source(write(tmp_path, "bomb.png", png_bomb()), max_bytes=100)


def test_regression_bmp_bomb_refused(tmp_path):
    """issue 8 defect 1: past Pillow's own guard the DecompressionBombError escaped _open_image."""
    with pytest.raises(SourceImageError, match="over the limit of %d pixels" % MAX_IMAGE_PIXELS):
        load_source(write(tmp_path, "bomb.bmp", bmp_bomb(50000, 50000)))


def test_pixel_limit_applies_under_pillows_own_guard(tmp_path, monkeypatch):
    """8000x8000 is under Pillow's guard (about 89 million) but over ours: refused before any pixel is decoded."""
    assert 8000 * 8000 > MAX_IMAGE_PIXELS
    loads = []

    def record(image):
        loads.append(image.size)
    monkeypatch.setattr(ImageFile.ImageFile, "load", record)
    for name, data in (("big.bmp", bmp_bomb(8000, 8000)), ("big.png", png_bomb(8000, 8000))):
        with pytest.raises(SourceImageError, match="8000x8000 pixels"):
            load_source(write(tmp_path, name, data), max_bytes=10)
    assert loads == []


def test_pillow_global_settings_are_left_alone(tmp_path):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    load_source(write(tmp_path, "a.jpg", encode("JPEG")))
    load_source(write(tmp_path, "a.gif", encode("GIF")))
    with pytest.raises(SourceImageError):
        load_source(write(tmp_path, "bomb.bmp", bmp_bomb(50000, 50000)))
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_regression_truncated_jpeg_refused(tmp_path, pillow, progressive):
    """issue 8 defect 6: a JPEG cut in its scan data (header intact, no EOI) was sent to the service."""
    data = cut_in_scan(encoded(noisy("RGB", (160, 120)), "JPEG", progressive=progressive))
    assert inspect_image(data) is not None  # the header alone looks fine
    with pillow_setting(pillow):
        with pytest.raises(SourceImageError, match="cut.jpg is a JPEG file that is truncated or corrupt: its image data ends without"):
            load_source(write(tmp_path, "cut.jpg", data))


def test_regression_truncated_jpeg_refused_whatever_load_truncated_images_says(tmp_path, monkeypatch):
    """issue 8 defect 6: LOAD_TRUNCATED_IMAGES (process-wide) would make Pillow pad a cut JPEG silently."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = cut_in_scan(encoded(noisy("RGB", (160, 120)), "JPEG"))
    with pytest.raises(SourceImageError, match="truncated"):
        load_source(write(tmp_path, "cut.jpg", data))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_regression_truncated_convertible_refused_with_load_truncated_images(tmp_path, monkeypatch, fmt):
    """issue 8 defect 6: with LOAD_TRUNCATED_IMAGES set, a cut file was padded with grey and converted."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    image = noisy("RGB", (120, 90))
    data = encoded(image.convert("P") if fmt == "GIF" else image, fmt)
    with pytest.raises(SourceImageError, match=r"cut\.%s is a %s file that cannot be decoded \(image file is truncated" % (fmt.lower(), fmt)):
        load_source(write(tmp_path, "cut." + fmt.lower(), data[:len(data) * 2 // 3]))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


@pytest.mark.parametrize("load_truncated", [False, True], ids=["strict", "load-truncated"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_decode_image_refuses_cut_data_in_any_setting(monkeypatch, fmt, load_truncated):
    """The guarded decode on its own (the comparison uses it for the service's photo, without structure check)."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    image = noisy("RGB", (120, 90))
    data = encoded(image.convert("P") if fmt == "GIF" else image, fmt)
    assert decode_image(data, MAX_IMAGE_PIXELS).size == (120, 90)
    with pytest.raises(UndecodableImage):
        decode_image(data[:len(data) * 2 // 3], MAX_IMAGE_PIXELS)


def flip_idat_byte(data):
    start = data.index(b"IDAT") + 4
    return data[:start + 5] + bytes([data[start + 5] ^ 0x55]) + data[start + 6:]


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
def test_regression_png_with_bad_crc_refused(tmp_path, pillow):
    """issue 8 defect 6: a PNG whose image data was damaged (its CRC no longer matches) was sent as it is."""
    data = flip_idat_byte(encoded(noisy("RGB", (60, 40)), "PNG"))
    with pillow_setting(pillow):
        with pytest.raises(SourceImageError, match="bad.png is a PNG file that is truncated or corrupt: chunk 'IDAT' at byte 33 has a wrong CRC"):
            load_source(write(tmp_path, "bad.png", data))


def without_chunk(data, kind):
    pos, out = 8, data[:8]
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] != kind:
            out += data[pos:pos + 12 + length]
        pos += 12 + length
    return out


JPEG_SAMPLE = encoded(noisy("RGB", (64, 48)), "JPEG")
PNG_SAMPLE = encoded(noisy("RGB", (64, 48)), "PNG")


@pytest.mark.parametrize("name, data, message", [
    ("no scan", JPEG_SAMPLE[:JPEG_SAMPLE.index(b"\xff\xda")] + b"\xff\xd9", "no image data"),
    ("cut in a segment", JPEG_SAMPLE[:JPEG_SAMPLE.index(b"\xff\xc4") + 10], "runs past the end of the file"),
    ("cut before EOI", JPEG_SAMPLE[:-2], "ends without an end-of-image marker"),
    ("scan before frame", JPEG_SAMPLE[:2] + JPEG_SAMPLE[JPEG_SAMPLE.index(b"\xff\xda"):], "header cannot be read"),
    ("png without IDAT", without_chunk(PNG_SAMPLE, b"IDAT"), "no image data"),
    ("png without IEND", PNG_SAMPLE[:-12], "ends before its IEND chunk"),
    ("png cut in a chunk", PNG_SAMPLE[:len(PNG_SAMPLE) // 2], "runs past the end of the file"),
    ("png bad IHDR CRC", PNG_SAMPLE[:29] + bytes([PNG_SAMPLE[29] ^ 1]) + PNG_SAMPLE[30:], "chunk 'IHDR' at byte 8 has a wrong CRC"),
])
def test_structure_refusals_without_pillow(tmp_path, name, data, message):
    with without_pillow():
        with pytest.raises(SourceImageError, match=message):
            load_source(write(tmp_path, "x.img", data))


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
@pytest.mark.parametrize("data", [
    JPEG_SAMPLE + b"camera maker data after EOI",
    encoded(noisy("RGB", (64, 48)), "JPEG", restart_marker_blocks=2),
    encoded(noisy("RGB", (64, 48)), "JPEG", progressive=True, optimize=True),
    encoded(noisy("CMYK", (32, 24)), "JPEG"),
    encoded(noisy("L", (32, 24)), "JPEG", exif=b"Exif\x00\x00" + b"\xff\xd9" * 20),
    PNG_SAMPLE + b"trailing bytes",
    encoded(noisy("RGBA", (40, 30)), "PNG"),
    encoded(noisy("P", (40, 30)), "PNG", transparency=3),
    encoded(noisy("I;16", (40, 30)), "PNG"),
    encoded(noisy("1", (41, 30)), "PNG"),
], ids=["jpeg trailing data", "jpeg restart markers", "jpeg progressive", "jpeg cmyk", "jpeg exif with markers",
        "png trailing data", "png rgba", "png palette", "png 16 bit", "png 1 bit"])
def test_whole_images_are_sent_as_they_are(tmp_path, pillow, data):
    # convert=False: since issue 10 a PNG is converted to JPEG by default when Pillow is there; this test is about
    # whole files passing the structure checks, so it asks for the file as it is.
    with pillow_setting(pillow):
        source = load_source(write(tmp_path, "ok.img", data), convert=False)
    assert source.data == data and source.conversion is None


@pytest.mark.parametrize("data", [
    PNG_SAMPLE + b"trailing bytes",
    encoded(noisy("RGBA", (40, 30)), "PNG"),
    encoded(noisy("P", (40, 30)), "PNG", transparency=3),
    encoded(noisy("I;16", (40, 30)), "PNG"),
    encoded(noisy("1", (41, 30)), "PNG"),
], ids=["png trailing data", "png rgba", "png palette", "png 16 bit", "png 1 bit"])
def test_whole_pngs_of_every_mode_convert_to_jpeg(tmp_path, data):
    source = load_source(write(tmp_path, "ok.png", data))
    width, height = inspect_image(data).width, inspect_image(data).height
    assert source.conversion == "PNG %dx%d to JPEG %dx%d" % (width, height, width, height)
    assert sniff_format(source.data) == "jpeg" and source.warning is None


def test_pixel_limit_without_pillow_comes_from_the_jpeg_header(tmp_path):
    data = bytearray(JPEG_SAMPLE)
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 9000, 9000)
    with without_pillow():
        with pytest.raises(SourceImageError, match="JPEG image of 9000x9000 pixels"):
            load_source(write(tmp_path, "huge.jpg", bytes(data)))


def test_parallel_loads_each_get_their_own_answer(tmp_path, monkeypatch):
    """The sync checks sources in several threads: no shared setting, each file its own verdict."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # must not matter, in any thread
    good = write(tmp_path, "good.gif", encode("GIF"))
    cut = write(tmp_path, "cut.bmp", encoded(noisy("RGB", (120, 90)), "BMP")[:20000])
    bomb = write(tmp_path, "bomb.png", png_bomb())

    def load(path):
        try:
            return load_source(path).conversion
        except SourceImageError as exc:
            return "truncated" if "truncated" in exc.msg else "limit" if "over the limit" in exc.msg else exc.msg
    paths = [good, cut, bomb] * 12
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load, paths))
    assert results == ["GIF 120x80 to JPEG 120x80", "truncated", "limit"] * 12
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored once the last decode ended


@pytest.mark.parametrize("mode, transparent, opaque", [
    ("RGBA", (0, 0, 0, 0), (200, 40, 90, 255)),
    ("LA", (0, 0), (90, 255)),
    ("PA", (0, 0), (1, 255)),
    ("RGBa", (0, 0, 0, 0), (200, 40, 90, 255)),
])
def test_flatten_puts_alpha_on_white(mode, transparent, opaque):
    image = Image.new(mode, (4, 2), transparent)
    if mode == "PA":
        image.putpalette([0, 0, 0, 200, 40, 90] + [0] * 762)
    image.putpixel((0, 0), opaque)
    flat = flatten_on_white(image)
    assert flat.mode == "RGB"
    assert flat.getpixel((3, 1)) == (255, 255, 255)
    assert flat.getpixel((0, 0)) == {"LA": (90, 90, 90)}.get(mode, (200, 40, 90))


@pytest.mark.parametrize("mode, key, colour", [("P", 0, 0), ("L", 0, 0), ("RGB", (0, 0, 0), (0, 0, 0))])
def test_flatten_honours_transparency_info(mode, key, colour):
    """A palette index, grey level or colour marked transparent (PNG tRNS, GIF) is white, not its colour."""
    image = Image.new(mode, (4, 2), colour)
    if mode == "P":
        image.putpalette([0, 0, 0] * 256)
    image.info["transparency"] = key
    assert flatten_on_white(image).getpixel((1, 1)) == (255, 255, 255)


def test_regression_transparent_colour_of_an_rgb_png_is_white_after_conversion(tmp_path):
    """issue 8 build 3: the flattening knew only RGBA/LA/P/PA; an RGB PNG's tRNS colour stayed black."""
    image = Image.new("RGB", (20, 20), (0, 0, 0))
    image.paste((30, 110, 180), (5, 5, 15, 15))
    comment = PngImagePlugin.PngInfo()
    comment.add_text("Comment", "x" * 4000)
    data = encoded(image, "PNG", transparency=(0, 0, 0), pnginfo=comment)
    source = load_source(write(tmp_path, "key.png", data), max_bytes=3000)  # over max_bytes: converted
    assert source.conversion == "PNG 20x20 to JPEG 20x20"
    pixels = Image.open(io.BytesIO(source.data)).convert("RGB")
    assert min(pixels.getpixel((1, 1))) > 245
    assert pixels.getpixel((10, 10))[2] > 150


def test_decode_image_names_the_problem():
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(png_bomb(9000, 9000), MAX_IMAGE_PIXELS)
    assert caught.value.size == (9000, 9000)
    with pytest.raises(UndecodableImage, match="not an image Pillow can read"):
        decode_image(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", MAX_IMAGE_PIXELS)


# ---- properties (issue 8 build 3): load_source raises nothing but SourceImageError / MissingLibraryError ----

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

MAGIC = [b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBPVP8 ", b"II*\x00", b"MM\x00*", b""]

VALID = [
    encoded(noisy("RGB", (24, 16)), "JPEG"),
    encoded(noisy("RGB", (24, 16)), "JPEG", progressive=True),
    encoded(noisy("RGB", (24, 16)), "PNG"),
    encoded(noisy("P", (24, 16)), "PNG", transparency=1),
    encoded(noisy("RGB", (24, 16)).convert("P"), "GIF"),
    encoded(noisy("RGB", (24, 16)), "BMP"),
    encoded(noisy("RGB", (24, 16)), "TIFF"),
    encoded(noisy("RGB", (24, 16)), "WEBP"),
]


@st.composite
def mutated(draw, samples=tuple(VALID)):
    """A valid image with a few random edits: cut, bytes flipped, inserted or removed."""
    data = bytearray(draw(st.sampled_from(samples)))
    for dummy in range(draw(st.integers(1, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        if edit == "cut":
            del data[max(1, at):]
        elif edit == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


HOSTILE = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC), st.binary(max_size=2048)),
    mutated(),
)


def check_load(path, pillow, max_bytes):
    """load_source's answer for path: a SourceImage that is a whole image, or one of the two allowed errors."""
    try:
        with pillow_setting(pillow):
            source = load_source(path, max_bytes=max_bytes)
    except (SourceImageError, MissingLibraryError):
        return None
    assert isinstance(source, SourceImage)
    assert source.content_type in ("image/jpeg", "image/png")
    assert len(source.data) <= max_bytes
    info = inspect_image(source.data)
    assert (info.width, info.height) == (source.info.width, source.info.height)
    assert source.info.width * source.info.height <= MAX_IMAGE_PIXELS
    assert (jpeg_structure_problem if info.image_format == "jpeg" else png_structure_problem)(source.data) is None
    if pillow:
        Image.open(io.BytesIO(source.data)).load()  # what is accepted decodes whole
    return source


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
@PROPERTY_SETTINGS
@given(data=HOSTILE, max_bytes=st.sampled_from([MAX_IMAGE_PIXELS, 300]))
def test_property_load_source_raises_only_its_own_errors(tmp_path, pillow, data, max_bytes):
    if not data:
        return  # an empty file is refused before anything is read (tested above)
    check_load(write(tmp_path, "any.img", data), pillow, max_bytes)


@PROPERTY_SETTINGS
@given(data=mutated(tuple(VALID[:4])))
def test_property_cut_or_damaged_files_never_pass_with_load_truncated_images(tmp_path, data):
    """Whatever PIL.ImageFile.LOAD_TRUNCATED_IMAGES says, an accepted JPEG or PNG is a whole image."""
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        source = check_load(write(tmp_path, "any.img", data), True, MAX_IMAGE_PIXELS)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    if source is not None:
        Image.open(io.BytesIO(source.data)).load()  # strict decode, flag back to False


IMAGE_KINDS = [("JPEG", "RGB", {}), ("JPEG", "L", {"progressive": True}), ("JPEG", "CMYK", {}), ("PNG", "RGB", {}),
               ("PNG", "RGBA", {}), ("PNG", "LA", {}), ("PNG", "I;16", {}), ("PNG", "1", {}), ("GIF", "P", {}),
               ("BMP", "RGB", {}), ("TIFF", "RGB", {"compression": "tiff_lzw"}), ("TIFF", "RGB", {"compression": "jpeg"}),
               ("WEBP", "RGBA", {})]


@pytest.mark.parametrize("pillow", [True, False], ids=["pillow", "no-pillow"])
@pytest.mark.parametrize("load_truncated", [False, True], ids=["strict", "load-truncated"])
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(IMAGE_KINDS), width=st.integers(1, 80), height=st.integers(1, 80), seed=st.integers(0, 2 ** 16))
def test_property_whole_images_are_accepted(tmp_path, monkeypatch, pillow, load_truncated, kind, width, height, seed):
    """No false refusals: every whole image passes, in every setting (the checks above are not just strict)."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    fmt, mode, kwargs = kind
    data = encoded(noisy(mode, (width, height), seed), fmt, **kwargs)
    if fmt not in ("JPEG", "PNG") and not pillow:
        with without_pillow():
            with pytest.raises(MissingLibraryError):
                load_source(write(tmp_path, "ok.img", data))
        return
    source = check_load(write(tmp_path, "ok.img", data), pillow, MAX_IMAGE_PIXELS)
    assert source is not None
    assert (source.info.width, source.info.height) == (width, height)


def test_a_source_larger_than_any_photo_is_refused_without_reading_it(tmp_path, monkeypatch):
    huge = tmp_path / "disk.jpg"
    with open(str(huge), "wb") as handle:
        handle.write(b"\xff\xd8\xff")
        handle.truncate(_image.MAX_SOURCE_BYTES + 1)  # sparse: no real disk or memory used
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    with pytest.raises(SourceImageError, match="more than any photo can be"):
        _source.load_source(str(huge))
    assert "more than any photo can be" in _source.source_problem(str(huge)).msg
    assert str(huge) not in opened


# ---------------------------------------------------------------- issue 17: sources are never read through a link

def link_to_image(tmp_path):
    target = write(tmp_path, "private.jpg", encode("JPEG"))
    link = tmp_path / "adele.jpg"
    link.symlink_to(target)
    return str(link), target


def test_regression_a_symbolic_link_is_refused_not_followed(tmp_path):
    """issue 17: a link was followed to any file, and that file uploaded."""
    link, target = link_to_image(tmp_path)
    with pytest.raises(SourceImageError) as refused:
        load_source(link)
    assert refused.value.msg.startswith("src %s is a symbolic link: refused, not followed" % link)
    assert target not in refused.value.msg  # where it points is what must not be read, or told
    assert file_sha256(link) is None
    assert _source.source_problem(link).msg == refused.value.msg


def test_a_dangling_link_is_a_link_not_a_missing_file(tmp_path):
    link = tmp_path / "gone.jpg"
    link.symlink_to(tmp_path / "nowhere.jpg")
    with pytest.raises(SourceImageError, match="is a symbolic link"):
        load_source(str(link))


def test_links_above_the_file_are_followed(tmp_path):
    (tmp_path / "real").mkdir()
    write(tmp_path / "real", "a.jpg", encode("JPEG"))
    (tmp_path / "photos").symlink_to(tmp_path / "real")
    assert load_source(str(tmp_path / "photos" / "a.jpg")).info.image_format == "jpeg"


def regular_file_status(tmp_path):
    """What lstat() says of a regular file: for a path that becomes something else between the check and the open."""
    return os.lstat(write(tmp_path, "regular.jpg", encode("JPEG")))


def test_regression_a_link_put_in_place_after_the_check_is_refused_by_o_nofollow(tmp_path, monkeypatch):
    """lstat() saw a regular file, and a link took its place before open(): the kernel refuses it (O_NOFOLLOW)."""
    link, _target = link_to_image(tmp_path)
    status = regular_file_status(tmp_path)
    monkeypatch.setattr(_image, "_source_status", lambda path: status)
    with pytest.raises(SourceImageError, match="is a symbolic link: refused, not followed"):
        load_source(link)


def test_a_fifo_put_in_place_after_the_check_neither_hangs_nor_is_read(tmp_path, monkeypatch):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(str(fifo))
    status = regular_file_status(tmp_path)
    monkeypatch.setattr(_image, "_source_status", lambda path: status)
    with pytest.raises(SourceImageError, match=re.escape("is not a regular file (FIFO)")):
        load_source(str(fifo))  # without O_NONBLOCK, open() would wait for a writer forever


def test_every_source_is_opened_with_o_nofollow(tmp_path, monkeypatch):
    path = write(tmp_path, "a.jpg", encode("JPEG"))
    flags = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda name, flag, *a, **k: flags.append((name, flag)) or real_open(name, flag, *a, **k))
    load_source(path)
    file_sha256(path)
    _source.source_problem(path)
    opened = [flag for name, flag in flags if name == path]
    assert len(opened) == 3 and all(flag & os.O_NOFOLLOW and flag & os.O_NONBLOCK for flag in opened)


@pytest.mark.parametrize("mode, kind", [(stat.S_IFREG, None), (stat.S_IFLNK, "symbolic link"), (stat.S_IFDIR, "directory"),
                                        (stat.S_IFIFO, "FIFO"), (stat.S_IFSOCK, "socket"), (stat.S_IFCHR, "character device"),
                                        (stat.S_IFBLK, "block device")])
def test_file_kind(mode, kind):
    assert _image.file_kind(mode | 0o644) == kind


def test_source_problem_reads_only_the_first_bytes(tmp_path, monkeypatch):
    path = write(tmp_path, "big.png", noisy_png((600, 400)))
    reads = []
    real_fdopen = os.fdopen

    class Counting:
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            reads.append(size)
            return self.handle.read(size)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(_image.os, "fdopen", lambda *a, **k: Counting(real_fdopen(*a, **k)))
    assert _source.source_problem(path) is None
    assert reads and all(0 < size <= 64 for size in reads)


@pytest.mark.parametrize("name, data, convert, message", [
    ("ok.jpg", encode("JPEG"), True, None),
    ("ok.png", encode("PNG"), False, None),
    ("ok.gif", encode("GIF"), True, None),
    ("x.gif", encode("GIF"), False, "cannot be sent as it is: the service takes JPEG or PNG, not GIF"),
    ("x.txt", b"plain text pretending", True, "is not an image this module knows"),
    ("bomb.png", None, True, "refused before decoding"),
])
def test_source_problem_says_what_load_source_would(tmp_path, name, data, convert, message):
    path = write(tmp_path, name, png_bomb() if data is None else data)
    problem = _source.source_problem(path, convert=convert)
    if message is None:
        assert problem is None
        load_source(path, convert=convert)
        return
    assert message in problem.msg
    with pytest.raises(SourceImageError) as loaded:
        load_source(path, convert=convert)
    assert problem.msg == loaded.value.msg


def test_source_problem_without_pillow_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError: No module named 'PIL'")
    problem = _source.source_problem(write(tmp_path, "x.bmp", encode("BMP")))
    assert isinstance(problem, MissingLibraryError) and "pip install Pillow" in problem.msg
