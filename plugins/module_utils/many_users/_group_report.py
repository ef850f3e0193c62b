# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Which groups outlook_user_photo_info reports: every Microsoft 365 group of the tenant (all_groups), page by page."""

from __future__ import annotations

from typing import Any, List, Optional
from urllib.parse import quote

from ..common._errors import GraphError
from ..graph._answers import is_object_id, json_body, response_origin
from ..graph._groups import GROUP_FIELDS, GroupRef
from ._group_jobs import group_details

# Microsoft 365 groups only: a security group or a distribution list has no group photo to speak of.
UNIFIED_FILTER = "groupTypes/any(c:c eq 'Unified')"
PAGE_SIZE = 999  # the most Graph gives per page of /groups

LISTING_REFUSED = ("all_groups lists the tenant's groups, which needs the Group.Read.All application permission (or "
                   "Directory.Read.All); the photo permissions do not give it. Grant it, or name the groups in groups by "
                   "object id")


def groups_url(api_base: str, page_size: Optional[int] = None) -> str:
    return "%s/groups?$filter=%s&$select=%s&$top=%d" % (api_base, quote(UNIFIED_FILTER, safe=""), GROUP_FIELDS, page_size or PAGE_SIZE)


def list_unified_groups(client: Any, page_size: Optional[int] = None) -> List[GroupRef]:
    """Every Microsoft 365 group of the tenant, in the service's order, following @odata.nextLink.

    A malformed page raises MalformedAnswerError, and so does a nextLink that leads back to a page already read; a 403
    is a GraphError that says which permission is missing.
    """
    url = groups_url(client.dialect.api_base, page_size)
    visited = set()
    seen = set()  # a group a lax service repeats on a later page is reported once
    groups: List[GroupRef] = []
    while url:
        visited.add(url)
        try:
            response = client.transport.request("GET", url)
        except GraphError as exc:
            if exc.status == 403:
                exc.msg = "%s (%s)" % (exc.msg, LISTING_REFUSED)
            raise
        origin = response_origin(response, "GET", url)
        body = json_body(response, origin)
        entries = body.get("value") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise origin.fail("the group listing's value is not a list")
        for position, entry in enumerate(entries):
            group_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(group_id, str) or not is_object_id(group_id):
                raise origin.fail("group %d of the page has no object id" % position)
            if group_id.lower() not in seen:
                seen.add(group_id.lower())
                groups.append(group_details(entry, origin, group_id.lower()))
        next_link = body.get("@odata.nextLink")
        if next_link is not None and (not isinstance(next_link, str) or not next_link):
            raise origin.fail("@odata.nextLink is not a link")
        if next_link in visited:
            raise origin.fail("@odata.nextLink leads back to a page already read")
        url = next_link
    return groups
