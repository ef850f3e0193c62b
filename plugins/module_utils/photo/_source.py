# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""From a source (a file's path, or base64 content) to the bytes that are compared and sent.

Every source is checked whole first (_image.py: the pixel limit from the header, the JPEG or PNG structure, with
Pillow a full decode). A JPEG within 4 MB that needs nothing done is then sent exactly as it is, so that no tenant
gets a mass re-upload: upright (no EXIF Orientation, or 1), within max_dimension, square or crop=none. Anything else
is decoded, turned upright, flattened on white, prepared (_prepare.py) and encoded as JPEG; the encoding carries no
EXIF, so no GPS location either. Same file, same options, same bytes: reruns stay idempotent.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Callable, Optional, Tuple, Union

from ..common._errors import MissingLibraryError, OutlookError, SourceImageError
from ._content import ImageContent
from ._exif import SWAPS_SIDES, UPRIGHT, jpeg_orientation
from ._image import (MAX_IMAGE_PIXELS, MAX_PHOTO_BYTES, ImageInfo, SourceImage, inspect_image,
                     open_source, read_source_bytes, sniff_format, structure_problem)
from ._pillow import ImageTooLarge, UndecodableImage, decode_image, flatten_on_white, load_pillow, pillow_available
from ._prepare import AS_GIVEN, Preparation

if TYPE_CHECKING:
    from PIL.Image import Image

# Where an image comes from: the path of a file on the host that runs the module, or base64 text.
Source = Union[str, ImageContent, None]

# What source_problem reads of a file: every format's magic bytes (sniff_format) and a PNG's IHDR chunk.
_HEADER_BYTES = 32
_ORIENTATION_TAG = 0x0112
# Formats Pillow can usually open; they are converted to JPEG rather than refused.
CONVERTIBLE = ("gif", "bmp", "webp", "tiff")
JPEG_QUALITY = 90


def source_name(source: Source) -> str:
    """How messages name a source: "src <path>", or the content's label."""
    if isinstance(source, ImageContent):
        return source.label
    return "src %s" % source


def _path(source: Source) -> Optional[str]:
    """What an error's src field says: the path, never base64 content."""
    return source if isinstance(source, str) else None


def source_bytes(source: Source) -> bytes:
    """The bytes of a source: a file read whole (see _image.open_source), or content decoded."""
    if isinstance(source, ImageContent):
        return source.decoded()
    return read_source_bytes(source)


def source_problem(source: Source, convert: bool = True, preparation: Preparation = AS_GIVEN) -> OutlookError | None:
    """The error load_source would raise for a source, as far as a file's metadata and first bytes tell, or None.

    A sync asks this while planning, so that a user whose source is missing, a link, not a regular file, unreadable,
    too large, too small or not an image this module takes fails before any request is sent for that user. Content
    is decoded for this and not kept. What only the whole file shows (a JPEG's dimensions, damage further in) is left
    to load_source.
    """
    try:
        if isinstance(source, ImageContent):
            header = source.decoded()[:_HEADER_BYTES]
        else:
            handle = open_source(source)
            with handle:
                header = handle.read(_HEADER_BYTES)
    except SourceImageError as exc:
        return exc
    except OSError as exc:
        return SourceImageError("src %s cannot be read: %s." % (source, exc.strerror), _path(source))
    image_format = sniff_format(header)
    name = source_name(source)
    try:
        if image_format == "png":
            # IHDR, in the first bytes: the pixel limit, and min_dimension (preparing never makes the shorter side larger)
            info = _checked_info(source, header, image_format)
            _check_size(source, preparation, info.width, info.height)
        elif image_format != "jpeg":  # a JPEG's frame header may come after a large EXIF block: load_source reads it
            _allow_conversion(name, _path(source), _format_reason(source, image_format), convert)
    except (SourceImageError, MissingLibraryError) as exc:
        return exc
    return None


def source_sha256(source: Source) -> str | None:
    """SHA-256 of a source's bytes as given (what load_source records as file_sha256), without decoding the image;
    None when it cannot be read (load_source then says why)."""
    try:
        return hashlib.sha256(source_bytes(source)).hexdigest()
    except SourceImageError:
        return None


def load_source(source: Source, max_bytes: int = MAX_PHOTO_BYTES, convert: bool = True,
                warn: Optional[Callable[[str], None]] = None, preparation: Preparation = AS_GIVEN) -> SourceImage:
    """A SourceImage ready to compare and upload, or SourceImageError naming the problem and the fix.

    The service documents only JPEG, so with convert and Pillow a PNG becomes a JPEG (transparency on white); without
    them it is sent as image/png, and the SourceImage's warning (also passed to warn) names the risk. A JPEG whose EXIF
    Orientation is not 1 is turned upright with convert and Pillow, refused with convert but no Pillow, and sent as it
    is with a warning with convert=false. Other formats, images over max_bytes and the preparation's crop and
    max_dimension need convert and Pillow. Every check happens before any request is sent. Raises nothing but
    SourceImageError and MissingLibraryError.
    """
    data = source_bytes(source)  # at most MAX_SOURCE_BYTES, for a file and for content alike
    image = _prepared_source(source, data, max_bytes, convert, preparation)
    if image.warning is not None and warn is not None:
        warn(image.warning)
    image.file_sha256 = hashlib.sha256(data).hexdigest()
    return image


def _prepared_source(source: Source, data: bytes, max_bytes: int, convert: bool, preparation: Preparation) -> SourceImage:
    """load_source's work on the bytes of a source."""
    name, path = source_name(source), _path(source)
    image_format = sniff_format(data)
    if image_format not in ("jpeg", "png"):
        reason = _format_reason(source, image_format)
    else:
        info = _checked_info(source, data, image_format)
        problem = structure_problem(data, image_format)
        if problem:
            raise SourceImageError("%s is a %s file that is truncated or corrupt: %s." % (name, image_format.upper(), problem), path)
        orientation = jpeg_orientation(data) if image_format == "jpeg" else None
        turned = orientation not in (None, UPRIGHT)
        upright = (info.height, info.width) if orientation in SWAPS_SIDES else (info.width, info.height)
        reason = preparation.change_needed(*upright)
        if reason is None and len(data) > max_bytes:
            reason = "%d bytes is over the service's limit of %d bytes (4 MB)" % (len(data), max_bytes)
        if reason is None and turned and convert:
            load_pillow("%s: its EXIF Orientation is %d, so it must be turned upright before it is sent (or set "
                        "convert=false to send it as it is, shown turned)" % (name, orientation))
            reason = "EXIF Orientation %d" % orientation
        if reason is None and image_format == "png" and convert and pillow_available():
            return _convert_to_jpeg(source, data, image_format, max_bytes, preparation)
        if reason is None:
            return _as_it_is(source, data, info, image_format, convert, orientation, preparation)
    _allow_conversion(name, path, reason, convert)
    return _convert_to_jpeg(source, data, image_format, max_bytes, preparation)


def _as_it_is(source: Source, data: bytes, info: ImageInfo, image_format: str, convert: bool,
              orientation: Optional[int], preparation: Preparation) -> SourceImage:
    """A JPEG or PNG sent exactly as it is, decoded once more as a check (with Pillow)."""
    name, path = source_name(source), _path(source)
    _check_size(source, preparation, info.width, info.height)
    if pillow_available():
        # The whole file that is about to be sent as it is (a JPEG at reduced scale: same data read).
        _decoded(source, data, image_format, reduce=True)
    if orientation not in (None, UPRIGHT):
        warning = ("a JPEG with EXIF Orientation %d is sent as it is because convert=false: the service shows its "
                   "pixels as they are, so the photo will appear turned. Keep convert=true (needs Pillow) to send it "
                   "upright." % orientation)
        return SourceImage(path, data, info, warning=warning)
    if image_format != "png":
        return SourceImage(path, data, info)
    why = "Pillow is not installed" if convert else "convert=false"
    warning = ("%s is a PNG and is sent as image/png because %s: the service's documentation requires JPEG "
               "(image/jpeg) and a tenant may refuse PNG uploads with 400. Install Pillow and keep convert=true to send "
               "JPEG, or convert the file to JPEG yourself." % (name, why))
    return SourceImage(path, data, info, warning=warning)


def _check_size(source: Source, preparation: Preparation, width: int, height: int) -> None:
    """SourceImageError when a photo of this size (as it would be sent) is under min_dimension."""
    problem = preparation.size_problem(width, height)
    if problem:
        raise SourceImageError("%s is refused: %s." % (source_name(source), problem), _path(source))


def _checked_info(source: Source, data: bytes, image_format: str) -> ImageInfo:
    """The header facts of a JPEG or PNG, refused when the header cannot be read or declares too many pixels."""
    info = inspect_image(data)
    if info is None:
        raise SourceImageError("%s looks like %s but its header cannot be read: the file is truncated or corrupt."
                               % (source_name(source), image_format.upper()), _path(source))
    if info.width * info.height > MAX_IMAGE_PIXELS:
        raise _too_large(source, image_format, ImageTooLarge((info.width, info.height), MAX_IMAGE_PIXELS))
    return info


def _format_reason(source: Source, image_format: str | None) -> str:
    """Why a file that is neither JPEG nor PNG must be converted; SourceImageError when it cannot be at all."""
    if image_format in CONVERTIBLE:
        return "the service takes JPEG or PNG, not %s" % image_format.upper()
    found = ("a %s image" % image_format.upper()) if image_format else "not an image this module knows"
    raise SourceImageError("%s is %s: the service takes JPEG or PNG. Convert it to JPEG first." % (source_name(source), found),
                           _path(source))


def _allow_conversion(name: str, path: Optional[str], reason: str, convert: bool) -> None:
    """SourceImageError without convert, MissingLibraryError without Pillow: an image that cannot be sent as it is."""
    if not convert:
        raise SourceImageError("%s cannot be sent as it is: %s. Allow conversion (convert=true, needs Pillow) "
                               "or prepare the image yourself." % (name, reason), path)
    load_pillow("%s: %s, so it must be converted" % (name, reason))


def _too_large(source: Source, image_format: str, exc: ImageTooLarge) -> SourceImageError:
    return SourceImageError("%s is a %s image of %s: refused before decoding, to protect the host's memory. "
                            "Scale it down first (the largest size the service serves is 648x648)."
                            % (source_name(source), image_format.upper(), exc.problem), _path(source))


def _decoded(source: Source, data: bytes, image_format: str, reduce: bool = False) -> Image:
    """decode_image() of the source, its failures as SourceImageError."""
    try:
        return decode_image(data, MAX_IMAGE_PIXELS, reduce=reduce)
    except ImageTooLarge as exc:
        raise _too_large(source, image_format, exc) from None
    except UndecodableImage as exc:
        raise SourceImageError("%s is a %s file that cannot be decoded (%s): the file is damaged." % (
            source_name(source), image_format.upper(), exc.problem), _path(source)) from None


def _open_image(source: Source, data: bytes, image_format: str) -> Tuple[Image, Tuple[int, int], Optional[int]]:
    """(the whole image decoded, upright and flattened on white, as RGB; its stored size; its EXIF Orientation when
    not 1); SourceImageError otherwise."""
    load_pillow()
    from PIL import ImageOps  # pylint: disable=import-outside-toplevel
    image = _decoded(source, data, image_format)
    stored = image.size
    try:
        # Camera photos store their rotation in EXIF (JPEG, and also PNG, WebP, TIFF); the service shows the pixels
        # as they are.
        orientation = image.getexif().get(_ORIENTATION_TAG)
        image = ImageOps.exif_transpose(image)
        return flatten_on_white(image), stored, (orientation if orientation in range(2, 9) else None)
    except Exception as exc:  # pylint: disable=broad-except
        # A damaged EXIF block or an unusual pixel mode: Pillow raises many types for these.
        raise SourceImageError("%s is a %s file that cannot be converted (%s)." % (
            source_name(source), image_format.upper(), " ".join(str(exc).split()) or type(exc).__name__), _path(source)) from None


def _encode_jpeg(image: Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _convert_to_jpeg(source: Source, data: bytes, image_format: str, max_bytes: int, preparation: Preparation) -> SourceImage:
    """Decoded, upright, prepared and encoded as JPEG, scaled down until it fits."""
    image_module = load_pillow()
    resample = getattr(image_module, "Resampling", image_module).LANCZOS
    name, path = source_name(source), _path(source)
    image, stored, orientation = _open_image(source, data, image_format)
    try:
        image, done, warning = preparation.apply(image)
        _check_size(source, preparation, image.width, image.height)
        encoded = _encode_jpeg(image)
        rounds = 0
        while len(encoded) > max_bytes:
            rounds += 1
            if rounds > 12:
                raise SourceImageError("%s could not be brought under %d bytes." % (name, max_bytes), path)
            # JPEG size grows roughly with the pixel count: aim a little under the limit.
            scale = min(0.9, (max_bytes / float(len(encoded))) ** 0.5 * 0.95)
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            image = image.resize(size, resample)
            encoded = _encode_jpeg(image)
    except SourceImageError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise SourceImageError("%s could not be converted to JPEG (%s)." % (
            name, " ".join(str(exc).split()) or type(exc).__name__), path) from None
    if orientation is not None:
        done.insert(0, "turned upright - EXIF Orientation %d" % orientation)
    conversion = "%s %dx%d to JPEG %dx%d" % (image_format.upper(), stored[0], stored[1], image.width, image.height)
    if done:
        conversion += " (%s)" % ", ".join(done)
    return SourceImage(path, encoded, ImageInfo("jpeg", image.width, image.height), conversion=conversion, warning=warning)
