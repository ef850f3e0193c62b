# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import io
import os
import re
import socket
import struct
import zlib

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils.many_users._sync_plan import plan_jobs
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source


def folder(tmp_path, *names):
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    return str(tmp_path)


def image(path, fmt="JPEG"):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 0, 0)).save(buffer, fmt)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_default_pattern_maps_upn_files(tmp_path):
    src = folder(tmp_path, "adele@contoso.com.jpg", "alex@contoso.com.JPEG", "megan@contoso.com.png", "notes.txt", ".hidden.jpg")
    (tmp_path / "sub.jpg").mkdir()
    jobs, unmatched, skipped = plan_jobs(src_dir=src)
    assert [(j.user, j.state) for j in jobs] == [("adele@contoso.com", "present"), ("alex@contoso.com", "present"),
                                                 ("megan@contoso.com", "present")]
    assert jobs[0].src.endswith("adele@contoso.com.jpg")
    assert unmatched == ["notes.txt"]
    assert skipped == [dict(name="sub.jpg", reason="directory")]


def test_user_domain_and_custom_pattern(tmp_path):
    src = folder(tmp_path, "photo_adele.vance.jpg", "photo_bob@fabrikam.com.jpg", "adele.jpg")
    jobs, unmatched, _skipped = plan_jobs(src_dir=src, file_pattern=r"^photo_(?P<user>.+)\.jpg$", user_domain="contoso.com")
    assert [j.user for j in jobs] == ["adele.vance@contoso.com", "bob@fabrikam.com"]
    assert unmatched == ["adele.jpg"]


def test_duplicates_fail_with_both_sources_never_a_guess(tmp_path):
    src = folder(tmp_path, "adele@contoso.com.jpg", "Adele@Contoso.com.png")
    jobs = plan_jobs(src_dir=src, absent_users=["ADELE@contoso.com"])[0]
    assert len(jobs) == 1
    assert "listed 3 times" in jobs[0].problem.msg and "absent" in jobs[0].problem.msg


def test_list_entries_and_removals(tmp_path):
    good = image(tmp_path / "a.jpg")
    jobs = plan_jobs(photos=[dict(user="a@x", src=good, state="present"), dict(user="b@x", state="absent"),
                             dict(user="c@x", state="present", src=None), dict(user=" d@x", src=good)],
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


# ---------------------------------------------------------------- issue 17: what src_dir holds besides regular files

def photo_folder(tmp_path):
    """src_dir with one good photo, and a good photo outside it that links may point at."""
    src = tmp_path / "photos"
    src.mkdir()
    image(src / "adele@contoso.com.jpg")
    outside = image(tmp_path / "private.jpg")
    return src, outside


def make_socket(path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.close()  # the socket file stays


@pytest.mark.parametrize("make, reason", [
    (lambda path, outside: path.symlink_to(outside), "symbolic link"),
    (lambda path, outside: path.symlink_to(str(path) + ".gone"), "symbolic link"),
    (lambda path, outside: os.mkfifo(str(path)), "not a regular file (FIFO)"),
    (lambda path, outside: path.mkdir(), "directory"),
    (lambda path, outside: make_socket(path), "not a regular file (socket)"),
], ids=["link-outside", "dangling-link", "fifo", "directory", "socket"])
def test_regression_an_entry_that_is_not_a_regular_file_is_skipped_and_reported(tmp_path, make, reason):
    """issue 17: a link was followed to any file (its target uploaded); dangling links and FIFOs vanished silently."""
    src, outside = photo_folder(tmp_path)
    make(src / "megan@contoso.com.jpg", outside)
    plan = plan_jobs(src_dir=str(src))
    assert [(job.user, job.problem) for job in plan[0]] == [("adele@contoso.com", None)]  # megan is no job at all
    assert plan[1] == []
    assert plan[2] == [dict(name="megan@contoso.com.jpg", reason=reason)]


def test_a_link_is_skipped_whatever_its_name_and_hidden_entries_stay_silent(tmp_path):
    src, outside = photo_folder(tmp_path)
    (src / "notes.txt").symlink_to(outside)
    (src / ".hidden.jpg").symlink_to(outside)
    os.mkfifo(str(src / ".fifo.jpg"))
    (src / ".cache").mkdir()
    jobs, unmatched, skipped = plan_jobs(src_dir=str(src))
    assert [job.user for job in jobs] == ["adele@contoso.com"]
    assert unmatched == [] and skipped == [dict(name="notes.txt", reason="symbolic link")]


def test_a_linked_src_dir_is_still_read(tmp_path):
    src, _outside = photo_folder(tmp_path)
    (tmp_path / "current").symlink_to(src)
    jobs, _unmatched, skipped = plan_jobs(src_dir=str(tmp_path / "current"))
    assert [(job.user, job.problem) for job in jobs] == [("adele@contoso.com", None)] and skipped == []


def test_a_folder_of_links_only_is_not_nothing_to_do(tmp_path):
    """The task runs and returns skipped_files, as a folder of unmatched files returns unmatched_files."""
    src = tmp_path / "photos"
    src.mkdir()
    (src / "adele@contoso.com.jpg").symlink_to(image(tmp_path / "private.jpg"))
    assert plan_jobs(src_dir=str(src)) == ([], [], [dict(name="adele@contoso.com.jpg", reason="symbolic link")])


# ---------------------------------------------------------------- issue 17: user_domain

@pytest.mark.parametrize("user_domain, user", [("contoso.com", "adele.vance@contoso.com"), ("@contoso.com", "adele.vance@contoso.com"),
                                               ("", "adele.vance"), (None, "adele.vance")])
def test_user_domain_with_or_without_its_at(tmp_path, user_domain, user):
    src = tmp_path / "photos"
    src.mkdir()
    image(src / "adele.vance.jpg")
    image(src / "bob@fabrikam.com.jpg")
    jobs = plan_jobs(src_dir=str(src), user_domain=user_domain).jobs
    assert [job.user for job in jobs] == [user, "bob@fabrikam.com"]


@pytest.mark.parametrize("user_domain, message", [
    ("@", "user_domain '@' has no domain after the '@'"),
    ("@@contoso.com", "user_domain '@@contoso.com' has more than one '@'"),
    ("contoso.com@x", "has more than one '@'"),
    ("contoso .com", "user_domain 'contoso .com' contains white space"),
    (" contoso.com", "contains white space"),
    ("contoso.com\n", "contains white space"),
])
def test_regression_a_user_domain_that_is_no_domain_is_refused_before_anything(tmp_path, user_domain, message):
    """issue 17: user_domain "@" gave users named adele@."""
    src = tmp_path / "photos"
    src.mkdir()
    image(src / "adele.jpg")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        plan_jobs(src_dir=str(src), user_domain=user_domain)
    with pytest.raises(ConfigurationError, match="user_domain"):  # refused even where it would not be used
        plan_jobs(absent_users=["a@x"], user_domain=user_domain)


# ---------------------------------------------------------------- issue 17: sources checked while planning

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bomb_header():
    """A PNG whose IHDR declares 50000 x 50000 pixels (no image data: the header is enough to refuse it)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)


BAD_SOURCES = [
    ("missing", lambda tmp_path: str(tmp_path / "missing.jpg"), "does not exist"),
    ("empty", lambda tmp_path: write(tmp_path / "empty.jpg", b""), "is empty"),
    ("text", lambda tmp_path: write(tmp_path / "notes.jpg", b"not an image at all"), "not an image this module knows"),
    ("heic", lambda tmp_path: write(tmp_path / "x.heic", b"\0\0\0\x18ftypheic" + b"\0" * 40), "a HEIC image"),
    ("png-bomb", lambda tmp_path: write(tmp_path / "bomb.png", png_bomb_header()), "refused before decoding"),
    ("png-cut-in-header", lambda tmp_path: write(tmp_path / "cut.png", PNG_SIGNATURE + b"\0\0"), "header cannot be read"),
    ("directory", str, "is not a regular file (directory)"),
    ("fifo", lambda tmp_path: fifo(tmp_path / "fifo.jpg"), "is not a regular file (FIFO)"),
    ("link", lambda tmp_path: link(tmp_path / "link.jpg", image(tmp_path / "target.jpg")), "is a symbolic link"),
    ("dangling-link", lambda tmp_path: link(tmp_path / "dangling.jpg", str(tmp_path / "gone.jpg")), "is a symbolic link"),
]


def write(path, data):
    path.write_bytes(data)
    return str(path)


def fifo(path):
    os.mkfifo(str(path))
    return str(path)


def link(path, target):
    path.symlink_to(target)
    return str(path)


@pytest.mark.parametrize("make, message", [(make, message) for _name, make, message in BAD_SOURCES],
                         ids=[name for name, _make, _message in BAD_SOURCES])
def test_regression_a_bad_source_is_the_jobs_problem_with_load_sources_message(tmp_path, make, message):
    """issue 17: a source was checked only after that user's token and reads were sent."""
    path = make(tmp_path)
    job = plan_jobs(photos=[dict(user="a@x", src=path)]).jobs[0]
    assert job.problem is not None and message in job.problem.msg
    with pytest.raises(SourceImageError) as loaded:
        load_source(path)
    assert job.problem.msg == loaded.value.msg


def test_conversion_is_part_of_the_check(tmp_path):
    gif = image(tmp_path / "a.gif", "GIF")
    assert plan_jobs(photos=[dict(user="a@x", src=gif)]).jobs[0].problem is None
    problem = plan_jobs(photos=[dict(user="a@x", src=gif)], convert=False).jobs[0].problem
    assert "cannot be sent as it is: the service takes JPEG or PNG, not GIF" in problem.msg


def test_a_bad_source_in_src_dir_fails_that_user_only(tmp_path):
    src, _outside = photo_folder(tmp_path)
    (src / "megan@contoso.com.jpg").write_bytes(b"This is not a JPEG image.\n")
    jobs = plan_jobs(src_dir=str(src), absent_users=["leaver@contoso.com"]).jobs
    assert [(job.user, job.problem is None) for job in jobs] == [
        ("adele@contoso.com", True), ("megan@contoso.com", False), ("leaver@contoso.com", True)]
    assert "not an image this module knows" in jobs[1].problem.msg
