#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_user_photo_info
short_description: Report which Microsoft 365 users have a profile photo, and export the photos
description:
  - Reads the photo metadata of one user, a list of users, or every user of the tenant, and returns per user
    whether there is a photo, its size id, dimensions, content type and entity tag.
  - Optionally hashes each photo (O(include_sha256)), lists the sizes the service keeps (O(include_sizes)) and
    saves each photo into O(dest_dir) as C(<user>.<ext>), as an export or backup.
  - Reads 20 users per request with Microsoft Graph JSON batching, O(parallelism) requests at a time.
version_added: 0.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  user:
    description:
      - One user, by object ID or user principal name. Without O(user), O(users) and O(all_users), the signed-in
        user (C(/me)) is read, which needs a delegated token.
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
      - Fail when a user could not be read (for example, no such user). The entries of the other users are
        returned either way, each failure with its RV(photos[].error).
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
  - Reading photos needs C(ProfilePhoto.Read.All) (or C(ProfilePhoto.ReadWrite.All)).
seealso:
  - module: o365.outlook.outlook_user_photo
  - module: o365.outlook.outlook_user_photo_sync
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
"""

RETURN = r"""
photos:
  description: One entry per user, in the order asked (for O(all_users), the directory's order).
  returned: always
  type: list
  elements: dict
  contains:
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
summary:
  description: Counts.
  returned: always
  type: dict
  sample: {total: 1200, with_photo: 1100, without_photo: 98, failed: 2, not_attempted: 0}
failed_users:
  description: Users that could not be read (their RV(photos) entry has the error).
  returned: always
  type: list
  elements: str
  version_added: 1.0.0
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
from typing import Any, Dict

from ansible_collections.o365.outlook.plugins.module_utils.common._users import checked_user, shown_user
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import LIST_USERS, PHOTO_SIZES, PhotoClient, require_capabilities
from ansible_collections.o365.outlook.plugins.module_utils.many_users._info_report import PhotoReport
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.photo._files import check_writable_dir


def check(task: TaskContext) -> SimpleNamespace:
    """The API can list users and sizes if asked, dest_dir is usable, every user key is sendable: before the first request."""
    params = task.params
    needed = [capability for capability, wanted in ((LIST_USERS, params["all_users"]), (PHOTO_SIZES, params["include_sizes"])) if wanted]
    require_capabilities(params["api"], needed, "all_users_or_sizes")
    dest_dir = params["dest_dir"]
    if dest_dir and task.check_mode:
        task.warn("Check mode: nothing is saved into dest_dir.")
        dest_dir = None
    if dest_dir:
        check_writable_dir(dest_dir, "dest_dir")
    if params["users"]:
        users = [(checked_user(user), None) for user in params["users"]]
    elif not params["all_users"]:
        users = [(checked_user(params["user"]), None)]
    else:
        users = None  # read from the directory once connected
    return SimpleNamespace(dest_dir=dest_dir, users=users)


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    params = task.params
    many_users = task.validated.many_users
    users = task.own.users
    if users is None:
        users = [(upn or object_id, object_id) for object_id, upn in client.list_users()]
    report = PhotoReport(client, include_sha256=params["include_sha256"], include_sizes=params["include_sizes"],
                         dest_dir=task.own.dest_dir, parallelism=many_users.parallelism, deadline=many_users.deadline)
    photos = report.run(users)
    for entry in photos:
        entry["user"] = shown_user(entry["user"])
    not_attempted = [entry["user"] for entry in photos if entry["user"] in report.not_attempted]
    failed = [entry["user"] for entry in photos if entry["error"] and entry["user"] not in report.not_attempted]
    summary = dict(total=len(photos), with_photo=sum(1 for e in photos if e["has_photo"]),
                   without_photo=sum(1 for e in photos if e["has_photo"] is False), failed=len(failed),
                   not_attempted=len(not_attempted))
    return many_users.outcome(client, "photos", photos, summary, failed, not_attempted, report.stop_error)


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), ManyUsersOptions(failure_verb="could not be read")),
    options=dict(
        user=dict(type="str", aliases=["user_id", "upn"]),
        users=dict(type="list", elements="str"),
        all_users=dict(type="bool", default=False),
        include_sha256=dict(type="bool", default=False),
        include_sizes=dict(type="bool", default=False),
        dest_dir=dict(type="path"),
    ),
    check=check,
    supports_check_mode=True,
    mutually_exclusive=[("user", "users", "all_users")],
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
