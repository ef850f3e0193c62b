# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo bytes for the emulator: inspect, re-encode and resize with Pillow, and make small deterministic images."""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageOps

# Pillow raises a zoo of exception types for broken or hostile input; all of them mean "not an image".
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, Image.DecompressionBombError)


class ImageError(ValueError):
    """The bytes are not an image Pillow can decode."""


def mime_of(pillow_format: str | None) -> str:
    """Content type of a Pillow format name (JPEG -> image/jpeg)."""
    return Image.MIME.get(pillow_format or "", "application/octet-stream")


def inspect(data: bytes, full: bool = True) -> tuple[str, int, int]:
    """Return (content type, width, height) of an image.

    full=True decodes every pixel, which also catches truncated files (used for uploads through the API);
    full=False only parses the header, which is what bulk seeding of thousands of users can afford.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if full:
                img.load()
            return mime_of(img.format), img.width, img.height
    except _DECODE_ERRORS as exc:
        raise ImageError(str(exc) or type(exc).__name__) from exc


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def reencode_jpeg(data: bytes, quality: int = 80, orientation: str = "ignore") -> bytes:
    """Decode and encode again as an RGB JPEG: the stored bytes then differ from the uploaded ones, as on the real service.

    EXIF is dropped either way. orientation "apply" (the behaviour reencode_orientation) first turns the pixels upright
    as the EXIF Orientation tag says, so width and height swap for orientations 5-8; "ignore" keeps them as stored.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            return _encode_jpeg(ImageOps.exif_transpose(img) if orientation == "apply" else img, quality)
    except _DECODE_ERRORS as exc:
        raise ImageError(str(exc) or type(exc).__name__) from exc


def resized_jpeg(data: bytes, width: int, height: int, quality: int = 85) -> bytes:
    """The image scaled (and centre-cropped when the aspect differs) to width x height, as a JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fitted = ImageOps.fit(img.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
            return _encode_jpeg(fitted, quality)
    except _DECODE_ERRORS as exc:
        raise ImageError(str(exc) or type(exc).__name__) from exc


def _picture(width: int, height: int, seed: int) -> Image.Image:
    """A simple picture whose colours follow from seed, so different seeds give different bytes."""
    background = ((seed * 67 + 40) % 256, (seed * 131 + 90) % 256, (seed * 197 + 160) % 256)
    accent = (255 - background[0], 255 - background[1], 255 - background[2])
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=accent)
    draw.rectangle((0, 0, max(1, width // 8), max(1, height // 8)), fill=(seed % 256, 0, 0))
    return img


@functools.lru_cache(maxsize=256)
def make_jpeg(width: int, height: int, seed: int = 0, quality: int = 85) -> bytes:
    """A small deterministic JPEG (same arguments, same bytes within one Pillow version)."""
    return _encode_jpeg(_picture(width, height, seed), quality)


@functools.lru_cache(maxsize=64)
def make_png(width: int, height: int, seed: int = 0) -> bytes:
    """A small deterministic PNG."""
    out = io.BytesIO()
    _picture(width, height, seed).save(out, format="PNG")
    return out.getvalue()
