# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading and checking the image to upload.

Type and dimensions come from the file's own header (JPEG SOF segment, PNG IHDR chunk), so a renamed file is
caught before anything is sent. The whole file is then checked before it may be sent: the pixel limit from the
header, the file's structure (JPEG markers through the end-of-image marker, PNG chunk CRCs through IEND, no
third-party library needed), and with Pillow a full decode (in _source.py, which turns a source into the bytes
that are sent).

A source file is a regular file, opened without following a symbolic link (open_source).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import zlib
from typing import BinaryIO, Iterator, Tuple

from ..common._errors import SourceImageError

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


def jpeg_header_segments(data: bytes) -> Iterator[Tuple[int, int, int]]:
    """(marker, position, length) of each segment of a JPEG's header, in order, up to the start of scan or the end of
    image; it stops early, without an error, where the header is broken."""
    if data[:2] != b"\xff\xd8":
        return
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan
            return
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return
        yield marker, pos, length
        pos += 2 + length


def jpeg_dimensions(data: bytes) -> Dimensions | None:
    """(width, height) from the first start-of-frame segment, or None if the header is broken."""
    for marker, pos, dummy in jpeg_header_segments(data):
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return (width, height) if width and height else None
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
