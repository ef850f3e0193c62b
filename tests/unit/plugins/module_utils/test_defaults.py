# SPDX-License-Identifier: GPL-3.0-or-later
"""The default photo's rules without a service: what a selected user gets from their metadata and record
(default_step), which users are selected (default_jobs), and how default records travel through the state file."""
from __future__ import annotations

import json

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._answers import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.many_users._defaults import (CONFIRM, HOLDS, OWN, REPLACE, SET, confirmable,
                                                                                        default_jobs, default_record, default_step, superseded)
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import Job
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import FORMAT, VERSION, Record, StateFile

OLD, NEW = "a" * 64, "b" * 64
META = PhotoMetadata("96x96", 96, 96, "image/jpeg", "E1")


def confirmed(sha=OLD, etag="E1", width=96, height=96, content_type="image/jpeg"):
    return default_record(sha, PhotoMetadata("96x96", width, height, content_type, etag), "c" * 64, 1_700_000_000)


@pytest.mark.parametrize("record, meta, wanted, step", [
    (None, None, NEW, SET),  # no photo: the default goes up, whatever any record says
    (confirmed(), None, NEW, SET),
    (None, META, NEW, OWN),  # a photo and no record: the user's own
    (Record(OLD, "E1", 96, 96, "image/jpeg", "c" * 64, True, 1), META, OLD, OWN),  # a trusted record, but not of a default
    (confirmed(OLD), META, OLD, HOLDS),
    (confirmed(OLD), META, NEW, REPLACE),
    (confirmed(OLD, etag="E0"), META, NEW, OWN),  # the etag changed since: the user's choice
    (confirmed(OLD, width=48), META, NEW, OWN),  # so did the size
    (confirmed(OLD, content_type="image/png"), META, NEW, OWN),
    (confirmed(OLD), PhotoMetadata("96x96", 96, 96, "image/jpeg", ""), NEW, OWN),  # an empty etag proves nothing
    (default_record(OLD), META, OLD, CONFIRM),  # set, never read back: compared once
    (default_record(OLD), META, NEW, OWN),  # set as another default, never read back: nothing proves it still is
])
def test_default_step(record, meta, wanted, step):
    assert default_step(record, meta, wanted) == step


def test_a_record_of_the_default_that_is_pending_is_not_trusted_and_has_no_etag():
    record = default_record(OLD)
    assert record.default and not record.trusted and record.etag is None
    assert confirmed().trusted and confirmed().etag == "E1"


def test_default_jobs_leave_out_users_with_an_entry_of_their_own_under_either_name():
    own = [Job("adele@contoso.com", src="/a.jpg"), Job("0f0f0f0f-0000-4000-8000-000000000001", "absent")]
    listed = [("0f0f0f0f-0000-4000-8000-000000000009", "Adele@Contoso.com"),  # adele, by UPN
              ("0F0F0F0F-0000-4000-8000-000000000001", "leaver@contoso.com"),  # the absent one, by id
              ("0f0f0f0f-0000-4000-8000-000000000002", "megan@contoso.com")]
    jobs, ids = default_jobs(Job, own, listed, ["MEGAN@contoso.com", "alex@contoso.com", "alex@contoso.com", ""], "/logo.jpg")
    assert [(job.user, job.default, job.src) for job in jobs] == [
        ("megan@contoso.com", True, "/logo.jpg"), ("alex@contoso.com", True, "/logo.jpg"), ("", True, "/logo.jpg")]
    assert jobs[2].problem is not None and jobs[0].problem is None
    assert ids == {"megan@contoso.com": "0f0f0f0f-0000-4000-8000-000000000002"}


def test_superseded_names_the_entry_of_ones_own():
    own, default = Job("adele@contoso.com"), Job("0f0f0f0f-0000-4000-8000-000000000009", default=True)
    assert "adele@contoso.com" in superseded([default, own])
    assert superseded([default, Job("x", default=True)]) is None


def test_confirmable_needs_a_new_non_empty_etag():
    before = {"a": None, "b": META, "c": None, "d": None}
    now = {"a": META, "b": META, "c": PhotoMetadata("1x1", 1, 1, "image/gif", ""), "d": None}
    assert confirmable(now, before) == ["a"]


def test_default_records_survive_the_state_file_and_older_records_load_as_not_defaults(tmp_path):
    path = str(tmp_path / "state.json")
    identity, settings = dict(api_url="https://x/v1.0", tenant="t"), dict(compare="auto")
    state = StateFile.load(path, identity, settings, warn=pytest.fail)
    state.remember("u1", confirmed())
    state.remember("u2", default_record(NEW))
    assert state.save(pytest.fail)
    document = json.loads(open(path, encoding="utf-8").read())
    # A record as a file written before defaults existed has it: no "default" key.
    document["users"]["u3"] = {key: value for key, value in Record(OLD).to_dict().items() if key != "default"}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
    again = StateFile.load(path, identity, settings, warn=pytest.fail)
    assert again.record("u1") == confirmed() and again.record("u2").default and not again.record("u3").default


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_default_that_is_not_a_bool_is_a_damaged_file(tmp_path, value):
    path = tmp_path / "state.json"
    entry = dict(Record(OLD).to_dict(), default=value)
    path.write_text(json.dumps(dict(format=FORMAT, version=VERSION, identity={}, settings={}, users={"u": entry}),
                               indent=1, sort_keys=True))
    warnings = []
    state = StateFile.load(str(path), {}, {}, warnings.append)
    assert len(state) == 0 and "default is not true or false" in warnings[0]
