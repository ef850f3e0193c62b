#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_user_photo_sync
short_description: Set or remove the profile photos of many Microsoft 365 users in one task
description:
  - Brings many users' photos to the wanted state in one task, with the same per-user rules as
    M(o365.outlook.outlook_user_photo) (compare modes, O(only_if_missing), O(backup_dir), check and diff mode).
  - The users come from a list (O(photos)), from a folder of image files named after the users (O(src_dir)),
    and from O(absent_users) for photos to remove. Removal is never implied by a missing file.
  - One token, one pool of keep-alive connections and at most O(parallelism) requests in flight. Current photos
    are read with Microsoft Graph JSON batching (20 per request), and only when they can change the decision;
    each upload or removal is its own request. Throttling (HTTP 429) is retried per request after its
    C(Retry-After), and all workers slow down while the service throttles.
  - One user's failure never stops the others. Whatever goes wrong for one user (an unusable image, a
    malformed or contradictory answer from the service, an unexpected error) becomes that user's V(failed) entry
    with a message. The task fails at the end if any user failed, unless O(fail_on_error=false).
  - A failure that no user can escape (the credentials are refused, or the service stays unreachable after every
    retry) stops the run. The task then fails, whatever O(fail_on_error) says, and still returns everything the
    other return values promise; the users already done, C(changed=true) when any photo was written, and the users
    it did not attempt (RV(not_attempted_users)). Running it again finishes the job without writing anyone twice.
  - The guide R(Guarantees of unattended runs, ansible_collections.o365.outlook.docsite.guide_guarantees) lists
    what each kind of fault does.
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  photos:
    description:
      - The wanted photo of each user.
    type: list
    elements: dict
    suboptions:
      user:
        description: Object ID or user principal name.
        type: str
        required: true
      src:
        description: Path of the image on the host that runs the module; required with O(photos[].state=present).
        type: path
      state:
        description: V(present) sets the photo, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
  src_dir:
    description:
      - Directory of images on the host that runs the module. Each regular file whose name matches O(file_pattern)
        sets the photo of the user it names. Hidden files are ignored; other files are listed in RV(unmatched_files).
      - Each image is checked whole before that user's request is sent, as O(o365.outlook.outlook_user_photo#module:src)
        describes (at most 50 million pixels, complete JPEG or PNG structure, a full decode with Pillow); an image
        that fails the check fails that user only.
    type: path
  file_pattern:
    description:
      - Python regular expression, matched case-insensitively against each file name in O(src_dir), with a named
        group C(user) that captures the user.
      - The default maps C(adele.vance@contoso.com.jpg), C(.jpeg) and C(.png) files to the user C(adele.vance@contoso.com).
    type: str
    default: '^(?P<user>.+)\.(jpe?g|png)$'
  user_domain:
    description:
      - Domain appended as C(@domain) to a user captured from a file name that has no C(@), so that files named
        C(adele.vance.jpg) can be used.
    type: str
  absent_users:
    description:
      - Users whose photo must be removed. Removal only ever happens for users named here or in O(photos) with
        O(photos[].state=absent).
    type: list
    elements: str
  parallelism:
    description:
      - Number of workers, each handling 20 users at a time, and the most requests in flight at once.
      - While the service throttles, fewer requests are sent at once, then the number grows back.
      - The default was chosen by measurement (C(tests/bench), 1,000 users at 50 ms per request) at about 180 users
        per second, within 2x of the lower bound; 16 gives about 240 and 32 about 280, each doubling gaining less,
        while Outlook allows 4 requests at once per mailbox. Raise it for large tenants that rarely throttle.
    type: int
    default: 8
  fail_on_error:
    description:
      - Fail the task at the end when any user failed. The results of all users are returned either way.
    type: bool
    default: true
  results:
    description:
      - Which users get an entry in RV(results). RV(summary) always counts every user, and RV(failed_users)
        always names every failure.
      - V(all) returns every user. V(changed) returns only users whose photo was (or would be) uploaded or
        removed, failures and users not attempted. V(failed) returns only failures and users not attempted.
      - In a large tenant, V(changed) or V(failed) keeps the task's memory and output from growing with the
        number of unchanged users (about 5 KB per entry).
    type: str
    choices: [all, changed, failed]
    default: all
extends_documentation_fragment:
  - o365.outlook._connection
  - o365.outlook._auth
  - o365.outlook._photo_policy
  - o365.outlook._attributes
attributes:
  check_mode:
    support: full
    description: Reads everything, sends no write, and reports what a real run would do.
  diff_mode:
    support: full
    description: Each entry of RV(results) gets a C(diff) with before and after SHA-256, width and height.
  idempotent:
    support: full
    description: A second run with the same images sends no write.
notes:
  - The same permissions as M(o365.outlook.outlook_user_photo) (C(ProfilePhoto.ReadWrite.All)).
  - A user named twice (in O(photos), by two files, or also in O(absent_users)) fails with a message naming both
    sources; nothing is guessed.
  - Reported dimensions after an upload are those of the uploaded image; the service may store another size.
  - A user to remove who no longer exists is reported as V(skipped), not as a failure, so a scheduled job
    does not keep failing once a leaver's account is deleted.
seealso:
  - module: o365.outlook.outlook_user_photo
  - module: o365.outlook.outlook_user_photo_info
  - name: JSON batching (Microsoft Graph)
    description: How reads are grouped 20 per request.
    link: https://learn.microsoft.com/en-us/graph/json-batching
"""

EXAMPLES = r"""
- name: Staff photos from the HR share, named <upn>.jpg
  o365.outlook.outlook_user_photo_sync:
    src_dir: /srv/hr/photos
    backup_dir: /var/backups/m365-photos
  register: sync
  delegate_to: localhost

- name: Files named firstname.lastname.png, in the contoso.com domain
  o365.outlook.outlook_user_photo_sync:
    src_dir: /srv/hr/photos
    user_domain: contoso.com
  delegate_to: localhost

- name: An explicit list, and leavers whose photo goes
  o365.outlook.outlook_user_photo_sync:
    photos:
      - user: adele.vance@contoso.com
        src: photos/adele.jpg
      - user: alex.wilber@contoso.com
        src: photos/alex.png
    absent_users:
      - former.employee@contoso.com
    fail_on_error: false
  register: sync
  delegate_to: localhost

- name: Who failed
  ansible.builtin.debug:
    msg: "{{ sync.summary }} - failed: {{ sync.failed_users }}"
"""

RETURN = r"""
results:
  description:
    - One entry per user selected by O(results), in input order (list entries, then folder files by name, then
      O(absent_users)).
  returned: always
  type: list
  elements: dict
  contains:
    user:
      description: The user.
      type: str
    action:
      description:
        - V(uploaded), V(removed), V(unchanged), V(skipped), V(failed) or V(not_attempted).
        - V(not_attempted) means the run stopped (see RV(not_attempted_users)) before this user was reached.
        - V(skipped) means O(only_if_missing) kept the user's own photo, or a user in O(absent_users) no longer
          exists (nothing to remove).
        - In check mode, what a real run would do.
      type: str
    message:
      description: What happened, in words; the error for V(failed).
      type: str
    changed:
      description:
        - Whether this user's photo was (or would be) changed. True on a V(failed) entry whose write succeeded
          before something after it failed.
      type: bool
    src:
      description: The source image.
      type: str
    photo:
      description: The user's photo after the task (for an upload, the uploaded image); null when none.
      type: dict
    sha256:
      description: SHA-256 of what was or would be uploaded.
      type: str
    previous_sha256:
      description: SHA-256 of the photo before the task, when it was read.
      type: str
    comparison:
      description: How the current photo was compared (method and distance).
      type: dict
    backup_file:
      description: Where the previous photo was saved, with O(backup_dir).
      type: str
    conversion:
      description: What was done to the source image to make it acceptable.
      type: str
summary:
  description: Counts of users by action.
  returned: always
  type: dict
  sample: {total: 1200, uploaded: 31, removed: 2, unchanged: 1160, skipped: 0, failed: 7, not_attempted: 0}
failed_users:
  description: Users whose entry failed.
  returned: always
  type: list
  elements: str
not_attempted_users:
  description: Users the task did not reach because the run stopped; empty when it ran to the end.
  returned: always
  type: list
  elements: str
unmatched_files:
  description: Files in O(src_dir) whose name did not match O(file_pattern).
  returned: always
  type: list
  elements: str
stats:
  description: Work done against the API.
  returned: always
  type: dict
  contains:
    requests:
      description: HTTP requests sent, retries included.
      type: int
    batches:
      description: JSON batch requests among them.
      type: int
    retries:
      description: Requests and batch items sent again after throttling or a transient error.
      type: int
    throttled:
      description: Answers with HTTP 429.
      type: int
    seconds:
      description: Time spent on the users, token included.
      type: float
"""

from typing import Any, Dict, List, Tuple

from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import REMOVE_PHOTO, PhotoClient, require_capabilities
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import KEEP, BulkEngine, Job
from ansible_collections.o365.outlook.plugins.module_utils.many_users._sync_plan import DEFAULT_FILE_PATTERN, plan_jobs
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions


def check(task: TaskContext) -> Tuple[List[Job], List[str]]:
    """(jobs, unmatched files), once the API is known to remove photos if any is to go: before the first request."""
    params = task.params
    if params["absent_users"] or any(entry.get("state") == "absent" for entry in params["photos"] or []):
        require_capabilities(params["api"], (REMOVE_PHOTO,), "remove_photos")
    return plan_jobs(photos=params["photos"], src_dir=params["src_dir"], file_pattern=params["file_pattern"],
                     user_domain=params["user_domain"], absent_users=params["absent_users"])


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    jobs, unmatched = task.own
    many_users = task.validated.many_users
    engine = BulkEngine(client, task.validated.photo_policy, check_mode=task.check_mode, convert=task.params["convert"],
                        parallelism=many_users.parallelism, want_diff=task.diff, keep=KEEP[many_users.results])
    results = engine.run(jobs)
    return many_users.outcome(client, "results", results, engine.summary, engine.failed_users, engine.not_attempted_users,
                              engine.stop.error, written=engine.written, unmatched_files=unmatched,
                              extra_stats=dict(seconds=engine.seconds))


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), PhotoPolicyOptions(wait=False, read_after_write=False), ManyUsersOptions(results=True)),
    options=dict(
        photos=dict(type="list", elements="dict", options=dict(
            user=dict(type="str", required=True),
            src=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        )),
        src_dir=dict(type="path"),
        file_pattern=dict(type="str", default=DEFAULT_FILE_PATTERN),
        user_domain=dict(type="str"),
        absent_users=dict(type="list", elements="str"),
    ),
    check=check,
    supports_check_mode=True,
    required_one_of=[("photos", "src_dir", "absent_users")],
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
