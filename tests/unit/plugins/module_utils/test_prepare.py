# SPDX-License-Identifier: GPL-3.0-or-later
"""photo._prepare.Preparation: crop, max_dimension and min_dimension (issue 22)."""
from __future__ import annotations

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, MissingLibraryError
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions
from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow, _prepare
from ansible_collections.o365.outlook.plugins.module_utils.photo._prepare import (
    AS_GIVEN, DEFAULT_MIN_DIMENSION, FACE_MARGIN, Preparation, centred_square, face_square)


def quadrants(size):
    """An image whose four quadrants have four colours, to see which part a crop kept."""
    width, height = size
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    image.paste((0, 0, 255), (0, height // 2, width // 2, height))
    image.paste((255, 255, 0), (width // 2, height // 2, width, height))
    return image


# ---- from_options ----

def test_from_options_defaults():
    preparation = Preparation.from_options("none", None, None)
    assert (preparation.crop, preparation.max_dimension, preparation.min_dimension) == ("none", None, DEFAULT_MIN_DIMENSION)
    assert DEFAULT_MIN_DIMENSION == 48
    assert preparation.change_needed(640, 480) is None


@pytest.mark.parametrize("crop, max_dimension, min_dimension, message", [
    ("circle", None, None, "crop must be one of none, square, face, got 'circle'"),
    ("Square", None, None, "crop must be one of"),
    ("none", 0, 0, "max_dimension must be a number of pixels from 1 to 20000"),
    ("none", -5, 0, "max_dimension must be a number of pixels from 1 to 20000"),
    ("none", 20001, 0, "got 20001"),
    ("none", None, -1, "min_dimension must be a number of pixels from 0 (no check) to 20000, got -1"),
    ("none", None, 20001, "min_dimension must be"),
    ("square", 100, 200, "min_dimension (200) is larger than max_dimension (100): no photo could pass"),
    ("none", 40, None, "min_dimension (48) is larger than max_dimension (40)"),  # the default counts too
])
def test_from_options_refuses(crop, max_dimension, min_dimension, message):
    with pytest.raises(ConfigurationError) as caught:
        Preparation.from_options(crop, max_dimension, min_dimension)
    assert message in caught.value.msg


@pytest.mark.parametrize("crop, max_dimension, min_dimension", [
    ("square", 648, 48), ("face", 100, 100), ("none", 1, 0), ("none", 20000, 20000), ("none", None, 0)])
def test_from_options_accepts(crop, max_dimension, min_dimension):
    preparation = Preparation.from_options(crop, max_dimension, min_dimension)
    assert (preparation.crop, preparation.max_dimension, preparation.min_dimension) == (crop, max_dimension, min_dimension)


def test_what_changes_pixels_and_settings():
    assert AS_GIVEN.change_needed(640, 480) is None and AS_GIVEN.min_dimension == 0
    assert Preparation("square").change_needed(640, 480) and Preparation("face").change_needed(480, 480)
    assert Preparation(max_dimension=100).change_needed(640, 480)
    assert Preparation(min_dimension=100).change_needed(640, 480) is None  # only refuses
    # min_dimension changes no pixel, so it is not what a state file records
    assert Preparation("face", 300, 48).settings() == dict(version=_prepare.VERSION, crop="face", max_dimension=300)
    assert Preparation("face", 300, 48).settings() == Preparation("face", 300, 100).settings()
    assert Preparation("face", 300).settings() != Preparation("square", 300).settings()


# ---- the module options ----

def policy_params(**changes):
    params = dict(crop="none", max_dimension=None, min_dimension=48, convert=True)
    params.update(changes)
    return params


def test_policy_options_build_the_preparation():
    preparation = PhotoPolicyOptions._preparation(policy_params(crop="face", max_dimension=648))
    assert (preparation.crop, preparation.max_dimension, preparation.min_dimension) == ("face", 648, 48)
    options = PhotoPolicyOptions().options()
    assert options["crop"] == dict(type="str", choices=["none", "square", "face"], default="none")
    assert options["min_dimension"]["default"] == 48 and options["max_dimension"] == dict(type="int")


@pytest.mark.parametrize("crop", ["square", "face"])
def test_policy_options_crop_needs_convert(crop):
    with pytest.raises(ConfigurationError, match="crop=%s re-encodes every photo, which convert=false forbids" % crop):
        PhotoPolicyOptions._preparation(policy_params(crop=crop, convert=False))


def test_policy_options_without_crop_allow_convert_false():
    assert PhotoPolicyOptions._preparation(policy_params(convert=False, max_dimension=300)).crop == "none"


@pytest.mark.parametrize("crop", ["square", "face"])
def test_policy_options_crop_needs_pillow(crop, monkeypatch):
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError: No module named 'PIL'")
    with pytest.raises(MissingLibraryError) as caught:
        PhotoPolicyOptions._preparation(policy_params(crop=crop))
    assert caught.value.library == "Pillow" and "Pillow is needed for crop=%s" % crop in caught.value.msg
    assert PhotoPolicyOptions._preparation(policy_params()).crop == "none"  # crop=none needs no Pillow


def test_policy_options_refuse_bad_sizes():
    with pytest.raises(ConfigurationError, match="min_dimension \\(100\\) is larger than max_dimension \\(50\\)"):
        PhotoPolicyOptions._preparation(policy_params(max_dimension=50, min_dimension=100))


# ---- what needs a change, what is refused ----

@pytest.mark.parametrize("preparation, size, reason", [
    (Preparation(), (4000, 100), None),
    (Preparation("square"), (300, 300), None),
    (Preparation("square"), (300, 200), "crop=square and it is 300x200"),
    (Preparation("face"), (300, 300), "crop=face"),  # even a square photo: the face decides the square
    (Preparation(max_dimension=300), (300, 200), None),
    (Preparation(max_dimension=300), (200, 301), "it is 200x301, over max_dimension 300"),
    (Preparation("square", 300), (300, 300), None),
    (Preparation("square", 300), (400, 400), "it is 400x400, over max_dimension 300"),
])
def test_change_needed(preparation, size, reason):
    assert preparation.change_needed(*size) == reason


def test_size_problem():
    default = Preparation.from_options("none", None, None)
    assert "it is 23x23 pixels, under min_dimension 48" in default.size_problem(23, 23)
    assert "set min_dimension=0 to send it anyway" in default.size_problem(23, 23)
    assert "it is 400x47 pixels" in default.size_problem(400, 47)  # the shorter side decides
    assert default.size_problem(48, 48) is None
    assert Preparation.from_options("none", None, 0).size_problem(23, 23) is None
    assert Preparation.from_options("none", None, 0).size_problem(1, 1) is None


# ---- crop boxes ----

@pytest.mark.parametrize("size, box", [
    ((100, 40), (30, 0, 70, 40)),
    ((40, 100), (0, 30, 40, 70)),
    ((101, 40), (30, 0, 70, 40)),
    ((50, 50), (0, 0, 50, 50)),
    ((1, 9), (0, 4, 1, 5)),
])
def test_centred_square(size, box):
    assert centred_square(size) == box


def test_face_square_is_centred_on_the_face():
    face = (400, 300, 100, 100)  # centre (450, 350)
    box = face_square((1000, 800), face)
    side = int(round(100 * FACE_MARGIN))
    assert box == (450 - side // 2, 350 - side // 2, 450 - side // 2 + side, 350 - side // 2 + side)
    assert box[2] - box[0] == box[3] - box[1] == side == 220


@pytest.mark.parametrize("face, expected", [
    ((0, 0, 100, 100), (0, 0, 220, 220)),  # top left corner: moved right and down
    ((900, 700, 100, 100), (780, 580, 1000, 800)),  # bottom right corner: moved left and up
    ((450, 0, 100, 40), (390, 0, 610, 220)),  # top edge only
])
def test_face_square_moves_inside_the_image(face, expected):
    assert face_square((1000, 800), face) == expected
    left, top, width, height = face
    x0, y0, x1, y1 = expected
    assert x0 <= left and y0 <= top and left + width <= x1 and top + height <= y1


def test_face_square_never_larger_than_the_shorter_side():
    assert face_square((300, 200), (100, 50, 150, 150)) == (75, 0, 275, 200)
    assert face_square((200, 300), (0, 0, 200, 300)) == (0, 50, 200, 250)
    assert face_square((10, 10), (5, 5, 0, 0)) == (4, 4, 5, 5)  # a degenerate face is still a 1 px square


# ---- apply ----

def test_apply_square_keeps_the_centre():
    image, done, warning = Preparation("square").apply(quadrants((200, 100)))
    assert (image.size, done, warning) == ((100, 100), ["square crop"], None)
    # the centred square straddles the middle: red/green above, blue/yellow below
    assert image.getpixel((10, 10)) == (255, 0, 0) and image.getpixel((90, 10)) == (0, 255, 0)
    assert image.getpixel((10, 90)) == (0, 0, 255) and image.getpixel((90, 90)) == (255, 255, 0)


def test_apply_square_on_a_square_changes_nothing():
    original = quadrants((80, 80))
    image, done, warning = Preparation("square").apply(original)
    assert image is original and done == ["square crop"] and warning is None


@pytest.mark.parametrize("size, limit, expected", [
    ((1000, 500), 648, (648, 324)),
    ((500, 1000), 648, (324, 648)),
    ((333, 777), 100, (43, 100)),
    ((100, 1), 10, (10, 1)),  # never 0 pixels
])
def test_apply_max_dimension_scales_the_longest_side(size, limit, expected):
    image, done, warning = Preparation(max_dimension=limit).apply(quadrants(size))
    assert image.size == expected
    assert done == ["scaled to max_dimension %d" % limit] and warning is None


@pytest.mark.parametrize("size", [(648, 300), (20, 20), (1, 648)])
def test_apply_max_dimension_never_scales_up(size):
    original = quadrants(size)
    image, done, warning = Preparation(max_dimension=648).apply(original)
    assert image is original and done == [] and warning is None


def test_apply_crop_then_scale():
    image, done, _warning = Preparation("square", 50).apply(quadrants((300, 200)))
    assert image.size == (50, 50) and done == ["square crop", "scaled to max_dimension 50"]


def test_apply_is_deterministic():
    source = quadrants((640, 360))
    first = Preparation("square", 123).apply(source)[0]
    second = Preparation("square", 123).apply(source.copy())[0]
    assert first.size == (123, 123) and first.tobytes() == second.tobytes()
