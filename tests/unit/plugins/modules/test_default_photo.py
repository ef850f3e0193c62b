# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 23's "Done when", end to end: outlook_user_photo_sync's default photo (default_src, default_content,
all_users, user_filter, default_users) through main() against the in-process emulator on its production profile
(photos re-encoded, reads lag a write by a second, $batch answers shuffled). Every write and every download is counted
from the emulator's request log; who holds what is read from the control API's oracle view.

- 1,000 users, 30% without a photo, a fifth of them guests, half the guests with a photo of their own: with
  user_filter "userType eq 'Guest'" exactly the guests without a photo are written; the rerun writes nothing and
  downloads no photo;
- a changed default reaches exactly the users who still hold the old one: not one who chose a photo since, not one
  who always had their own;
- a user without a mailbox, under no_mailbox=ErrorNonExistentMailbox, fails alone with "no mailbox: the tenant keeps
  no photo for this user";
- check mode, an entry of the user's own, a user selected twice, and every option mistake (refused before any
  request, or with the service's message for a filter it does not take).
"""
from __future__ import annotations

import base64
import io
import json
import os
import sys
import time

import pytest
import requests
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_runs import ModuleRuns, downloads_since, mark, requests_since, written_since

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_sync

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position
from emulator.state import PRODUCTION_PROPAGATION_DELAY_S  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "5d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
SECRET = "Hn4-Qr8t-Lw3v-Zc6m"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
ROLES = ["ProfilePhoto.ReadWrite.All", "User.ReadBasic.All"]
GUEST_FILTER = "userType eq 'Guest'"
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 180, 30)


def jpeg(color, size=(96, 96)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def b64(data):
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("default-photo-emulator"))) as server:  # production profile
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        call("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ROLES})
        yield call


@pytest.fixture
def run(emulator, capfd, control):
    runs = ModuleRuns(emulator, capfd, TENANT, CLIENT, SECRET, fail_on_error=False, parallelism=4)

    def sync(**args):
        return runs(outlook_user_photo_sync, **args)
    sync.stdout = runs.stdout
    return sync


def oracle(control):
    """{upn lower: view} of every user of the tenant, as the control API sees them (no propagation delay)."""
    return {user["userPrincipalName"].lower(): user for user in control("GET", "/users")["users"]}


def by_user(result):
    return {entry["user"].lower(): entry for entry in result["results"]}


def photo_sha(control, user):
    return control("GET", "/users/" + requests.utils.quote(user, safe=""))["photo"]


def choose_photo(emulator, control, user, data):
    """A user sets a photo of their own, through Graph (the request log shows it, as any write)."""
    token = control("POST", "/tokens", {"client_id": CLIENT})["access_token"]
    answer = requests.put("%s/users/%s/photo/$value" % (emulator.info["graph_url"], user), data=data,
                          headers={"Authorization": "Bearer " + token, "Content-Type": "image/jpeg"},
                          verify=emulator.info["ca_path"], timeout=30)
    assert answer.status_code in (200, 204), answer.text


# --- 1,000 users -----------------------------------------------------------------------------------------------


def thousand_users():
    """1,000 users: every tenth one from 0, 3 and 6 has no photo (30%); every fifth is a guest (#EXT# UPN), so that
    half the guests (numbers ending in 0) have none and half (ending in 5) have their own."""
    own = b64(jpeg(GREEN, (64, 64)))
    specs = []
    for number in range(1000):
        if number % 5 == 0:
            upn = "guest%04d_fabrikam.com#EXT#@%s" % (number, DOMAIN)
        else:
            upn = "user%04d@%s" % (number, DOMAIN)
        spec = {"userPrincipalName": upn}
        if number % 10 not in (0, 3, 6):
            spec["photo_b64"] = own
        specs.append(spec)
    return specs


def test_guests_without_a_photo_get_the_default_and_the_rerun_neither_writes_nor_downloads(run, control, tmp_path):
    control("POST", "/users", {"users": thousand_users()})
    before = oracle(control)
    guests_without = sorted(upn for upn, user in before.items() if user["userType"] == "Guest" and not user["has_photo"])
    guests_with = sorted(upn for upn, user in before.items() if user["userType"] == "Guest" and user["has_photo"])
    assert len(before) >= 1000 and len(guests_without) >= 100 and len(guests_with) >= 100
    state = str(tmp_path / "defaults.json")
    logo = tmp_path / "logo.jpg"
    logo.write_bytes(jpeg(BLUE))
    args = dict(all_users=True, user_filter=GUEST_FILTER, default_src=str(logo), state_file=state, results="changed",
                parallelism=8)

    since = mark(control)
    first = run(**args)
    assert first["_rc"] == 0, first.get("msg")
    assert written_since(control, since) == guests_without
    assert first["summary"]["defaulted"] == len(guests_without) == first["summary"]["uploaded"]
    assert first["summary"]["skipped"] == len(guests_with) and first["summary"]["failed"] == 0
    assert first["summary"]["total"] == len(guests_without) + len(guests_with)
    assert all(entry["default"] and entry["message"].startswith("default set: ") for entry in first["results"])
    assert first["stats"]["defaults_confirmed"] == len(guests_without)
    after = oracle(control)
    assert all(after[upn]["has_photo"] for upn in guests_without)
    # Members were not selected, guests with their own photo were not touched.
    assert all(after[upn]["photo"] == before[upn]["photo"] for upn in before if upn not in guests_without)

    since = mark(control)
    second = run(**dict(args, results="all"))
    assert second["_rc"] == 0
    assert written_since(control, since) == []
    assert downloads_since(control, since) == []
    assert second["changed"] is False
    assert second["summary"]["unchanged"] == len(guests_without) and second["summary"]["skipped"] == len(guests_with)
    assert second["summary"]["defaulted"] == 0
    entries = by_user(second)
    assert all(entries[upn]["message"].startswith("holds the default") for upn in guests_without)
    assert all(entries[upn]["message"].startswith("kept the user's own photo") for upn in guests_with)


# --- a changed default -------------------------------------------------------------------------------------------


def test_a_changed_default_reaches_exactly_the_users_who_still_hold_the_old_one(run, emulator, control, tmp_path):
    people = ["dflt%d@%s" % (number, DOMAIN) for number in range(5)]
    own = "dflt-own@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": upn} for upn in people]
                               + [{"userPrincipalName": own, "photo_b64": b64(jpeg(GREEN))}]})
    state = str(tmp_path / "defaults.json")
    selection = people + [own]
    first = run(default_users=selection, default_content=b64(jpeg(RED)), state_file=state)
    assert first["_rc"] == 0, first.get("msg")
    assert first["summary"]["defaulted"] == 5 and by_user(first)[own]["action"] == "skipped"

    # One of them chooses a photo of their own (through Graph, as a user would), and a new user arrives without one.
    chooser = people[0]
    choose_photo(emulator, control, chooser, jpeg(GREEN, (80, 80)))
    time.sleep(PRODUCTION_PROPAGATION_DELAY_S + 0.2)  # until every read shows the chosen photo, as by the next night
    newcomer = "dflt-new@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": newcomer}]})
    chosen = photo_sha(control, chooser)

    since = mark(control)
    second = run(default_users=selection + [newcomer], default_content=b64(jpeg(BLUE)), state_file=state)
    assert second["_rc"] == 0, second.get("msg")
    assert written_since(control, since) == sorted(people[1:] + [newcomer])
    entries = by_user(second)
    assert all(entries[upn]["message"].startswith("default replaced (the photo was still the earlier default)") for upn in people[1:])
    assert entries[chooser]["action"] == "skipped" and entries[own]["action"] == "skipped"
    assert photo_sha(control, chooser) == chosen
    # Nothing was downloaded to decide (no backup_dir): only the read-back of the new defaults.
    assert second["stats"]["defaults_confirmed"] == 5

    # The chooser is never touched again, even once the default changes back.
    since = mark(control)
    third = run(default_users=selection + [newcomer], default_content=b64(jpeg(RED)), state_file=state)
    assert written_since(control, since) == sorted(people[1:] + [newcomer])
    assert by_user(third)[chooser]["action"] == "skipped"


def test_without_a_state_file_a_default_goes_only_to_users_without_a_photo(run, control, tmp_path):
    people = ["nostate%d@%s" % (number, DOMAIN) for number in range(3)]
    control("POST", "/users", {"users": [{"userPrincipalName": upn} for upn in people]})
    first = run(default_users=people, default_content=b64(jpeg(RED)))
    assert first["summary"]["defaulted"] == 3, first["results"]
    time.sleep(PRODUCTION_PROPAGATION_DELAY_S + 0.2)  # the next night: every read shows the defaults
    since = mark(control)
    second = run(default_users=people, default_content=b64(jpeg(BLUE)))
    assert written_since(control, since) == [] and downloads_since(control, since) == []
    assert {entry["action"] for entry in second["results"]} == {"skipped"}


# --- mailboxes ---------------------------------------------------------------------------------------------------


def test_a_user_without_a_mailbox_fails_alone_with_the_message(run, control):
    guest = "visitor_fabrikam.com#EXT#@" + DOMAIN
    member = "nomailbox-member@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": guest}, {"userPrincipalName": member}]})
    control("PUT", "/behaviours", {"no_mailbox": "ErrorNonExistentMailbox"})
    since = mark(control)
    result = run(default_users=[guest, member], default_content=b64(jpeg(RED)))
    entries = by_user(result)
    assert entries[guest.lower()]["action"] == "failed"
    assert "no mailbox: the tenant keeps no photo for this user" in entries[guest.lower()]["message"]
    assert entries[member]["action"] == "uploaded", entries[member]["message"]
    assert result["failed_users"] == [guest]
    assert written_since(control, since) == [member]


def test_a_default_over_100_kb_warns_and_fails_only_the_users_whose_photo_is_kept_in_entra(run, control):
    noisy = Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3))
    out = io.BytesIO()
    noisy.save(out, format="JPEG", quality=95)
    assert len(out.getvalue()) > 100 * 1024
    member, guest = "bigdefault@" + DOMAIN, "bigguest_fabrikam.com#EXT#@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": member}, {"userPrincipalName": guest}]})
    since = mark(control)
    result = run(default_users=[member, guest], default_content=b64(out.getvalue()))
    texts = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings") or []]
    assert any("100 KB" in text for text in texts)
    entries = by_user(result)
    assert entries[member]["action"] == "uploaded"
    assert entries[guest.lower()]["action"] == "failed"
    assert "keeps the photo in Entra ID, where writes over about 100 KB have been refused" in entries[guest.lower()]["message"]
    assert written_since(control, since) == sorted([member, guest.lower()])  # the guest's was tried, and refused
    assert oracle(control)[guest.lower()]["has_photo"] is False


# --- check mode, own entries, twice ------------------------------------------------------------------------------


def test_check_mode_says_would_be_set_and_writes_nothing(run, control, tmp_path):
    people = ["check%d@%s" % (number, DOMAIN) for number in range(3)]
    control("POST", "/users", {"users": [{"userPrincipalName": upn} for upn in people]})
    since = mark(control)
    result = run(default_users=people, default_content=b64(jpeg(RED)), state_file=str(tmp_path / "s.json"),
                 _ansible_check_mode=True)
    assert result["_rc"] == 0 and written_since(control, since) == []
    assert result["summary"]["defaulted"] == 3 and result["changed"] is True
    assert all(entry["message"].startswith("default would be set: ") for entry in result["results"])
    assert not (tmp_path / "s.json").exists()


def test_an_entry_of_ones_own_wins_over_the_default_under_either_name(run, control, tmp_path):
    own, other = "ownentry@" + DOMAIN, "ownentry-other@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": own}, {"userPrincipalName": other}]})
    object_id = oracle(control)[own]["id"]
    src = tmp_path / "own.jpg"
    src.write_bytes(jpeg(GREEN))
    since = mark(control)
    result = run(photos=[{"user": own, "src": str(src)}], default_users=[object_id, other, other.upper()],
                 default_content=b64(jpeg(RED)))
    assert result["_rc"] == 0, result.get("msg")
    assert written_since(control, since) == sorted([own, other])
    entries = [entry for entry in result["results"] if entry["action"] == "uploaded"]
    assert {(entry["user"].lower(), entry["default"]) for entry in entries} == {(own, False), (other, True)}
    skipped = [entry for entry in result["results"] if entry["action"] == "skipped"]
    assert [entry["user"] for entry in skipped] == [object_id]
    assert "has an entry of its own" in skipped[0]["message"]


def test_all_users_lists_every_user_and_skips_those_with_a_photo(run, control, tmp_path):
    control("POST", "/users", {"users": [{"userPrincipalName": "everyone%d@%s" % (n, DOMAIN)} for n in range(3)]})
    before = oracle(control)
    without = sorted(upn for upn, user in before.items() if not user["has_photo"] and user["userType"] != "Guest"
                     or (not user["has_photo"] and user["userType"] == "Guest"))
    since = mark(control)
    result = run(all_users=True, default_content=b64(jpeg(RED)))
    assert written_since(control, since) == without
    assert result["summary"]["total"] == len(before) and result["summary"]["defaulted"] == len(without)


# --- mistakes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (dict(), "one of the following is required: photos, src_dir, absent_users, absent_groups, all_users, default_users"),
    (dict(all_users=True), "give default_src or default_content"),
    (dict(default_users=["a@b.c"]), "give default_src or default_content"),
    (dict(photos=[{"user": "a@b.c", "src": "/x.jpg"}], default_content="AAAA"), "give one of them"),
    (dict(default_users=["a@b.c"], default_content=b64(jpeg(RED)), user_filter=GUEST_FILTER), "user_filter narrows all_users"),
    (dict(all_users=True, default_content=b64(jpeg(RED)), user_filter="  "), "user_filter is empty"),
    (dict(all_users=True, default_content="not base64!"), "The default image cannot be used"),
    (dict(all_users=True, default_src="/nonexistent/logo.jpg"), "The default image cannot be used"),
    (dict(all_users=True, default_src="LINK"), "The default image cannot be used"),
    (dict(all_users=True, default_src="TINY"), "The default image cannot be used"),
    (dict(all_users=True, default_src="LINK", default_content="AAAA"), "mutually exclusive"),
])
def test_option_mistakes_fail_before_any_request(run, control, tmp_path, args, words):
    real = tmp_path / "logo.jpg"
    real.write_bytes(jpeg(RED))
    (tmp_path / "link.jpg").symlink_to(real)
    (tmp_path / "tiny.jpg").write_bytes(jpeg(RED, (16, 16)))  # under min_dimension (48)
    names = {"LINK": str(tmp_path / "link.jpg"), "TINY": str(tmp_path / "tiny.jpg")}
    args = {key: names.get(value, value) if isinstance(value, str) else value for key, value in args.items()}
    since = mark(control)
    result = run(**args)
    assert result["_rc"] == 1 and words in result["msg"]
    assert requests_since(control, since) == []


def test_a_filter_the_service_refuses_fails_with_its_message_and_writes_nothing(run, control):
    since = mark(control)
    result = run(all_users=True, user_filter="department eq 'Sales'", default_content=b64(jpeg(RED)))
    assert result["_rc"] == 1 and "user_filter \"department eq 'Sales'\" was refused by the service" in result["msg"]
    assert written_since(control, since) == []


def test_default_content_never_appears_in_the_output(run, control):
    member = "secretlogo@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": member}]})
    content = b64(jpeg((12, 34, 56)))
    result = run(default_users=[member], default_content=content, _ansible_diff=True)
    assert result["summary"]["defaulted"] == 1
    assert content[:40] not in run.stdout[-1]


# --- defaults the service did not show in time -------------------------------------------------------------------


def test_a_default_not_shown_in_time_is_compared_once_by_the_next_run(run, emulator, control, tmp_path, monkeypatch):
    """Reads lag writes by 3 s here and the run waits 0.5 s for them: nothing is confirmed. The next run with the
    same default downloads each once and confirms it (or finds the user's own photo, which is then never touched);
    the run after that downloads nothing, and a changed default reaches the confirmed ones only."""
    from ansible_collections.o365.outlook.plugins.module_utils.many_users import _defaults  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(_defaults, "CONFIRM_WAIT_SECONDS", 0.5)
    control("PUT", "/behaviours", {"propagation_delay_s": 3})
    people = ["late%d@%s" % (number, DOMAIN) for number in range(4)]
    control("POST", "/users", {"users": [{"userPrincipalName": upn} for upn in people]})
    state = str(tmp_path / "late.json")
    args = dict(default_users=people, default_content=b64(jpeg(RED)), state_file=state)
    first = run(**args)
    assert first["summary"]["defaulted"] == 4 and first["stats"]["defaults_confirmed"] == 0
    records = json.loads(open(state, encoding="utf-8").read())["users"]
    assert len(records) == 4 and all(record["default"] and not record["trusted"] for record in records.values())

    time.sleep(3.2)
    chooser = people[0]
    control("PUT", "/behaviours", {"propagation_delay_s": 0})
    choose_photo(emulator, control, chooser, jpeg(GREEN, (80, 80)))
    since = mark(control)
    second = run(**args)
    assert written_since(control, since) == []
    assert len(downloads_since(control, since)) == 4
    entries = by_user(second)
    assert all(entries[upn]["message"] == "holds the default (read back and compared now)" for upn in people[1:])
    assert entries[chooser]["action"] == "skipped"

    since = mark(control)
    third = run(**args)
    assert written_since(control, since) == [] and downloads_since(control, since) == []
    assert third["summary"]["unchanged"] == 3 and third["summary"]["skipped"] == 1

    since = mark(control)
    run(**dict(args, default_content=b64(jpeg(BLUE))))
    assert written_since(control, since) == sorted(people[1:])


def test_a_pending_record_of_an_earlier_default_is_never_taken_as_proof(run, control, tmp_path, monkeypatch):
    """Set, never confirmed, and then the default changes: nothing proves the photo is still the old default, so it
    stays."""
    from ansible_collections.o365.outlook.plugins.module_utils.many_users import _defaults  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(_defaults, "CONFIRM_WAIT_SECONDS", 0.0)
    control("PUT", "/behaviours", {"propagation_delay_s": 2})
    member = "pending@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": member}]})
    state = str(tmp_path / "pending.json")
    run(default_users=[member], default_content=b64(jpeg(RED)), state_file=state)
    time.sleep(2.2)
    since = mark(control)
    result = run(default_users=[member], default_content=b64(jpeg(BLUE)), state_file=state)
    assert written_since(control, since) == [] and downloads_since(control, since) == []
    assert by_user(result)[member]["action"] == "skipped"


def test_default_users_with_empty_or_padded_names_fail_alone(run, control):
    member = "fine@" + DOMAIN
    control("POST", "/users", {"users": [{"userPrincipalName": member}]})
    result = run(default_users=["", " padded@" + DOMAIN, member], default_content=b64(jpeg(RED)))
    actions = [entry["action"] for entry in result["results"]]
    assert actions == ["failed", "failed", "uploaded"]
    assert "empty user" in result["results"][0]["message"] and "white space" in result["results"][1]["message"]


def test_a_filter_on_account_enabled_leaves_out_disabled_accounts(run, control):
    control("POST", "/users", {"users": [{"userPrincipalName": "enabled@" + DOMAIN},
                                         {"userPrincipalName": "disabled@" + DOMAIN, "accountEnabled": False}]})
    before = oracle(control)
    assert before["disabled@" + DOMAIN]["accountEnabled"] is False
    wanted = sorted(upn for upn, user in before.items()
                    if user["accountEnabled"] and user["userType"] == "Member" and not user["has_photo"])
    since = mark(control)
    result = run(all_users=True, user_filter="accountEnabled eq true and userType eq 'Member'", default_content=b64(jpeg(RED)))
    assert result["_rc"] == 0, result.get("msg")
    assert written_since(control, since) == wanted and "enabled@" + DOMAIN in wanted
    assert "disabled@" + DOMAIN not in by_user(result)
