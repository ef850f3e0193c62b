# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The sync's state file: per user, the SHA-256 of the source file and the photo's @odata.mediaEtag as they were
after the last comparison or upload. One job: check the path, load and validate the file, save it.

What the engine trusts, and what it records, is decided in _engine; this file only keeps the records.

A file that cannot be used costs one warning that names the problem, never the file's content, and is then treated
as empty: every photo is compared as without a state file. What happens to the file depends on whose it is:
- one this module wrote (its format marker is there) but now unusable: cut off, another version, an entry of the
  wrong shape, another API or tenant, other comparison settings. It is replaced when the run ends.
- anything else (unreadable, too large, not text, JSON of another program): state_file may name the wrong path, so
  the file is left exactly as it is and nothing is recorded. It is never overwritten.

The file holds user keys, hashes and etags, never a secret. It is written atomically (a temporary file in the same
directory, then os.replace), with mode 0600, never through a symbolic link, and never in check mode.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ..common._errors import ConfigurationError
from ..photo._files import refuse_symlink

FORMAT = "o365.outlook.outlook_user_photo_sync state"
VERSION = 1
OPTION = "state_file"
# About 400,000 users; a larger file is not one this module wrote.
MAX_BYTES = 64 * 1024 * 1024
MAX_ETAG = 256
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPLACED = ("so it is not used: every photo is compared (downloaded) this run, and the file is replaced when the "
             "run ends (not in check mode).")
_LEFT_ALONE = ("so it is not used and is left as it is (it may be another program's file): every photo is compared "
               "(downloaded) this run and nothing is recorded. Remove the file or give state_file another path.")
# How the file this module writes begins (json.dumps with sort_keys puts "format" first): a file cut off after it
# is a damaged state file, which may be replaced; without it, the file may be anybody's.
_OWN_BEGINNING = '{\n "format": "%s",' % FORMAT

Record = Tuple[str, Optional[str]]  # (source_sha256, etag or None)


def user_key(user: str) -> str:
    """The key of a user's record: the user as the task names it, lower-cased (Graph reads UPNs and object ids
    case-insensitively). A user named by UPN in one run and by object id in another has two records."""
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
    if version != VERSION or isinstance(version, bool):
        raise StateFileProblem("has format version %s; this version of the module reads version %d" % (
            version if isinstance(version, int) and not isinstance(version, bool) else "(not a number)", VERSION))
    for field in ("identity", "settings", "users"):
        if not isinstance(document.get(field), dict):
            raise StateFileProblem("is damaged (%s is not an object)" % field)
    return document


def _records(users: Mapping[str, Any]) -> Dict[str, Record]:
    records = {}
    for key, entry in users.items():
        if not key or key != user_key(key):
            raise StateFileProblem("is damaged (a user key is empty or not lower-case)")
        if not isinstance(entry, dict) or set(entry) != {"source_sha256", "etag"}:
            raise StateFileProblem("is damaged (an entry is not {source_sha256, etag})")
        source, etag = entry["source_sha256"], entry["etag"]
        if not isinstance(source, str) or not _SHA256.match(source):
            raise StateFileProblem("is damaged (an entry's source_sha256 is not a SHA-256)")
        if etag is not None and (not isinstance(etag, str) or not etag or len(etag) > MAX_ETAG):
            raise StateFileProblem("is damaged (an entry's etag is not a string or null)")
        records[key] = (source, etag)
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
            if document["identity"] != json.loads(json.dumps(state.identity)):
                raise StateFileProblem("was written for another API or tenant (api_url or tenant_id differ)")
            if document["settings"] != json.loads(json.dumps(state.settings)):
                raise StateFileProblem("was written with other comparison settings (compare, pixel_tolerance or convert "
                                       "differ), so its records prove nothing now")
        except StateFileProblem as problem:
            warn("state_file %s %s, %s" % (path, problem, _REPLACED if problem.own else _LEFT_ALONE))
            state.replaceable = problem.own
            return state
        state._records = records
        return state

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def record(self, user: str) -> Optional[Record]:
        """(source_sha256, etag or None) as last recorded for user, or None."""
        with self._lock:
            return self._records.get(user_key(user))

    def remember(self, user: str, source_sha256: str, etag: Optional[str]) -> None:
        """Records what this run proved: the photo showed (or was set to) the source with this SHA-256; etag None
        when it is not known (after an upload: the next run compares once and records it)."""
        if not _SHA256.match(source_sha256 or ""):
            raise ValueError("source_sha256 must be a SHA-256 in hex")
        etag = etag if etag and len(etag) <= MAX_ETAG else None
        with self._lock:
            self._records[user_key(user)] = (source_sha256, etag)

    def forget(self, user: str) -> None:
        with self._lock:
            self._records.pop(user_key(user), None)

    def document(self) -> Dict[str, Any]:
        with self._lock:
            users = {key: dict(source_sha256=source, etag=etag) for key, (source, etag) in self._records.items()}
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
