#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_user_photo_info
short_description: Report which Microsoft 365 users and groups have a profile photo, and export the photos
description:
  - Reads the photo metadata of one user, a list of users, or every user of the tenant, and returns per user
    whether there is a photo, its size id, dimensions, content type and entity tag.
  - Reads the photos of Microsoft 365 groups and Teams the same way, named in O(groups) or all of them
    (O(all_groups)); their entries are in RV(groups), apart from the users' RV(photos).
  - Optionally hashes each photo (O(include_sha256)), lists the sizes the service keeps (O(include_sizes)) and
    saves each photo into O(dest_dir) as C(<user>.<ext>), as an export or backup.
  - Reads 20 users or groups per request with Microsoft Graph JSON batching, O(parallelism) requests at a time.
version_added: 0.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  user:
    description:
      - One user, by object ID or user principal name. Without O(user), O(users) and O(all_users), the signed-in
        user (C(/me)) is read, which needs a delegated token; unless O(groups) or O(all_groups) is set, then no user
        is read.
    type: str
    aliases: [user_id, upn]
  users:
    description: Several users, by object ID or user principal name.
    type: list
    elements: str
  all_users:
    description:
      - Every user of the tenant (C(/users), followed page by page). Needs the C(User.ReadBasic.All) application
        permission in addition to C(ProfilePhoto.Read.All).
    type: bool
    default: false
  groups:
    description:
      - Microsoft 365 groups or Teams, each named as M(o365.outlook.outlook_group_photo) takes it. A GUID is its
        object ID, a value with C(@) its mail, any other value its mailNickname.
      - A mail or a mailNickname must match exactly one group; the module looks them up 20 per C($batch) request,
        which needs C(Group.Read.All). An object ID is taken as it is, and the group's name, mail and whether it is a
        Team are read 20 per C($batch) too; without C(Group.Read.All) they are null, and the photo is still read.
      - A group that matches nothing or more than one group, or whose name cannot be looked up, fails its own entry
        (RV(groups[].error)); the other entries are read either way.
      - The photo is read through C(/groups/{id}), for a Team as for any group (a Team's photo is its group's).
      - Can be combined with O(user), O(users) or O(all_users).
    type: list
    elements: str
    version_added: 1.1.0
  all_groups:
    description:
      - Every Microsoft 365 group of the tenant (C(/groups) filtered on C(groupTypes/any(c:c eq 'Unified')),
        followed page by page), Teams included. Security groups and distribution lists are left out.
      - Needs the C(Group.Read.All) application permission (or C(Directory.Read.All)); without it the task fails
        before any photo is read, saying so.
    type: bool
    default: false
    version_added: 1.1.0
  include_sha256:
    description: Download each photo and return its SHA-256.
    type: bool
    default: false
  include_sizes:
    description: Return the sizes the service keeps of each photo (Graph C(/photos)); needs O(api=graph).
    type: bool
    default: false
  dest_dir:
    description:
      - Save each photo into this directory on the host that runs the module, as C(<user>.<ext>), mode 0600,
        replacing an earlier export of the same user and never another user's file.
      - A group's photo is saved as C(group_<object id>~<hash>.<ext>) (the group named C(group:<object id>), made
        safe as below), so that it never takes the file of a user or of another group, however the group was named.
      - Characters of the user that could leave the directory (or hide the file) become C(_); whenever the name had
        to change that way, or was cut to 120 characters, C(~) and 12 hex digits of the SHA-256 of the exact user
        key are added, so that for example C(a/b@x.com), C(a\\b@x.com) and C(a_b@x.com) get three files.
      - A symbolic link where a file would go is refused (that user fails), never followed.
      - Nothing is written in check mode.
    type: path
  parallelism:
    description: Requests in flight at once.
    type: int
    default: 8
  fail_on_error:
    description:
      - Fail when a user or a group could not be read (for example, no such user). The entries of the others are
        returned either way, each failure with its RV(photos[].error) or RV(groups[].error).
    type: bool
    default: true
  run_timeout:
    description:
      - The most seconds the run may take. At the deadline no further users are read and no request is retried.
      - The users not read are listed in RV(not_attempted_users), with C(run_timeout reached) in their
        RV(photos[].error), and the task fails, as a stopped run does, with every entry read so far.
      - The run ends at the latest O(request_timeout) after the deadline. Not set, the run has no deadline of its own.
        More than 0 and at most 604800 (a week).
    type: float
    version_added: 1.1.0
extends_documentation_fragment:
  - o365.outlook._connection
  - o365.outlook._auth
  - o365.outlook._shard
  - o365.outlook._attributes
attributes:
  check_mode:
    support: full
    description: Reads as usual; O(dest_dir) is not written.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Only reads.
notes:
  - Reading photos needs C(ProfilePhoto.Read.All) (or C(ProfilePhoto.ReadWrite.All)); a group's photo can also be
    read with C(Group.Read.All).
  - Naming groups by mail or mailNickname, and O(all_groups), need C(Group.Read.All) (or C(Directory.Read.All)).
seealso:
  - module: o365.outlook.outlook_user_photo
  - module: o365.outlook.outlook_user_photo_sync
  - module: o365.outlook.outlook_group_photo
"""

EXAMPLES = r"""
- name: Who has no photo yet
  o365.outlook.outlook_user_photo_info:
    all_users: true
  register: report
  delegate_to: localhost

- name: List them
  ansible.builtin.debug:
    msg: "{{ report.photos | rejectattr('has_photo') | map(attribute='user') | list }}"

- name: Export the photos of a few users before a change
  o365.outlook.outlook_user_photo_info:
    users:
      - adele.vance@contoso.com
      - alex.wilber@contoso.com
    include_sha256: true
    dest_dir: /var/backups/m365-photos/export
  delegate_to: localhost

- name: Which Microsoft 365 groups and Teams have no picture
  o365.outlook.outlook_user_photo_info:
    all_groups: true
  register: group_report
  delegate_to: localhost

- name: List the Teams among them
  ansible.builtin.debug:
    msg: "{{ group_report.groups | rejectattr('has_photo') | selectattr('team') | map(attribute='display_name') | list }}"

- name: Export the photos of a few groups, named by object ID, mail or mailNickname
  o365.outlook.outlook_user_photo_info:
    groups:
      - 9a000000-0000-4000-8000-000000000001
      - marketing@contoso.com
      - phoenix
    include_sizes: true
    dest_dir: /var/backups/m365-photos/groups
  delegate_to: localhost
"""

RETURN = r"""
photos:
  description: One entry per user, in the order asked (for O(all_users), the directory's order).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(user). Group entries are in RV(groups), with V(group).
      type: str
      choices: [user]
      version_added: 1.1.0
    user:
      description: The user as given, or the user principal name with O(all_users); V(me) for C(/me).
      type: str
    user_id:
      description: The user's object ID when known (O(all_users)); null otherwise.
      type: str
    has_photo:
      description: Whether the user has a photo; null when the user could not be read.
      type: bool
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
      description: MIME type of the photo.
      type: str
    etag:
      description: Entity tag of the photo, without quotes.
      type: str
    sha256:
      description: SHA-256 of the photo, with O(include_sha256).
      type: str
    sizes:
      description: The sizes kept by the service, with O(include_sizes); each has C(id), C(width), C(height).
      type: list
      elements: dict
    dest_file:
      description: Where the photo was saved, with O(dest_dir).
      type: str
    error:
      description:
        - Why this user could not be read; null when it was. A malformed or contradictory answer from the service
          (for example metadata listing a photo whose content answers 404 twice) is an error, never "no photo".
      type: str
groups:
  description:
    - One entry per group of O(groups) in the order asked, or per Microsoft 365 group with O(all_groups) (in the
      directory's order); empty without either.
    - The same photo fields as a user's entry in RV(photos), except the photo's size id, which is RV(groups[].photo_id)
      since RV(groups[].id) is the group's.
  returned: always
  type: list
  elements: dict
  version_added: 1.1.0
  contains:
    kind:
      description: V(group) (a Team is a group, see RV(groups[].team)).
      type: str
      choices: [group]
      version_added: 1.1.0
    group:
      description: The group as O(groups) named it; its object ID with O(all_groups).
      type: str
      version_added: 1.1.0
    id:
      description: The group's object ID (a Team's is the same); null when the group could not be resolved.
      type: str
      version_added: 1.1.0
    display_name:
      description: The group's display name; null when not known (an object ID given without C(Group.Read.All)).
      type: str
      version_added: 1.1.0
    mail:
      description: The group's mail address; null when not known or when it has none.
      type: str
      version_added: 1.1.0
    team:
      description: Whether the group is a Team; null when not known.
      type: bool
      version_added: 1.1.0
    has_photo:
      description: Whether the group has a photo; null when the group could not be read.
      type: bool
      version_added: 1.1.0
    photo_id:
      description: The service's size id of the photo, for example V(240x240).
      type: str
      version_added: 1.1.0
    width:
      description: Width in pixels.
      type: int
      version_added: 1.1.0
    height:
      description: Height in pixels.
      type: int
      version_added: 1.1.0
    content_type:
      description: MIME type of the photo.
      type: str
      version_added: 1.1.0
    etag:
      description: Entity tag of the photo, without quotes.
      type: str
      version_added: 1.1.0
    sha256:
      description: SHA-256 of the photo, with O(include_sha256).
      type: str
      version_added: 1.1.0
    sizes:
      description: The sizes kept by the service, with O(include_sizes); each has C(id), C(width), C(height).
      type: list
      elements: dict
      version_added: 1.1.0
    dest_file:
      description: Where the photo was saved, with O(dest_dir) (C(group_<object id>~<hash>.<ext>)).
      type: str
      version_added: 1.1.0
    error:
      description:
        - Why this group could not be read; null when it was. For example no group or more than one has that mail
          or mailNickname, or the name could not be looked up without C(Group.Read.All).
      type: str
      version_added: 1.1.0
  sample:
    - {kind: group, group: sales, id: 9a000000-0000-4000-8000-000000000001, display_name: Sales,
       mail: sales@contoso.com, team: true, has_photo: true, photo_id: 240x240, width: 240, height: 240,
       content_type: image/jpeg, etag: BA09D118, sha256: null, sizes: null, dest_file: null, error: null}
summary:
  description: Counts of the entries of RV(photos) and RV(groups) together.
  returned: always
  type: dict
  sample: {total: 1200, with_photo: 1100, without_photo: 98, failed: 2, not_attempted: 0}
failed_users:
  description: Users that could not be read (their RV(photos) entry has the error). Groups are in RV(failed_groups).
  returned: always
  type: list
  elements: str
  version_added: 1.0.0
failed_groups:
  description: Groups that could not be read, as RV(groups[].group) names them (their entry has the error).
  returned: always
  type: list
  elements: str
  version_added: 1.1.0
not_attempted_groups:
  description: Groups the task did not read because the run stopped (see RV(not_attempted_users)).
  returned: always
  type: list
  elements: str
  version_added: 1.1.0
shard:
  description:
    - The shard this run read, O(shard_index) of O(shard_count); index 1 of count 1 without shards.
    - The users (O(users), O(all_users), O(user)) and groups (O(groups), O(all_groups)) of other shards are left out of
      RV(photos), RV(groups) and RV(summary).
  returned: always
  type: dict
  sample: {index: 2, count: 4}
  version_added: 1.1.0
not_attempted_users:
  description:
    - Users the task did not read because the run stopped (the credentials were refused, the service stayed
      unreachable after every retry or throttled every request for longer than the retry budget, or O(run_timeout)
      passed); empty when it ran to the end. The task fails in that case.
  returned: always
  type: list
  elements: str
  version_added: 1.0.0
stats:
  description: Work done against the API.
  returned: always
  type: dict
  version_added: 1.0.0
  contains:
    requests:
      description: HTTP requests sent, retries included.
      type: int
      version_added: 1.0.0
    batches:
      description: JSON batch requests among them.
      type: int
      version_added: 1.0.0
    retries:
      description: Requests and batch items sent again after throttling or a transient error.
      type: int
      version_added: 1.0.0
    throttled:
      description: Answers with HTTP 429.
      type: int
      version_added: 1.0.0
    concurrency_start:
      description: Requests allowed in flight at the start (O(parallelism)).
      type: int
      version_added: 1.0.0
    concurrency_peak:
      description: The most requests allowed in flight at once (O(parallelism); fewer only while the service throttles).
      type: int
      version_added: 1.0.0
    concurrency_final:
      description: Requests allowed in flight when the run ended.
      type: int
      version_added: 1.0.0
"""

from types import SimpleNamespace
from typing import Any, Dict, List

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.common._users import EMPTY, checked_user, shown_user, user_key_problem
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import GROUP_PHOTOS, LIST_USERS, PHOTO_SIZES, PhotoClient, require_capabilities
from ansible_collections.o365.outlook.plugins.module_utils.many_users._group_report import list_unified_groups
from ansible_collections.o365.outlook.plugins.module_utils.many_users._info_report import GroupToRead, PhotoReport
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._shard_options import ShardOptions
from ansible_collections.o365.outlook.plugins.module_utils.photo._files import check_writable_dir


def checked_groups(keys: List[str]) -> List[str]:
    """The groups option: every key usable (not blank, not padded), before the first request."""
    for key in keys:
        problem = user_key_problem(key)
        if problem:
            raise ConfigurationError("groups: %r is %s: give an object id, a mail or a mailNickname." % (
                key, "empty" if problem == EMPTY else "padded with white space"))
    return list(keys)


def check(task: TaskContext) -> SimpleNamespace:
    """The API can list users, groups and sizes if asked, dest_dir is usable, every user and group key is sendable: before
    the first request."""
    params = task.params
    wants_groups = bool(params["groups"]) or params["all_groups"]
    needed = [capability for capability, wanted in ((LIST_USERS, params["all_users"]), (PHOTO_SIZES, params["include_sizes"])) if wanted]
    require_capabilities(params["api"], needed, "all_users_or_sizes")
    if wants_groups:
        require_capabilities(params["api"], (GROUP_PHOTOS,), "group_photos")
    dest_dir = params["dest_dir"]
    if dest_dir and task.check_mode:
        task.warn("Check mode: nothing is saved into dest_dir.")
        dest_dir = None
    if dest_dir:
        check_writable_dir(dest_dir, "dest_dir")
    if params["users"]:
        users = [(checked_user(user), None) for user in params["users"]]
    elif params["all_users"]:
        users = None  # read from the directory once connected
    elif wants_groups and params["user"] is None:
        users = []  # groups only: the signed-in user is read only when nothing else is asked
    else:
        users = [(checked_user(params["user"]), None)]
    groups = [GroupToRead(key) for key in checked_groups(params["groups"] or [])]
    if task.validated.shard.count > 1 and users == [(None, None)]:
        raise ConfigurationError("shard_count splits users and groups, and this task reads only the signed-in user: give "
                                 "users, all_users, groups or all_groups, or leave shard_count at 1.")
    return SimpleNamespace(dest_dir=dest_dir, users=users, groups=None if params["all_groups"] else groups)


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    params = task.params
    many_users = task.validated.many_users
    users = task.own.users
    if users is None:
        users = [(upn or object_id, object_id) for object_id, upn in client.list_users()]
    groups = task.own.groups
    if groups is None:
        groups = [GroupToRead(ref.id, ref) for ref in list_unified_groups(client)]
    shard = task.validated.shard
    users = [user for user in users if shard.holds(user[0])]
    groups = [group for group in groups if shard.holds(group.named)]
    report = PhotoReport(client, include_sha256=params["include_sha256"], include_sizes=params["include_sizes"],
                         dest_dir=task.own.dest_dir, parallelism=many_users.parallelism, deadline=many_users.deadline)
    photos = report.run(users)
    for entry in photos:
        entry["user"] = shown_user(entry["user"])
    group_entries = report.run_groups(groups) if groups else []
    not_attempted = [entry["user"] for entry in photos if entry["user"] in report.not_attempted]
    failed = [entry["user"] for entry in photos if entry["error"] and entry["user"] not in report.not_attempted]
    not_attempted_groups = [entry["group"] for entry in group_entries if entry["group"] in report.not_attempted_groups]
    failed_groups = [entry["group"] for entry in group_entries if entry["error"] and entry["group"] not in report.not_attempted_groups]
    entries = photos + group_entries
    summary = dict(total=len(entries), with_photo=sum(1 for e in entries if e["has_photo"]),
                   without_photo=sum(1 for e in entries if e["has_photo"] is False), failed=len(failed) + len(failed_groups),
                   not_attempted=len(not_attempted) + len(not_attempted_groups))
    return many_users.outcome(client, "photos", photos, summary, failed, not_attempted, report.stop_error, groups=group_entries,
                              failed_groups=failed_groups, not_attempted_groups=not_attempted_groups, shard=shard.view())


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), ManyUsersOptions(failure_verb="could not be read"), ShardOptions()),
    options=dict(
        user=dict(type="str", aliases=["user_id", "upn"]),
        users=dict(type="list", elements="str"),
        all_users=dict(type="bool", default=False),
        groups=dict(type="list", elements="str"),
        all_groups=dict(type="bool", default=False),
        include_sha256=dict(type="bool", default=False),
        include_sizes=dict(type="bool", default=False),
        dest_dir=dict(type="path"),
    ),
    check=check,
    supports_check_mode=True,
    mutually_exclusive=[("user", "users", "all_users"), ("groups", "all_groups")],
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
