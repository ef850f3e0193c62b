# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import os

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils._errors import SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils._image import (
    inspect_image, jpeg_dimensions, load_source, sniff_format)


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
    (str, "is not a regular file"),
    (lambda p: write(p, "empty.jpg", b""), "is empty"),
    (lambda p: write(p, "x.jpg", b"plain text pretending"), "not an image this module knows"),
    (lambda p: write(p, "x.heic", b"\0\0\0\x18ftypheic" + b"\0" * 40), "a HEIC image"),
    (lambda p: write(p, "x.jpg", encode("JPEG")[:30]), "truncated or corrupt"),
])
def test_load_source_rejections(tmp_path, setup, message):
    with pytest.raises(SourceImageError, match=message):
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
    from ansible_collections.o365.outlook.plugins.module_utils import _pillow
    from ansible_collections.o365.outlook.plugins.module_utils._errors import MissingLibraryError
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

    def refuse(name, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", name)
    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(SourceImageError, match="cannot be read: Permission denied"):
        load_source(path)
