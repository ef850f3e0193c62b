# SPDX-License-Identifier: GPL-3.0-or-later
"""issue 17: every Pillow mode keeps its picture when it becomes RGB, for the conversion to JPEG and on both sides
of the pixel comparison (both go through flatten_on_white)."""
from __future__ import annotations

import hashlib
import io
import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter, ImageStat

from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import COMPARE_SIZE, compare_photos
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import MAX_IMAGE_PIXELS
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source
from ansible_collections.o365.outlook.plugins.module_utils.photo._pillow import decode_image, flatten_on_white

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "I;16B", "F"]
ALPHA_MODES = ("LA", "PA", "RGBA")
# (struct format, Pillow raw mode) for the modes whose pixels are not bytes. Images are built from bytes:
# Pillow before 10 keeps only the low byte of each value in putdata() on I;16.
WIDE = {"I": ("=%di", "I"), "I;16": ("<%dH", "I;16"), "I;16B": (">%dH", "I;16B"), "F": ("=%df", "F")}
WIDE_RANGE = {"I": (-2 ** 31, 2 ** 31 - 1), "I;16": (0, 65535), "I;16B": (0, 65535)}
# Palette entries all different (the red channel is the index), so different indices are different colours.
PALETTE = [channel for index in range(256) for channel in (index, index * 37 % 256, index * 101 % 256)]


def encoded(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def wide_image(mode, size, values):
    layout, rawmode = WIDE[mode]
    return Image.frombytes(mode, size, struct.pack(layout % len(values), *values), "raw", rawmode)


def to_lab(image):
    try:
        return image.convert("LAB")
    except ValueError:  # Pillow before 9.3
        from PIL import ImageCms
        return ImageCms.applyTransform(image, ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"),
                                                                      "RGB", "LAB"))


def with_alpha(image, alpha):
    """image (L, P or RGB) with the L image alpha as its alpha band. PA is merged from the index band: Pillow
    before 9.1 converts P to PA with a wrong palette and alpha."""
    if image.mode != "P":
        image = image.copy()
        image.putalpha(alpha)
        return image
    merged = Image.merge("PA", (Image.frombytes("L", image.size, image.tobytes()), alpha))
    merged.putpalette(image.getpalette())
    return merged


def spread(image):
    """The largest standard deviation of any band: 0 for an image of one colour."""
    return max(ImageStat.Stat(image).stddev)


def ramp16(low, high, size=(160, 120)):
    """A 16-bit greyscale picture: a diagonal ramp from low to high."""
    width, height = size
    values = [low + (high - low) * (x + y) // (width + height - 2) for y in range(height) for x in range(width)]
    return wide_image("I;16", size, values)


@pytest.mark.parametrize("low, high", [(0, 65535), (1000, 4000)])
def test_regression_sixteen_bit_grey_png_is_converted_to_its_picture_not_a_white_square(tmp_path, low, high):
    """issue 17: convert('RGB') clipped I;16 to 0..255, so a 16-bit PNG was sent as a white square. The levels are
    now stretched over the range the pixels use (1000..4000 is a 12-bit scan in a 16-bit container)."""
    data = encoded(ramp16(low, high), "PNG")
    assert decode_image(data, MAX_IMAGE_PIXELS).mode in ("I;16", "I")
    path = tmp_path / "scan.png"
    path.write_bytes(data)
    source = load_source(str(path))
    assert source.content_type == "image/jpeg"
    pixels = Image.open(io.BytesIO(source.data)).convert("L")
    darkest, lightest = pixels.getextrema()
    assert darkest < 10 and lightest > 245
    assert pixels.getpixel((2, 2)) < pixels.getpixel((80, 60)) < pixels.getpixel((157, 117))


@pytest.mark.parametrize("low, high", [(0, 65535), (1000, 4000)])
def test_regression_sixteen_bit_grey_png_compares_same_as_its_stored_jpeg_and_not_as_white(tmp_path, low, high):
    """issue 17: a source decoded as a white square matched the white square stored from it, so it was reported
    unchanged ever after. Both sides of the pixel comparison now decode 16-bit the same way."""
    png = encoded(ramp16(low, high), "PNG")
    path = tmp_path / "scan.png"
    path.write_bytes(png)
    sent = load_source(str(path)).data
    stored = encoded(Image.open(io.BytesIO(sent)), "JPEG", quality=80)  # the service re-encodes what it stores
    white = encoded(Image.new("RGB", (160, 120), (255, 255, 255)), "JPEG", quality=80)
    for wanted, current in ((png, stored), (sent, stored), (sent, png), (png, sent)):
        verdict = compare_photos(wanted, sha(wanted), current, sha(current), "pixels")
        assert (verdict.same, verdict.method) == (True, "pixels")
    for wanted in (png, sent):
        verdict = compare_photos(wanted, sha(wanted), white, sha(white), "pixels")
        assert (verdict.same, verdict.method) == (False, "pixels") and verdict.distance > 40


def test_sixteen_bit_png_with_a_transparent_level_shows_it_white():
    image = wide_image("I;16", (3, 1), [1000, 2000, 4000])
    image.info["transparency"] = 2000  # what Pillow reads from a 16-bit PNG's tRNS chunk (older ones cannot write it)
    flat = flatten_on_white(image)
    assert [flat.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (255, 255, 255), (255, 255, 255)]


@pytest.mark.parametrize("mode, values, greys", [
    ("I;16", [30000] * 2, [117] * 2),  # no range to stretch: the level on the 16-bit scale
    ("I;16B", [65535] * 2, [255] * 2),
    ("I", [-7, -7], [0, 0]),
    ("F", [-20.0, 0.0, 127.0, 300.0], [0, 0, 127, 255]),  # F is read as 8-bit levels, clipped
])
def test_levels_without_a_range_to_stretch(mode, values, greys):
    flat = flatten_on_white(wide_image(mode, (len(values), 1), values))
    assert [flat.getpixel((x, 0)) for x in range(len(values))] == [(grey, grey, grey) for grey in greys]


@st.composite
def mode_images(draw, mode):
    """(an image of mode with random size and pixels, whether what it shows varies). For an alpha mode that is
    whether its opaque pixels differ: a transparent pixel shows white whatever its colour. Colour spaces come from
    an RGB picture of coarse levels, so that no two of their pixels are within Pillow's rounding of each other."""
    width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    count = width * height

    def band(low=0, high=255):
        return draw(st.lists(st.integers(low, high), min_size=count, max_size=count))

    if mode in WIDE_RANGE:
        # The levels a file uses: 8 bits, a 12-bit scan or the whole range, anywhere in the mode's range.
        lowest, highest = WIDE_RANGE[mode]
        window = min(draw(st.sampled_from([255, 4095, 65535, 2 ** 32 - 1])), highest - lowest)
        low = draw(st.integers(lowest, highest - window))
        values = band(low, low + window)
        return wide_image(mode, (width, height), values), len(set(values)) > 1
    if mode == "F":
        values = [float(level) for level in band()]  # F holds 8-bit levels as floats
        return wide_image(mode, (width, height), values), len(set(values)) > 1
    if mode == "1":
        values = band(0, 1)
        return Image.frombytes("L", (width, height), bytes(v * 255 for v in values)).convert("1"), len(set(values)) > 1
    colour_bands = {"L": 1, "LA": 1, "P": 1, "PA": 1}.get(mode, 3)
    pixels = list(zip(*[band() for dummy in range(colour_bands)]))
    if mode in ("YCbCr", "LAB", "HSV"):
        pixels = [tuple(channel // 51 * 51 for channel in pixel) for pixel in pixels]
    alpha = band() if mode in ALPHA_MODES else [255] * count
    varies = len(set(pixel for pixel, opacity in zip(pixels, alpha) if opacity == 255)) > 1
    base = {"L": "L", "LA": "L", "P": "P", "PA": "P"}.get(mode, "RGB")
    image = Image.frombytes(base, (width, height), bytes(channel for pixel in pixels for channel in pixel))
    if base == "P":
        image.putpalette(PALETTE)
    if mode in ALPHA_MODES:
        image = with_alpha(image, Image.frombytes("L", (width, height), bytes(alpha)))
    elif mode == "LAB":
        image = to_lab(image)
    elif mode != image.mode:
        image = image.convert(mode)
    return image, varies


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_a_varied_image_of_any_mode_stays_varied(mode, data):
    """issue 17: whenever the source's standard deviation is above 0, so is the converted image's."""
    image, varies = data.draw(mode_images(mode))
    assert image.mode == mode
    flat = flatten_on_white(image)
    assert (flat.mode, flat.size) == ("RGB", image.size)
    if varies:
        assert spread(flat) > 0


def photo_like():
    """A deterministic image with a photograph's traits (smooth areas, edges, texture, every level) from Pillow's own
    generators, for when scikit-image's sample photographs are not installed."""
    size = (256, 256)
    detail = Image.effect_mandelbrot(size, (-2.0, -1.25, 0.5, 1.25), 64)
    light = Image.radial_gradient("L").resize(size)
    shade = Image.linear_gradient("L").resize(size).rotate(30)
    grain = Image.effect_noise(size, 24)
    red = Image.blend(detail, light, 0.4)
    return Image.merge("RGB", (red, Image.blend(shade, grain, 0.3), Image.blend(light, detail, 0.6))).filter(ImageFilter.GaussianBlur(1.5))


def photograph(name):
    if name == "photo-like":
        return photo_like()
    data = pytest.importorskip("skimage.data")
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def in_mode(photo, mode):
    """The photograph as Pillow holds it in mode; high bit depths with the ranges files use."""
    grey = photo.convert("L")
    if mode in WIDE:
        levels = list(grey.tobytes())
        scaled = {"I": lambda v: v * 1000 - 50000, "I;16": lambda v: v * 16 + 1000,  # a 12-bit scan
                  "I;16B": lambda v: v * 257, "F": float}[mode]
        return wide_image(mode, grey.size, [scaled(v) for v in levels])
    if mode == "LAB":
        return to_lab(photo)
    if mode == "PA":
        return with_alpha(photo.convert("P"), Image.new("L", photo.size, 255))
    return photo.convert(mode)


def luminance(image):
    box = getattr(Image, "Resampling", Image).BOX
    return list(image.convert("L").resize((COMPARE_SIZE, COMPARE_SIZE), box).tobytes())


def correlation(first, second):
    mean_first, mean_second = sum(first) / len(first), sum(second) / len(second)
    covariance = sum((a - mean_first) * (b - mean_second) for a, b in zip(first, second))
    spread_first = math.sqrt(sum((a - mean_first) ** 2 for a in first))
    spread_second = math.sqrt(sum((b - mean_second) ** 2 for b in second))
    return covariance / (spread_first * spread_second)


@pytest.mark.parametrize("name", ["camera", "astronaut", "photo-like"])
@pytest.mark.parametrize("mode", MODES)
def test_a_photograph_in_any_mode_keeps_its_picture(name, mode):
    """issue 17: a photograph converted into each mode and back to RGB still shows the photograph."""
    photo = photograph(name)
    image = in_mode(photo, mode)
    assert image.mode == mode
    flat = flatten_on_white(image)
    assert spread(flat) > 0
    if mode not in ("HSV", "LAB"):
        assert correlation(luminance(photo), luminance(flat)) > 0.9
