# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Is the photo the service holds the image we want?

The service re-encodes what it stores, so the bytes read back are not the bytes sent
(graph-photo-api.md section 3). sha256 demands equal bytes; pixels decodes both images and
compares what they show; auto tries the cheap exact check first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._image import MAX_IMAGE_PIXELS
from ._pillow import UndecodableImage, decode_image, flatten_on_white, load_pillow, pillow_available

if TYPE_CHECKING:
    from PIL.Image import Image

# Both images are scaled to this square before comparing: big enough to tell two faces apart,
# small enough that the service's resizing and JPEG noise average out.
COMPARE_SIZE = 64

# Mean absolute difference per channel (0-255) at or under which two images count as the same
# picture. Chosen by measurement (docs/docsite/rst/guide_idempotency.rst): re-encoding the same
# photo stays under 3; different photos differ by 16 or more.
DEFAULT_PIXEL_TOLERANCE = 4.0

# Aspect ratios further apart than this cannot be the same picture, whatever the pixels say.
_ASPECT_SLACK = 0.02


class Verdict:
    """The comparison outcome: same or not, how it was decided, and the measured distance."""

    __slots__ = ("same", "method", "distance")

    def __init__(self, same: bool, method: str, distance: float | None = None) -> None:
        self.same = same
        self.method = method
        self.distance = distance


def _decode_rgb(data: bytes) -> Image:
    """RGB pixels, upright and with transparent areas white (how clients show them); UndecodableImage if data is not a whole
    image within MAX_IMAGE_PIXELS (checked from the header, before decoding)."""
    image = decode_image(data, MAX_IMAGE_PIXELS)
    from PIL import ImageOps  # pylint: disable=import-outside-toplevel
    try:
        # Upright, as people see it: a photo stored with an EXIF Orientation compares as the picture it shows.
        return flatten_on_white(ImageOps.exif_transpose(image))
    except Exception as exc:  # pylint: disable=broad-except
        # An unusual pixel mode Pillow cannot convert: not a picture we can compare.
        raise UndecodableImage(str(exc) or type(exc).__name__) from None


def pixel_distance(wanted: bytes, current: bytes) -> float | None:
    """Mean absolute difference (0-255) of two encoded images, or None if they cannot be the same picture.

    The current photo comes from the service: whatever it holds (a bomb, a truncated or hostile file) is None,
    "different", never an exception, so the module replaces it.
    """
    image_module = load_pillow("compare=pixels")
    from PIL import ImageChops as image_chops, ImageStat as image_stat  # pylint: disable=import-outside-toplevel
    try:
        first = _decode_rgb(wanted)
        second = _decode_rgb(current)
    except UndecodableImage:
        return None
    if not (first.width and first.height and second.width and second.height):
        return None
    ratio_first = first.width / float(first.height)
    ratio_second = second.width / float(second.height)
    if abs(ratio_first - ratio_second) > _ASPECT_SLACK * max(ratio_first, ratio_second):
        return None
    size = (COMPARE_SIZE, COMPARE_SIZE)
    resample = getattr(image_module, "Resampling", image_module).BOX
    difference = image_chops.difference(first.resize(size, resample), second.resize(size, resample))
    means = image_stat.Stat(difference).mean
    return sum(means) / len(means)


def may_decode(mode: str, current: bytes | None) -> bool:
    """Whether compare_photos may decode both images (what a many-user run counts in its pixel budget): not without a
    current photo, with compare=sha256, or without Pillow."""
    return current is not None and mode != "sha256" and pillow_available()


def compare_photos(wanted: bytes, wanted_sha256: str, current: bytes | None, current_sha256: str | None, mode: str = "auto",
                   tolerance: float = DEFAULT_PIXEL_TOLERANCE) -> Verdict:
    """Verdict for the wanted bytes against the current ones (current may be None: no photo)."""
    if current is None:
        return Verdict(False, "none")
    if wanted_sha256 == current_sha256:
        return Verdict(True, "sha256", 0.0)
    if mode == "sha256" or (mode == "auto" and not pillow_available()):
        return Verdict(False, "sha256")
    distance = pixel_distance(wanted, current)
    if distance is None:
        return Verdict(False, "pixels")
    return Verdict(distance <= tolerance, "pixels", round(distance, 3))
