# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_user_photo_sync with state_file against the in-process emulator (issue 17 defect 1): someone else changes a
photo; on the next run one content read lags and serves the older photo's bytes (which match the source) under the new
photo's etag. 1.0.0 recorded that etag with the source, and every later run skipped the user while the tenant held the
other photo. Now the run after the lag puts the wanted photo back. Proven from the emulator's oracle and request log."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests

from ansible_collections.o365.outlook.tests.unit.plugins.modules.test_sync_sources import (  # noqa: F401  pylint: disable=unused-import
    ADELE, control, emulator, jpeg, sync)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def behaviours(emulator, body):
    response = requests.put(emulator.info["control_url"] + "/behaviours", json=body, verify=emulator.info["ca_path"], timeout=10)
    assert response.status_code == 200, response.text


def content_reads(control, since):
    log = control("GET", "/requests?since=%d" % since)["requests"]
    return [entry for entry in log if entry["api"] == "graph" and entry["path"].endswith("/photo/$value") and entry["method"] == "GET"]


@pytest.mark.parametrize("value_etag", [False, True])
def test_regression_old_bytes_served_once_under_the_new_etag_do_not_hide_the_change(emulator, control, capfd, tmp_path, value_etag):
    """value_etag: whether $value answers carry an ETag header (unconfirmed for Graph); the lagging answer's is the old
    photo's, so with it the lagging run already records nothing it can trust."""
    behaviours(emulator, {"reencode": True, "propagation_delay_s": 0, "value_etag": value_etag})
    red = tmp_path / "red.jpg"
    red.write_bytes(jpeg((200, 0, 0)))
    state_file = str(tmp_path / "state.json")
    photos = [dict(user=ADELE, src=str(red))]

    first = sync(emulator, capfd, photos=photos, state_file=state_file)
    assert first["summary"]["uploaded"] == 1
    for _night in range(1 if value_etag else 2):   # without ETag headers: trusted once two runs' downloads agree
        assert sync(emulator, capfd, photos=photos, state_file=state_file)["summary"]["unchanged"] == 1
    seq = control("GET", "/requests?since=0")["last_seq"]
    held = sync(emulator, capfd, photos=photos, state_file=state_file)
    assert held["stats"]["state_file_hits"] == 1 and content_reads(control, seq) == []

    # Someone else sets another photo; a lagging replica then serves the red photo's bytes once.
    blue = jpeg((0, 0, 200))
    response = requests.put(emulator.info["control_url"] + "/users/%s/photo" % requests.utils.quote(ADELE, safe=""), data=blue,
                            headers={"Content-Type": "image/jpeg"}, verify=emulator.info["ca_path"], timeout=10)
    assert response.status_code == 200
    behaviours(emulator, {"faults": [{"method": "GET", "path_regex": "/photo/\\$value$", "stale": True}]})
    lagged = sync(emulator, capfd, photos=photos, state_file=state_file)
    # This run saw the red bytes: nothing to do, as far as it can tell.
    assert lagged["summary"]["unchanged"] == 1, [(r["action"], r["message"]) for r in lagged["results"]]
    assert [entry["fault"] for entry in content_reads(control, seq) if entry.get("fault")] == ["stale"]

    put_back = sync(emulator, capfd, photos=photos, state_file=state_file)
    assert put_back["summary"]["uploaded"] == 1 and put_back["changed"] is True
    oracle = control("GET", "/users/" + requests.utils.quote(ADELE, safe=""))
    assert oracle["photo"]["uploaded_sha256"] == sha(red.read_bytes())
    saved = json.loads(open(state_file, encoding="utf-8").read())
    assert saved["version"] == 2
