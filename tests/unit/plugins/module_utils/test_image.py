# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import os

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils._errors import SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils._image import (
    MAX_PHOTO_BYTES, inspect_image, jpeg_dimensions, load_source, sniff_format)


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


def test_png_keeps_its_content_type(tmp_path):
    assert load_source(write(tmp_path, "a.png", encode("PNG"))).content_type == "image/png"


@pytest.mark.parametrize("setup, message", [
    (lambda p: str(p / "missing.jpg"), "does not exist"),
    (lambda p: str(p), "is not a regular file"),
    (lambda p: write(p, "empty.jpg", b""), "is empty"),
    (lambda p: write(p, "x.jpg", b"plain text pretending"), "not an image this module knows"),
    (lambda p: write(p, "x.gif", encode("GIF")), "a GIF image"),
    (lambda p: write(p, "x.jpg", encode("JPEG")[:30]), "truncated or corrupt"),
])
def test_load_source_rejections(tmp_path, setup, message):
    with pytest.raises(SourceImageError, match=message):
        load_source(setup(tmp_path))


def test_load_source_requires_a_path():
    with pytest.raises(SourceImageError, match="src is required"):
        load_source(None)


def test_oversize_is_rejected(tmp_path):
    data = encode("PNG", size=(16, 16))
    padded = data + b"\0" * (MAX_PHOTO_BYTES + 1 - len(data))
    with pytest.raises(SourceImageError, match="at most 4194304 bytes"):
        load_source(write(tmp_path, "big.png", padded))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, "locked.jpg", encode("JPEG"))
    os.chmod(path, 0)
    with pytest.raises(SourceImageError, match="cannot be read"):
        load_source(path)
