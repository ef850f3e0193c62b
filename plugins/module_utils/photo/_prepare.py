# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""How a photo is prepared before it is compared and sent: the options crop, max_dimension and min_dimension.

Microsoft 365 shows photos as circles in square sizes from 48 to 648 px, and every app crops a non-square photo its
own way: crop=square takes the largest centred square, crop=face the square around the largest face (_faces.py).
max_dimension scales the longest side down (never up). min_dimension refuses a photo whose shorter side, once
prepared, is smaller: the service refuses tiny photos (ValidationWidthTooSmall), and a blurred 20 px photo is no
better than none. Turning a camera photo upright (its EXIF Orientation) happens before all of this, in _image.py.

The same file and options give the same pixels, so reruns compare equal. VERSION names what this code does to
pixels; a sync's state file records it with the options (settings()), so a change of either is applied on the next
run instead of being vouched for by a record made before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..common._errors import ConfigurationError
from ._faces import find_face

if TYPE_CHECKING:
    from PIL.Image import Image

CROPS = ("none", "square", "face")
# 1: collection 1.0.0 (a JPEG was sent as it was, EXIF orientation and all). 2: upright, crop, max_dimension.
VERSION = 2
DEFAULT_MIN_DIMENSION = 48
# The largest size Microsoft 365 shows (graph-photo-api.md section 3): what the docs recommend for max_dimension.
RECOMMENDED_MAX_DIMENSION = 648
# crop=face: the square's side in face widths, so that the crop shows the head and a little of the shoulders.
FACE_MARGIN = 2.2
# Largest accepted max_dimension and min_dimension: far past any photo the service shows.
_LARGEST_SIDE = 20000

Box = Tuple[int, int, int, int]  # left, top, right, bottom (Pillow's crop box)


class Preparation:
    """The preparation options of one task, validated."""

    __slots__ = ("crop", "max_dimension", "min_dimension")

    def __init__(self, crop: str = "none", max_dimension: Optional[int] = None, min_dimension: int = 0) -> None:
        self.crop = crop
        self.max_dimension = max_dimension
        self.min_dimension = min_dimension

    @classmethod
    def from_options(cls, crop: str, max_dimension: Optional[int], min_dimension: Optional[int]) -> "Preparation":
        """ConfigurationError for values no task could mean."""
        if crop not in CROPS:
            raise ConfigurationError("crop must be one of %s, got %r." % (", ".join(CROPS), crop))
        if max_dimension is not None and not 1 <= max_dimension <= _LARGEST_SIDE:
            raise ConfigurationError("max_dimension must be a number of pixels from 1 to %d (%d is what Microsoft 365 "
                                     "shows at most), got %s." % (_LARGEST_SIDE, RECOMMENDED_MAX_DIMENSION, max_dimension))
        minimum = DEFAULT_MIN_DIMENSION if min_dimension is None else min_dimension
        if not 0 <= minimum <= _LARGEST_SIDE:
            raise ConfigurationError("min_dimension must be a number of pixels from 0 (no check) to %d, got %s."
                                     % (_LARGEST_SIDE, min_dimension))
        if max_dimension is not None and minimum > max_dimension:
            raise ConfigurationError("min_dimension (%d) is larger than max_dimension (%d): no photo could pass."
                                     % (minimum, max_dimension))
        return cls(crop, max_dimension, minimum)

    def settings(self) -> Dict[str, Any]:
        """What decides the prepared pixels, for the state file. min_dimension only refuses, so it is not here."""
        return dict(version=VERSION, crop=self.crop, max_dimension=self.max_dimension)

    def change_needed(self, width: int, height: int) -> Optional[str]:
        """Why an upright image of this size must be re-encoded, or None when it may be sent as it is."""
        if self.crop == "face":
            return "crop=face"
        if self.crop == "square" and width != height:
            return "crop=square and it is %dx%d" % (width, height)
        if self.max_dimension is not None and max(width, height) > self.max_dimension:
            return "it is %dx%d, over max_dimension %d" % (width, height, self.max_dimension)
        return None

    def size_problem(self, width: int, height: int) -> Optional[str]:
        """Why a photo of this size (as it would be sent) is refused, or None."""
        if self.min_dimension and min(width, height) < self.min_dimension:
            return ("it is %dx%d pixels, under min_dimension %d (Microsoft 365 shows photos from 48 px; the service "
                    "refuses tiny ones). Use a larger image, or set min_dimension=0 to send it anyway"
                    % (width, height, self.min_dimension))
        return None

    def apply(self, image: Image) -> Tuple[Image, List[str], Optional[str]]:
        """(prepared image, what was done, a warning or None) for an upright RGB image."""
        done = []
        warning = None
        box = None
        if self.crop == "face":
            search = find_face(image)
            if search.box is not None:
                box = face_square(image.size, search.box)
                done.append("face crop")
            else:
                warning = ("crop=face: %s, so the photo was cropped square instead (the largest centred square)"
                           % search.problem)
                done.append("square crop (%s)" % search.problem)
                box = centred_square(image.size)
        elif self.crop == "square":
            box = centred_square(image.size)
            done.append("square crop")
        if box is not None and box != (0, 0, image.width, image.height):
            image = image.crop(box)
        if self.max_dimension is not None and max(image.size) > self.max_dimension:
            image = _scaled(image, self.max_dimension)
            done.append("scaled to max_dimension %d" % self.max_dimension)
        return image, done, warning


def centred_square(size: Tuple[int, int]) -> Box:
    """The largest square centred in an image of this size."""
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def face_square(size: Tuple[int, int], face: Tuple[int, int, int, int]) -> Box:
    """The square centred on a face (left, top, width, height), FACE_MARGIN face widths wide, moved inside the image
    where the face is near an edge, and never larger than the image's shorter side."""
    width, height = size
    left, top, face_width, face_height = face
    side = min(width, height, max(1, int(round(max(face_width, face_height) * FACE_MARGIN))))
    centre_x, centre_y = left + face_width / 2.0, top + face_height / 2.0
    x = min(max(0, int(round(centre_x - side / 2.0))), width - side)
    y = min(max(0, int(round(centre_y - side / 2.0))), height - side)
    return (x, y, x + side, y + side)


def _scaled(image: Image, longest: int) -> Image:
    from PIL import Image as image_module  # pylint: disable=import-outside-toplevel
    scale = longest / float(max(image.size))
    size = (max(1, int(round(image.width * scale))), max(1, int(round(image.height * scale))))
    return image.resize(size, getattr(image_module, "Resampling", image_module).LANCZOS)


# No crop, no limits: what load_source does when a caller gives no preparation (1.0.0's behaviour, upright).
AS_GIVEN = Preparation()
