# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The sync's state file: per user (keyed on the object id once it is known), what the last comparison proved. One
job: check the path, load and validate the file, save it. Each record holds the SHA-256 of the source file, the
photo's etag, width, height and content type, the SHA-256 of the bytes that were compared, whether the record is
trusted yet, and when the comparison was made.

What the engine trusts, and what it records, is decided in _photo_trust; this file only keeps the records.

A file that cannot be used costs one warning that names the problem, never the file's content, and is then treated
as empty: every photo is compared as without a state file. What happens to the file depends on whose it is:
- one this module wrote (its format marker is there) but now unusable: cut off, another version, an entry of the
  wrong shape, another API or tenant, other comparison settings or photo preparation. It is replaced when the run
  ends.
- anything else (unreadable, too large, not text, JSON of another program): state_file may name the wrong path, so
  the file is left exactly as it is and nothing is recorded. It is never overwritten.
A file of format version 1 (collection 1.0.0) recorded etags that were never checked against the bytes compared: it
is read as empty, without a warning (every photo is compared once), and replaced by a version 2 file.

The file holds user keys, hashes and etags, never a secret. It is written atomically (a temporary file in the same
directory, then os.replace), with mode 0600, never through a symbolic link, and never in check mode.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from typing import Any, Callable, Dict, Mapping, Optional

from ..common._errors import ConfigurationError
from ..photo._files import refuse_symlink

FORMAT = "o365.outlook.outlook_user_photo_sync state"
VERSION = 2
# 1.0.0's version: read as no records at all, with no warning.
UNTRUSTED_VERSIONS = (1,)
OPTION = "state_file"
# About 400,000 users; a larger file is not one this module wrote.
MAX_BYTES = 64 * 1024 * 1024
MAX_ETAG = 256
MAX_CONTENT_TYPE = 255
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPLACED = ("so it is not used: every photo is compared (downloaded) this run, and the file is replaced when the "
             "run ends (not in check mode).")
_LEFT_ALONE = ("so it is not used and is left as it is (it may be another program's file): every photo is compared "
               "(downloaded) this run and nothing is recorded. Remove the file or give state_file another path.")
# How the file this module writes begins (json.dumps with sort_keys puts "format" first): a file cut off after it
# is a damaged state file, which may be replaced; without it, the file may be anybody's.
_OWN_BEGINNING = '{\n "format": "%s",' % FORMAT

FIELDS = frozenset(("source_sha256", "etag", "width", "height", "content_type", "served_sha256", "trusted", "compared_at"))
# Written since 1.1.0's default photo; a record without it (written before) is not a default's.
OPTIONAL_FIELDS = frozenset(("default",))


class Record:
    """What one comparison or upload proved for one user.

    source_sha256: the source file's bytes on disk. etag, width, height, content_type: the photo as the service
    described it then (None after an upload: nothing was read back). served_sha256: the bytes that were compared.
    trusted: whether the etag is known to belong to those bytes (see _photo_trust); a record that is not trusted only
    waits for the next download to agree with it. compared_at: Unix time of the comparison (None after an upload).
    default: the source was the sync's default photo (default_src or default_content), set because the user had
    none; a trusted default record says "got the default with SHA-256 source_sha256, and the photo had this etag then".
    """

    __slots__ = tuple(sorted(FIELDS | OPTIONAL_FIELDS))

    def __init__(self, source_sha256: str, etag: Optional[str] = None, width: Optional[int] = None, height: Optional[int] = None,
                 content_type: Optional[str] = None, served_sha256: Optional[str] = None, trusted: bool = False,
                 compared_at: Optional[int] = None, default: bool = False) -> None:
        self.source_sha256 = source_sha256
        self.default = default
        self.etag = etag
        self.width = width
        self.height = height
        self.content_type = content_type
        self.served_sha256 = served_sha256
        self.trusted = trusted
        self.compared_at = compared_at

    def to_dict(self) -> Dict[str, Any]:
        entry = {name: getattr(self, name) for name in FIELDS}
        if self.default:  # written only when true: records of users not given the default stay as before
            entry["default"] = True
        return entry

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "Record(%r)" % self.to_dict()


def user_key(user: str) -> str:
    """The key of a record: the user's object id once it is known, else the user as the task names it; lower-cased
    (Graph reads UPNs and object ids case-insensitively)."""
    return user.lower()


def check_path(path: str, check_mode: bool) -> None:
    """ConfigurationError, before any request, for a state_file that could never be written: a symbolic link, a
    directory, a missing directory, or (outside check mode, which writes nothing) a directory the module cannot write."""
    refuse_symlink(path, OPTION)
    if os.path.isdir(path):
        raise ConfigurationError("state_file %s is a directory: give the path of a file." % path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigurationError("state_file %s cannot be used: its directory %s does not exist on the host that runs "
                                 "the module." % (path, directory))
    if not check_mode and not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigurationError("state_file %s cannot be used: its directory %s is not writable by the user that runs "
                                 "the module (the file is replaced as a whole, through a new file in that directory)."
                                 % (path, directory))


class StateFileProblem(Exception):
    """Why a state file cannot be used, in words that never quote its content. own: the file is one this module
    wrote, so replacing it loses nothing; a file that is not (own False) is never overwritten."""

    def __init__(self, reason: str, own: bool = True) -> None:
        super().__init__(reason)
        self.own = own


class OlderStateFile(Exception):
    """A file of a version whose records are not trusted: read as empty, with no warning, and replaced."""


def _read_text(path: str) -> Optional[str]:
    """The file's text; None when there is no file (or an empty one: nothing recorded yet)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileProblem("cannot be read (%s)" % (exc.strerror or type(exc).__name__), own=False) from None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise StateFileProblem("cannot be read (%s)" % (exc.strerror or type(exc).__name__), own=False) from None
    if len(data) > MAX_BYTES:
        raise StateFileProblem("is larger than %d bytes, so it is not a state file this module wrote" % MAX_BYTES, own=False)
    if not data.strip():
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileProblem("is not UTF-8 text", own=False) from None


def _parsed(text: str) -> Dict[str, Any]:
    own = text.startswith(_OWN_BEGINNING)
    try:
        document = json.loads(text)
    except RecursionError:
        raise StateFileProblem("is not a state file (JSON nested too deeply)", own=own) from None
    except ValueError:
        raise StateFileProblem("is not valid JSON (damaged or cut off)", own=own) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateFileProblem("is not a state file of outlook_user_photo_sync", own=False)
    version = document.get("version")
    if version in UNTRUSTED_VERSIONS and not isinstance(version, bool):
        raise OlderStateFile()
    if version != VERSION or isinstance(version, bool):
        raise StateFileProblem("has format version %s; this version of the module reads version %d" % (
            version if isinstance(version, int) and not isinstance(version, bool) else "(not a number)", VERSION))
    for field in ("identity", "settings", "users"):
        if not isinstance(document.get(field), dict):
            raise StateFileProblem("is damaged (%s is not an object)" % field)
    return document


def _settings_problem(found: Any, wanted: Mapping[str, Any]) -> str:
    """Why records made under the settings found prove nothing under the settings wanted."""
    if isinstance(found, dict) and "preparation" in wanted and found.get("preparation") != wanted["preparation"]:
        if "preparation" not in found:
            return ("was written before photos were prepared (turned upright, cropped, sized) by this collection, so its "
                    "records prove nothing about photos prepared now")
        return ("was written with another photo preparation (crop or max_dimension, or how this collection prepares "
                "photos, differ), so its records prove nothing now")
    return "was written with other comparison settings (compare, pixel_tolerance or convert differ), so its records prove nothing now"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record(entry: Any) -> Record:
    if not isinstance(entry, dict) or not FIELDS <= set(entry) <= FIELDS | OPTIONAL_FIELDS:
        raise StateFileProblem("is damaged (an entry does not have the fields of this version)")
    source, etag, served = entry["source_sha256"], entry["etag"], entry["served_sha256"]
    if not isinstance(source, str) or not _SHA256.match(source):
        raise StateFileProblem("is damaged (an entry's source_sha256 is not a SHA-256)")
    if served is not None and (not isinstance(served, str) or not _SHA256.match(served)):
        raise StateFileProblem("is damaged (an entry's served_sha256 is not a SHA-256 or null)")
    if etag is not None and (not isinstance(etag, str) or not etag or len(etag) > MAX_ETAG):
        raise StateFileProblem("is damaged (an entry's etag is not a string or null)")
    for side in ("width", "height"):
        if entry[side] is not None and (not _is_int(entry[side]) or not 0 < entry[side] < 2 ** 31):
            raise StateFileProblem("is damaged (an entry's %s is not a positive integer or null)" % side)
    content_type = entry["content_type"]
    if content_type is not None and (not isinstance(content_type, str) or len(content_type) > MAX_CONTENT_TYPE):
        raise StateFileProblem("is damaged (an entry's content_type is not a string or null)")
    if not isinstance(entry["trusted"], bool):
        raise StateFileProblem("is damaged (an entry's trusted is not true or false)")
    if not isinstance(entry.get("default", False), bool):
        raise StateFileProblem("is damaged (an entry's default is not true or false)")
    compared_at = entry["compared_at"]
    if compared_at is not None and (not _is_int(compared_at) or not 0 <= compared_at < 2 ** 40):
        raise StateFileProblem("is damaged (an entry's compared_at is not a time or null)")
    return Record(source, etag, entry["width"], entry["height"], content_type, served, entry["trusted"], compared_at,
                  entry.get("default", False))


def _records(users: Mapping[str, Any]) -> Dict[str, Record]:
    records = {}
    for key, entry in users.items():
        if not key or key != user_key(key):
            raise StateFileProblem("is damaged (a user key is empty or not lower-case)")
        records[key] = _record(entry)
    return records


class StateFile:
    """The records of one run: loaded once, read and updated by the engine's threads, saved once at the end.

    identity: what the file describes (the API root URL and the tenant as given); a file written for another is
    foreign. settings: what decided "same photo" (compare, pixel_tolerance, convert); a record made under other
    settings proves nothing now. Records of users this run does not name are kept and saved again.
    """

    def __init__(self, path: str, identity: Mapping[str, Any], settings: Mapping[str, Any],
                 records: Optional[Mapping[str, Record]] = None, check_mode: bool = False) -> None:
        self.path = path
        self.identity = dict(identity)
        self.settings = dict(settings)
        self.check_mode = check_mode
        self._records: Dict[str, Record] = dict(records or {})
        self._lock = threading.Lock()
        # False when the path holds a file this module did not write: save() then leaves it alone.
        self.replaceable = True

    @classmethod
    def load(cls, path: str, identity: Mapping[str, Any], settings: Mapping[str, Any], warn: Callable[[str], None],
             check_mode: bool = False) -> StateFile:
        """The file's records; a missing or empty file has none; an unusable one has none and costs one warning."""
        state = cls(path, identity, settings, check_mode=check_mode)
        try:
            text = _read_text(path)
            if text is None:
                return state
            document = _parsed(text)
            records = _records(document["users"])
            # Compared as JSON would give them back: a tolerance of 4 and 4.0 are the same setting.
            wanted = json.loads(json.dumps(state.identity))
            if document["identity"] != wanted:
                found = dict(document["identity"])
                if found.pop("shard", None) != wanted.get("shard") and found == {k: v for k, v in wanted.items() if k != "shard"}:
                    raise StateFileProblem("was written by another shard (shard_index or shard_count differ): give each "
                                           "shard a state file of its own")
                raise StateFileProblem("was written for another API or tenant (api_url or tenant_id differ)")
            if document["settings"] != json.loads(json.dumps(state.settings)):
                raise StateFileProblem(_settings_problem(document["settings"], state.settings))
        except OlderStateFile:
            return state
        except StateFileProblem as problem:
            warn("state_file %s %s, %s" % (path, problem, _REPLACED if problem.own else _LEFT_ALONE))
            state.replaceable = problem.own
            return state
        state._records = records
        return state

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def record(self, key: str) -> Optional[Record]:
        """The record under key (an object id or a user key), or None."""
        with self._lock:
            return self._records.get(user_key(key))

    def remember(self, key: str, record: Record, replaces: Optional[str] = None) -> None:
        """Keeps record under key; replaces: a key the same user's record had before (its user key, once the object id
        is known), dropped so that one user never has two records."""
        if not _SHA256.match(record.source_sha256 or ""):
            raise ValueError("source_sha256 must be a SHA-256 in hex")
        if record.etag is not None and (not record.etag or len(record.etag) > MAX_ETAG):
            record.etag, record.trusted = None, False
        if record.content_type is not None and len(record.content_type) > MAX_CONTENT_TYPE:
            record.content_type, record.trusted = None, False
        with self._lock:
            if replaces is not None and user_key(replaces) != user_key(key):
                self._records.pop(user_key(replaces), None)
            self._records[user_key(key)] = record

    def forget(self, *keys: Optional[str]) -> None:
        """Drops the records under these keys (the user key and the object id of one user; None is skipped)."""
        with self._lock:
            for key in keys:
                if key:
                    self._records.pop(user_key(key), None)

    def document(self) -> Dict[str, Any]:
        with self._lock:
            users = {key: record.to_dict() for key, record in self._records.items()}
        return dict(format=FORMAT, version=VERSION, identity=self.identity, settings=self.settings, users=users)

    def save(self, warn: Callable[[str], None]) -> bool:
        """Writes the file (never in check mode, never over a file this module did not write); True when written. A
        failure is a warning, not an error: the photos are done, and the next run only compares more of them."""
        if self.check_mode or not self.replaceable:
            return False
        try:
            refuse_symlink(self.path, OPTION)
            self._write_atomically(json.dumps(self.document(), indent=1, sort_keys=True).encode("utf-8") + b"\n")
        except (ConfigurationError, OSError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, ConfigurationError) else (getattr(exc, "strerror", None) or type(exc).__name__)
            warn("state_file %s could not be written (%s): the next run compares every photo whose record is missing "
                 "or out of date." % (self.path, reason))
            return False
        return True

    def _write_atomically(self, data: bytes) -> None:
        """A temporary file (mkstemp: mode 0600, O_EXCL) in the target's directory, flushed to disk, then renamed over
        the target: a reader sees the old file or the new one, never half of one. os.replace replaces a symbolic
        link that appeared meanwhile rather than writing through it."""
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(self.path), suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
