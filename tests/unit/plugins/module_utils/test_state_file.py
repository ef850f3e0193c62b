# SPDX-License-Identifier: GPL-3.0-or-later
"""The sync's state file (issue 11): load, validate, save. What the engine trusts is in test_bulk_state_file.py."""
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.many_users import _state_file
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import FORMAT, VERSION, Record, StateFile, check_path

IDENTITY = dict(api_url="https://graph.microsoft.com/v1.0", tenant="contoso.onmicrosoft.com")
SETTINGS = dict(compare="auto", pixel_tolerance=4.0, convert=True)
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64
# Planted in damaged files: no warning may quote a file's content.
MARKER = "content-marker-7f3e"


def load(path, warnings, identity=None, settings=None, check_mode=False):
    return StateFile.load(str(path), identity or IDENTITY, settings or SETTINGS, warnings.append, check_mode=check_mode)


def entry(source_sha256, etag=None, **fields):
    """A record as the file holds it (format version 2)."""
    found = Record(source_sha256, etag).to_dict()
    found.update(fields)
    return found


def document(users=None, **changes):
    doc = dict(format=FORMAT, version=VERSION, identity=dict(IDENTITY), settings=dict(SETTINGS),
               users=users if users is not None else {"a@x": entry(SHA_A, "E1")})
    doc.update(changes)
    return doc


def write(path, doc):
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_missing_and_empty_files_hold_nothing_and_say_nothing(tmp_path):
    warnings = []
    assert len(load(tmp_path / "none.json", warnings)) == 0
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "blank.json").write_text(" \n")
    assert len(load(tmp_path / "empty.json", warnings)) == 0
    assert len(load(tmp_path / "blank.json", warnings)) == 0
    assert warnings == []


def test_round_trip_keeps_records_of_users_not_in_the_run(tmp_path):
    users = {"a@x": entry(SHA_A, "E1"), "b@x": entry(SHA_B, None)}
    path = write(tmp_path / "state.json", document(users))
    warnings = []
    state = load(path, warnings)
    assert warnings == []
    assert state.record("a@x") == Record(SHA_A, "E1") and state.record("b@x") == Record(SHA_B, None)
    state.remember("C@X", Record(SHA_C, "E3"))   # a user this run names, in another case
    state.forget("A@x")                  # removed or failed in this run
    assert state.save(warnings.append) is True
    again = load(path, warnings)
    assert warnings == []
    assert again.record("a@x") is None
    assert again.record("b@x") == Record(SHA_B, None)   # not in this run: kept
    assert again.record("c@x") == Record(SHA_C, "E3") and again.record("c@X") == Record(SHA_C, "E3")


def test_saved_file_shape(tmp_path):
    state = StateFile(str(tmp_path / "s.json"), IDENTITY, SETTINGS)
    state.remember("Adele@Contoso.com", Record(SHA_A, "BA09D118"))
    state.save(pytest.fail)
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved == dict(format=FORMAT, version=2, identity=IDENTITY, settings=SETTINGS,
                         users={"adele@contoso.com": dict(source_sha256=SHA_A, etag="BA09D118", width=None, height=None,
                                                          content_type=None, served_sha256=None, trusted=False,
                                                          compared_at=None)})


@pytest.mark.parametrize("content, problem", [
    ("{\"format\": \"%s\", " % MARKER, "is not valid JSON (damaged or cut off)"),
    ("not json " + MARKER, "is not valid JSON"),
    ("[" * 100000, "is not"),
    (b"\xff\xfe" + MARKER.encode(), "is not UTF-8 text"),
    ([MARKER], "is not a state file of outlook_user_photo_sync"),
    (dict(format=MARKER, version=1), "is not a state file of outlook_user_photo_sync"),
    (document(version=3), "has format version 3; this version of the module reads version 2"),
    (document(version=0), "has format version 0; this version of the module reads version 2"),
    (document(version="1"), "has format version (not a number)"),
    (document(version=True), "has format version (not a number)"),
    (document(users=[MARKER]), "is damaged (users is not an object)"),
    (document(identity=None), "is damaged (identity is not an object)"),
    (document({"a@x": dict(source_sha256=SHA_A)}), "an entry does not have the fields of this version"),
    (document({"a@x": dict(source_sha256=SHA_A, etag="E")}), "an entry does not have the fields of this version"),
    (document({"a@x": dict(entry(SHA_A, "E"), extra=MARKER)}), "an entry does not have the fields of this version"),
    (document({"a@x": MARKER}), "an entry does not have the fields of this version"),
    (document({"a@x": entry(SHA_A, "E", served_sha256=MARKER)}), "served_sha256 is not a SHA-256 or null"),
    (document({"a@x": entry(SHA_A, "E", width=0)}), "width is not a positive integer or null"),
    (document({"a@x": entry(SHA_A, "E", height=True)}), "height is not a positive integer or null"),
    (document({"a@x": entry(SHA_A, "E", width=float("nan"))}), "width is not a positive integer or null"),
    (document({"a@x": entry(SHA_A, "E", content_type=7)}), "content_type is not a string or null"),
    (document({"a@x": entry(SHA_A, "E", trusted="yes")}), "trusted is not true or false"),
    (document({"a@x": entry(SHA_A, "E", trusted=1)}), "trusted is not true or false"),
    (document({"a@x": entry(SHA_A, "E", compared_at=-1)}), "compared_at is not a time or null"),
    (document({"a@x": entry(SHA_A, "E", compared_at=1.5)}), "compared_at is not a time or null"),
    (document({"a@x": entry(MARKER, "E")}), "source_sha256 is not a SHA-256"),
    (document({"a@x": entry(SHA_A.upper(), "E")}), "source_sha256 is not a SHA-256"),
    (document({"a@x": entry(SHA_A, 7)}), "etag is not a string or null"),
    (document({"a@x": entry(SHA_A, "")}), "etag is not a string or null"),
    (document({"A@x": entry(SHA_A, "E")}), "a user key is empty or not lower-case"),
    (document({"": entry(SHA_A, "E")}), "a user key is empty or not lower-case"),
])
def test_damaged_file_warns_once_without_its_content_and_holds_nothing(tmp_path, content, problem):
    path = tmp_path / "state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(path, content)
    warnings = []
    state = load(path, warnings)
    assert len(state) == 0
    assert len(warnings) == 1
    assert warnings[0].startswith("state_file %s " % path) and problem in warnings[0]
    assert "every photo is compared" in warnings[0]
    assert MARKER not in warnings[0]


def saved_text(doc):
    """A file as StateFile.save writes it."""
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("content", [
    saved_text(document())[:60],                     # cut off (a full disk, a copy interrupted)
    saved_text(document(version=3)),                 # a later version of the module
    saved_text(document({"a@x": entry(MARKER, "E")})),
    saved_text(document(identity=dict(IDENTITY, tenant="fabrikam.onmicrosoft.com"))),
])
def test_an_unusable_file_this_module_wrote_is_replaced_at_the_end_of_the_run(tmp_path, content):
    path = write(tmp_path / "state.json", content)
    warnings = []
    state = load(path, warnings)
    assert len(warnings) == 1 and "the file is replaced when the run ends" in warnings[0]
    state.remember("b@x", Record(SHA_A, None))
    assert state.save(warnings.append) is True
    assert load(path, []).record("b@x") == Record(SHA_A, None)
    assert MARKER not in path.read_text()


@pytest.mark.parametrize("content", [
    "garbage " + MARKER,                                              # not JSON
    json.dumps({"servers": [MARKER]}, indent=1),                      # another program's JSON
    json.dumps(dict(document(), format="another.program state")),    # a look-alike of another format
    b"\x89PNG\r\n\x1a\n" + MARKER.encode(),                         # not text
    '{"format": "%s", "users": {' % FORMAT,                          # our marker, but not how this module writes
])
def test_a_file_this_module_did_not_write_is_never_overwritten(tmp_path, content):
    """state_file may name the wrong path (a typo, a shared folder): the file there is left byte for byte."""
    path = tmp_path / "state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(path, content)
    before = path.read_bytes()
    warnings = []
    state = load(path, warnings)
    assert len(state) == 0
    assert len(warnings) == 1 and "is left as it is" in warnings[0] and "every photo is compared" in warnings[0]
    assert MARKER not in warnings[0]
    state.remember("a@x", Record(SHA_A, "E1"))
    assert state.save(warnings.append) is False
    assert path.read_bytes() == before and len(warnings) == 1
    assert os.listdir(str(tmp_path)) == ["state.json"]  # no temporary file left beside it


def test_a_file_too_large_to_be_a_state_file_is_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.setattr(_state_file, "MAX_BYTES", 100)
    path = write(tmp_path / "state.json", "x" * 101)
    state = load(path, [])
    state.remember("a@x", Record(SHA_A, None))
    assert state.save(pytest.fail) is False
    assert path.read_text() == "x" * 101


def test_too_large_a_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(_state_file, "MAX_BYTES", 100)
    path = write(tmp_path / "state.json", document({"u%03d@x" % n: entry(SHA_A, "E") for n in range(5)}))
    warnings = []
    assert len(load(path, warnings)) == 0
    assert "is larger than 100 bytes" in warnings[0]


def test_unreadable_file_warns(tmp_path):
    (tmp_path / "state.json").mkdir()  # opens, but cannot be read
    warnings = []
    assert len(load(tmp_path / "state.json", warnings)) == 0
    assert "cannot be read (Is a directory)" in warnings[0]


@pytest.mark.parametrize("identity, settings", [
    (dict(IDENTITY, tenant="fabrikam.onmicrosoft.com"), SETTINGS),
    (dict(IDENTITY, api_url="https://graph.microsoft.us/v1.0"), SETTINGS),
    (dict(IDENTITY, tenant=None), SETTINGS),
])
def test_foreign_file_is_ignored_with_a_warning_and_replaced(tmp_path, identity, settings):
    path = write(tmp_path / "state.json", document())
    warnings = []
    state = load(path, warnings, identity=identity, settings=settings)
    assert len(state) == 0
    assert len(warnings) == 1 and "was written for another API or tenant (api_url or tenant_id differ)" in warnings[0]
    assert IDENTITY["tenant"] not in warnings[0]
    state.save(pytest.fail)
    assert json.loads(path.read_text())["identity"] == identity and json.loads(path.read_text())["users"] == {}


@pytest.mark.parametrize("settings", [dict(SETTINGS, compare="sha256"), dict(SETTINGS, pixel_tolerance=2.0),
                                      dict(SETTINGS, convert=False)])
def test_other_comparison_settings_make_every_record_void(tmp_path, settings):
    path = write(tmp_path / "state.json", document())
    warnings = []
    assert len(load(path, warnings, settings=settings)) == 0
    assert "was written with other comparison settings" in warnings[0]


def test_a_tolerance_given_as_an_integer_is_the_same_setting(tmp_path):
    path = write(tmp_path / "state.json", document())
    warnings = []
    assert len(load(path, warnings, settings=dict(SETTINGS, pixel_tolerance=4))) == 1
    assert warnings == []


def test_saved_with_mode_0600_whatever_was_there(tmp_path):
    path = write(tmp_path / "state.json", document())
    os.chmod(path, 0o644)
    old_umask = os.umask(0)
    try:
        state = load(path, [])
        state.remember("b@x", Record(SHA_B, "E2"))
        assert state.save(pytest.fail) is True
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["state.json"]   # no temporary file left


def test_saved_atomically_through_a_file_in_the_same_directory(tmp_path, monkeypatch):
    path = write(tmp_path / "state.json", document())
    before = path.read_text()
    replaced = []
    real_replace = os.replace

    def watching_replace(source, target):
        # At the moment of the rename the new content is complete elsewhere and the target is still the old file.
        replaced.append((os.path.dirname(source), target, path.read_text(), stat.S_IMODE(os.stat(source).st_mode)))
        real_replace(source, target)
    monkeypatch.setattr(_state_file.os, "replace", watching_replace)
    state = load(path, [])
    state.remember("b@x", Record(SHA_B, "E2"))
    state.save(pytest.fail)
    assert replaced == [(str(tmp_path), str(path), before, 0o600)]
    assert load(path, []).record("b@x") == Record(SHA_B, "E2")


def test_a_failed_write_leaves_the_old_file_whole_and_warns(tmp_path, monkeypatch):
    path = write(tmp_path / "state.json", document())
    before = path.read_text()

    def failing_replace(source, target):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(_state_file.os, "replace", failing_replace)
    state = load(path, [])
    state.remember("b@x", Record(SHA_B, "E2"))
    warnings = []
    assert state.save(warnings.append) is False
    assert path.read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["state.json"]
    assert warnings == ["state_file %s could not be written (No space left on device): the next run compares every photo "
                        "whose record is missing or out of date." % path]


def test_check_mode_reads_but_never_writes(tmp_path):
    path = write(tmp_path / "state.json", document())
    before = path.read_bytes()
    mtime = os.stat(path).st_mtime_ns
    state = load(path, [], check_mode=True)
    assert state.record("a@x") == Record(SHA_A, "E1")   # check mode uses the records
    state.remember("b@x", Record(SHA_B, "E2"))
    assert state.save(pytest.fail) is False
    assert path.read_bytes() == before and os.stat(path).st_mtime_ns == mtime
    new = tmp_path / "new.json"
    StateFile.load(str(new), IDENTITY, SETTINGS, pytest.fail, check_mode=True).save(pytest.fail)
    assert not new.exists()


def test_never_written_through_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    link = tmp_path / "state.json"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="state_file: .* is a symbolic link; refusing to write through it"):
        check_path(str(link), check_mode=False)
    # Had it appeared after the check: not followed when read, and left alone.
    warnings = []
    state = load(link, warnings)
    assert len(state) == 0 and "cannot be read" in warnings[0] and "is left as it is" in warnings[0]
    state.remember("a@x", Record(SHA_A, None))
    assert state.save(warnings.append) is False
    assert target.read_text() == "precious" and link.is_symlink()
    # Had it appeared during the run, after the file was read: not written through when saved.
    link.unlink()
    warnings = []
    state = load(link, warnings)
    assert warnings == []
    link.symlink_to(target)
    state.remember("a@x", Record(SHA_A, None))
    assert state.save(warnings.append) is False
    assert len(warnings) == 1 and "is a symbolic link" in warnings[0]
    assert target.read_text() == "precious" and link.is_symlink()


def test_path_checks_before_any_request(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="is a directory: give the path of a file"):
        check_path(str(tmp_path), check_mode=False)
    with pytest.raises(ConfigurationError, match="its directory %s does not exist" % (tmp_path / "no")):
        check_path(str(tmp_path / "no" / "state.json"), check_mode=False)
    monkeypatch.setattr(_state_file.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigurationError, match="is not writable by the user that runs the module"):
        check_path(str(tmp_path / "state.json"), check_mode=False)
    check_path(str(tmp_path / "state.json"), check_mode=True)   # check mode writes nothing: no need to write there


def test_only_hashes_and_etags_are_recorded(tmp_path):
    state = StateFile(str(tmp_path / "s.json"), IDENTITY, SETTINGS)
    with pytest.raises(ValueError):
        state.remember("a@x", Record("not-a-hash", "E"))
    state.remember("a@x", Record(SHA_A, "x" * 1000))   # no etag is that long: not recorded as one
    assert state.record("a@x") == Record(SHA_A, None)


def test_a_version_1_file_is_read_as_untrusted_without_a_warning_and_replaced(tmp_path):
    """1.0.0's records paired etags with bytes that were never checked against them (issue 17): none is used, nobody is
    warned (one run compares every photo), and the file becomes a version 2 file at the end of the run."""
    v1 = dict(format=FORMAT, version=1, identity=dict(IDENTITY), settings=dict(SETTINGS),
              users={"a@x": dict(source_sha256=SHA_A, etag="E1"), "b@x": dict(source_sha256=SHA_B, etag=None)})
    path = write(tmp_path / "state.json", saved_text(v1))
    warnings = []
    state = load(path, warnings)
    assert warnings == [] and len(state) == 0 and state.record("a@x") is None and state.replaceable
    state.remember("c@x", Record(SHA_C, "E3", 48, 48, "image/jpeg", SHA_A, True, 1_800_000_000))
    assert state.save(warnings.append) is True
    saved = json.loads(path.read_text())
    assert saved["version"] == 2 and list(saved["users"]) == ["c@x"]
    assert load(path, warnings).record("c@x") == Record(SHA_C, "E3", 48, 48, "image/jpeg", SHA_A, True, 1_800_000_000)
    assert warnings == []


def test_a_record_under_the_object_id_replaces_the_one_under_the_user_key(tmp_path):
    state = StateFile(str(tmp_path / "s.json"), IDENTITY, SETTINGS)
    state.remember("Adele@X", Record(SHA_A))
    state.remember("6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f", Record(SHA_B, "E"), replaces="Adele@X")
    assert state.record("adele@x") is None and state.record("6E3B0CF5-7A54-4A3F-9D3E-1C2B3A4D5E6F") == Record(SHA_B, "E")
    state.forget("adele@x", None, "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f")
    assert len(state) == 0
