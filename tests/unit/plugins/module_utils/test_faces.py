# SPDX-License-Identifier: GPL-3.0-or-later
"""photo._faces and crop=face: the square around the largest face, and every way it falls back (issue 22)."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import types

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.photo import _faces
from ansible_collections.o365.outlook.plugins.module_utils.photo._faces import REQUIREMENT, FaceSearch, find_face, opencv_problem
from ansible_collections.o365.outlook.plugins.module_utils.photo._prepare import Preparation, face_square
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source

# How far the centre of the face may lie from the centre of the crop, as a share of the crop's side.
CENTRE_SLACK = 0.05


@pytest.fixture(scope="module")
def astronaut():
    skimage = pytest.importorskip("skimage")
    path = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")
    with Image.open(path) as image:
        return image.convert("RGB")  # 512x512, one face (Eileen Collins)


@pytest.fixture(scope="module")
def portrait(astronaut):
    """3:4 (384x512), astronaut cut so that her face is about 10 px from the top edge, white below."""
    image = Image.new("RGB", (384, 512), (255, 255, 255))
    image.paste(astronaut.crop((32, 56, 416, 512)), (0, 0))
    return image


@pytest.fixture
def fresh_classifier(monkeypatch):
    """No classifier cached for this thread, restored afterwards."""
    monkeypatch.delattr(_faces._LOCAL, "classifier", raising=False)


def write_png(tmp_path, name, image):
    path = tmp_path / name
    image.save(str(path), "PNG")
    return str(path)


def centre(box):
    left, top, width, height = box
    return left + width / 2.0, top + height / 2.0


def inside(face, crop):
    left, top, width, height = face
    return crop[0] <= left and crop[1] <= top and left + width <= crop[2] and top + height <= crop[3]


# ---- a real photograph ----

def test_opencv_is_usable_in_the_test_environment():
    assert opencv_problem() is None


def test_astronaut_face_is_found_and_the_crop_is_centred_on_it(astronaut):
    search = find_face(astronaut)
    assert search.problem is None and search.box is not None
    box = face_square(astronaut.size, search.box)
    side = box[2] - box[0]
    assert inside(search.box, box), (search.box, box)
    face_x, face_y = centre(search.box)
    offset = max(abs(face_x - (box[0] + box[2]) / 2.0), abs(face_y - (box[1] + box[3]) / 2.0))
    # Measured with opencv-python-headless 4.14: face (177, 66, 95x95), crop (120, 9, 329, 218), offset 0.0 px.
    assert offset <= CENTRE_SLACK * side, "face centre %.1f px from the crop's centre (side %d)" % (offset, side)
    assert side == int(round(max(search.box[2:]) * 2.2))


def test_astronaut_face_is_found_again_in_the_cropped_photo(astronaut):
    cropped, done, warning = Preparation("face").apply(astronaut)
    assert done == ["face crop"] and warning is None
    assert cropped.width == cropped.height < astronaut.width
    again = find_face(cropped)
    assert again.box is not None, again.problem
    face_x, face_y = centre(again.box)
    offset = max(abs(face_x - cropped.width / 2.0), abs(face_y - cropped.height / 2.0))
    # Measured: the face found in the 209x209 crop is (56, 57, 97x97), 1.0 px from the centre.
    assert offset <= CENTRE_SLACK * cropped.width, "face %.1f px from the centre of the %dpx crop" % (offset, cropped.width)


def test_face_near_the_top_edge_of_a_portrait(portrait):
    search = find_face(portrait)
    assert search.box is not None, search.problem
    assert search.box[1] < 30  # the face is near the top edge (measured: 11 px)
    box = face_square(portrait.size, search.box)
    side = box[2] - box[0]
    # Centred on the face, the square would start above the image: it is moved down to the edge instead.
    assert centre(search.box)[1] - side / 2.0 < 0
    assert box[1] == 0 and 0 <= box[0] and box[2] <= portrait.width and box[3] <= portrait.height
    assert inside(search.box, box), (search.box, box)
    cropped, done, warning = Preparation("face").apply(portrait)
    assert done == ["face crop"] and warning is None
    assert cropped.size == (side, side) and cropped.tobytes() == portrait.crop(box).tobytes()


def test_crop_face_through_load_source_is_deterministic(astronaut, tmp_path):
    path = write_png(tmp_path, "astronaut.png", astronaut)
    first = load_source(path, preparation=Preparation("face"))
    second = load_source(path, preparation=Preparation("face"))
    assert first.data == second.data
    assert first.conversion == "PNG 512x512 to JPEG 209x209 (face crop)" and first.warning is None


# ---- fall-backs ----

def crop_face_and_square(tmp_path, image):
    path = write_png(tmp_path, "photo.png", image)
    warnings = []
    face = load_source(path, warn=warnings.append, preparation=Preparation("face"))
    square = load_source(path, preparation=Preparation("square"))
    return face, square, warnings


def test_without_opencv_crop_face_is_crop_square_with_a_warning(portrait, tmp_path, monkeypatch, fresh_classifier):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    search = find_face(portrait)
    assert search.box is None and "OpenCV is not usable here (ModuleNotFoundError: import of cv2 halted" in search.problem
    assert search.problem.endswith("install opencv-python-headless>=4.8,<5")
    face, square, warnings = crop_face_and_square(tmp_path, portrait)
    assert face.data == square.data
    assert (face.info.width, face.info.height) == (384, 384)
    assert warnings == [face.warning] and REQUIREMENT in face.warning
    assert face.warning.startswith("crop=face: OpenCV is not usable here")
    assert face.warning.endswith("so the photo was cropped square instead (the largest centred square)")
    assert "square crop (OpenCV is not usable here" in face.conversion


def test_an_opencv_that_fails_to_import_with_os_error(monkeypatch, fresh_classifier):
    class BrokenWheel:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "cv2":
                raise OSError("libGL.so.1: cannot open shared object file:\n No such file or directory")
            return None

    monkeypatch.delitem(sys.modules, "cv2", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenWheel()] + sys.meta_path)
    search = find_face(Image.new("RGB", (64, 64)))
    assert search.box is None
    assert search.problem == ("OpenCV is not usable here (OSError: libGL.so.1: cannot open shared object file: No such "
                              "file or directory); install opencv-python-headless>=4.8,<5")


def fake_cv2(version, **attributes):
    module = types.ModuleType("cv2")
    module.__version__ = version
    for name, value in attributes.items():
        setattr(module, name, value)
    return module


def test_opencv_5_without_cascade_classifier(portrait, tmp_path, monkeypatch, fresh_classifier):
    monkeypatch.setitem(sys.modules, "cv2", fake_cv2("5.0.0", data=types.SimpleNamespace(haarcascades="/opt/cv/")))
    assert opencv_problem() == ("OpenCV 5.0.0 has no Haar cascade face model (OpenCV 5 removed it); install "
                                "opencv-python-headless>=4.8,<5")
    face, square, warnings = crop_face_and_square(tmp_path, portrait)
    assert face.data == square.data
    assert "OpenCV 5" in face.warning and REQUIREMENT in face.warning and warnings == [face.warning]


def test_opencv_without_its_data_files(monkeypatch, fresh_classifier):
    import cv2
    monkeypatch.setitem(sys.modules, "cv2", fake_cv2("4.9.0", CascadeClassifier=cv2.CascadeClassifier))
    assert "OpenCV 4.9.0 has no Haar cascade face model" in opencv_problem()
    missing = types.SimpleNamespace(haarcascades="/nonexistent/cascades/")
    monkeypatch.setitem(sys.modules, "cv2", fake_cv2("4.9.0", CascadeClassifier=cv2.CascadeClassifier, data=missing))
    assert opencv_problem() == ("OpenCV 4.9.0 could not load its face model haarcascade_frontalface_default.xml; "
                                "install opencv-python-headless>=4.8,<5")
    assert not hasattr(_faces._LOCAL, "classifier")  # a failure is not cached: the next call tries again


def test_a_photo_without_a_face(tmp_path):
    grey = Image.new("RGB", (400, 300), (128, 128, 128))
    assert find_face(grey) == FaceSearch(None, "no face was found in it")
    image, done, warning = Preparation("face").apply(grey)
    assert image.size == (300, 300) and done == ["square crop (no face was found in it)"]
    assert warning == ("crop=face: no face was found in it, so the photo was cropped square instead (the largest "
                       "centred square)")
    face, square, warnings = crop_face_and_square(tmp_path, grey)
    assert face.data == square.data and warnings == [warning]


@pytest.mark.parametrize("size", [(1, 1), (5, 3000), (3000, 5), (16, 16)])
def test_tiny_and_thin_images_never_raise(size):
    assert find_face(Image.new("RGB", size, (90, 90, 90))) == FaceSearch(None, "no face was found in it")


# ---- the search itself, with a scripted classifier ----

class Scripted:
    def __init__(self, faces=(), error=None):
        self.faces = faces
        self.error = error
        self.calls = []

    def detectMultiScale(self, pixels, **kwargs):  # pylint: disable=invalid-name
        self.calls.append((pixels.shape, kwargs))
        if self.error:
            raise self.error
        return self.faces


def scripted(monkeypatch, classifier):
    monkeypatch.setattr(_faces._LOCAL, "classifier", (object(), classifier), raising=False)
    return classifier


def test_the_largest_face_is_chosen_whatever_the_order(monkeypatch):
    faces = [(10, 10, 20, 20), (50, 60, 30, 30), (40, 0, 30, 30), (0, 70, 29, 31)]
    picks = set()
    for order in (faces, faces[::-1], faces[1:] + faces[:1]):
        scripted(monkeypatch, Scripted(order))
        picks.add(find_face(Image.new("RGB", (200, 200))).box)
    assert picks == {(40, 0, 30, 30)}  # 30x30 twice: the higher one


def test_a_large_photo_is_searched_scaled_down_and_the_box_scaled_back(monkeypatch):
    classifier = scripted(monkeypatch, Scripted([(100, 50, 40, 40)]))
    search = find_face(Image.new("RGB", (1600, 1200)))
    assert search == FaceSearch((200, 100, 80, 80), None)
    shape, kwargs = classifier.calls[0]
    assert shape == (600, 800)  # grey, longest side DETECT_SIDE
    assert kwargs["minSize"] == (48, 48) and kwargs["minNeighbors"] == 5  # 8% of the shorter side


def test_a_small_photo_is_searched_as_it_is(monkeypatch):
    classifier = scripted(monkeypatch, Scripted([(1, 2, 30, 30)]))
    assert find_face(Image.new("RGB", (300, 100))) == FaceSearch((1, 2, 30, 30), None)
    assert classifier.calls[0][0] == (100, 300) and classifier.calls[0][1]["minSize"] == (16, 16)


def test_an_opencv_error_during_the_search_is_a_reason(monkeypatch):
    scripted(monkeypatch, Scripted(error=RuntimeError("OpenCV(4.9) error:\n  (-215:Assertion failed) !empty()")))
    search = find_face(Image.new("RGB", (100, 100)))
    assert search == FaceSearch(None, "OpenCV failed to search it (OpenCV(4.9) error: (-215:Assertion failed) !empty())")
    image, done, warning = Preparation("face").apply(Image.new("RGB", (100, 60)))
    assert image.size == (60, 60) and "OpenCV failed to search it" in warning


def test_each_thread_loads_its_own_classifier(fresh_classifier):
    mine = _faces._classifier()
    assert _faces._classifier() is mine  # cached for this thread
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(_faces._classifier()))
    thread.start()
    thread.join()
    assert theirs and theirs[0][1] is not mine[1] and theirs[0][0] is mine[0]


def test_face_crop_jpeg_bytes_are_the_same_in_a_fresh_process(astronaut, tmp_path):
    # A fresh interpreter (no cached classifier, another hash seed) gives the same bytes.
    path = write_png(tmp_path, "astronaut.png", astronaut)
    here = load_source(path, preparation=Preparation("face")).data
    code = ("import sys, hashlib\n"
            "from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source\n"
            "from ansible_collections.o365.outlook.plugins.module_utils.photo._prepare import Preparation\n"
            "sys.stdout.write(hashlib.sha256(load_source(sys.argv[1], preparation=Preparation('face')).data).hexdigest())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYTHONHASHSEED="12345")
    done = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == hashlib.sha256(here).hexdigest()
    assert Image.open(io.BytesIO(here)).size == (209, 209)
