# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_user_photo_sync with group entries (issue 21), against the in-process emulator on its production profile:
200 users and 50 groups in one run, some groups Teams, one that does not exist. Every entry gets the right action, the
summary adds up, and a rerun writes nothing (counted from the emulator's request log)."""
from __future__ import annotations

import io
import json
import os
import sys
import time

import pytest
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_sync

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position
from emulator.state import PRODUCTION_PROPAGATION_DELAY_S  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "7c3e9f1a-55d2-4b8e-9a01-3f6d2c8b4e77"
SECRET = "Vq3-Lk8x-Rz2m-Hp6t"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
ROLES = ["ProfilePhoto.ReadWrite.All", "Group.Read.All", "TeamSettings.ReadWrite.All"]
MARKETING = "9a000000-0000-4000-8000-000000000003"
WRITES = ("PUT", "PATCH", "DELETE")


def jpeg(color, size=(96, 96)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("sync-groups-emulator"))) as server:  # production profile
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        call("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ROLES})
        yield call


def sync(emulator, capfd, **args):
    info = emulator.info
    args = dict(args, tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=info["authority_host"],
                api_url=info["graph_url"], ca_path=info["ca_path"], fail_on_error=False, parallelism=4)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            outlook_user_photo_sync.main()
    return json.loads(capfd.readouterr().out)


def writes_since(control, since):
    return [entry for entry in control("GET", "/requests?since=%d" % since)["requests"] if entry["method"] in WRITES and entry["api"] == "graph"]


def last_seq(control):
    return control("GET", "/requests?since=999999999")["last_seq"]


def test_200_users_and_50_groups_in_one_sync_then_a_rerun_writes_nothing(emulator, control, capfd, tmp_path):
    control("POST", "/users/generate", {"count": 200, "photo_ratio": 0.5})
    control("POST", "/groups/generate", {"count": 50, "team_ratio": 0.3, "photo_ratio": 0.2})
    groups = control("GET", "/groups")["groups"]
    generated = [group for group in groups if group["mail"] and group["mail"].startswith("group")]
    assert len(generated) == 50 and sum(group["team"] for group in generated) == 15
    user_src, group_src = tmp_path / "user.jpg", tmp_path / "logo.jpg"
    user_src.write_bytes(jpeg((30, 90, 200)))
    group_src.write_bytes(jpeg((220, 120, 0), (160, 160)))
    photos = [dict(user="user%05d@%s" % (index, DOMAIN), src=str(user_src)) for index in range(1, 201)]
    # Groups named three ways: by mail, by mailNickname and by object id; the Teams through the Teams endpoint.
    for index, group in enumerate(generated):
        key = (group["mail"], group["mailNickname"], group["id"])[index % 3]
        photos.append(dict(group=key, src=str(group_src), endpoint="team" if group["team"] else "group"))
    photos.append(dict(group="no-such-group", src=str(group_src)))
    before = last_seq(control)

    first = sync(emulator, capfd, photos=photos, absent_groups=[MARKETING])
    assert first.get("failed") is not True, first.get("msg")
    by_kind = {"user": [], "group": []}
    for entry in first["results"]:
        by_kind[entry["kind"]].append(entry)
    assert len(by_kind["user"]) == 200 and len(by_kind["group"]) == 52
    assert {entry["action"] for entry in by_kind["user"]} == {"uploaded"}
    missing = [entry for entry in by_kind["group"] if entry["group"] == "no-such-group"]
    assert [entry["action"] for entry in missing] == ["failed"] and "no group has mailNickname 'no-such-group'" in missing[0]["message"]
    assert first["failed_groups"] == ["no-such-group"] and first["failed_users"] == []
    marketing = [entry for entry in by_kind["group"] if entry["group"] == MARKETING]
    assert [(entry["action"], entry["message"]) for entry in marketing] == [("unchanged", "no photo, as wanted")]  # none to remove
    uploaded_groups = [entry for entry in by_kind["group"] if entry["action"] == "uploaded"]
    assert len(uploaded_groups) == 50
    ids = {group["id"] for group in generated}
    assert {entry["group_id"] for entry in uploaded_groups} == ids and all(entry["user"] is None for entry in uploaded_groups)
    summary = first["summary"]
    assert summary["total"] == 252 and summary["uploaded"] == 250 and summary["failed"] == 1 and summary["unchanged"] == 1
    assert sum(summary[name] for name in summary if name != "total") == summary["total"]

    # Each group's photo went where its entry said: Teams through /teams, the others through /groups.
    writes = writes_since(control, before)
    assert len(writes) == 250
    team_ids = {group["id"] for group in generated if group["team"]}
    team_writes = {entry["group"] for entry in writes if entry["path"].startswith("/v1.0/teams/")}
    group_writes = {entry["group"] for entry in writes if entry["path"].startswith("/v1.0/groups/")}
    assert team_writes == team_ids and group_writes == ids - team_ids
    stored = {group["id"]: group for group in control("GET", "/groups")["groups"]}
    assert all(stored[group_id]["has_photo"] for group_id in ids)

    # The service re-encodes and lags a write by a second (production profile): a rerun once that second has passed
    # compares pixels and writes nothing.
    time.sleep(PRODUCTION_PROPAGATION_DELAY_S + 0.2)
    rerun_from = last_seq(control)
    second = sync(emulator, capfd, photos=photos, absent_groups=[MARKETING])
    assert writes_since(control, rerun_from) == []
    assert second["changed"] is False
    assert second["summary"]["unchanged"] == 251 and second["summary"]["failed"] == 1


def test_a_group_named_twice_fails_both_entries_and_team_absent_is_refused_per_entry(emulator, control, capfd, tmp_path):
    src = tmp_path / "logo.jpg"
    src.write_bytes(jpeg((0, 160, 80)))
    before = last_seq(control)
    result = sync(emulator, capfd, photos=[
        dict(group="sales@" + DOMAIN, src=str(src)),
        dict(group="9a000000-0000-4000-8000-000000000001", src=str(src)),
        dict(group="phoenix", endpoint="team", state="absent"),
        dict(user="alex.wilber@" + DOMAIN, src=str(src)),
    ])
    actions = {(entry["kind"], entry["group"] or entry["user"]): (entry["action"], entry["message"]) for entry in result["results"]}
    assert actions[("group", "sales@" + DOMAIN)][0] == "failed" and "named twice" in actions[("group", "sales@" + DOMAIN)][1]
    assert actions[("group", "9a000000-0000-4000-8000-000000000001")][0] == "failed"
    assert actions[("group", "phoenix")][0] == "failed" and "a Team photo cannot be removed" in actions[("group", "phoenix")][1]
    assert actions[("user", "alex.wilber@" + DOMAIN)][0] == "uploaded"
    assert sorted(result["failed_groups"]) == sorted(["sales@" + DOMAIN, "9a000000-0000-4000-8000-000000000001", "phoenix"])
    group_writes = [entry for entry in writes_since(control, before) if entry["group"]]
    assert group_writes == []


def test_groups_without_group_read_all_fail_by_name_but_work_by_id(emulator, control, capfd, tmp_path):
    control("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ["ProfilePhoto.ReadWrite.All"]})
    src = tmp_path / "logo.jpg"
    src.write_bytes(jpeg((90, 0, 160)))
    result = sync(emulator, capfd, photos=[dict(group="marketing", src=str(src)), dict(group=MARKETING.upper(), src=str(src))])
    entries = {entry["group"]: entry for entry in result["results"]}
    assert entries["marketing"]["action"] == "failed" and "needs Group.Read.All" in entries["marketing"]["message"]
    assert entries[MARKETING.upper()]["action"] == "uploaded" and entries[MARKETING.upper()]["group_id"] == MARKETING


def test_a_state_file_keys_groups_apart_from_users(emulator, control, capfd, tmp_path):
    src = tmp_path / "logo.jpg"
    src.write_bytes(jpeg((10, 200, 200)))
    state = tmp_path / "state.json"
    sync(emulator, capfd, photos=[dict(group=MARKETING, src=str(src))], state_file=str(state))
    records = json.loads(state.read_text())["users"]  # the 1.0.0 field name; groups share it, by their group:<id> keys
    assert list(records) == ["group:" + MARKETING]


@pytest.mark.parametrize("entry, message", [
    (dict(user="a@x", group="sales"), "mutually exclusive"),
    (dict(src="x.jpg"), "one of the following is required"),
])
def test_an_entry_needs_exactly_one_of_user_and_group(emulator, control, capfd, entry, message):
    before = last_seq(control)
    result = sync(emulator, capfd, photos=[entry])
    assert result["failed"] is True and message in result["msg"]
    assert last_seq(control) == before  # refused before any request


def test_api_outlook_v2_refuses_group_entries_before_any_request(emulator, control, capfd, tmp_path):
    before = last_seq(control)
    result = sync(emulator, capfd, photos=[dict(group="sales", src=str(tmp_path / "x.jpg"))], api="outlook_v2")
    assert result["failed"] is True and "Group and Team photos need api=graph" in result["msg"]
    assert last_seq(control) == before


def test_a_run_stopped_by_a_group_entry_reports_the_rest_as_not_attempted(emulator, control, capfd, tmp_path):
    """A refused token on a group's request stops the run like a user's does: the result names that group and lists
    the groups not reached, and nothing crashes on a group's name (an Owner is a tuple)."""
    control("POST", "/groups/generate", {"count": 60})
    ids = [group["id"] for group in control("GET", "/groups")["groups"] if (group["mail"] or "").startswith("group")]
    src = tmp_path / "logo.jpg"
    src.write_bytes(jpeg((120, 120, 0)))
    control("PUT", "/behaviours", {"faults": [{"path_regex": "/groups/", "status": 401, "count": 100000}]})
    result = sync(emulator, capfd, photos=[dict(group=group_id, src=str(src)) for group_id in ids], parallelism=1)
    assert result["failed"] is True and result["msg"].startswith("The run stopped")
    actions = {entry["action"] for entry in result["results"]}
    assert actions <= {"failed", "not_attempted"}
    assert result["not_attempted_groups"] and set(result["not_attempted_groups"]) | set(result["failed_groups"]) == set(ids)
    stopped_at = [entry["message"] for entry in result["results"] if entry["action"] == "not_attempted"][0]
    assert "the run stopped at group " in stopped_at


def test_a_teams_state_file_record_is_its_groups_whichever_endpoint_wrote_it(emulator, control, capfd, tmp_path):
    """One photo, one record: the Team's picture is the group's photo, so endpoint team and group share group:<id>."""
    src = tmp_path / "logo.jpg"
    src.write_bytes(jpeg((40, 40, 200)))
    state = tmp_path / "state.json"
    team = "9a000000-0000-4000-8000-000000000002"
    sync(emulator, capfd, photos=[dict(group=team, endpoint="team", src=str(src))], state_file=str(state))
    assert list(json.loads(state.read_text())["users"]) == ["group:" + team]
