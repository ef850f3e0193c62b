# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 24's shards, end to end: outlook_user_photo_sync and outlook_user_photo_info through main() against the
in-process emulator on its production profile. 4 shards over 1,000 users (a folder, a list, users to remove, the
default for everyone without a photo, groups) write each user exactly once, and a rerun of all 4 writes nothing,
counted from the emulator's request log; the info module's 4 shards read each user once; bad shard options are refused
before any request."""
from __future__ import annotations

import base64
import io
import os
import sys
import time

import pytest
from PIL import Image

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.tests.unit.utils.module_runs import ModuleRuns, mark, requests_since, upns_by_id, written_since
from ansible_collections.o365.outlook.plugins.module_utils.many_users._shards import shard_of
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_info, outlook_user_photo_sync

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position
from emulator.state import PRODUCTION_PROPAGATION_DELAY_S  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "7e2a9c41-5b3d-4f6e-8a1b-2c3d4e5f6a7b"
SECRET = "Sx3-Kd7q-Mw2p-Vn8r"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
ROLES = ["ProfilePhoto.ReadWrite.All", "User.ReadBasic.All", "Group.Read.All"]
SHARDS = 4
MARKETING = "9a000000-0000-4000-8000-000000000003"  # a Microsoft 365 group of the seed, no photo


def jpeg(color, size=(64, 64)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("shards-emulator"))) as server:  # production profile
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        call("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ROLES})
        yield call


@pytest.fixture
def run(emulator, capfd, control):
    return ModuleRuns(emulator, capfd, TENANT, CLIENT, SECRET, fail_on_error=False, parallelism=8)


def users(count, prefix="shard"):
    return ["%s%04d@%s" % (prefix, number, DOMAIN) for number in range(count)]


def seed(control, tmp_path):
    """1,000 users: 700 get a photo from a folder, 100 from the list, 100 lose theirs (absent_users), 100 get the
    default (no entry of their own, no photo); and the Marketing group's photo from the list."""
    everyone = users(1000)
    with_photo = everyone[800:900]  # the leavers' photos, to remove
    old = base64.b64encode(jpeg((9, 9, 9))).decode()
    control("POST", "/users", {"users": [dict(userPrincipalName=upn, **({"photo_b64": old} if upn in with_photo else {}))
                                         for upn in everyone]})
    folder = tmp_path / "photos"
    folder.mkdir()
    data = jpeg((200, 40, 40))
    for upn in everyone[:700]:
        (folder / (upn + ".jpg")).write_bytes(data)
    listed = tmp_path / "listed.jpg"
    listed.write_bytes(jpeg((40, 200, 40)))
    logo = tmp_path / "logo.jpg"
    logo.write_bytes(jpeg((40, 40, 200)))
    args = dict(src_dir=str(folder), photos=[dict(user=upn, src=str(listed)) for upn in everyone[700:800]]
                + [dict(group=MARKETING, src=str(logo))],
                absent_users=with_photo, default_users=everyone[900:], default_src=str(logo), results="all")
    return everyone, args


def test_four_shards_write_each_user_exactly_once_and_a_rerun_of_all_four_writes_nothing(run, control, tmp_path):
    everyone, args = seed(control, tmp_path)
    since = mark(control)
    seen = []
    for index in range(1, SHARDS + 1):
        result = run(outlook_user_photo_sync, shard_count=SHARDS, shard_index=index, **args)
        assert result["_rc"] == 0, result.get("msg")
        assert result["shard"] == dict(index=index, count=SHARDS)
        named = [entry["user"] or entry["group"] for entry in result["results"]]
        assert all(shard_of(name, SHARDS) == index for name in named)
        seen.extend(named)
    # Every user and the group in exactly one shard: complete and disjoint.
    assert sorted(seen) == sorted(everyone + [MARKETING])
    written = written_since(control, since)
    assert written == sorted(everyone + [MARKETING])  # once each (the group's object id is logged as itself)

    time.sleep(PRODUCTION_PROPAGATION_DELAY_S + 0.2)
    since = mark(control)
    for index in range(1, SHARDS + 1):
        result = run(outlook_user_photo_sync, shard_count=SHARDS, shard_index=index, **args)
        assert result["_rc"] == 0 and result["changed"] is False, result.get("msg")
    assert written_since(control, since) == []


def test_a_shard_of_all_users_defaults_leaves_out_a_user_whose_own_entry_is_in_another_shard(run, control, tmp_path):
    """The default's selection looks at every entry of the task, not only this shard's: a user listed by object id
    with an own photo, whose UPN falls to another shard, never gets the default there."""
    upn = "ownbyid@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": upn}]})
    object_id = {value: key for key, value in upns_by_id(control).items()}[upn]
    # The object id is new on every run: the first count that puts the two names in different shards.
    count = next(count for count in range(2, 100) if shard_of(upn, count) != shard_of(object_id, count))
    own = tmp_path / "own.jpg"
    own.write_bytes(jpeg((1, 2, 3)))
    logo = tmp_path / "logo.jpg"
    logo.write_bytes(jpeg((200, 200, 0)))
    since = mark(control)
    result = run(outlook_user_photo_sync, shard_count=count, shard_index=shard_of(upn, count), photos=[dict(user=object_id, src=str(own))],
                 all_users=True, default_src=str(logo))
    assert upn not in [entry["user"] for entry in result["results"]]
    assert upn not in written_since(control, since)


def test_a_shard_with_no_user_is_no_failure(run, control, tmp_path):
    upn = "lonely@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": upn}]})
    src = tmp_path / "a.jpg"
    src.write_bytes(jpeg((5, 5, 5)))
    other = 1 if shard_of(upn, 2) == 2 else 2
    result = run(outlook_user_photo_sync, shard_count=2, shard_index=other, photos=[dict(user=upn, src=str(src))])
    assert result["_rc"] == 0 and result["results"] == [] and result["summary"]["total"] == 0
    assert result["changed"] is False and result["shard"] == dict(index=other, count=2)


def test_each_shard_gets_its_own_state_file(run, control, tmp_path):
    """The state file names its shard: shard 2 does not take shard 1's file as its own (it warns, and leaves its
    records alone only in its own file)."""
    upn = "statefile@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": upn}]})
    src = tmp_path / "a.jpg"
    src.write_bytes(jpeg((5, 5, 5)))
    state = str(tmp_path / "state.json")
    run(outlook_user_photo_sync, shard_count=2, shard_index=1, photos=[dict(user=upn, src=str(src))], state_file=state)
    result = run(outlook_user_photo_sync, shard_count=2, shard_index=2, photos=[dict(user=upn, src=str(src))], state_file=state)
    texts = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings") or []]
    assert any("was written by another shard (shard_index or shard_count differ)" in text for text in texts)


@pytest.mark.parametrize("module", [outlook_user_photo_sync, outlook_user_photo_info])
@pytest.mark.parametrize("shard, words", [
    (dict(shard_count=4), "shard_index is needed"),
    (dict(shard_count=4, shard_index=5), "shard_index must be from 1 to shard_count (4), not 5"),
    (dict(shard_count=0, shard_index=1), "shard_count must be from 1"),
    (dict(shard_index=2), "shard_index must be from 1 to shard_count (1), not 2"),
])
def test_bad_shards_are_refused_before_any_request(run, control, module, shard, words):
    since = mark(control)
    target = dict(photos=[dict(user="a@" + DOMAIN, state="absent")]) if module is outlook_user_photo_sync else dict(users=["a@" + DOMAIN])
    result = run(module, **shard, **target)
    assert result["_rc"] == 1 and words in result["msg"]
    assert requests_since(control, since) == []


def test_four_info_shards_read_each_user_once(run, control):
    control("POST", "/users", {"users": [{"userPrincipalName": upn} for upn in users(200, "info")]})
    everyone = sorted(upns_by_id(control).values())
    seen = []
    for index in range(1, SHARDS + 1):
        result = run(outlook_user_photo_info, all_users=True, all_groups=True, shard_count=SHARDS, shard_index=index)
        assert result["_rc"] == 0, result.get("msg")
        assert result["shard"] == dict(index=index, count=SHARDS)
        assert all(shard_of(entry["user"], SHARDS) == index for entry in result["photos"])
        assert all(shard_of(entry["group"], SHARDS) == index for entry in result["groups"])
        assert result["summary"]["total"] == len(result["photos"]) + len(result["groups"])
        seen.extend(entry["user"].lower() for entry in result["photos"])
    assert sorted(seen) == everyone


def test_info_refuses_shards_of_the_signed_in_user_alone(run, control):
    result = run(outlook_user_photo_info, shard_count=2, shard_index=1)
    assert result["_rc"] == 1 and "reads only the signed-in user" in result["msg"]
