# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Pillow, imported only by the features that need it (pixel comparison, conversion, downscaling, full decoding).

decode_image() is the one guarded way this collection decodes bytes: a pixel limit checked from the header
before any pixel is decoded (PIL.Image.MAX_IMAGE_PIXELS is left alone), the whole image decoded, truncated data
an error even when PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set, and every exception Pillow can raise for broken
or hostile input turned into UndecodableImage. Several threads may decode at once. header_size() reads a file's
declared size without decoding it (what the many-user run's pixel budget needs before a decode).
flatten_on_white() is the one way a decoded image becomes RGB (the conversion to JPEG and both sides of the pixel
comparison), so that every Pillow mode shows the same picture whichever side it is on.
"""

from __future__ import annotations

import contextlib
import io
import threading
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO, Iterator

from ..common._errors import MissingLibraryError

if TYPE_CHECKING:
    from PIL.Image import Image

_PILLOW = None
_PILLOW_ERROR = None

# The formats decode_image() lets Pillow try. Image.open() would otherwise try every plugin it has, some of
# which hand the data to external programs (EPS runs Ghostscript) - not for bytes a service sent. JPEG covers
# MPO (camera multi-picture JPEG) too.
DECODE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")

# Modes that carry an alpha channel; other modes may carry transparency in info["transparency"] (a palette
# index, a grey level or an RGB colour from a PNG tRNS chunk, a GIF transparent index).
_ALPHA_MODES = frozenset(("RGBA", "RGBa", "LA", "La", "PA"))

_WHITE = (255, 255, 255, 255)


def pillow_available() -> bool:
    return load_pillow(required=None) is not None


def load_pillow(required: str | None = "this feature") -> ModuleType | None:
    """The PIL.Image module, or None (required=None) / MissingLibraryError naming what needed it."""
    global _PILLOW, _PILLOW_ERROR  # pylint: disable=global-statement
    if _PILLOW is None and _PILLOW_ERROR is None:
        try:
            from PIL import Image  # pylint: disable=import-outside-toplevel
        except ImportError:
            _PILLOW_ERROR = traceback.format_exc()
        else:
            _PILLOW = Image
    if _PILLOW is None and required:
        raise MissingLibraryError("Pillow is needed for %s (pip install Pillow)" % required, "Pillow", _PILLOW_ERROR)
    return _PILLOW


class UndecodableImage(Exception):
    """The bytes do not decode to a whole image; problem says why, in a few words."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class ImageTooLarge(UndecodableImage):
    """The header declares more pixels than the limit; nothing was decoded. size is None when Pillow's own
    decompression-bomb guard refused the image before its size could be read."""

    def __init__(self, size: tuple[int, int] | None, limit: int) -> None:
        if size:
            problem = "%dx%d pixels (%d), over the limit of %d pixels" % (size[0], size[1], size[0] * size[1], limit)
        else:
            problem = "a size past Pillow's own decompression-bomb guard, so over the limit of %d pixels" % limit
        super().__init__(problem)
        self.size = size
        self.limit = limit


_STRICT_LOCK = threading.Lock()
_strict_users = 0
_saved_load_truncated = False


@contextlib.contextmanager
def _strict_decoding(image_file: ModuleType) -> Iterator[None]:
    """PIL.ImageFile.LOAD_TRUNCATED_IMAGES off while any of this collection's decodes runs, restored after the last.

    With that process-wide flag set, Pillow pads a cut image and ignores decoder errors. It is module state, read
    by Pillow during open() and load(), so it cannot be passed per call; threads share one count, so a decode in
    one thread never restores the flag under another one still running.
    """
    global _strict_users, _saved_load_truncated  # pylint: disable=global-statement
    with _STRICT_LOCK:
        if _strict_users == 0:
            _saved_load_truncated = image_file.LOAD_TRUNCATED_IMAGES
        image_file.LOAD_TRUNCATED_IMAGES = False
        _strict_users += 1
    try:
        yield
    finally:
        with _STRICT_LOCK:
            _strict_users -= 1
            if _strict_users == 0:
                image_file.LOAD_TRUNCATED_IMAGES = _saved_load_truncated


def _describe(exc: BaseException, image_module: ModuleType) -> str:
    if isinstance(exc, getattr(image_module, "UnidentifiedImageError", ())):
        return "not an image Pillow can read"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def decode_image(data: bytes, max_pixels: int, reduce: bool = False) -> Image:
    """The fully decoded PIL image of data, or UndecodableImage (ImageTooLarge past max_pixels).

    The pixel count comes from the header, before anything is decoded. reduce lets a JPEG decode at 1/8 of its
    width and height: every byte of its image data is still read and entropy-decoded, in 1/64 of the memory;
    for checking only.
    Needs Pillow: call load_pillow() with a message naming the feature first.
    """
    image_module = load_pillow()
    from PIL import ImageFile as image_file  # pylint: disable=import-outside-toplevel
    bomb_errors = tuple(getattr(image_module, name) for name in ("DecompressionBombError", "DecompressionBombWarning")
                        if hasattr(image_module, name))
    try:
        with _strict_decoding(image_file):
            image = image_module.open(io.BytesIO(data), formats=DECODE_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge((width, height), max_pixels)
            if reduce:
                image.draft(None, (1, 1))  # JPEG only; other formats ignore it
            image.load()
    except UndecodableImage:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        if isinstance(exc, bomb_errors):  # Pillow's own guard, or its warning turned into an error
            raise ImageTooLarge(None, max_pixels) from None
        # Pillow raises OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error,
        # MemoryError... for hostile input: all of them mean "not a whole image".
        raise UndecodableImage(_describe(exc, image_module)) from None
    return image


def header_size(source: str | BinaryIO) -> tuple[int, int] | None:
    """(width, height) as the header of the file (a path, or a file opened for reading, which stays open) declares
    them, or None without Pillow or when Pillow cannot tell. Image.open reads only the header (the pixels wait for
    load()), so this costs a few reads of the file."""
    image_module = load_pillow(required=None)
    if image_module is None:
        return None
    try:
        with image_module.open(source, formats=DECODE_FORMATS) as image:
            return image.size
    except Exception:  # pylint: disable=broad-except
        # Not an image, a bomb past Pillow's own guard, a file that went away: the decode itself will say why.
        return None


def flatten_on_white(image: Image) -> Image:
    """The image as RGB, transparent areas white (how mail clients show them), for any Pillow mode."""
    if image.mode in ("I", "F") or image.mode.startswith("I;"):
        return _grey_on_white(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        if image.mode == "La":
            image = image.convert("LA")  # Pillow has no La -> RGBA conversion
        image = image.convert("RGBA")
        background = load_pillow().new("RGBA", image.size, _WHITE)
        background.alpha_composite(image)
        image = background
    if image.mode == "LAB":
        return _lab_to_rgb(image)
    return image.convert("RGB")


def _grey_on_white(image: Image) -> Image:
    """An I, I;16* or F image as RGB. Pillow's own conversion clips these to 0..255, so a 16-bit picture became
    nearly all white."""
    image_module = load_pillow()
    if image.mode == "F":
        return image.convert("L").convert("RGB")  # floats are read as 8-bit levels, clipped to 0..255
    wide = image.convert("I")
    low, high = wide.getextrema()
    # Stretched over the levels the pixels use, not the container's range: a 12-bit scan stored in 16 bits
    # (0..4095) would be nearly black. A flat image has no range; it keeps its level on the 16-bit scale.
    scale = 255.0 / (high - low) if high > low else 255.0 / 65535
    offset = 0.5 - (low * scale if high > low else 0.0)  # point() truncates: round instead
    grey = wide.point(lambda v: v * scale + offset).convert("L")  # I images take only linear maps; L clips
    level = image.info.get("transparency")
    if isinstance(level, int):
        # A PNG tRNS grey level: pixels of exactly that level are transparent, so shown white.
        from PIL import ImageChops  # pylint: disable=import-outside-toplevel
        above = wide.point(lambda v: v + -level).convert("L")
        below = wide.point(lambda v: v * -1 + level).convert("L")
        opaque = ImageChops.lighter(above, below).point(lambda v: 255 if v else 0)
        white = image_module.new("L", grey.size, 255)
        white.paste(grey, mask=opaque)
        grey = white
    return grey.convert("RGB")


def _lab_to_rgb(image: Image) -> Image:
    try:
        return image.convert("RGB")
    except ValueError:
        # Pillow before 9.3 has no LAB -> RGB conversion: the littleCMS transform newer ones use.
        from PIL import ImageCms  # pylint: disable=import-outside-toplevel
        transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        return ImageCms.applyTransform(image, transform)
