# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Where the largest face of a photo is, for crop=face: OpenCV's frontal-face Haar cascade.

opencv-python-headless 4.x ships the cascade files in its wheel (cv2.data.haarcascades); OpenCV 5 has neither
CascadeClassifier nor the files, hence the pin >=4.8,<5. The search runs on a grey copy scaled to at most
DETECT_SIDE pixels: as good for faces that fill a fair part of a portrait, and the same time whatever the camera.
The same pixels give the same faces, so a crop is the same on every run.

find_face() never raises for a missing or unusable OpenCV, or a photo without a face: it says why, and the caller
falls back to a square crop with a warning.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, NamedTuple, Optional, Tuple

if TYPE_CHECKING:
    from PIL.Image import Image

REQUIREMENT = "opencv-python-headless>=4.8,<5"
CASCADE = "haarcascade_frontalface_default.xml"
DETECT_SIDE = 800
# A face smaller than this share of the photo's shorter side is background, not the person the photo is of.
MIN_FACE_SHARE = 0.08

Box = Tuple[int, int, int, int]  # left, top, width, height, in the photo's pixels

_LOCAL = threading.local()  # a CascadeClassifier per thread: one object is not safe to share between threads


class FaceSearch(NamedTuple):
    """The largest face found (box), or None and the reason (problem)."""

    box: Optional[Box]
    problem: Optional[str]


def _classifier() -> Tuple[object, object]:
    """(cv2, a loaded classifier); RuntimeError with the reason when OpenCV cannot find faces here."""
    cached = getattr(_LOCAL, "classifier", None)
    if cached is not None:
        return cached
    try:
        import cv2  # pylint: disable=import-outside-toplevel
    except Exception as exc:  # pylint: disable=broad-except
        # ImportError, or a wheel whose shared libraries are missing (an OSError from inside cv2)
        raise RuntimeError("OpenCV is not usable here (%s: %s); install %s" % (
            type(exc).__name__, " ".join(str(exc).split())[:120], REQUIREMENT)) from None
    version = getattr(cv2, "__version__", "?")
    data = getattr(cv2, "data", None)
    if not hasattr(cv2, "CascadeClassifier") or data is None or not getattr(data, "haarcascades", None):
        raise RuntimeError("OpenCV %s has no Haar cascade face model (OpenCV 5 removed it); install %s" % (version, REQUIREMENT))
    classifier = cv2.CascadeClassifier(data.haarcascades + CASCADE)
    if classifier.empty():
        raise RuntimeError("OpenCV %s could not load its face model %s; install %s" % (version, CASCADE, REQUIREMENT))
    _LOCAL.classifier = (cv2, classifier)
    return _LOCAL.classifier


def opencv_problem() -> Optional[str]:
    """None when find_face can work, else why not (for docs and tests)."""
    try:
        _classifier()
    except RuntimeError as exc:
        return str(exc)
    return None


def find_face(image: Image) -> FaceSearch:
    """The largest frontal face in an RGB image."""
    try:
        cv2, classifier = _classifier()
        import numpy  # pylint: disable=import-outside-toplevel  # comes with OpenCV
    except (RuntimeError, ImportError) as exc:
        return FaceSearch(None, str(exc))
    scale = min(1.0, DETECT_SIDE / float(max(image.size)))
    grey = image.convert("L")
    if scale < 1.0:
        grey = grey.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    pixels = numpy.asarray(grey, dtype=numpy.uint8)
    smallest = max(16, int(min(grey.size) * MIN_FACE_SHARE))
    try:
        faces = classifier.detectMultiScale(pixels, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
    except Exception as exc:  # pylint: disable=broad-except  # cv2.error and friends
        return FaceSearch(None, "OpenCV failed to search it (%s)" % " ".join(str(exc).split())[:120])
    if len(faces) == 0:
        return FaceSearch(None, "no face was found in it")
    # Largest area first; ties by position, so the choice never depends on the order OpenCV lists them in.
    left, top, width, height = min((tuple(int(v) for v in face) for face in faces), key=lambda f: (-f[2] * f[3], f[1], f[0]))
    return FaceSearch((round(left / scale), round(top / scale), round(width / scale), round(height / scale)), None)
