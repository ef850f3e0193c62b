# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Turns the sync module's inputs (a list, a folder, users to clear) into one job per user."""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Pattern, Sequence, Tuple

from ._engine import Job
from ..common._errors import ConfigurationError, OutlookError
from ..common._users import EMPTY, PADDED, user_key_problem
from ..photo._image import file_kind
from ..photo._content import ImageContent
from ..photo._prepare import AS_GIVEN, Preparation
from ..photo._source import source_problem

DEFAULT_FILE_PATTERN = r"^(?P<user>.+)\.(jpe?g|png)$"


class SyncPlan(NamedTuple):
    """One job per user, the src_dir files that name no user, and the src_dir entries that are not regular files."""

    jobs: List[Job]
    unmatched_files: List[str]
    skipped_files: List[Dict[str, str]]


def compile_pattern(pattern: str) -> Pattern[str]:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigurationError("file_pattern %r is not a valid regular expression: %s." % (pattern, exc)) from None
    if "user" not in compiled.groupindex:
        raise ConfigurationError("file_pattern %r needs a named group (?P<user>...) that captures the user." % pattern)
    return compiled


def checked_user_domain(value: Optional[str]) -> Optional[str]:
    """The domain of user_domain, without its optional leading '@'; None when not set (or empty, as in 1.0.0)."""
    if not value:
        return None
    domain = value[1:] if value.startswith("@") else value
    if not domain:
        raise ConfigurationError("user_domain %r has no domain after the '@': give the domain to append to file names "
                                 "without '@', for example contoso.com." % value)
    if "@" in domain:
        raise ConfigurationError("user_domain %r has more than one '@': give one domain, for example contoso.com or "
                                 "@contoso.com." % value)
    if any(char.isspace() for char in domain):
        raise ConfigurationError("user_domain %r contains white space: give one domain, for example contoso.com." % value)
    return domain


def skip_reason(path: str) -> Optional[str]:
    """None for a regular file, else why a folder entry is no source: symbolic link, directory, or
    "not a regular file (FIFO)" and the like. A link is never followed, so where it points does not matter."""
    try:
        kind = file_kind(os.lstat(path).st_mode)
    except OSError as exc:  # gone since the folder was listed
        return "cannot be accessed (%s)" % exc.strerror
    if kind is None or kind in ("symbolic link", "directory"):
        return kind
    return "not a regular file (%s)" % kind


def folder_entries(src_dir: str, pattern: str, domain: Optional[str]) -> Tuple[List[Tuple[str, str]], List[str], List[Dict[str, str]]]:
    """([(user, path)], unmatched file names, skipped entries as {name, reason}) for src_dir, sorted by name.

    Only regular files are sources; hidden entries (names that start with a dot) are ignored, as in 1.0.0.
    domain: user_domain as checked_user_domain returns it.
    """
    if not os.path.isdir(src_dir):
        raise ConfigurationError("src_dir %s does not exist or is not a directory on the host that runs the module." % src_dir)
    compiled = compile_pattern(pattern)
    matched, unmatched, skipped = [], [], []
    for name in sorted(os.listdir(src_dir)):
        if name.startswith("."):
            continue
        path = os.path.join(src_dir, name)
        reason = skip_reason(path)
        if reason:
            skipped.append(dict(name=name, reason=reason))
            continue
        found = compiled.match(name)
        user = found.group("user") if found else None
        if not user:
            unmatched.append(name)
            continue
        if domain and "@" not in user:
            user = "%s@%s" % (user, domain)
        matched.append((user, path))
    return matched, unmatched, skipped


def plan_jobs(photos: Optional[Sequence[Mapping[str, Any]]] = None, src_dir: Optional[str] = None, file_pattern: str = DEFAULT_FILE_PATTERN,
              user_domain: Optional[str] = None, absent_users: Optional[Iterable[str]] = None, convert: bool = True,
              absent_groups: Optional[Iterable[str]] = None, preparation: Preparation = AS_GIVEN,
              may_be_empty: bool = False) -> SyncPlan:
    """The sync's jobs, unmatched files and skipped entries. A user named twice gets one failed job naming both sources:
    never a guess. Each source is checked here (source_problem), so a user whose file is missing, a link, unreadable
    or not an image fails before any request is sent for that user.

    A group entry ({group, endpoint}) becomes a job whose named holds them; the sync resolves its key to an Owner
    (_group_jobs.resolve_group_jobs) before the engine runs. An entry's content (base64) becomes its src, an
    ImageContent, decoded when it is checked and again when it is sent, never kept. may_be_empty: the task selects
    users for a default image (their jobs come later, from the directory), so no entry of its own is needed.
    """
    domain = checked_user_domain(user_domain)
    wanted = []
    unmatched, skipped = [], []
    both = set()  # the keys of entries that give src and content
    for entry in photos or []:
        named = None
        if entry.get("group") is not None:
            named = dict(group=entry["group"], endpoint=entry.get("endpoint") or "group")
        src = entry.get("src")
        if entry.get("content") is not None:
            if src:
                both.add(_entry_key(entry.get("user"), named))
            src = ImageContent(entry["content"], "the content of the entry for %s %s" % (
                ("group", named["group"]) if named else ("user", entry.get("user"))))
        wanted.append((entry.get("user"), entry.get("state") or "present", src, named))
    if src_dir:
        matched, unmatched, skipped = folder_entries(src_dir, file_pattern, domain)
        wanted.extend((user, "present", path, None) for user, path in matched)
    wanted.extend((user, "absent", None, None) for user in absent_users or [])
    wanted.extend((None, "absent", None, dict(group=group, endpoint="group")) for group in absent_groups or [])
    if not wanted and not unmatched and not skipped and not may_be_empty:
        raise ConfigurationError("Nothing to do: give photos, src_dir (with matching files), absent_users or absent_groups.")

    seen = {}
    for user, state, src, named in wanted:
        seen.setdefault(_entry_key(user, named), []).append((user, state, src, named))
    jobs = []
    for key, entries in seen.items():
        user, state, src, named = entries[0]
        problem = group_entry_problem(entries) if named else entry_problem([entry[:3] for entry in entries])
        if problem is None and key in both:
            problem = ConfigurationError("%s %s gives both src and content: keep one" % (
                key[0], named["group"] if named else user))
        if problem is None and state == "present":
            problem = source_problem(src, convert, preparation)
        jobs.append(Job(user, state, src, problem, named=named))
    return SyncPlan(jobs, unmatched, skipped)


def _entry_key(user: Optional[str], named: Optional[Mapping[str, str]]) -> Tuple[str, str]:
    """Entries with the same key name one user or one group."""
    return ("group", (named["group"] or "").strip().lower()) if named else ("user", (user or "").strip().lower())


def _shown(src: Any) -> str:
    """A source in a message: its path, or "content" (never the base64 text)."""
    return "content" if isinstance(src, ImageContent) else (src or "")


def group_entry_problem(entries: Sequence[Tuple[Any, str, Optional[str], Mapping[str, str]]]) -> Optional[OutlookError]:
    """What is wrong with the entries that name one group by the same key, before their source is looked at."""
    dummy, state, src, named = entries[0]
    group = named["group"]
    problem = user_key_problem(group)
    if problem == EMPTY:
        return ConfigurationError("an entry has an empty group")
    if problem == PADDED:
        return ConfigurationError("group %r has leading or trailing white space" % group)
    if len(entries) > 1:
        sources = ", ".join("%s %s" % (s, _shown(p)) for _u, s, p, _n in entries)
        return ConfigurationError("group %s is listed %d times (%s): keep one entry" % (group, len(entries), sources.strip()))
    if state == "present" and not src:
        return ConfigurationError("group %s has state=present but no src or content" % group)
    if state == "absent" and named["endpoint"] == "team":
        return ConfigurationError("group %s: a Team photo cannot be removed (the service has no DELETE for it); remove it "
                                  "with endpoint=group, which removes the group's photo, the Team's picture" % group)
    return None


def entry_problem(entries: Sequence[Tuple[str, str, Optional[str]]]) -> Optional[OutlookError]:
    """What is wrong with the (user, state, src) entries that name one user, before their source is looked at."""
    user, state, src = entries[0]
    problem = user_key_problem(user)
    if problem == EMPTY:
        return ConfigurationError("an entry has an empty user")
    if problem == PADDED:
        return ConfigurationError("user %r has leading or trailing white space" % user)
    if len(entries) > 1:
        sources = ", ".join("%s %s" % (s, _shown(p)) for _u, s, p in entries)
        return ConfigurationError("user %s is listed %d times (%s): keep one entry" % (user, len(entries), sources.strip()))
    if state == "present" and not src:
        return ConfigurationError("user %s has state=present but no src or content" % user)
    return None
