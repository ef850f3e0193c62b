# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image, ImageDraw

from ansible_collections.o365.outlook.plugins.module_utils import _pillow
from ansible_collections.o365.outlook.plugins.module_utils._compare import DEFAULT_PIXEL_TOLERANCE, compare_photos, pixel_distance


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
    from ansible_collections.o365.outlook.plugins.module_utils._errors import MissingLibraryError
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    with pytest.raises(MissingLibraryError, match="compare=pixels"):
        verdict(png(ALICE), jpeg(ALICE), "pixels")
