# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 22's "Done when", end to end: outlook_user_photo, outlook_group_photo and outlook_user_photo_sync through
main() against the in-process emulator on its production profile (stored photos re-encoded, EXIF dropped, reads lag a
write by a second, uploads under 24 px refused with ValidationWidthTooSmall). Every write, and every absence of one, is
counted from the emulator's request log; what the service stored is read from the control API's oracle view.

- a camera JPEG (480x320 pixels, EXIF Orientation 6) is stored upright (320x480), and a rerun writes nothing; with
  convert=false it is sent as it is, with a warning, and stored sideways (480x320): the behaviour before issue 22;
- crop none, square and face, and max_dimension, are idempotent on the re-encoding service;
- min_dimension refuses a 40x40 photo before any write, 0 lets a 30x30 one through, and a 23x23 one reaches the
  service and meets its ValidationWidthTooSmall;
- content (base64) works in all three modules, LDIF-wrapped and URL-safe too, is refused without a write when it is
  not base64, not an image, or given with src, and never appears in a module's output;
- the sync's state file does not vouch for photos prepared another way (crop changed, or a file from before
  preparation existed).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import time

import pytest
import requests
from ansible.module_utils.common import warnings as ansible_warnings
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.plugins.modules import outlook_group_photo, outlook_user_photo, outlook_user_photo_sync

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position
from emulator.state import PRODUCTION_PROPAGATION_DELAY_S  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "c4a1e2f3-6b7d-4e8f-9a0b-1c2d3e4f5a6b"
SECRET = "Pq7-Wm2x-Tz9k-Rb4n"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
# As test_outlook_group_photo's "directory" app and test_sync_groups: photos, and reading groups by name.
ROLES = ["ProfilePhoto.ReadWrite.All", "Group.Read.All", "TeamSettings.ReadWrite.All"]
ADELE = "adele.vance@" + DOMAIN  # no photo in the seed
ALEX = "alex.wilber@" + DOMAIN  # a 240x240 photo in the seed
MEGAN = "megan.bowen@" + DOMAIN  # no photo in the seed
MARKETING = "9a000000-0000-4000-8000-000000000003"  # a Microsoft 365 group, not a Team, no photo
WRITES = ("PUT", "PATCH", "DELETE")
SETTLE = PRODUCTION_PROPAGATION_DELAY_S + 0.2  # after a write, until every read shows it
RED, BLUE = (220, 30, 30), (30, 30, 220)


# --- images --------------------------------------------------------------------------------------------------


def jpeg(color, size=(96, 96), **save):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90, **save)
    return out.getvalue()


def camera_jpeg():
    """What a phone writes for a portrait shot: 480x320 pixels (sensor order: left half red, right half blue) and EXIF
    Orientation 6, "turn 90 degrees clockwise to show". Upright it is 320x480, red on top, blue below."""
    image = Image.new("RGB", (480, 320), BLUE)
    image.paste(RED, (0, 0, 240, 320))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif)
    return out.getvalue()


_PORTRAIT = []


def portrait_jpeg():
    """scikit-image's astronaut (a real photograph, 512x512) cut to a 3:4 portrait of 384x512, so that the centred
    square and the square around the face differ."""
    if not _PORTRAIT:
        import skimage  # pylint: disable=import-outside-toplevel
        path = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")
        with Image.open(path) as photo:
            out = io.BytesIO()
            photo.convert("RGB").crop((64, 0, 448, 512)).save(out, format="JPEG", quality=90)
        _PORTRAIT.append(out.getvalue())
    return _PORTRAIT[0]


def b64(data):
    return base64.b64encode(data).decode("ascii")


def write_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --- emulator, control API, module runs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("prepared-photos-emulator"))) as server:  # production profile
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        call("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ROLES})
        yield call


class Runs:
    """main() of a module with the emulator's connection options; the JSON result, with the exit code as _rc. Every
    run's raw stdout is kept in stdout, to search for text that must never be printed."""

    def __init__(self, emulator, capfd):
        self.info = emulator.info
        self.capfd = capfd
        self.stdout = []

    def __call__(self, module, **args):
        info = self.info
        args = dict(args, tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=info["authority_host"],
                    api_url=info["graph_url"], ca_path=info["ca_path"])
        if module is outlook_user_photo_sync:
            args.setdefault("fail_on_error", False)
            args.setdefault("parallelism", 4)
        # Ansible keeps a module's warnings in a process-wide collection; a real task runs in its own process, so each
        # run here starts and ends with none (else one run's warnings would show up in the next run's result, or in
        # another test file's).
        ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        try:
            with patch_module_args(args):
                with pytest.raises(SystemExit) as caught:
                    module.main()
        finally:
            ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        out = self.capfd.readouterr().out
        self.stdout.append(out)
        result = json.loads(out)
        result["_rc"] = caught.value.code
        return result


@pytest.fixture
def run(emulator, capfd, control):  # control first: the emulator is reset and the app registered before any run
    return Runs(emulator, capfd)


def last_seq(control):
    return control("GET", "/requests?since=999999999")["last_seq"]


def requests_since(control, since):
    return control("GET", "/requests?since=%d" % since)["requests"]


def writes_since(control, since):
    """Every PUT, PATCH and DELETE the emulator answered since the mark, whatever the API."""
    return [entry for entry in requests_since(control, since) if entry["method"] in WRITES]


def stored(control, user):
    """The oracle view of a user's photo (the true state, no propagation delay)."""
    return control("GET", "/users/" + requests.utils.quote(user, safe=""))["photo"]


def stored_pixels(emulator, control, user):
    """The stored photo's bytes, read through Graph with a token minted by the control API."""
    token = control("POST", "/tokens", {"client_id": CLIENT})["access_token"]
    with requests.Session() as session:
        session.verify = emulator.info["ca_path"]
        session.trust_env = False
        answer = session.get("%s/users/%s/photo/$value" % (emulator.info["graph_url"], user),
                             headers={"Authorization": "Bearer " + token}, timeout=30)
    assert answer.status_code == 200, answer.text
    return Image.open(io.BytesIO(answer.content)).convert("RGB")


def warnings_of(result):
    """The warning texts of a result (ansible-core 2.19 returns each as a dict with its event)."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings") or []]


def entries_of(result):
    return {entry["group"] if entry.get("kind") == "group" else entry["user"]: entry for entry in result["results"]}


def is_close(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


# --- 1. EXIF Orientation ------------------------------------------------------------------------------------------


def test_a_camera_jpeg_is_stored_upright_by_the_single_user_module_and_a_rerun_writes_nothing(emulator, control, run, tmp_path):
    src = write_file(tmp_path, "camera.jpg", camera_jpeg())
    before = last_seq(control)
    first = run(outlook_user_photo, user=ADELE, src=src, wait=True)  # wait: the rerun reads what this wrote
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert (first["photo"]["width"], first["photo"]["height"]) == (320, 480)
    assert first["conversion"].startswith("JPEG 480x320 to JPEG 320x480 (turned upright")
    assert "EXIF Orientation 6" in first["conversion"]
    writes = writes_since(control, before)
    assert [(entry["method"], entry["status"]) for entry in writes] == [("PUT", 200)]
    assert writes[0]["body_sha256"] == first["sha256"] != hashlib.sha256(camera_jpeg()).hexdigest()  # a new JPEG
    photo = stored(control, ADELE)
    assert (photo["width"], photo["height"]) == (320, 480)
    assert photo["uploaded_sha256"] == first["sha256"] != photo["sha256"]  # re-encoded by the service
    upright = stored_pixels(emulator, control, ADELE)
    assert is_close(upright.getpixel((160, 60)), RED) and is_close(upright.getpixel((160, 420)), BLUE)  # turned clockwise

    rerun_from = last_seq(control)
    second = run(outlook_user_photo, user=ADELE, src=src)
    assert second["_rc"] == 0 and second["changed"] is False, second
    assert second["comparison"]["method"] == "pixels"
    assert writes_since(control, rerun_from) == []


def test_convert_false_sends_a_camera_jpeg_as_it_is_with_a_warning_and_it_is_stored_sideways(emulator, control, run, tmp_path):
    """The behaviour before issue 22, now only on request: the service (reencode_orientation=ignore, the production
    profile) keeps the pixels as they are in the file and drops the EXIF that said how to turn them."""
    data = camera_jpeg()
    src = write_file(tmp_path, "camera.jpg", data)
    before = last_seq(control)
    result = run(outlook_user_photo, user=MEGAN, src=src, convert=False, wait=True)
    assert result["_rc"] == 0 and result["changed"] is True, result
    assert result["sha256"] == hashlib.sha256(data).hexdigest() and result["conversion"] is None
    assert [w for w in warnings_of(result) if "EXIF Orientation 6 is sent as it is because convert=false" in w
            and "will appear turned" in w]
    assert [entry["body_sha256"] for entry in writes_since(control, before)] == [hashlib.sha256(data).hexdigest()]
    assert (result["photo"]["width"], result["photo"]["height"]) == (480, 320)
    photo = stored(control, MEGAN)
    assert (photo["width"], photo["height"]) == (480, 320)
    sideways = stored_pixels(emulator, control, MEGAN)
    assert is_close(sideways.getpixel((120, 160)), RED) and is_close(sideways.getpixel((360, 160)), BLUE)


def test_a_camera_jpeg_is_stored_upright_by_the_sync_and_a_rerun_writes_nothing(emulator, control, run, tmp_path):
    src = write_file(tmp_path, "camera.jpg", camera_jpeg())
    photos = [dict(user=ADELE, src=src), dict(user=ALEX, src=src)]  # Alex's seeded 240x240 photo is replaced
    before = last_seq(control)
    first = run(outlook_user_photo_sync, photos=photos)
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert first["summary"]["uploaded"] == 2 and first["failed_users"] == []
    for user in (ADELE, ALEX):
        entry = entries_of(first)[user]
        assert (entry["photo"]["width"], entry["photo"]["height"]) == (320, 480)
        assert entry["conversion"].startswith("JPEG 480x320 to JPEG 320x480 (turned upright")
        assert "EXIF Orientation 6" in entry["conversion"]
        photo = stored(control, user)
        assert (photo["width"], photo["height"]) == (320, 480) and photo["uploaded_sha256"] == entry["sha256"]
    assert len(writes_since(control, before)) == 2

    time.sleep(SETTLE)
    upright = stored_pixels(emulator, control, ALEX)
    assert is_close(upright.getpixel((160, 60)), RED) and is_close(upright.getpixel((160, 420)), BLUE)
    rerun_from = last_seq(control)
    second = run(outlook_user_photo_sync, photos=photos)
    assert writes_since(control, rerun_from) == []
    assert second["changed"] is False and second["summary"]["unchanged"] == 2
    assert {entry["comparison"]["method"] for entry in second["results"]} == {"pixels"}


def test_the_sync_with_convert_false_sends_a_camera_jpeg_as_it_is_with_a_warning(control, run, tmp_path):
    data = camera_jpeg()
    src = write_file(tmp_path, "camera.jpg", data)
    before = last_seq(control)
    result = run(outlook_user_photo_sync, photos=[dict(user=MEGAN, src=src)], convert=False)
    assert entries_of(result)[MEGAN]["action"] == "uploaded", result
    assert [w for w in warnings_of(result) if "EXIF Orientation 6 is sent as it is because convert=false" in w]
    assert [entry["body_sha256"] for entry in writes_since(control, before)] == [hashlib.sha256(data).hexdigest()]
    photo = stored(control, MEGAN)
    assert (photo["width"], photo["height"]) == (480, 320)


# --- 2. crop and max_dimension ------------------------------------------------------------------------------------

# (crop, max_dimension, stored width and height: None where only "a square smaller than 384" is known, the steps the
# result's conversion names; None: the file is sent exactly as it is)
PREPARATIONS = [
    ("none", None, (384, 512), None),
    ("square", None, (384, 384), ["square crop"]),
    ("face", None, None, ["face crop"]),
    ("none", 200, (150, 200), ["scaled to max_dimension 200"]),
    ("face", 200, (200, 200), ["face crop", "scaled to max_dimension 200"]),
]
PREPARATION_IDS = ["none", "square", "face", "none-max200", "face-max200"]


def check_prepared(size, conversion, width, height, reported_conversion):
    if size is None:  # crop=face: a square around the face, smaller than the centred square
        assert width == height and width < 384, (width, height)
    else:
        assert (width, height) == size
    if conversion is None:
        assert reported_conversion is None  # sent exactly as it is
    else:
        assert reported_conversion.startswith("JPEG 384x512 to JPEG %dx%d (" % (width, height)), reported_conversion
        assert all(step in reported_conversion for step in conversion), reported_conversion
        assert "square crop" not in reported_conversion or "face" not in reported_conversion  # no fallback from face


@pytest.mark.parametrize("crop, max_dimension, size, conversion", PREPARATIONS, ids=PREPARATION_IDS)
def test_each_crop_is_idempotent_in_the_single_user_module(control, run, tmp_path, crop, max_dimension, size, conversion):
    src = write_file(tmp_path, "portrait.jpg", portrait_jpeg())
    before = last_seq(control)
    first = run(outlook_user_photo, user=ALEX, src=src, crop=crop, max_dimension=max_dimension, wait=True)
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert warnings_of(first) == []  # crop=face found the face: no fallback to square
    assert len(writes_since(control, before)) == 1
    photo = stored(control, ALEX)
    check_prepared(size, conversion, photo["width"], photo["height"], first["conversion"])
    assert (first["photo"]["width"], first["photo"]["height"]) == (photo["width"], photo["height"])
    assert photo["uploaded_sha256"] == first["sha256"] != photo["sha256"]  # the service re-encoded it

    rerun_from = last_seq(control)
    second = run(outlook_user_photo, user=ALEX, src=src, crop=crop, max_dimension=max_dimension)
    assert second["_rc"] == 0 and second["changed"] is False, second
    assert second["comparison"]["method"] == "pixels" and second["sha256"] == first["sha256"]  # the same bytes prepared
    assert writes_since(control, rerun_from) == []


@pytest.mark.parametrize("crop, max_dimension, size, conversion", PREPARATIONS, ids=PREPARATION_IDS)
def test_each_crop_is_idempotent_in_the_sync(control, run, tmp_path, crop, max_dimension, size, conversion):
    """crop and max_dimension are task-wide: one sync per preparation."""
    src = write_file(tmp_path, "portrait.jpg", portrait_jpeg())
    photos = [dict(user=ADELE, src=src)]
    before = last_seq(control)
    first = run(outlook_user_photo_sync, photos=photos, crop=crop, max_dimension=max_dimension)
    entry = entries_of(first)[ADELE]
    assert entry["action"] == "uploaded" and first["changed"] is True, first
    assert warnings_of(first) == []
    assert len(writes_since(control, before)) == 1
    photo = stored(control, ADELE)
    check_prepared(size, conversion, photo["width"], photo["height"], entry["conversion"])
    assert (entry["photo"]["width"], entry["photo"]["height"]) == (photo["width"], photo["height"])
    assert photo["uploaded_sha256"] == entry["sha256"] != photo["sha256"]

    time.sleep(SETTLE)
    rerun_from = last_seq(control)
    second = run(outlook_user_photo_sync, photos=photos, crop=crop, max_dimension=max_dimension)
    assert second["changed"] is False and entries_of(second)[ADELE]["action"] == "unchanged", second
    assert entries_of(second)[ADELE]["comparison"]["method"] == "pixels"
    assert writes_since(control, rerun_from) == []


def test_face_and_square_crops_differ_and_the_face_square_holds_the_face(control, run, tmp_path):
    """The face crop is not the centred square under another name: its pixels differ, and it is the astronaut's face
    region (the upper part of the portrait), whereas the centred square reaches down to her chest."""
    src = write_file(tmp_path, "portrait.jpg", portrait_jpeg())
    square = run(outlook_user_photo, user=ADELE, src=src, crop="square", _ansible_check_mode=True)
    face = run(outlook_user_photo, user=ADELE, src=src, crop="face", _ansible_check_mode=True)
    assert square["sha256"] != face["sha256"]
    assert square["photo"]["width"] == 384 and face["photo"]["width"] < 384
    # The same preparation of the same file gives the same bytes (what makes reruns idempotent).
    assert run(outlook_user_photo, user=ADELE, src=src, crop="face", _ansible_check_mode=True)["sha256"] == face["sha256"]


# --- 3. min_dimension -------------------------------------------------------------------------------------------


def test_a_40x40_photo_fails_before_any_request_under_the_default_min_dimension(control, run, tmp_path):
    src = write_file(tmp_path, "tiny.jpg", jpeg((0, 120, 60), (40, 40)))
    before = last_seq(control)
    result = run(outlook_user_photo, user=ADELE, src=src)
    assert result["failed"] is True and result["_rc"] == 1
    assert "it is 40x40 pixels, under min_dimension 48" in result["msg"] and "min_dimension=0" in result["msg"]
    assert requests_since(control, before) == []  # refused before the token, so before any write
    assert stored(control, ADELE) is None


def test_min_dimension_0_lets_a_30x30_photo_through(control, run, tmp_path):
    src = write_file(tmp_path, "small.jpg", jpeg((0, 120, 60), (30, 30)))
    before = last_seq(control)
    result = run(outlook_user_photo, user=ADELE, src=src, min_dimension=0)
    assert result["_rc"] == 0 and result["changed"] is True, result
    assert [(entry["method"], entry["status"]) for entry in writes_since(control, before)] == [("PUT", 200)]
    photo = stored(control, ADELE)
    assert (photo["width"], photo["height"]) == (30, 30)


def emulator_min_photo_side(control):
    return control("GET", "/behaviours").get("min_photo_side")


def test_a_23x23_photo_with_min_dimension_0_meets_the_services_validation_width_too_small(control, run, tmp_path):
    if emulator_min_photo_side(control) != 24:
        pytest.skip("the emulator's production profile has no min_photo_side 24 (ValidationWidthTooSmall) yet")
    src = write_file(tmp_path, "smaller.jpg", jpeg((0, 120, 60), (23, 23)))
    before = last_seq(control)
    result = run(outlook_user_photo, user=ADELE, src=src, min_dimension=0)
    assert result["failed"] is True and result.get("changed", False) is False, result
    assert result["status"] == 400 and "ValidationWidthTooSmall" in (result.get("error_code") or "") + result["msg"], result
    assert [(entry["method"], entry["status"]) for entry in writes_since(control, before)] == [("PUT", 400)]
    assert stored(control, ADELE) is None


def test_min_dimension_in_the_sync_fails_only_the_entry_it_concerns(control, run, tmp_path):
    tiny = write_file(tmp_path, "tiny.jpg", jpeg((0, 120, 60), (40, 40)))
    fine = write_file(tmp_path, "fine.jpg", jpeg((0, 60, 120), (96, 96)))
    before = last_seq(control)
    result = run(outlook_user_photo_sync, photos=[dict(user=ADELE, src=tiny), dict(user=MEGAN, src=fine)])
    entries = entries_of(result)
    assert entries[ADELE]["action"] == "failed" and "40x40 pixels, under min_dimension 48" in entries[ADELE]["message"]
    assert entries[MEGAN]["action"] == "uploaded" and result["failed_users"] == [ADELE]
    writes = writes_since(control, before)
    assert len(writes) == 1 and writes[0]["user"] == "3e6a0000-0000-4000-8000-000000000003"  # Megan's, not Adele's
    assert stored(control, ADELE) is None

    # min_dimension=0: a 30x30 photo is stored, a 23x23 one reaches the service, which refuses it.
    small = write_file(tmp_path, "small.jpg", jpeg((0, 120, 60), (30, 30)))
    smaller = write_file(tmp_path, "smaller.jpg", jpeg((0, 120, 60), (23, 23)))
    refused = emulator_min_photo_side(control) == 24
    before = last_seq(control)
    result = run(outlook_user_photo_sync, photos=[dict(user=ADELE, src=small), dict(user=ALEX, src=smaller)], min_dimension=0)
    entries = entries_of(result)
    assert entries[ADELE]["action"] == "uploaded", entries[ADELE]
    assert (stored(control, ADELE)["width"], stored(control, ADELE)["height"]) == (30, 30)
    if refused:
        assert entries[ALEX]["action"] == "failed" and "ValidationWidthTooSmall" in entries[ALEX]["message"], entries[ALEX]
        assert sorted(entry["status"] for entry in writes_since(control, before)) == [200, 400]
        assert stored(control, ALEX)["width"] == 240  # the seeded photo stays


# --- 4. content --------------------------------------------------------------------------------------------------


def never_printed(run, text):
    """A 40-character slice of the base64 text is in no run's raw output (results, warnings, invocation)."""
    middle = len(text) // 2
    piece = text[middle - 20:middle + 20]
    assert len(piece) == 40
    assert all(piece not in out for out in run.stdout)


def test_content_in_the_single_user_module_plain_ldif_wrapped_and_url_safe(control, run):
    data = jpeg((200, 140, 20), (128, 96))
    text = b64(data)
    assert "+" in text or "/" in text  # so that the URL-safe alphabet is really another text
    before = last_seq(control)
    first = run(outlook_user_photo, user=ADELE, content=text, wait=True)
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert first["sha256"] == hashlib.sha256(data).hexdigest()  # decoded exactly, sent as it is
    assert [entry["body_sha256"] for entry in writes_since(control, before)] == [first["sha256"]]
    rerun_from = last_seq(control)
    second = run(outlook_user_photo, user=ADELE, content=text)
    assert second["changed"] is False and writes_since(control, rerun_from) == []

    # LDIF wraps base64 at 76 characters; an HR API may send the URL-safe alphabet without padding.
    ldif = "\n".join(text[start:start + 76] for start in range(0, len(text), 76))
    url_safe = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    for user, content in ((MEGAN, ldif), (ALEX, url_safe)):
        before = last_seq(control)
        result = run(outlook_user_photo, user=user, content=content, wait=True)
        assert result["changed"] is True and result["sha256"] == hashlib.sha256(data).hexdigest(), result
        assert [entry["body_sha256"] for entry in writes_since(control, before)] == [result["sha256"]]
        rerun_from = last_seq(control)
        assert run(outlook_user_photo, user=user, content=content)["changed"] is False
        assert writes_since(control, rerun_from) == []
    never_printed(run, text)
    never_printed(run, url_safe)


def test_content_in_the_group_module(control, run):
    data = jpeg((20, 160, 200), (120, 120))
    text = b64(data)
    before = last_seq(control)
    first = run(outlook_group_photo, group=MARKETING, content=text, wait=True)
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert first["group"]["display_name"] == "Marketing" and first["sha256"] == hashlib.sha256(data).hexdigest()
    writes = writes_since(control, before)
    assert [(entry["method"], entry["path"]) for entry in writes] == [("PUT", "/v1.0/groups/%s/photo/$value" % MARKETING)]
    assert control("GET", "/groups/" + MARKETING)["photo"]["uploaded_sha256"] == first["sha256"]
    rerun_from = last_seq(control)
    second = run(outlook_group_photo, group=MARKETING, content=text)
    assert second["changed"] is False and second["comparison"]["method"] == "pixels", second
    assert writes_since(control, rerun_from) == []
    never_printed(run, text)


def test_content_in_the_sync_for_users_and_a_group(control, run):
    user_data, group_data = jpeg((90, 20, 160), (100, 100)), jpeg((160, 90, 20), (110, 110))
    user_text = b64(user_data)
    ldif = "\n".join(user_text[start:start + 76] for start in range(0, len(user_text), 76))
    url_safe = base64.urlsafe_b64encode(group_data).decode("ascii").rstrip("=")
    photos = [dict(user=ADELE, content=user_text), dict(user=MEGAN, content=ldif), dict(group=MARKETING, content=url_safe)]
    before = last_seq(control)
    first = run(outlook_user_photo_sync, photos=photos)
    assert first["summary"]["uploaded"] == 3 and first["failed_users"] == [] and first["failed_groups"] == [], first
    entries = entries_of(first)
    assert entries[ADELE]["sha256"] == entries[MEGAN]["sha256"] == hashlib.sha256(user_data).hexdigest()
    assert entries[MARKETING]["sha256"] == hashlib.sha256(group_data).hexdigest()
    assert all(entry["src"] is None for entry in first["results"])  # content is never echoed as the source
    assert len(writes_since(control, before)) == 3
    assert control("GET", "/groups/" + MARKETING)["photo"]["uploaded_sha256"] == entries[MARKETING]["sha256"]

    time.sleep(SETTLE)
    rerun_from = last_seq(control)
    second = run(outlook_user_photo_sync, photos=photos)
    assert second["changed"] is False and second["summary"]["unchanged"] == 3, second
    assert writes_since(control, rerun_from) == []
    never_printed(run, user_text)
    never_printed(run, url_safe)


BAD_CONTENT = [
    ("not base64!", "is not base64: it holds characters outside the base64 alphabets"),
    (b64(b"hello world, not a photo"), "is not an image this module knows"),
]


@pytest.mark.parametrize("content, message", BAD_CONTENT, ids=["not-base64", "not-an-image"])
def test_bad_content_is_refused_before_any_request_by_the_single_photo_modules(control, run, content, message):
    before = last_seq(control)
    user = run(outlook_user_photo, user=ADELE, content=content)
    group = run(outlook_group_photo, group=MARKETING, content=content)
    for result in (user, group):
        assert result["failed"] is True and result["_rc"] == 1
        assert result["msg"].startswith("content ") and message in result["msg"], result["msg"]
    assert requests_since(control, before) == []  # not even a token request
    assert all(content not in out for out in run.stdout)


@pytest.mark.parametrize("content, message", BAD_CONTENT, ids=["not-base64", "not-an-image"])
def test_bad_content_fails_its_sync_entry_alone(control, run, tmp_path, content, message):
    src = write_file(tmp_path, "fine.jpg", jpeg((0, 60, 120)))
    before = last_seq(control)
    result = run(outlook_user_photo_sync, photos=[dict(user=ADELE, content=content), dict(group=MARKETING, content=content),
                                                  dict(user=MEGAN, src=src)])
    entries = entries_of(result)
    for key in (ADELE, MARKETING):
        assert entries[key]["action"] == "failed" and message in entries[key]["message"], entries[key]
    assert entries[MEGAN]["action"] == "uploaded"
    assert result["failed_users"] == [ADELE] and result["failed_groups"] == [MARKETING]
    writes = writes_since(control, before)
    assert len(writes) == 1 and writes[0]["user"] == "3e6a0000-0000-4000-8000-000000000003" and writes[0]["group"] is None
    assert all(content not in out for out in run.stdout)


def test_src_and_content_together_are_refused(control, run, tmp_path):
    src = write_file(tmp_path, "fine.jpg", jpeg((0, 60, 120)))
    text = b64(jpeg((120, 0, 60), (100, 100)))
    before = last_seq(control)
    for result in (run(outlook_user_photo, user=ADELE, src=src, content=text),
                   run(outlook_group_photo, group=MARKETING, src=src, content=text)):
        assert result["failed"] is True and "parameters are mutually exclusive: src|content" in result["msg"], result
    assert requests_since(control, before) == []

    result = run(outlook_user_photo_sync, photos=[dict(user=ADELE, src=src, content=text), dict(group=MARKETING, src=src, content=text),
                                                  dict(user=MEGAN, content=text)])
    entries = entries_of(result)
    assert entries[ADELE]["action"] == "failed" and "gives both src and content" in entries[ADELE]["message"]
    assert entries[MARKETING]["action"] == "failed" and "gives both src and content" in entries[MARKETING]["message"]
    assert entries[MEGAN]["action"] == "uploaded"
    writes = writes_since(control, before)
    assert len(writes) == 1 and writes[0]["user"] == "3e6a0000-0000-4000-8000-000000000003"
    assert stored(control, ADELE) is None and control("GET", "/groups/" + MARKETING)["has_photo"] is False
    never_printed(run, text)


# --- 5. the sync's state file -------------------------------------------------------------------------------------


def trusted_state_file(run, control, photos, path, **args):
    """Uploads, then runs until the state file vouches for every photo (two downloads that agree, issue 17); returns
    the run that downloaded nothing."""
    count = len(photos)
    first = run(outlook_user_photo_sync, photos=photos, state_file=path, **args)
    assert first["summary"]["uploaded"] == count, first
    time.sleep(SETTLE)
    for _agreeing in range(2):
        compared = run(outlook_user_photo_sync, photos=photos, state_file=path, **args)
        assert compared["summary"]["unchanged"] == count and compared["stats"]["photos_downloaded"] == count, compared
    mark = last_seq(control)
    trusted = run(outlook_user_photo_sync, photos=photos, state_file=path, **args)
    assert trusted["stats"]["state_file_hits"] == count and trusted["stats"]["photos_downloaded"] == 0, trusted
    assert writes_since(control, mark) == []
    return trusted


def test_a_new_crop_is_not_vouched_for_by_records_of_the_old_one(control, run, tmp_path):
    src = write_file(tmp_path, "portrait.jpg", portrait_jpeg())
    path = str(tmp_path / "state.json")
    photos = [dict(user=ADELE, src=src), dict(user=MEGAN, src=src)]
    trusted_state_file(run, control, photos, path, crop="none")
    assert json.loads(open(path, encoding="utf-8").read())["settings"]["preparation"] == dict(version=2, crop="none", max_dimension=None)
    for user in (ADELE, MEGAN):
        assert (stored(control, user)["width"], stored(control, user)["height"]) == (384, 512)

    before = last_seq(control)
    square = run(outlook_user_photo_sync, photos=photos, state_file=path, crop="square")
    assert square["stats"]["state_file_hits"] == 0 and square["stats"]["photos_downloaded"] == 2, square["stats"]
    assert square["summary"]["uploaded"] == 2, square
    assert [w for w in warnings_of(square) if "another photo preparation" in w]
    assert len(writes_since(control, before)) == 2
    for user in (ADELE, MEGAN):
        assert (stored(control, user)["width"], stored(control, user)["height"]) == (384, 384)
    assert json.loads(open(path, encoding="utf-8").read())["settings"]["preparation"] == dict(version=2, crop="square", max_dimension=None)


def test_a_state_file_from_before_preparation_is_not_trusted(control, run, tmp_path):
    src = write_file(tmp_path, "portrait.jpg", portrait_jpeg())
    path = tmp_path / "state.json"
    photos = [dict(user=user, src=src) for user in (ADELE, MEGAN, ALEX)]
    trusted_state_file(run, control, photos, str(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    del document["settings"]["preparation"]  # as a state file of 1.0.x (format version 2) holds it
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    before = last_seq(control)
    result = run(outlook_user_photo_sync, photos=photos, state_file=str(path))
    warned = [w for w in warnings_of(result) if "state_file" in w]
    assert len(warned) == 1 and "was written before photos were prepared (turned upright, cropped, sized)" in warned[0], warned
    assert result["stats"]["state_file_hits"] == 0 and result["stats"]["photos_downloaded"] == 3, result["stats"]
    assert result["changed"] is False and result["summary"]["unchanged"] == 3  # compared: the same photos
    assert writes_since(control, before) == []
    assert "preparation" in json.loads(path.read_text(encoding="utf-8"))["settings"]  # written anew, with it
