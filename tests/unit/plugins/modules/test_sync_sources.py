# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_user_photo_sync against the in-process emulator (issue 17): a user whose source is missing, a link, a FIFO
or not an image gets no request at all, the link's target is never uploaded, and src_dir's other entries are
reported in skipped_files. Requests are counted from the emulator's request log, $batch items included."""
from __future__ import annotations

import io
import json
import os
import sys

import pytest
import requests
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_sync

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "11111111-1111-4111-8111-111111111111"
SECRET = "emulator-secret-value"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
ALEX, ADELE, MEGAN = ("%s@%s" % (name, DOMAIN) for name in ("alex.wilber", "adele.vance", "megan.bowen"))


def jpeg(color):
    out = io.BytesIO()
    Image.new("RGB", (96, 96), color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("sources-emulator"))) as server:
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        yield call


def sync(emulator, capfd, **args):
    info = emulator.info
    args = dict(args, tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=info["authority_host"],
                api_url=info["graph_url"], ca_path=info["ca_path"], fail_on_error=False, parallelism=2)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            outlook_user_photo_sync.main()
    return json.loads(capfd.readouterr().out)


def user_id(control, upn):
    return control("GET", "/users/" + requests.utils.quote(upn, safe=""))["id"]


def sent(control):
    """(users the API requests named, requests to the sign-in service): every request since the last reset."""
    log = control("GET", "/requests?since=0")["requests"]
    return {entry["user"] for entry in log if entry["api"] == "graph"}, [entry for entry in log if entry["api"] == "entra"]


def token_requests(entra):
    return [entry for entry in entra if entry["method"] == "POST"]


def test_regression_users_with_bad_sources_get_no_request_and_a_link_is_never_followed(emulator, control, capfd, tmp_path):
    """issue 17: a link in src_dir uploaded its target; a bad source was found only after that user's reads."""
    private = tmp_path / "private.jpg"
    private.write_bytes(jpeg((0, 0, 200)))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / (ALEX + ".jpg")).write_bytes(jpeg((200, 0, 0)))
    (photos / (MEGAN + ".jpg")).write_bytes(b"This is not a JPEG image.\n")
    (photos / (ADELE + ".jpg")).symlink_to(private)
    os.mkfifo(str(photos / ("lee.gu@%s.jpg" % DOMAIN)))
    (photos / "archive").mkdir()

    result = sync(emulator, capfd, src_dir=str(photos), photos=[dict(user="lynne.robbins@" + DOMAIN, src=str(tmp_path / "gone.jpg"))])

    entries = {entry["user"]: entry for entry in result["results"]}
    assert result["summary"]["uploaded"] == 1 and entries[ALEX]["action"] == "uploaded"
    assert sorted(result["failed_users"]) == ["lynne.robbins@" + DOMAIN, MEGAN]
    assert "is not an image this module knows" in entries[MEGAN]["message"]
    assert "does not exist" in entries["lynne.robbins@" + DOMAIN]["message"]
    assert result["skipped_files"] == [dict(name=ADELE + ".jpg", reason="symbolic link"), dict(name="archive", reason="directory"),
                                       dict(name="lee.gu@%s.jpg" % DOMAIN, reason="not a regular file (FIFO)")]
    assert result["unmatched_files"] == []
    users, entra = sent(control)
    assert users == {user_id(control, ALEX)}  # no read, no write, for anyone else
    assert len(token_requests(entra)) == 1
    assert control("GET", "/users/" + requests.utils.quote(ADELE, safe=""))["has_photo"] is False


def test_a_run_whose_every_source_is_bad_sends_nothing_at_all(emulator, control, capfd, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / (MEGAN + ".jpg")).write_bytes(b"")
    (photos / (ALEX + ".jpg")).symlink_to(photos / "nowhere.jpg")
    result = sync(emulator, capfd, src_dir=str(photos))
    assert result["summary"]["total"] == 1 and result["failed_users"] == [MEGAN]
    assert result["skipped_files"] == [dict(name=ALEX + ".jpg", reason="symbolic link")]
    assert sent(control) == (set(), [])  # not even a token, nor the sign-in service's metadata
