# SPDX-License-Identifier: GPL-3.0-or-later
"""What a Graph or Outlook URL names (whose photo, which operation), which methods each target takes, and which
permissions each needs (graph-photo-api.md; BEHAVIOURS.md, "Auth errors and permissions", "Groups and Teams")."""

from __future__ import annotations

import re
from urllib.parse import unquote

GRAPH, BETA, OUTLOOK = "graph", "beta", "outlook_v2"
USER, GROUP, TEAM = "user", "group", "team"


def _lower(*names):
    return frozenset(name.lower() for name in names)


# Users
PHOTO_READ = _lower("ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All", "User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All")
PHOTO_WRITE = _lower("ProfilePhoto.ReadWrite.All", "User.ReadWrite.All")
DIRECTORY_READ = _lower("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
SELF_READ = _lower("User.Read", "User.ReadWrite")  # delegated, signed-in user only
SELF_WRITE = _lower("User.ReadWrite")
# Groups (profilephoto-get / -update): the photo permissions do not let an app read the group object itself.
GROUP_PHOTO_READ = _lower("ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All")
GROUP_PHOTO_WRITE = _lower("ProfilePhoto.ReadWrite.All", "Group.ReadWrite.All")
GROUP_DIRECTORY_READ = _lower("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
# Teams: writes take TeamSettings.ReadWrite.All (fact); reads also take the group photo permissions (assumption).
TEAM_PHOTO_READ = _lower("TeamSettings.Read.All", "TeamSettings.ReadWrite.All") | GROUP_PHOTO_READ
TEAM_PHOTO_WRITE = _lower("TeamSettings.ReadWrite.All")
# GET /teams/{id} (team-get): the team object, which TeamSettings.* may read where Group.Read.All is missing.
TEAM_READ = _lower("Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All") | GROUP_DIRECTORY_READ
# The tenant's photo policy (beta photoUpdateSettings).
POLICY_READ = _lower("PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All")
POLICY_WRITE = _lower("PeopleSettings.ReadWrite.All")

WRITE_METHODS = ("PUT", "PATCH", "DELETE")
DIRECTORY_OPERATIONS = ("users", "user", "groups", "group", "team")
PHOTO_OPERATIONS = ("photo", "photo_value", "photos", "size", "size_value")
_PHOTO_ALLOWED = {"photo": ("GET",), "photos": ("GET",), "size": ("GET",), "size_value": ("GET",),
                  "photo_value": ("GET", "PUT", "PATCH", "DELETE")}
_ODATA_KEY = re.compile(r"(users|groups|teams)\('((?:[^']|'')*)'\)", re.IGNORECASE | re.DOTALL)
_KIND_OF_COLLECTION = {"users": USER, "groups": GROUP, "teams": TEAM}
POLICY_PATH = ["admin", "people", "photoupdatesettings"]


def split_segments(path):
    """Split the raw path on '/', then percent-decode each part, so an encoded '/', '#' or '?' stays inside its segment.

    Empty parts (a trailing or doubled slash) change nothing: msgraph-sdk (Python) sends `/v1.0//users/...` with its
    default base URL, and Graph serves it."""
    parts = path.split("/")[1:]
    parts = [part for part in parts if part] or parts[:1]
    return [unquote(part, errors="replace") for part in parts]


class Route:
    """What a URL names: operation, the owner's kind (user, group, team), /me or not, the owner's key, a size."""

    def __init__(self, operation, kind=None, me=False, key=None, size=None):
        self.operation = operation
        self.kind = kind
        self.me = me
        self.key = key
        self.size = size

    def allowed_methods(self, dialect):
        if self.operation in DIRECTORY_OPERATIONS:
            return ("GET",)
        if self.operation == "photo_policy":
            return ("GET", "PATCH")
        if dialect == OUTLOOK:
            return ("GET", "PUT", "PATCH") if self.operation == "photo_value" else ("GET",)
        if self.kind == TEAM and self.operation == "photo_value":
            return ("GET", "PUT", "PATCH")  # a Team photo cannot be removed (profilePhoto resource type)
        return _PHOTO_ALLOWED[self.operation]

    def needs(self, method):
        """(permissions of which one is enough, delegated permissions enough on one's own photo)."""
        if self.operation in ("user", "users"):
            return DIRECTORY_READ, SELF_READ
        if self.operation in ("group", "groups"):
            return GROUP_DIRECTORY_READ, frozenset()
        if self.operation == "team":
            return TEAM_READ, frozenset()
        if self.operation == "photo_policy":
            return (POLICY_WRITE if method in WRITE_METHODS else POLICY_READ), frozenset()
        write = method in WRITE_METHODS
        if self.kind == GROUP:
            return (GROUP_PHOTO_WRITE if write else GROUP_PHOTO_READ), frozenset()
        if self.kind == TEAM:
            return (TEAM_PHOTO_WRITE if write else TEAM_PHOTO_READ), frozenset()
        return (PHOTO_WRITE, SELF_WRITE) if write else (PHOTO_READ, SELF_READ)


def _owner(segments):
    """(kind, is /me, key, remaining segments) for /me/..., /users|groups|teams/{key}/... and users('{key}')/...;
    None otherwise."""
    if not segments:
        return None
    head = segments[0].lower()
    if head == "me":
        return USER, True, None, segments[1:]
    if head in _KIND_OF_COLLECTION and len(segments) >= 2:
        if segments[1].startswith("$"):
            # Graph reads a segment starting with '$' as a system segment, not a key: such UPNs need users('$...').
            return _KIND_OF_COLLECTION[head], False, None, ["$unsupported"]
        return _KIND_OF_COLLECTION[head], False, segments[1], segments[2:]
    match = _ODATA_KEY.fullmatch(segments[0])
    if match:
        return _KIND_OF_COLLECTION[match.group(1).lower()], False, match.group(2).replace("''", "'"), segments[1:]
    return None


def _operation(rest, dialect, kind):
    """(operation, size argument) named by the segments after the owner; (None, None) when unknown."""
    lowered = [part.lower() for part in rest]
    if lowered == ["photo"]:
        return "photo", None
    if lowered == ["photo", "$value"]:
        return "photo_value", None
    if not lowered and dialect != OUTLOOK:
        return kind, None  # "user", "group" or "team": the object itself
    if dialect == OUTLOOK or kind == TEAM:
        return None, None
    if lowered == ["photos"]:
        return "photos", None
    if len(lowered) == 2 and lowered[0] == "photos":
        return "size", rest[1]
    if len(lowered) == 3 and lowered[0] == "photos" and lowered[2] == "$value":
        return "size_value", rest[1]
    return None, None


def route(segments, dialect):
    """The Route these path segments (after the version) name, or the segment to name in a 400 (a str)."""
    lowered = [part.lower() for part in segments]
    if dialect != OUTLOOK and lowered in (["users"], ["groups"]):
        return Route(lowered[0])
    if dialect != OUTLOOK and lowered == POLICY_PATH:
        if dialect == BETA:
            return Route("photo_policy")
        return segments[-1]  # photoUpdateSettings is a beta API
    owner = _owner(segments)
    if owner is not None and not (dialect == OUTLOOK and owner[0] != USER):
        kind, me, key, rest = owner
        operation, size = _operation(rest, dialect, kind)
        if operation is not None:
            return Route(operation, kind, me, key, size)
    return _unknown_segment(segments, owner)


def _unknown_segment(segments, owner):
    """The segment to name in a 400: the first one after the owner that is not a photo keyword, else the last one."""
    if not segments:
        return ""
    rest = owner[3] if owner else segments
    if rest and rest[0].lower() not in ("photo", "photos"):
        return rest[0]
    return segments[-1]
