# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading and checking the image to upload, without third-party libraries.

Type and dimensions come from the file's own header (JPEG SOF segment, PNG IHDR chunk), so a renamed
or truncated file is caught before anything is sent.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct

from ._errors import SourceImageError
from ._pillow import load_pillow

# "The size of the photo you can update to is limited to 4 MB." (graph-photo-api.md section 3)
MAX_PHOTO_BYTES = 4 * 1024 * 1024

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers that carry the dimensions (not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
# Markers that stand alone, without a length field.
_JPEG_STANDALONE = frozenset([0x01, 0xD8] + list(range(0xD0, 0xD8)))


def sniff_format(data):
    """The image format from magic bytes: jpeg, png, gif, bmp, webp, tiff, heic, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "heic"
    return None


def jpeg_dimensions(data):
    """(width, height) from the first start-of-frame segment, or None if the header is broken."""
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if pos + 9 > size:
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return (width, height) if width and height else None
        pos += 2 + length
    return None


def png_dimensions(data):
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


class ImageInfo:
    __slots__ = ("image_format", "width", "height")

    def __init__(self, image_format, width, height):
        self.image_format = image_format
        self.width = width
        self.height = height

    @property
    def content_type(self):
        return CONTENT_TYPES.get(self.image_format)


def inspect_image(data):
    """ImageInfo for a JPEG or PNG; None for other or unreadable data."""
    image_format = sniff_format(data)
    if image_format == "jpeg":
        dims = jpeg_dimensions(data)
    elif image_format == "png":
        dims = png_dimensions(data)
    else:
        return None
    if dims is None:
        return None
    return ImageInfo(image_format, dims[0], dims[1])


class SourceImage:
    """The bytes that would be uploaded, with their hash and header facts.

    conversion says what was done to the file to make it acceptable (None when sent as is).
    """

    def __init__(self, path, data, info, conversion=None):
        self.path = path
        self.data = data
        self.info = info
        self.conversion = conversion
        self.sha256 = hashlib.sha256(data).hexdigest()

    @property
    def content_type(self):
        return self.info.content_type

    def predicted_metadata(self):
        return dict(id="%dx%d" % (self.info.width, self.info.height), width=self.info.width,
                    height=self.info.height, content_type=self.content_type, etag=None)


def read_source_bytes(path):
    """Reads src, with a clear error for each way a path can be unusable."""
    if not path:
        raise SourceImageError("src is required with state=present: give the path of a JPEG or PNG file.")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceImageError("src %s does not exist on the host that runs the module (with a remote host, "
                               "copy the file there first or run the task on localhost)." % path, path) from None
    except OSError as exc:
        raise SourceImageError("src %s cannot be accessed: %s." % (path, exc.strerror), path) from None
    if not stat.S_ISREG(info.st_mode):
        raise SourceImageError("src %s is not a regular file." % path, path)
    if info.st_size == 0:
        raise SourceImageError("src %s is empty." % path, path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise SourceImageError("src %s cannot be read: %s." % (path, exc.strerror), path) from None


# Formats Pillow can usually open; they are converted to JPEG rather than refused.
CONVERTIBLE = ("gif", "bmp", "webp", "tiff")
JPEG_QUALITY = 90


def load_source(path, max_bytes=MAX_PHOTO_BYTES, convert=True):
    """A SourceImage ready to upload, or SourceImageError naming the problem and the fix.

    JPEG and PNG within max_bytes are sent as they are. With convert (and Pillow), other formats
    become JPEG and larger images are scaled down until they fit; without Pillow that is an error
    that says what to install. Every check happens before any request is sent.
    """
    data = read_source_bytes(path)
    image_format = sniff_format(data)
    if image_format in ("jpeg", "png"):
        info = inspect_image(data)
        if info is None:
            raise SourceImageError("src %s looks like %s but its header cannot be read: the file is truncated or corrupt."
                                   % (path, image_format.upper()), path)
        if len(data) <= max_bytes:
            return SourceImage(path, data, info)
        reason = "%d bytes is over the service's limit of %d bytes (4 MB)" % (len(data), max_bytes)
    elif image_format in CONVERTIBLE:
        reason = "the service takes JPEG or PNG, not %s" % image_format.upper()
    else:
        found = ("a %s image" % image_format.upper()) if image_format else "not an image this module knows"
        raise SourceImageError("src %s is %s: the service takes JPEG or PNG. Convert it to JPEG first." % (path, found), path)

    if not convert:
        raise SourceImageError("src %s cannot be sent as it is: %s. Allow conversion (convert=true, needs Pillow) "
                               "or prepare the file yourself." % (path, reason), path)
    load_pillow("src %s: %s, so it must be converted" % (path, reason))
    return _convert_to_jpeg(path, data, image_format, max_bytes)


def _open_image(path, data, image_format):
    image_module = load_pillow()
    from PIL import ImageOps  # pylint: disable=import-outside-toplevel
    try:
        image = image_module.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise SourceImageError("src %s is a %s file that cannot be decoded (%s): the file is damaged." % (
            path, image_format.upper(), exc), path) from None
    # Camera photos store their rotation in EXIF; the service shows the pixels as they are.
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        flat = image_module.new("RGBA", image.size, (255, 255, 255, 255))
        flat.alpha_composite(image)
        image = flat
    return image.convert("RGB")


def _encode_jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _convert_to_jpeg(path, data, image_format, max_bytes):
    """Re-encodes as JPEG, scaling down until it fits. Same input, same bytes: reruns stay idempotent."""
    image_module = load_pillow()
    resample = getattr(image_module, "Resampling", image_module).LANCZOS
    image = _open_image(path, data, image_format)
    original = image.size
    encoded = _encode_jpeg(image)
    rounds = 0
    while len(encoded) > max_bytes:
        rounds += 1
        if rounds > 12:
            raise SourceImageError("src %s could not be brought under %d bytes." % (path, max_bytes), path)
        # JPEG size grows roughly with the pixel count: aim a little under the limit.
        scale = min(0.9, (max_bytes / float(len(encoded))) ** 0.5 * 0.95)
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        image = image.resize(size, resample)
        encoded = _encode_jpeg(image)
    conversion = "%s %dx%d to JPEG %dx%d" % (image_format.upper(), original[0], original[1], image.width, image.height)
    return SourceImage(path, encoded, ImageInfo("jpeg", image.width, image.height), conversion=conversion)
