# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.many_users._sync_plan import plan_jobs


def folder(tmp_path, *names):
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    return str(tmp_path)


def test_default_pattern_maps_upn_files(tmp_path):
    src = folder(tmp_path, "adele@contoso.com.jpg", "alex@contoso.com.JPEG", "megan@contoso.com.png", "notes.txt", ".hidden.jpg")
    (tmp_path / "sub.jpg").mkdir()
    jobs, unmatched = plan_jobs(src_dir=src)
    assert [(j.user, j.state) for j in jobs] == [("adele@contoso.com", "present"), ("alex@contoso.com", "present"),
                                                 ("megan@contoso.com", "present")]
    assert jobs[0].src.endswith("adele@contoso.com.jpg")
    assert unmatched == ["notes.txt"]


def test_user_domain_and_custom_pattern(tmp_path):
    src = folder(tmp_path, "photo_adele.vance.jpg", "photo_bob@fabrikam.com.jpg", "adele.jpg")
    jobs, unmatched = plan_jobs(src_dir=src, file_pattern=r"^photo_(?P<user>.+)\.jpg$", user_domain="contoso.com")
    assert [j.user for j in jobs] == ["adele.vance@contoso.com", "bob@fabrikam.com"]
    assert unmatched == ["adele.jpg"]


def test_duplicates_fail_with_both_sources_never_a_guess(tmp_path):
    src = folder(tmp_path, "adele@contoso.com.jpg", "Adele@Contoso.com.png")
    jobs = plan_jobs(src_dir=src, absent_users=["ADELE@contoso.com"])[0]
    assert len(jobs) == 1
    assert "listed 3 times" in jobs[0].problem.msg and "absent" in jobs[0].problem.msg


def test_list_entries_and_removals():
    jobs = plan_jobs(photos=[dict(user="a@x", src="/a.jpg", state="present"), dict(user="b@x", state="absent"),
                             dict(user="c@x", state="present", src=None), dict(user=" d@x", src="/d.jpg")],
                     absent_users=["e@x"])[0]
    assert [(j.user, j.state, j.problem is None) for j in jobs] == [
        ("a@x", "present", True), ("b@x", "absent", True), ("c@x", "present", False), (" d@x", "present", False), ("e@x", "absent", True)]
    assert "no src" in jobs[2].problem.msg and "white space" in jobs[3].problem.msg


@pytest.mark.parametrize("kwargs, message", [
    (dict(src_dir="/nonexistent/photos"), "does not exist"),
    (dict(src_dir="/tmp", file_pattern="(unclosed"), "not a valid regular expression"),
    (dict(src_dir="/tmp", file_pattern=r"^(.+)\.jpg$"), "named group"),
    (dict(photos=[]), "Nothing to do"),
])
def test_bad_inputs(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        plan_jobs(**kwargs)


@pytest.mark.parametrize("value, problem", [(None, "empty"), ("", "empty"), (" \t", "empty"), (" a@x", "padded"),
                                            ("a@x\n", "padded"), ("a@x", None), ("me", None)])
def test_one_rule_for_user_keys(value, problem):
    """The module option and the sync entries refuse the same keys (common/_users.py)."""
    from ansible_collections.o365.outlook.plugins.module_utils.common._users import checked_user, user_key_problem
    assert user_key_problem(value) == problem
    if value is not None and problem:
        with pytest.raises(ConfigurationError, match="user"):
            checked_user(value)
    elif problem is None:
        assert checked_user(value) == value
