# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Turns the sync module's inputs (a list, a folder, users to clear) into one job per user."""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, List, Mapping, Optional, Pattern, Sequence, Tuple

from ._engine import Job
from ..common._errors import ConfigurationError
from ..common._users import EMPTY, PADDED, user_key_problem

DEFAULT_FILE_PATTERN = r"^(?P<user>.+)\.(jpe?g|png)$"


def compile_pattern(pattern: str) -> Pattern[str]:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigurationError("file_pattern %r is not a valid regular expression: %s." % (pattern, exc)) from None
    if "user" not in compiled.groupindex:
        raise ConfigurationError("file_pattern %r needs a named group (?P<user>...) that captures the user." % pattern)
    return compiled


def folder_entries(src_dir: str, pattern: str, user_domain: Optional[str]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """([(user, path)], unmatched file names) for the regular files of src_dir, sorted by name."""
    if not os.path.isdir(src_dir):
        raise ConfigurationError("src_dir %s does not exist or is not a directory on the host that runs the module." % src_dir)
    compiled = compile_pattern(pattern)
    matched, unmatched = [], []
    for name in sorted(os.listdir(src_dir)):
        path = os.path.join(src_dir, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        found = compiled.match(name)
        user = found.group("user") if found else None
        if not user:
            unmatched.append(name)
            continue
        if user_domain and "@" not in user:
            user = "%s@%s" % (user, user_domain.lstrip("@"))
        matched.append((user, path))
    return matched, unmatched


def plan_jobs(photos: Optional[Sequence[Mapping[str, Any]]] = None, src_dir: Optional[str] = None, file_pattern: str = DEFAULT_FILE_PATTERN,
              user_domain: Optional[str] = None, absent_users: Optional[Iterable[str]] = None) -> Tuple[List[Job], List[str]]:
    """(jobs, unmatched files). A user named twice gets one failed job naming both sources: never a guess."""
    wanted = []
    unmatched = []
    for entry in photos or []:
        wanted.append((entry["user"], entry.get("state") or "present", entry.get("src")))
    if src_dir:
        matched, unmatched = folder_entries(src_dir, file_pattern, user_domain)
        wanted.extend((user, "present", path) for user, path in matched)
    wanted.extend((user, "absent", None) for user in absent_users or [])
    if not wanted and not unmatched:
        raise ConfigurationError("Nothing to do: give photos, src_dir (with matching files) or absent_users.")

    seen = {}
    for user, state, src in wanted:
        seen.setdefault((user or "").strip().lower(), []).append((user, state, src))
    jobs = []
    for entries in seen.values():
        user, state, src = entries[0]
        problem = user_key_problem(user)
        if problem == EMPTY:
            jobs.append(Job(user, state, src, ConfigurationError("an entry has an empty user")))
        elif problem == PADDED:
            jobs.append(Job(user, state, src, ConfigurationError("user %r has leading or trailing white space" % user)))
        elif len(entries) > 1:
            sources = ", ".join("%s %s" % (s, p or "") for _u, s, p in entries)
            jobs.append(Job(user, state, src, ConfigurationError(
                "user %s is listed %d times (%s): keep one entry" % (user, len(entries), sources.strip()))))
        elif state == "present" and not src:
            jobs.append(Job(user, state, src, ConfigurationError("user %s has state=present but no src" % user)))
        else:
            jobs.append(Job(user, state, src))
    return jobs, unmatched
