# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading and checking the image to upload.

Type and dimensions come from the file's own header (JPEG SOF segment, PNG IHDR chunk), so a renamed file is
caught before anything is sent. The whole file is then checked before it may be sent: the pixel limit from the
header, the file's structure (JPEG markers through the end-of-image marker, PNG chunk CRCs through IEND, no
third-party library needed), and with Pillow a full decode.

A source is a regular file, opened without following a symbolic link (open_source). source_problem() tells from a
file's metadata and first bytes what load_source would refuse, so that a sync can refuse it while planning.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import struct
import zlib
from typing import TYPE_CHECKING, BinaryIO, Callable, Optional, Tuple

from ..common._errors import MissingLibraryError, OutlookError, SourceImageError
from ._pillow import ImageTooLarge, UndecodableImage, decode_image, flatten_on_white, load_pillow, pillow_available

if TYPE_CHECKING:
    from PIL.Image import Image

# (width, height) in pixels, from a file's header.
Dimensions = Tuple[int, int]

# "The size of the photo you can update to is limited to 4 MB." (graph-photo-api.md section 3)
MAX_PHOTO_BYTES = 4 * 1024 * 1024

# Images whose header declares more pixels than this are refused before anything is decoded (decompression
# bombs: a few KB of PNG can declare 50000x50000). 50 million admits any real photo, even a heavily compressed
# 4 MB JPEG from a ~50 MP camera, while the largest size the service serves is 648x648. Pillow holds a decoded RGB
# pixel in 4 bytes, so one image at the limit costs about 200 MB to convert (a JPEG sent as it is is checked at
# 1/8 scale, a 64th of that), and a sync's writers decode within one shared pixel budget (_pixel_budget.py).
# Checked by this collection itself: Pillow's PIL.Image.MAX_IMAGE_PIXELS (about 89 million, process-wide) is left
# alone.
MAX_IMAGE_PIXELS = 50 * 1000 * 1000
# Largest source file read at all: an uncompressed 50-megapixel image with alpha is 200 MB, so anything bigger
# cannot be a usable photo, and reading it would only fill the host's memory (a wrong file, a disk image).
MAX_SOURCE_BYTES = 256 * 1024 * 1024

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}

# How a source is opened. O_NOFOLLOW: a symbolic link is refused, never followed, since a link in a photo folder could
# make the module upload any file the host can read. O_NONBLOCK: a FIFO put in the file's place since it was checked
# cannot hang the open (it is then refused by fstat).
_SOURCE_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
# What source_problem reads of a file: every format's magic bytes (sniff_format) and a PNG's IHDR chunk.
_HEADER_BYTES = 32
# Kinds of files that are not regular, in the words of errors and of the sync's skipped_files.
_SPECIAL_KINDS = ((stat.S_ISLNK, "symbolic link"), (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"),
                  (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers that carry the dimensions (not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
# Markers that stand alone, without a length field.
_JPEG_STANDALONE = frozenset([0x01, 0xD8] + list(range(0xD0, 0xD8)))


def sniff_format(data: bytes) -> str | None:
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


def jpeg_dimensions(data: bytes) -> Dimensions | None:
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


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data that starts at pos ends: the position of the next marker, or -1 if the data
    runs to the end of the file. Inside it 0xFF is followed by 0x00 (a stuffed byte) or a restart marker."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return -1
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:  # fill byte before a marker
            pos += 1
        else:
            return pos


def jpeg_structure_problem(data: bytes) -> str | None:
    """None when the JPEG's markers run from SOI through a frame header and at least one scan to the end-of-image
    marker (bytes after it are tolerated: cameras append data there); else the problem, in a few words."""
    if data[:2] != b"\xff\xd8":
        return "it does not start with the start-of-image marker"
    pos = 2
    size = len(data)
    frame = scan = False
    while True:
        if pos + 2 > size:
            return "it ends before its end-of-image marker (FFD9): the file is cut short"
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker == 0x00:
            # Stray bytes between segments: libjpeg skips them to the next marker (with a warning), so do we.
            pos = data.find(b"\xff", pos + 1)
            if pos < 0:
                return "it ends before its end-of-image marker (FFD9): the file is cut short"
            continue
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            if not frame:
                return "it has no frame header (SOF)"
            if not scan:
                return "it has no image data (no start-of-scan before the end-of-image marker)"
            return None
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return "it ends inside a segment header: the file is cut short"
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if length < 2 or end > size:
            return "a segment at byte %d runs past the end of the file: the file is cut short" % pos
        if marker in _JPEG_SOF:
            frame = True
        if marker != 0xDA:
            pos = end
            continue
        if not frame:
            return "image data (start-of-scan) comes before the frame header"
        scan = True
        pos = _jpeg_scan_end(data, end)
        if pos < 0:
            return "its image data ends without an end-of-image marker (FFD9): the file is cut short"


def png_dimensions(data: bytes) -> Dimensions | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def png_structure_problem(data: bytes) -> str | None:
    """None when the PNG's chunks run from IHDR to IEND, each within the file and with a correct CRC, with at
    least one IDAT (bytes after IEND are tolerated, as decoders do); else the problem, in a few words."""
    if data[:8] != _PNG_SIGNATURE:
        return "it does not start with the PNG signature"
    pos = 8
    size = len(data)
    idat = False
    while True:
        if pos + 12 > size:
            return "it ends before its IEND chunk: the file is cut short"
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        name = kind.decode("latin-1")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            return "chunk %r at byte %d runs past the end of the file: the file is cut short" % (name, pos)
        if pos == 8 and kind != b"IHDR":
            return "its first chunk is %r, not IHDR" % name
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[pos + 4:end - 4]) & 0xFFFFFFFF != crc:
            return "chunk %r at byte %d has a wrong CRC: the file is damaged" % (name, pos)
        if kind == b"IDAT":
            idat = True
        elif kind == b"IEND":
            return None if idat else "it has no image data (no IDAT chunk)"
        pos = end


def structure_problem(data: bytes, image_format: str | None) -> str | None:
    """The structural problem of a JPEG or PNG file, or None."""
    if image_format == "jpeg":
        return jpeg_structure_problem(data)
    if image_format == "png":
        return png_structure_problem(data)
    return None


class ImageInfo:
    """What a JPEG or PNG header says: its format and dimensions."""

    __slots__ = ("image_format", "width", "height")

    def __init__(self, image_format: str, width: int, height: int) -> None:
        self.image_format = image_format
        self.width = width
        self.height = height

    @property
    def content_type(self) -> str | None:
        return CONTENT_TYPES.get(self.image_format)


def inspect_image(data: bytes) -> ImageInfo | None:
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

    conversion says what was done to the file to make it acceptable (None when sent as is); warning names a risk
    of sending it as it is (a PNG that could not be converted), else None.
    """

    def __init__(self, path: str, data: bytes, info: ImageInfo, conversion: str | None = None, warning: str | None = None) -> None:
        self.path = path
        self.data = data
        self.info = info
        self.conversion = conversion
        self.warning = warning
        self.sha256 = hashlib.sha256(data).hexdigest()
        # SHA-256 of the file as read from disk, before any conversion (load_source sets it): what a sync's state
        # file records, since it can be computed again without decoding or converting anything.
        self.file_sha256: str | None = None

    @property
    def content_type(self) -> str | None:
        return self.info.content_type

    def predicted_metadata(self) -> dict:
        return dict(id="%dx%d" % (self.info.width, self.info.height), width=self.info.width,
                    height=self.info.height, content_type=self.content_type, etag=None)


def file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is: symbolic link, directory, FIFO, socket, character device, block
    device or special file."""
    if stat.S_ISREG(mode):
        return None
    for is_kind, kind in _SPECIAL_KINDS:
        if is_kind(mode):
            return kind
    return "special file"


def _symlink_refused(path: str) -> SourceImageError:
    # The target is not named: it is what must not be read.
    return SourceImageError("src %s is a symbolic link: refused, not followed, since a link could make the module upload "
                            "any file the host can read. Give the path of the image file itself." % path, path)


def _source_status(path: str) -> os.stat_result:
    """lstat() of src (a link is not followed), with a clear error for each way a path can be unusable."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise SourceImageError("src %s does not exist on the host that runs the module (with a remote host, "
                               "copy the file there first or run the task on localhost)." % path, path) from None
    except OSError as exc:
        raise SourceImageError("src %s cannot be accessed: %s." % (path, exc.strerror), path) from None
    except ValueError as exc:  # a NUL byte in the path
        raise SourceImageError("src %r is not a usable path: %s." % (path, exc), path) from None


def _check_source_status(path: str, info: os.stat_result) -> None:
    """SourceImageError unless info is that of a regular file that may be a photo."""
    kind = file_kind(info.st_mode)
    if kind == "symbolic link":
        raise _symlink_refused(path)
    if kind is not None:
        raise SourceImageError("src %s is not a regular file (%s)." % (path, kind), path)
    if info.st_size == 0:
        raise SourceImageError("src %s is empty." % path, path)
    if info.st_size > MAX_SOURCE_BYTES:
        raise SourceImageError("src %s is %d bytes, more than any photo can be (%d): refused without reading it."
                               % (path, info.st_size, MAX_SOURCE_BYTES), path)


def open_source(path: str | None) -> BinaryIO:
    """src opened for reading, once its metadata was found usable: a regular file, not empty, at most MAX_SOURCE_BYTES.

    A symbolic link is refused (lstat, then O_NOFOLLOW), and a FIFO or device is never opened. What was opened is
    checked again (fstat), since another file may have taken its place meanwhile. Raises SourceImageError only.
    """
    if not path:
        raise SourceImageError("src is required with state=present: give the path of a JPEG or PNG file.")
    _check_source_status(path, _source_status(path))
    try:
        fd = os.open(path, _SOURCE_OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link put in its place since lstat()
            raise _symlink_refused(path) from None
        raise SourceImageError("src %s cannot be read: %s." % (path, exc.strerror), path) from None
    handle = os.fdopen(fd, "rb")
    try:
        _check_source_status(path, os.fstat(fd))
    except BaseException:
        handle.close()
        raise
    return handle


def read_source_bytes(path: str | None) -> bytes:
    """The bytes of src (see open_source), with a clear error for each way a path can be unusable."""
    handle = open_source(path)
    try:
        with handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)  # the file may have grown since fstat()
    except OSError as exc:
        raise SourceImageError("src %s cannot be read: %s." % (path, exc.strerror), path) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceImageError("src %s grew past %d bytes while it was read: refused." % (path, MAX_SOURCE_BYTES), path)
    return data


def source_problem(path: str | None, convert: bool = True) -> OutlookError | None:
    """The error load_source would raise for src, as far as its metadata and first bytes tell, or None.

    A sync asks this while planning, so that a user whose source is missing, a link, not a regular file, unreadable,
    too large or not an image this module takes fails before any request is sent for that user. Nothing is decoded
    or kept; what only the whole file shows (a JPEG's dimensions, damage further in) is left to load_source.
    """
    try:
        handle = open_source(path)
        with handle:
            header = handle.read(_HEADER_BYTES)
    except SourceImageError as exc:
        return exc
    except OSError as exc:
        return SourceImageError("src %s cannot be read: %s." % (path, exc.strerror), path)
    image_format = sniff_format(header)
    try:
        if image_format == "png":
            _checked_info(path, header, image_format)  # IHDR, in the first bytes: the dimensions and the pixel limit
        elif image_format != "jpeg":  # a JPEG's frame header may come after a large EXIF block: load_source reads it
            _allow_conversion(path, _format_reason(path, image_format), convert)
    except (SourceImageError, MissingLibraryError) as exc:
        return exc
    return None


# Formats Pillow can usually open; they are converted to JPEG rather than refused.
CONVERTIBLE = ("gif", "bmp", "webp", "tiff")
JPEG_QUALITY = 90


def _too_large(path: str, image_format: str, exc: ImageTooLarge) -> SourceImageError:
    return SourceImageError("src %s is a %s image of %s: refused before decoding, to protect the host's memory. "
                            "Scale it down first (the largest size the service serves is 648x648)."
                            % (path, image_format.upper(), exc.problem), path)


def _undecodable(path: str, image_format: str, exc: UndecodableImage) -> SourceImageError:
    return SourceImageError("src %s is a %s file that cannot be decoded (%s): the file is damaged." % (
        path, image_format.upper(), exc.problem), path)


def _png_warning(path: str | None, convert: bool) -> str:
    why = "Pillow is not installed" if convert else "convert=false"
    return ("src %s is a PNG and is sent as image/png because %s: the service's documentation requires JPEG "
            "(image/jpeg) and a tenant may refuse PNG uploads with 400. Install Pillow and keep convert=true to send "
            "JPEG, or convert the file to JPEG yourself." % (path, why))


def load_source(path: str | None, max_bytes: int = MAX_PHOTO_BYTES, convert: bool = True,
                warn: Optional[Callable[[str], None]] = None) -> SourceImage:
    """A SourceImage ready to upload, or SourceImageError naming the problem and the fix.

    Every file is checked whole: the pixel limit (MAX_IMAGE_PIXELS) from the header, the JPEG or PNG structure,
    and with Pillow a full decode. A JPEG within max_bytes is then sent as it is. The service documents only JPEG,
    so with convert and Pillow a PNG becomes a JPEG (transparency on white; same file, same bytes); without them
    it is sent as image/png, and the SourceImage's warning (also passed to warn, when given) names the risk.
    With convert (and Pillow), other formats become JPEG and larger images are scaled down until they fit;
    without Pillow that is an error that says what to install. Every check happens before any request is sent.
    Raises nothing but SourceImageError and MissingLibraryError.
    """
    data = read_source_bytes(path)
    source = _prepared_source(path, data, max_bytes, convert, warn)
    source.file_sha256 = hashlib.sha256(data).hexdigest()
    return source


def file_sha256(path: str | None) -> str | None:
    """SHA-256 of the file at path as it is on disk (what load_source records as file_sha256), without decoding it;
    None when it cannot be read (load_source then says why)."""
    try:
        return hashlib.sha256(read_source_bytes(path)).hexdigest()
    except SourceImageError:
        return None


def _prepared_source(path: str | None, data: bytes, max_bytes: int, convert: bool,
                     warn: Optional[Callable[[str], None]]) -> SourceImage:
    """load_source's work on the bytes read from path."""
    image_format = sniff_format(data)
    if image_format in ("jpeg", "png"):
        info = _checked_info(path, data, image_format)
        problem = structure_problem(data, image_format)
        if problem:
            raise SourceImageError("src %s is a %s file that is truncated or corrupt: %s." % (path, image_format.upper(), problem), path)
        if len(data) <= max_bytes:
            if image_format == "png" and convert and pillow_available():
                return _convert_to_jpeg(path, data, image_format, max_bytes)
            if pillow_available():
                # The whole file that is about to be sent as it is (a JPEG at reduced scale: same data read).
                _decoded(path, data, image_format, reduce=True)
            if image_format != "png":
                return SourceImage(path, data, info)
            warning = _png_warning(path, convert)
            if warn is not None:
                warn(warning)
            return SourceImage(path, data, info, warning=warning)
        reason = "%d bytes is over the service's limit of %d bytes (4 MB)" % (len(data), max_bytes)
    else:
        reason = _format_reason(path, image_format)
    _allow_conversion(path, reason, convert)
    return _convert_to_jpeg(path, data, image_format, max_bytes)


def _checked_info(path: str | None, data: bytes, image_format: str) -> ImageInfo:
    """The header facts of a JPEG or PNG, refused when the header cannot be read or declares too many pixels."""
    info = inspect_image(data)
    if info is None:
        raise SourceImageError("src %s looks like %s but its header cannot be read: the file is truncated or corrupt."
                               % (path, image_format.upper()), path)
    if info.width * info.height > MAX_IMAGE_PIXELS:
        raise _too_large(path, image_format, ImageTooLarge((info.width, info.height), MAX_IMAGE_PIXELS))
    return info


def _format_reason(path: str | None, image_format: str | None) -> str:
    """Why a file that is neither JPEG nor PNG must be converted; SourceImageError when it cannot be at all."""
    if image_format in CONVERTIBLE:
        return "the service takes JPEG or PNG, not %s" % image_format.upper()
    found = ("a %s image" % image_format.upper()) if image_format else "not an image this module knows"
    raise SourceImageError("src %s is %s: the service takes JPEG or PNG. Convert it to JPEG first." % (path, found), path)


def _allow_conversion(path: str | None, reason: str, convert: bool) -> None:
    """SourceImageError without convert, MissingLibraryError without Pillow: a file that cannot be sent as it is."""
    if not convert:
        raise SourceImageError("src %s cannot be sent as it is: %s. Allow conversion (convert=true, needs Pillow) "
                               "or prepare the file yourself." % (path, reason), path)
    load_pillow("src %s: %s, so it must be converted" % (path, reason))


def _decoded(path: str, data: bytes, image_format: str, reduce: bool = False) -> Image:
    """decode_image() of the source file, its failures as SourceImageError."""
    try:
        return decode_image(data, MAX_IMAGE_PIXELS, reduce=reduce)
    except ImageTooLarge as exc:
        raise _too_large(path, image_format, exc) from None
    except UndecodableImage as exc:
        raise _undecodable(path, image_format, exc) from None


def _open_image(path: str, data: bytes, image_format: str) -> Image:
    """The whole image decoded, upright and flattened on white, as RGB; SourceImageError otherwise."""
    load_pillow()
    from PIL import ImageOps  # pylint: disable=import-outside-toplevel
    image = _decoded(path, data, image_format)
    try:
        # Camera photos store their rotation in EXIF; the service shows the pixels as they are.
        image = ImageOps.exif_transpose(image)
        return flatten_on_white(image)
    except Exception as exc:  # pylint: disable=broad-except
        # A damaged EXIF block or an unusual pixel mode: Pillow raises many types for these.
        raise SourceImageError("src %s is a %s file that cannot be converted (%s)." % (
            path, image_format.upper(), " ".join(str(exc).split()) or type(exc).__name__), path) from None


def _encode_jpeg(image: Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _convert_to_jpeg(path: str, data: bytes, image_format: str, max_bytes: int) -> SourceImage:
    """Re-encodes as JPEG, scaling down until it fits. Same input, same bytes: reruns stay idempotent."""
    image_module = load_pillow()
    resample = getattr(image_module, "Resampling", image_module).LANCZOS
    image = _open_image(path, data, image_format)
    original = image.size
    try:
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
    except SourceImageError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise SourceImageError("src %s could not be converted to JPEG (%s)." % (
            path, " ".join(str(exc).split()) or type(exc).__name__), path) from None
    conversion = "%s %dx%d to JPEG %dx%d" % (image_format.upper(), original[0], original[1], image.width, image.height)
    return SourceImage(path, encoded, ImageInfo("jpeg", image.width, image.height), conversion=conversion)
