# SPDX-License-Identifier: GPL-3.0-or-later
"""photo._source.load_source with issue 22's rules: photos upright as people see them, prepared, without EXIF."""
from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import subprocess
import sys

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import MissingLibraryError, SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow
from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import compare_photos, pixel_distance
from ansible_collections.o365.outlook.plugins.module_utils.photo._exif import jpeg_orientation
from ansible_collections.o365.outlook.plugins.module_utils.photo._prepare import Preparation
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source, source_problem

ORIENTATION = 0x0112
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)
# What Pillow's exif_transpose does for each Orientation, and so how a camera stores an upright picture.
SHOWN = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
         5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_90}
STORED = {**SHOWN, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}  # the inverse of each


def upright(size=(320, 480)):
    """A portrait as people should see it: red band at the top, a green square at the top left, blue below."""
    width, height = size
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, width, height // 4))
    image.paste(GREEN, (0, 0, width // 8, width // 8))
    return image


def stored(orientation, picture=None):
    """The pixels a camera stores, with this Orientation, for the upright picture."""
    picture = upright() if picture is None else picture
    return picture if orientation == 1 else picture.transpose(STORED[orientation])


def jpeg(image, orientation=None, gps=False, fmt="JPEG"):
    kwargs = {}
    if orientation is not None or gps:
        exif = Image.Exif()
        if orientation is not None:
            exif[ORIENTATION] = orientation
        if gps:
            exif[0x010F] = "PhoneMaker"
            info = exif.get_ifd(0x8825)
            info.update({1: "N", 2: (52.0, 22.0, 30.5), 3: "E", 4: (4.0, 53.0, 10.0)})
        kwargs["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=92, **kwargs) if fmt == "JPEG" else image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def decoded(data):
    return Image.open(io.BytesIO(data))


def close(pixel, colour, slack=40):
    return all(abs(a - b) <= slack for a, b in zip(pixel, colour))


def assert_upright(data, size=(320, 480)):
    """The JPEG shows upright() (scaled to size): red top, green top-left, blue bottom; and carries no EXIF."""
    image = decoded(data)
    assert image.format == "JPEG" and image.size == size
    width, height = size
    rgb = image.convert("RGB")
    assert close(rgb.getpixel((width // 32, height // 64 + 1)), GREEN), rgb.getpixel((width // 32, height // 64 + 1))
    assert close(rgb.getpixel((width - 3, height // 16)), RED)
    assert close(rgb.getpixel((width // 2, height - 3)), BLUE)
    assert len(image.getexif()) == 0 and b"Exif\x00\x00" not in data


def conversion_parts(conversion):
    """("PNG 480x320 to JPEG 320x480", [what was done, in order]) from a SourceImage's conversion text."""
    match = re.match(r"^(\w+ \d+x\d+ to JPEG \d+x\d+)(?: \((.*)\))?$", conversion)
    assert match, conversion
    return match.group(1), match.group(2).split(", ") if match.group(2) else []


def assert_conversion(conversion, head, *steps):
    """The conversion says head and these steps; an int n stands for the turn of Orientation n, whatever its
    punctuation."""
    found_head, found_steps = conversion_parts(conversion)
    assert found_head == head, conversion
    assert len(found_steps) == len(steps), conversion
    for found, step in zip(found_steps, steps):
        if isinstance(step, int):  # the turn: "turned upright" and the Orientation it undid
            assert re.match(r"^turned upright\W+EXIF Orientation %d$" % step, found), conversion
        else:
            assert found == step, conversion


@pytest.fixture
def no_pillow(monkeypatch):
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError: No module named 'PIL'")


# ---- with Pillow: upright before anything else ----

def test_orientation_6_is_turned_upright(tmp_path):
    data = jpeg(stored(6), orientation=6)
    assert decoded(data).size == (480, 320) and jpeg_orientation(data) == 6
    path = write(tmp_path, "phone.jpg", data)
    warnings = []
    source = load_source(path, warn=warnings.append)
    assert (source.info.width, source.info.height) == (320, 480)
    assert_conversion(source.conversion, "JPEG 480x320 to JPEG 320x480", 6)
    assert source.warning is None and warnings == []
    assert source.file_sha256 == sha(data) and source.sha256 == sha(source.data) != sha(data)
    assert_upright(source.data)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_orientation_is_turned_upright(orientation, tmp_path):
    source = load_source(write(tmp_path, "o%d.jpg" % orientation, jpeg(stored(orientation), orientation=orientation)))
    size = "320x480" if orientation < 5 else "480x320"
    assert_conversion(source.conversion, "JPEG %s to JPEG 320x480" % size, orientation)
    assert_upright(source.data)


@pytest.mark.parametrize("orientation", [1, None])
def test_an_upright_jpeg_is_sent_byte_for_byte(orientation, tmp_path):
    data = jpeg(upright(), orientation=orientation, gps=orientation == 1)
    path = write(tmp_path, "upright.jpg", data)
    source = load_source(path)
    assert source.data == data and source.sha256 == sha(data) == source.file_sha256
    assert (source.conversion, source.warning) == (None, None)
    assert (source.info.width, source.info.height) == (320, 480)


def test_gps_and_all_exif_are_gone_after_turning(tmp_path):
    data = jpeg(stored(6), orientation=6, gps=True)
    assert decoded(data).getexif().get_ifd(0x8825)[1] == "N"  # the source does carry a location
    source = load_source(write(tmp_path, "gps.jpg", data))
    assert_upright(source.data)
    assert b"PhoneMaker" not in source.data and decoded(source.data).getexif().get_ifd(0x8825) == {}


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_orientation_of_other_formats_is_applied_too(fmt, tmp_path):
    data = jpeg(stored(6), orientation=6, fmt=fmt)
    assert decoded(data).getexif().get(ORIENTATION) == 6
    source = load_source(write(tmp_path, "phone." + fmt.lower(), data))
    assert_upright(source.data)
    if fmt == "TIFF":
        # Pillow turns a TIFF while it opens it (the tag is gone after load()): upright, but not said.
        assert source.conversion.startswith("TIFF 320x480 to JPEG 320x480")
    else:
        assert_conversion(source.conversion, "%s 480x320 to JPEG 320x480" % fmt, 6)


def test_an_upright_jpeg_over_max_bytes_is_re_encoded_without_exif(tmp_path):
    data = jpeg(upright(), orientation=1, gps=True)
    source = load_source(write(tmp_path, "big.jpg", data), max_bytes=len(data) - 1)
    assert source.data != data and len(source.data) <= len(data) - 1
    assert len(decoded(source.data).getexif()) == 0


# ---- convert=false, and without Pillow ----

def test_convert_false_sends_a_turned_jpeg_as_it_is_with_a_warning(tmp_path):
    data = jpeg(stored(6), orientation=6)
    warnings = []
    source = load_source(write(tmp_path, "phone.jpg", data), convert=False, warn=warnings.append)
    assert source.data == data and source.conversion is None
    assert (source.info.width, source.info.height) == (480, 320)
    assert warnings == [source.warning]
    assert "EXIF Orientation 6 is sent as it is because convert=false" in source.warning
    assert "will appear turned" in source.warning


def test_without_pillow_a_turned_jpeg_is_refused_with_convert(tmp_path, no_pillow):
    path = write(tmp_path, "phone.jpg", jpeg(stored(6), orientation=6))
    with pytest.raises(MissingLibraryError) as caught:
        load_source(path)
    assert caught.value.library == "Pillow"
    assert caught.value.msg.startswith("Pillow is needed for src %s: its EXIF Orientation is 6, so it must be turned "
                                       "upright" % path)
    assert "pip install Pillow" in caught.value.msg and "convert=false" in caught.value.msg


def test_without_pillow_a_turned_jpeg_is_sent_as_it_is_with_convert_false(tmp_path, no_pillow):
    data = jpeg(stored(8), orientation=8)
    warnings = []
    source = load_source(write(tmp_path, "phone.jpg", data), convert=False, warn=warnings.append)
    assert source.data == data and warnings == [source.warning]
    assert "EXIF Orientation 8" in source.warning


@pytest.mark.parametrize("orientation", [1, None])
def test_without_pillow_an_upright_jpeg_is_sent_as_it_is(orientation, tmp_path, no_pillow):
    data = jpeg(upright(), orientation=orientation)
    warnings = []
    source = load_source(write(tmp_path, "upright.jpg", data), warn=warnings.append)
    assert source.data == data and (source.conversion, source.warning, warnings) == (None, None, [])


# ---- crop and max_dimension ----

def test_max_dimension_after_turning(tmp_path):
    source = load_source(write(tmp_path, "phone.jpg", jpeg(stored(6), orientation=6)),
                         preparation=Preparation(max_dimension=240))
    assert_conversion(source.conversion, "JPEG 480x320 to JPEG 160x240", 6, "scaled to max_dimension 240")
    assert_upright(source.data, (160, 240))


def test_max_dimension_is_judged_on_the_upright_size(tmp_path):
    # 480x320 stored, 320x480 shown: within max_dimension 480 either way, but still turned.
    source = load_source(write(tmp_path, "phone.jpg", jpeg(stored(6), orientation=6)),
                         preparation=Preparation(max_dimension=480))
    assert_conversion(source.conversion, "JPEG 480x320 to JPEG 320x480", 6)


def test_within_max_dimension_is_sent_as_it_is(tmp_path):
    data = jpeg(upright())
    assert load_source(write(tmp_path, "a.jpg", data), preparation=Preparation(max_dimension=480)).data == data
    scaled = load_source(write(tmp_path, "b.jpg", data), preparation=Preparation(max_dimension=479))
    assert (scaled.info.width, scaled.info.height) == (319, 479)


def test_crop_square(tmp_path):
    source = load_source(write(tmp_path, "phone.jpg", jpeg(stored(6), orientation=6)),
                         preparation=Preparation("square", 100))
    assert_conversion(source.conversion, "JPEG 480x320 to JPEG 100x100", 6, "square crop", "scaled to max_dimension 100")
    image = decoded(source.data).convert("RGB")
    assert image.size == (100, 100) and len(decoded(source.data).getexif()) == 0
    # the centred square of the upright 320x480 starts at row 80: past the red band's 120 rows, blue at the bottom
    assert close(image.getpixel((50, 5)), RED) and close(image.getpixel((50, 95)), BLUE)


def test_crop_square_on_a_square_jpeg_is_sent_as_it_is(tmp_path):
    data = jpeg(upright((200, 200)))
    assert load_source(write(tmp_path, "sq.jpg", data), preparation=Preparation("square")).data == data


@pytest.mark.parametrize("preparation, reason", [
    (Preparation("square"), "crop=square and it is 320x480"),
    (Preparation("face"), "crop=face"),
    (Preparation(max_dimension=100), "it is 320x480, over max_dimension 100"),
])
def test_reshaping_needs_convert(preparation, reason, tmp_path):
    path = write(tmp_path, "a.jpg", jpeg(upright()))
    with pytest.raises(SourceImageError) as caught:
        load_source(path, convert=False, preparation=preparation)
    assert caught.value.msg == ("src %s cannot be sent as it is: %s. Allow conversion (convert=true, needs Pillow) or "
                                "prepare the image yourself." % (path, reason))


@pytest.mark.parametrize("preparation", [Preparation("square"), Preparation("face"), Preparation(max_dimension=100)])
def test_reshaping_needs_pillow(preparation, tmp_path, no_pillow):
    with pytest.raises(MissingLibraryError) as caught:
        load_source(write(tmp_path, "a.jpg", jpeg(upright())), preparation=preparation)
    assert caught.value.library == "Pillow" and "so it must be converted" in caught.value.msg


# ---- min_dimension, on the size that would be sent ----

def test_min_dimension_after_a_square_crop(tmp_path):
    path = write(tmp_path, "wide.jpg", jpeg(Image.new("RGB", (100, 40), RED)))
    with pytest.raises(SourceImageError) as caught:
        load_source(path, preparation=Preparation.from_options("square", None, 48))
    assert caught.value.msg.startswith("src %s is refused: it is 40x40 pixels, under min_dimension 48" % path)


def test_min_dimension_is_checked_on_the_prepared_size(tmp_path):
    # 100x60 passes min_dimension 48 as stored; scaled to max_dimension 50 it is 50x30, and refused.
    path = write(tmp_path, "a.jpg", jpeg(Image.new("RGB", (100, 60), RED)))
    assert load_source(path, preparation=Preparation.from_options("none", None, 48)).info.width == 100
    with pytest.raises(SourceImageError, match="it is 50x30 pixels, under min_dimension 48"):
        load_source(path, preparation=Preparation.from_options("none", 50, 48))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_tiny_photo_is_refused_by_default(fmt, tmp_path):
    data = jpeg(Image.new("RGB", (23, 23), RED), fmt=fmt)
    path = write(tmp_path, "tiny." + fmt.lower(), data)
    default = Preparation.from_options("none", None, None)
    with pytest.raises(SourceImageError) as caught:
        load_source(path, preparation=default)
    assert "it is 23x23 pixels, under min_dimension 48" in caught.value.msg
    assert "set min_dimension=0 to send it anyway" in caught.value.msg
    problem = source_problem(path, preparation=default)
    if fmt == "PNG":  # its IHDR is in the first bytes: refused while planning
        assert problem.msg == caught.value.msg
    else:  # a JPEG's frame header may come late: left to load_source
        assert problem is None
    allowed = load_source(path, preparation=Preparation.from_options("none", None, 0))
    assert (allowed.info.width, allowed.info.height) == (23, 23)
    if fmt == "JPEG":
        assert allowed.data == data


def test_min_dimension_without_pillow(tmp_path, no_pillow):
    path = write(tmp_path, "tiny.jpg", jpeg(Image.new("RGB", (23, 23), RED)))
    with pytest.raises(SourceImageError, match="under min_dimension 48"):
        load_source(path, preparation=Preparation.from_options("none", None, None))


# ---- determinism ----

def test_same_input_and_options_give_the_same_bytes(tmp_path):
    path = write(tmp_path, "phone.jpg", jpeg(stored(6), orientation=6, gps=True))
    preparation = Preparation("square", 200)
    first = load_source(path, preparation=preparation).data
    assert load_source(path, preparation=Preparation("square", 200)).data == first
    code = ("import sys, hashlib\n"
            "from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source\n"
            "from ansible_collections.o365.outlook.plugins.module_utils.photo._prepare import Preparation\n"
            "data = load_source(sys.argv[1], preparation=Preparation('square', 200)).data\n"
            "sys.stdout.write(hashlib.sha256(data).hexdigest())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYTHONHASHSEED="4242")
    done = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == sha(first)


# ---- comparison of what people see ----

def test_a_current_photo_stored_turned_compares_equal_to_the_upright_one():
    wanted = jpeg(upright())
    current = jpeg(stored(6), orientation=6)
    assert decoded(current).size == (480, 320)
    verdict = compare_photos(wanted, sha(wanted), current, sha(current), mode="pixels")
    assert verdict.same and verdict.method == "pixels" and verdict.distance < 4
    # The same pixels without the Orientation tag are a different picture (another shape).
    bare = jpeg(stored(6))
    assert not compare_photos(wanted, sha(wanted), bare, sha(bare), mode="pixels").same
    # And a wrong Orientation shows the picture upside down: different.
    wrong = jpeg(stored(6), orientation=8)
    assert pixel_distance(wanted, wrong) > 16


def test_what_is_sent_compares_equal_to_the_file_and_to_the_service_copy(tmp_path):
    data = jpeg(stored(6), orientation=6)
    sent = load_source(write(tmp_path, "phone.jpg", data)).data
    service_copy = jpeg(decoded(sent).convert("RGB"))  # the service re-encodes, EXIF-less
    assert compare_photos(sent, sha(sent), service_copy, sha(service_copy), mode="pixels").same
    assert compare_photos(sent, sha(sent), data, sha(data), mode="pixels").same


def long_typed_orientation_jpeg():
    """A JPEG whose Orientation 6 is stored as a LONG: Pillow (and so the comparison) turns it."""
    plain = jpeg(stored(6))
    tiff = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHI", ORIENTATION, 4, 1) + struct.pack(">I", 6)
    body = b"Exif\x00\x00" + tiff + b"\x00" * 4
    return plain[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + plain[2:]


def test_an_orientation_pillow_honours_is_put_into_the_pixels(tmp_path):
    data = long_typed_orientation_jpeg()
    assert decoded(data).getexif().get(ORIENTATION) == 6
    sent = load_source(write(tmp_path, "long.jpg", data)).data
    service_copy = jpeg(decoded(sent).convert("RGB"))
    # With the rule "upright before comparison and upload", a rerun against the service's copy is a no-op.
    assert compare_photos(sent, sha(sent), service_copy, sha(service_copy), mode="pixels").same
