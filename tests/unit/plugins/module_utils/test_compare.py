# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile

from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow
from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import DEFAULT_PIXEL_TOLERANCE, compare_photos, pixel_distance
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import MAX_IMAGE_PIXELS


def portrait(bg, face, size=(240, 240)):
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse([width * 0.3, height * 0.15, width * 0.7, height * 0.55], fill=face)
    draw.ellipse([width * 0.15, height * 0.6, width * 0.85, height * 1.3], fill=face)
    return image


def jpeg(image, quality=90):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def verdict(wanted, current, mode="auto"):
    return compare_photos(wanted, sha(wanted), current, sha(current) if current else None, mode)


ALICE = portrait((30, 110, 180), (240, 220, 200))
BOB = portrait((180, 60, 90), (250, 240, 230))


def test_same_bytes_are_same_without_decoding():
    data = jpeg(ALICE)
    result = verdict(data, data, "sha256")
    assert result.same and result.method == "sha256"


def test_no_current_photo_is_different():
    assert not verdict(jpeg(ALICE), None).same


def test_reencoded_photo_is_same_by_pixels_but_not_by_sha256():
    wanted, stored = png(ALICE), jpeg(ALICE, quality=75)
    assert not verdict(wanted, stored, "sha256").same
    result = verdict(wanted, stored, "auto")
    assert result.same and result.method == "pixels" and result.distance < DEFAULT_PIXEL_TOLERANCE


def test_service_downscale_is_same():
    stored = jpeg(ALICE.resize((96, 96)), quality=80)
    assert verdict(png(ALICE), stored, "pixels").same


def test_different_people_are_different():
    result = verdict(jpeg(ALICE), jpeg(BOB), "pixels")
    assert not result.same and result.distance > 4 * DEFAULT_PIXEL_TOLERANCE


def test_different_aspect_ratio_is_different():
    assert pixel_distance(jpeg(ALICE), jpeg(portrait((30, 110, 180), (240, 220, 200), size=(240, 160)))) is None


def test_undecodable_current_photo_is_different():
    assert not verdict(jpeg(ALICE), b"\xff\xd8\xffgarbage", "pixels").same


def test_auto_without_pillow_falls_back_to_sha256(monkeypatch):
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    result = verdict(png(ALICE), jpeg(ALICE))
    assert not result.same and result.method == "sha256"


def test_pixels_without_pillow_is_an_error(monkeypatch):
    from ansible_collections.o365.outlook.plugins.module_utils.common._errors import MissingLibraryError
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    with pytest.raises(MissingLibraryError, match="compare=pixels"):
        verdict(png(ALICE), jpeg(ALICE), "pixels")


# ---- issue 8: whatever the service holds, the comparison says "different", never raises ----

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width=50000, height=50000):
    """A few hundred bytes whose IHDR declares width x height RGB pixels."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9)) + png_chunk(b"IEND", b""))


def test_regression_bomb_photo_is_different():
    """issue 8 defect 1: DecompressionBombError escaped pixel_distance and crashed the run."""
    assert pixel_distance(jpeg(ALICE), png_bomb()) is None
    assert pixel_distance(png_bomb(), jpeg(ALICE)) is None
    result = verdict(jpeg(ALICE), png_bomb(), "pixels")
    assert not result.same and result.method == "pixels"


def test_photo_over_the_pixel_limit_is_not_decoded(monkeypatch):
    """Under Pillow's own guard (about 89 million) but over ours: refused from the header."""
    assert 8000 * 8000 > MAX_IMAGE_PIXELS
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or real_load(self))
    assert pixel_distance(jpeg(ALICE), png_bomb(8000, 8000)) is None
    assert (8000, 8000) not in loads


def test_regression_cut_photo_is_different_whatever_load_truncated_images_says(monkeypatch):
    """issue 8 defect 6: with PIL.ImageFile.LOAD_TRUNCATED_IMAGES set, a stored photo missing its last rows decoded
    padded and compared "same", so a damaged photo was kept."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    stored = jpeg(ALICE)
    assert pixel_distance(jpeg(ALICE), stored) is not None
    assert pixel_distance(jpeg(ALICE), stored[:-40]) is None
    assert not verdict(jpeg(ALICE), stored[:-40], "pixels").same
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_regression_transparent_colour_compares_as_white():
    """issue 8 build 3: one flattening for both modules; the comparison's copy ignored a PNG's tRNS colour, so a
    photo on a transparent background never matched the same photo on white."""
    keyed = Image.new("RGB", ALICE.size, (0, 0, 0))
    on_white = Image.new("RGB", ALICE.size, (255, 255, 255))
    mask = Image.new("L", ALICE.size, 0)
    ImageDraw.Draw(mask).ellipse([60, 40, 180, 200], fill=255)
    keyed.paste(ALICE, mask=mask)
    on_white.paste(ALICE, mask=mask)
    buffer = io.BytesIO()
    keyed.save(buffer, "PNG", transparency=(0, 0, 0))
    assert verdict(png(on_white), buffer.getvalue(), "pixels").same


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_background_compares_as_white(mode):
    clear = Image.new("RGBA", ALICE.size, (0, 0, 0, 0))
    mask = Image.new("L", ALICE.size, 0)
    ImageDraw.Draw(mask).ellipse([60, 40, 180, 200], fill=255)
    clear.paste(ALICE, mask=mask)
    on_white = Image.new("RGB", ALICE.size, (255, 255, 255))
    on_white.paste(ALICE, mask=mask)
    current = clear.convert(mode) if mode != "P" else clear
    buffer = io.BytesIO()
    current.save(buffer, "PNG" if mode != "P" else "GIF")
    wanted = on_white.convert("L").convert("RGB") if mode == "LA" else on_white
    assert verdict(png(wanted), buffer.getvalue(), "pixels").same


VALID = [jpeg(ALICE.resize((48, 48))), png(BOB.resize((48, 48))), jpeg(ALICE.resize((48, 32)), quality=60)]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(VALID)))
    for dummy in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(["cut", "flip", "insert"]))
        if edit == "cut":
            del data[at:]
        elif edit == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(wanted=st.sampled_from(VALID), current=st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00"]),
              st.binary(max_size=2048)),
    mutated()))
def test_property_pixel_distance_never_raises(wanted, current):
    """issue 8 build 3: the service's photo may be anything; the answer is a distance or None ("different")."""
    distance = pixel_distance(wanted, current)
    assert distance is None or 0.0 <= distance <= 255.0
    result = verdict(wanted, current, "pixels")
    assert result.method in ("sha256", "pixels")
    assert result.same == (distance is not None and distance <= DEFAULT_PIXEL_TOLERANCE) or result.method == "sha256"
