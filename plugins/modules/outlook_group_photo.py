#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_group_photo
short_description: Set or remove the photo of a Microsoft 365 group or Team, idempotently
description:
  - Reads the group's current photo through Microsoft Graph, compares it with the wanted image (equal bytes, or equal
    pixels because the service re-encodes what it stores; see O(compare)), and uploads only when they differ.
  - A Team's picture is the photo of its Microsoft 365 group. With O(endpoint=team) the photo is read and written
    through the Teams endpoint instead, for an app that holds only C(TeamSettings.ReadWrite.All).
  - Reports the photo's dimensions, and in diff mode the SHA-256 and dimensions before and after.
version_added: 1.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  group:
    description:
      - The group. A GUID is its object id. A value with C(@) is its C(mail), and anything else its C(mailNickname).
      - A mail or a mailNickname is looked up with C($filter) and must match exactly one group, which needs
        C(Group.Read.All) (or C(Directory.Read.All)); the photo permissions do not let an app read the group itself.
        Give the object id to do without it.
    type: str
    required: true
  endpoint:
    description:
      - V(group) reads and writes C(/groups/{id}/photo), with C(ProfilePhoto.ReadWrite.All) or C(Group.ReadWrite.All).
      - V(team) reads and writes C(/teams/{id}/photo) with PUT, with C(TeamSettings.ReadWrite.All). A Team photo cannot be
        removed, so O(state=absent) is refused before any request.
    type: str
    choices: [group, team]
    default: group
  state:
    description:
      - V(present) makes the photo the image in O(src).
      - V(absent) removes the group's photo.
    type: str
    choices: [present, absent]
    default: present
  src:
    description:
      - Path of the image on the host that runs the module, as in M(o365.outlook.outlook_user_photo) (the same checks
        and conversions apply).
      - Required with O(state=present), unless O(content) is given.
    type: path
  content:
    description:
      - The image itself, as base64 text, instead of O(src), read and checked as the
        O(o365.outlook.outlook_user_photo#module:content) option of M(o365.outlook.outlook_user_photo) describes.
      - Mutually exclusive with O(src); one of them is required with O(state=present). Never shown in results,
        diffs or logs.
    type: str
    version_added: 1.1.0
  wait:
    description:
      - After a write, poll until the service serves the new state (new photo, or no photo), so that later
        tasks read what this task wrote.
      - Teams, Outlook and SharePoint can take hours to show a new photo whatever this says.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true) before failing.
    type: int
    default: 60
extends_documentation_fragment:
  - o365.outlook._connection
  - o365.outlook._auth
  - o365.outlook._photo_policy
  - o365.outlook._attributes
attributes:
  check_mode:
    support: full
    description: Sends no write; C(changed) is what a real run would report. The group is still resolved (reads only).
  diff_mode:
    support: full
    description: Before and after SHA-256, width and height of the photo.
  idempotent:
    support: full
    description: A second run with the same image sends no write.
notes:
  - "Permissions: photo reads take C(ProfilePhoto.Read.All) or C(Group.Read.All); writes through the group endpoint take
    C(ProfilePhoto.ReadWrite.All) or C(Group.ReadWrite.All); writes through the Teams endpoint take
    C(TeamSettings.ReadWrite.All). Finding a group by mail or mailNickname takes C(Group.Read.All)."
  - Until July 2024 the service refused app-only writes of group photos (C(AppOnlyTokenNotSupportedForGroupUpdate)). A
    tenant or national cloud that still does fails the task with that code and a hint, to use a delegated
    O(access_token), or O(endpoint=team) for a Team.
  - When the tenant's photo policy (see M(o365.outlook.outlook_photo_update_settings)) keeps photos on-premises, the
    service answers a write with a bare 403; the module then reads the policy once, if the app may, and says so.
  - Only the O(api=graph) API has group photos; O(api=outlook_v2) is refused before any request.
  - Microsoft documents photos for Microsoft 365 groups. Whether security groups have one is not documented.
seealso:
  - module: o365.outlook.outlook_user_photo
  - module: o365.outlook.outlook_photo_update_settings
  - name: Update profilePhoto (Microsoft Graph)
    description: The API call this module makes to set a photo, with the permissions for groups and Teams.
    link: https://learn.microsoft.com/en-us/graph/api/profilephoto-update
"""

EXAMPLES = r"""
- name: The Sales logo on the Sales group, found by its mail (needs Group.Read.All to find it)
  o365.outlook.outlook_group_photo:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ app_client_id }}"
    client_secret: "{{ app_client_secret }}"
    group: sales@contoso.com
    src: logos/sales.png
  delegate_to: localhost

- name: A Team's picture with an app that holds only TeamSettings.ReadWrite.All
  o365.outlook.outlook_group_photo:
    group: 9a000000-0000-4000-8000-000000000001
    endpoint: team
    src: logos/project-phoenix.jpg
  delegate_to: localhost

- name: Remove a group's photo, keeping a copy
  o365.outlook.outlook_group_photo:
    group: marketing
    state: absent
    backup_dir: /var/backups/m365-photos
  delegate_to: localhost
"""

RETURN = r"""
group:
  description: The group whose photo the task manages.
  returned: always
  type: dict
  contains:
    id:
      description: The group's object id (the Team's id is the same).
      type: str
    display_name:
      description: Its display name; null when the app may not read the group (or, with O(endpoint=team), the team).
      type: str
    mail:
      description: Its mail address; null when unknown (the Teams endpoint does not give it).
      type: str
    kind:
      description: V(team) when the photo went through the Teams endpoint or the group is known to be a Team, else V(group).
      type: str
      choices: [group, team]
  sample: {id: 9a000000-0000-4000-8000-000000000001, display_name: Sales, mail: sales@contoso.com, kind: team}
photo:
  description:
    - The photo the service now holds (in check mode, the one it would hold); null when the group has none.
  returned: always
  type: dict
  contains:
    id:
      description: The service's size id of the photo, for example V(240x240).
      type: str
    width:
      description: Width in pixels.
      type: int
    height:
      description: Height in pixels.
      type: int
    content_type:
      description: MIME type of the stored photo.
      type: str
    etag:
      description: Entity tag of the stored photo, without quotes; null when not known (check mode).
      type: str
  sample: {id: 240x240, width: 240, height: 240, content_type: image/jpeg, etag: BA09D118}
sha256:
  description:
    - SHA-256 of what was (or would be) uploaded, after any conversion; null with O(state=absent).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
previous_sha256:
  description:
    - SHA-256 of the photo the group had before the task, as the service returned it; null when there was none,
      or when O(only_if_missing=true) found a photo and left it unread.
  returned: always
  type: str
comparison:
  description: How the current photo was compared with O(src); null with O(state=absent).
  returned: always
  type: dict
  contains:
    method:
      description:
        - V(none) (the group had no photo), V(sha256) (equal or unequal bytes), V(pixels) (decoded and compared),
          or V(only_if_missing) (a photo exists and was kept).
      type: str
    distance:
      description: Mean difference per colour channel (0 to 255) when pixels were compared, 0 for equal bytes.
      type: float
  sample: {method: pixels, distance: 0.41}
backup_file:
  description: Path of the saved previous photo, when O(backup_dir) is set and the photo was replaced or removed.
  returned: always
  type: str
  sample: /var/backups/photos/group_9a000000-0000-4000-8000-000000000001~af0b2a44c239.20261127T101500123456Z.jpg
conversion:
  description:
    - What was done to the image to make it acceptable, for example V(PNG 320x200 to JPEG 320x200), or
      V(JPEG 4032x3024 to JPEG 648x648 (turned upright - EXIF Orientation 6, face crop, scaled to max_dimension 648)).
    - Null when the image was sent as it is.
  returned: always
  type: str
"""

from typing import Any, Dict, Optional, Tuple

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.common._users import user_key_problem
from ansible_collections.o365.outlook.plugins.module_utils.graph._groups import resolve_group
from ansible_collections.o365.outlook.plugins.module_utils.graph._owners import TEAM
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import GROUP_PHOTOS, PhotoClient, require_capabilities
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions
from ansible_collections.o365.outlook.plugins.module_utils.module import _source_options
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import SourceImage
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import ensure_absent, ensure_present


def check(task: TaskContext) -> Tuple[str, Optional[SourceImage]]:
    """The group key, and the source image read and checked whole (state=present), before the first request."""
    params = task.params
    require_capabilities(params["api"], (GROUP_PHOTOS,), "group_photos")
    key = params["group"]
    problem = user_key_problem(key)
    if problem:
        raise ConfigurationError("group %r is %s: give an object id, a mail or a mailNickname." % (
            key, "empty" if problem == "empty" else "padded with white space"))
    if params["state"] == "absent":
        if params["endpoint"] == TEAM:
            raise ConfigurationError("A Team photo cannot be removed (the service has no DELETE for it): use endpoint=group "
                                     "with state=absent to remove the group's photo, which is the Team's picture.")
        return key, None
    return key, _source_options.load_wanted(task)


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    key, source = task.own
    endpoint = task.params["endpoint"]
    policy = task.validated.photo_policy
    group = resolve_group(client.transport, client.dialect.api_base, key, endpoint)
    owner = group.owner(endpoint)
    if source is not None:
        changed, result, diff = ensure_present(client, owner, source, task.check_mode, policy)
        result["conversion"] = source.conversion
    else:
        changed, result, diff = ensure_absent(client, owner, task.check_mode, policy)
        result["conversion"] = None
    del result["user"]
    result["group"] = group.view(endpoint)
    result["changed"] = changed
    if task.diff:
        result["diff"] = diff
    return result


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), PhotoPolicyOptions(wait=True)),
    options=dict(
        group=dict(type="str", required=True),
        endpoint=dict(type="str", choices=["group", "team"], default="group"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        **_source_options.OPTIONS
    ),
    check=check,
    supports_check_mode=True,
    **_source_options.MODULE_KWARGS
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
