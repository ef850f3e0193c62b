# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Whose photo it is: a user, a group or a Team, and the one table of what each kind of owner can do.

Everything below the modules passes an owner through without looking at its kind: a user is still given as its key
(str) or None (the signed-in user, /me), as in 1.0.0; a group or a Team is an Owner. The dialect builds the URL, the
client words its errors, and file names and messages name the owner, all from OWNER_KINDS.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

USER = "user"
GROUP = "group"
TEAM = "team"


class OwnerKind(NamedTuple):
    """What one kind of photo owner is and can do (graph-photo-api.md, "Added 2026-12-06")."""
    collection: str  # the Graph path segment: users, groups, teams
    noun: str  # how messages name one
    can_remove: bool  # DELETE .../photo/$value (a Team photo cannot be removed)
    capability: Optional[str]  # an API capability it needs beyond the user photo API (_photo_client.API_CAPABILITIES)
    write_permissions: str  # what a refused write should name
    read_permissions: str


OWNER_KINDS = {
    USER: OwnerKind("users", "user", True, None, "the ProfilePhoto.ReadWrite.All application permission with admin consent",
                    "ProfilePhoto.Read.All"),
    GROUP: OwnerKind("groups", "group", True, "group_photos", "ProfilePhoto.ReadWrite.All or Group.ReadWrite.All",
                     "ProfilePhoto.Read.All or Group.Read.All"),
    TEAM: OwnerKind("teams", "Team", False, "group_photos", "TeamSettings.ReadWrite.All",
                    "TeamSettings.Read.All, ProfilePhoto.Read.All or Group.Read.All"),
}


class Owner(NamedTuple):
    """A group's or a Team's photo (kind GROUP or TEAM), by the group's object id. Hashable: it keys the results of the
    many-object reads as a user key does."""
    kind: str
    key: str

    @property
    def state_key(self) -> str:
        """Its key in a state file: group:<id>, which no user's record can have; a Team's too, since the Team's picture
        is its group's photo whichever endpoint wrote it."""
        return "%s:%s" % (GROUP, self.key)

    def __str__(self) -> str:
        # "group:<id>": no user key holds ':' (a UPN cannot), so a group's name never equals a user's, in messages and
        # state-file records; a backup file name replaces the ':' and adds a hash of the whole name (safe_file_stem).
        return "%s:%s" % (self.kind, self.key)


# A photo owner as the lower layers take it: a user key, None for the signed-in user, or an Owner.
PhotoOwner = Union[None, str, Owner]


def kind_of(owner: PhotoOwner) -> OwnerKind:
    return OWNER_KINDS[owner.kind] if isinstance(owner, Owner) else OWNER_KINDS[USER]


def owner_noun(owner: PhotoOwner) -> str:
    """'user', 'group' or 'Team'."""
    return kind_of(owner).noun
