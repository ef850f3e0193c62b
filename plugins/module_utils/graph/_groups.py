# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Which group a task names: an object id, a mail or a mailNickname, resolved to exactly one group and its details."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional
from urllib.parse import quote

from ..common._errors import ConfigurationError, GraphError
from ._answers import is_object_id, json_body, response_origin
from ._owners import GROUP, TEAM, Owner

GROUP_FIELDS = "id,displayName,mail,mailNickname,resourceProvisioningOptions"
MAX_SHOWN = 5  # matches named in an "ambiguous" failure


class GroupNotFoundError(ConfigurationError):
    """The group key matched no group, or more than one."""


class GroupRef(NamedTuple):
    """The group whose photo a task manages. Details the app may not read are None, never a failure."""
    id: str
    display_name: Optional[str]
    mail: Optional[str]
    is_team: Optional[bool]  # None: not known (the details could not be read)

    def owner(self, endpoint: str) -> Owner:
        return Owner(TEAM if endpoint == TEAM else GROUP, self.id)

    def view(self, endpoint: str) -> dict:
        """The module's `group` result: kind is team when the photo goes through the Teams endpoint or the group is
        known to be a Team."""
        kind = TEAM if endpoint == TEAM or self.is_team else GROUP
        return dict(id=self.id, display_name=self.display_name, mail=self.mail, kind=kind)


def key_kind(key: str) -> str:
    """How a `group` value names a group: "id" (a GUID), "mail" (holds '@') or "mailNickname"."""
    if is_object_id(key):
        return "id"
    return "mail" if "@" in key else "mailNickname"


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _ref(body: dict, group_id: str) -> GroupRef:
    options = body.get("resourceProvisioningOptions")
    is_team = None
    if isinstance(options, list):
        is_team = any(isinstance(option, str) and option.lower() == "team" for option in options)
    return GroupRef(group_id, _text(body.get("displayName")), _text(body.get("mail")), is_team)


def resolve_group(transport: Any, api_base: str, key: str, endpoint: str = GROUP) -> GroupRef:
    """The one group `key` names, with what the app may read of it.

    An object id is taken as it is: its details come from GET /groups/{id} (Group.Read.All), or GET /teams/{id} for
    endpoint team (TeamSettings.*); a 403 leaves them None, a 404 is GroupNotFoundError. A mail or mailNickname is
    looked up with $filter and must match exactly one group; resolving needs Group.Read.All.
    """
    if key_kind(key) == "id":
        return _by_id(transport, api_base, key.lower(), endpoint)
    return _by_filter(transport, api_base, key, endpoint)


def _by_id(transport, api_base, group_id, endpoint):
    if endpoint == TEAM:
        url = "%s/teams/%s" % (api_base, quote(group_id, safe=""))
    else:
        url = "%s/groups/%s?$select=%s" % (api_base, quote(group_id, safe=""), GROUP_FIELDS)
    try:
        response = transport.request("GET", url)
    except GraphError as exc:
        if exc.status == 403:
            return GroupRef(group_id, None, None, True if endpoint == TEAM else None)
        if exc.status == 404:
            where = " as a Team (use endpoint=group for a group that is not a Team)" if endpoint == TEAM else ""
            raise GroupNotFoundError("group %s was not found%s." % (group_id, where)) from None
        raise
    body = json_body(response, response_origin(response, "GET", url))
    if endpoint == TEAM:
        # The team resource has no mail and no provisioning options: it is a Team, by being there.
        return GroupRef(group_id, _text(body.get("displayName")), None, True)
    return _ref(body, group_id)


def filter_path(key: str) -> str:
    """The listing that finds a group by its mail or mailNickname, relative to the API root (a $batch item's url)."""
    clause = "%s eq '%s'" % (key_kind(key), key.replace("'", "''"))
    return "/groups?$filter=%s&$select=%s&$top=999" % (quote(clause, safe=""), GROUP_FIELDS)


def refused_resolution(key: str) -> GroupNotFoundError:
    """What a 403 on the listing means: the app may not read the directory."""
    return GroupNotFoundError(
        "group %r cannot be resolved: finding a group by %s reads the directory, which needs Group.Read.All (or "
        "Directory.Read.All); the photo permissions do not give it. Grant it, or give the group's object id." % (
            key, key_kind(key)))


def _by_filter(transport, api_base, key, endpoint):
    url = api_base + filter_path(key)
    try:
        response = transport.request("GET", url)
    except GraphError as exc:
        if exc.status == 403:
            raise refused_resolution(key) from None
        raise
    origin = response_origin(response, "GET", url)
    return group_from_listing(json_body(response, origin), origin, key, endpoint)


def group_from_listing(body: dict, origin: Any, key: str, endpoint: str) -> GroupRef:
    """The one group of a filtered listing that has exactly this mail or mailNickname; GroupNotFoundError when none or
    several do, MalformedAnswerError (origin.fail) when the listing is not what Graph promises."""
    attribute = key_kind(key)
    found = body.get("value") if isinstance(body, dict) else None
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        raise origin.fail("the group listing's value is not a list of objects")
    # Graph compares case-insensitively; so does this, and it keeps only exact matches (a service may be lax).
    matches = [item for item in found if isinstance(item.get(attribute), str) and item[attribute].lower() == key.lower()]
    ids = [item.get("id") for item in matches]
    if not all(isinstance(group_id, str) and is_object_id(group_id) for group_id in ids):
        raise origin.fail("a group in the listing has no object id")
    if not matches:
        raise GroupNotFoundError("no group has %s %r." % (attribute, key))
    more_pages = bool(body.get("@odata.nextLink"))
    if len(matches) > 1 or more_pages:
        shown = ", ".join("%s (%s)" % (item.get("displayName"), item["id"]) for item in matches[:MAX_SHOWN])
        more = " and more" if len(matches) > MAX_SHOWN or more_pages else ""
        # A next page holds more of them (the page is not read): the first page's count is a lower bound.
        if not more_pages:
            count = "%d groups have" % len(matches)
        else:
            count = "more than one group has" if len(matches) == 1 else "more than %d groups have" % len(matches)
        raise GroupNotFoundError("group %r is ambiguous: %s %s %r: %s%s. Give the object id of the one you mean."
                                 % (key, count, attribute, key, shown, more))
    ref = _ref(matches[0], matches[0]["id"].lower())
    if endpoint == TEAM and ref.is_team is False:
        raise GroupNotFoundError("group %r (%s) is not a Team: use endpoint=group." % (key, ref.id))
    return ref
