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
version_added: 0.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  photos:
    description:
      - The wanted photo of each user, or of each Microsoft 365 group or Team.
      - Each entry has O(photos[].user) or O(photos[].group), not both.
    type: list
    elements: dict
    suboptions:
      user:
        description:
          - Object ID or user principal name.
          - Required unless the entry has O(photos[].group). Until 1.1.0 it was required in every entry.
        type: str
      group:
        description:
          - A group, as M(o365.outlook.outlook_group_photo) takes it. A GUID is its object id, a value with C(@) is its
            C(mail), and anything else is its C(mailNickname).
          - A mail or a mailNickname must match exactly one group. The sync looks them up 20 per C($batch) request
            before the first photo is read, and that needs C(Group.Read.All). A group that matches nothing, or more
            than one group, fails that entry.
        type: str
        version_added: 1.1.0
      endpoint:
        description:
          - For a group entry, V(group) or V(team), as O(o365.outlook.outlook_group_photo#module:endpoint).
          - With V(team), O(photos[].state=absent) fails that entry, because a Team photo cannot be removed.
        type: str
        choices: [group, team]
        default: group
        version_added: 1.1.0
      src:
        description:
          - Path of the image on the host that runs the module; with O(photos[].state=present), this or
            O(photos[].content) is required.
          - It must be a regular file. A symbolic link is refused, not followed (directories above the file may be
            links). It is checked as O(src_dir) describes.
        type: path
      content:
        description:
          - The image as base64 text instead of a file, as the O(o365.outlook.outlook_user_photo#module:content)
            option of M(o365.outlook.outlook_user_photo) takes it (white space ignored, the URL-safe alphabet
            accepted).
          - An entry with both O(photos[].src) and O(photos[].content), or content that is not base64 or not an
            image, fails on its own, before any request is sent for it; the other entries go on.
          - Never shown in results or diffs; the entry's C(src) in RV(results) is null. Module arguments travel in
            memory and in the task's JSON, so 10,000 photos of 50 KB are about 670 MB of base64, so split such runs (or
            write the photos to files and use O(src_dir)).
        type: str
        version_added: 1.1.0
      state:
        description: V(present) sets the photo, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
  src_dir:
    description:
      - Directory of images on the host that runs the module. Each regular file whose name matches O(file_pattern)
        sets the photo of the user it names. Other regular files are listed in RV(unmatched_files).
      - Symbolic links in it are never followed, wherever they point (a link could make the module upload any file the
        host can read). Links, dangling or not, subdirectories, FIFOs, sockets and devices are listed with the reason in
        RV(skipped_files). Entries whose name starts with a dot are ignored and listed nowhere. The directory itself
        may be a link.
      - Each source is checked when the task starts, before any request. It must still be a regular file, readable,
        not empty and at most 256 MB, and start like an image this module takes (JPEG or PNG, or with O(convert) a GIF,
        BMP, WebP or TIFF). A PNG's header must declare at most 50 million pixels. A user whose source fails fails with
        that message, and no request is sent for that user.
      - Each image is then checked whole before it is compared or uploaded, as
        O(o365.outlook.outlook_user_photo#module:src) describes (at most 50 million pixels, complete JPEG or PNG
        structure, a full decode with Pillow); an image that fails the check fails that user only.
    type: path
  file_pattern:
    description:
      - Python regular expression, matched case-insensitively against each file name in O(src_dir), with a named
        group C(user) that captures the user.
      - The default maps C(adele.vance@contoso.com.jpg), C(.jpeg) and C(.png) files to the user C(adele.vance@contoso.com).
      - Only regular files are matched; the entries O(src_dir) skips are listed in RV(skipped_files) whatever their name.
    type: str
    default: '^(?P<user>.+)\.(jpe?g|png)$'
  user_domain:
    description:
      - Domain appended as C(@domain) to a user captured from a file name that has no C(@), so that files named
        C(adele.vance.jpg) can be used.
      - V(contoso.com) and V(@contoso.com) mean the same. A value with nothing after the C(@), with white space or with a
        second C(@) fails the task before any request.
    type: str
  absent_users:
    description:
      - Users whose photo must be removed. Removal only ever happens for users named here or in O(photos) with
        O(photos[].state=absent).
    type: list
    elements: str
  default_src:
    description:
      - An image for the selected users (O(all_users), O(default_users)) who have no photo, such as the company logo.
        A user who has any photo keeps it; a user with an entry or a file of their own gets that instead.
      - It is checked, read and prepared (O(crop), O(max_dimension), O(min_dimension)) once for the whole run, as
        O(photos[].src) is; a default that cannot be used fails the task before any request.
      - Who has a photo comes from the metadata read 20 users per C($batch) request, and no photo is downloaded for it.
      - With O(state_file), the file records per user "got the default with SHA-256 X" and the photo's etag once this
        run has read it back (the run waits up to 20 seconds for the service to show the defaults it set, downloading
        each once). When the default image changes, the users whose photo still has that etag get the new one; a user
        whose etag changed since has chosen a photo and is never touched again. Without O(state_file) a changed
        default reaches only users without a photo.
      - Users without an Exchange Online mailbox (guests among them) keep their photo in Entra ID, where a limit near
        100 KB has been reported (microsoft-graph-docs#8236), so keep the default under 100 KB (the task warns when the
        prepared image is larger). Where the tenant answers V(ErrorNonExistentMailbox) for such a user, that user fails
        alone, with a message that starts "no mailbox" and says that the tenant keeps no photo for this user.
      - Mutually exclusive with O(default_content).
    type: path
    version_added: 1.1.0
  default_content:
    description:
      - The default image as base64 text instead of a file, as O(photos[].content) takes it; see O(default_src).
    type: str
    version_added: 1.1.0
  all_users:
    description:
      - Selects every user of the tenant (or those O(user_filter) selects) for the default image. Needs O(default_src) or
        O(default_content); without one the task fails before any request.
      - The users are listed with C(GET /users) (999 a page), which needs C(User.ReadBasic.All), and are named by their
        user principal name in RV(results).
      - Needs O(api=graph).
    type: bool
    default: false
    version_added: 1.1.0
  user_filter:
    description:
      - An OData C($filter) on users that narrows O(all_users), for example V(userType eq 'Guest') or
        V(accountEnabled eq true). Needs O(all_users).
      - A filter the service does not take fails the task before any photo is read, with the service's message.
    type: str
    version_added: 1.1.0
  default_users:
    description:
      - Users (object ids or user principal names) selected for the default image, as an explicit list; can be combined
        with O(all_users). Needs O(default_src) or O(default_content).
      - A user named here and selected by O(all_users), or named twice here, is handled once.
    type: list
    elements: str
    version_added: 1.1.0
  absent_groups:
    description:
      - Groups whose photo must be removed, each named as in O(photos[].group). The removal goes through the group
        endpoint.
      - O(src_dir) names users only.
    type: list
    elements: str
    version_added: 1.1.0
  parallelism:
    description:
      - Number of readers, each reading 20 users at a time, and the number of requests in flight at the start.
      - From there the number of requests in flight adapts, up to O(max_parallelism). It grows while the service keeps
        up (no 429, answers as fast as before, more done per second). It shrinks on a 429 and when answers slow down.
      - The default was chosen by measurement (C(tests/bench), 1,000 users at 50 ms per request) at about 180 users
        per second, within 2x of the lower bound.
    type: int
    default: 8
  max_parallelism:
    description:
      - The most requests in flight that the run may grow to from O(parallelism). Set it equal to O(parallelism) for a
        fixed number, as before version 1.0.0.
      - Photo writes are slow (about a second each on the service), so a large upload is bound by how many run at once.
        With 8 at a time that is 8 writes per second at most, whatever the service would allow.
      - The default of 64 leaves room to reach a per-app limit of about 40 writes per second at one second per write,
        with headroom for slower answers. It is not a target, since the run grows its window by half every round trip only
        until the first sign of a limit (a 429, a throttle header or a slowdown), then grows slowly. How the window
        moves is in the bulk guide; the benchmark's sweep of this ceiling is in C(tests/bench/README.md).
      - Each request in flight holds one keep-alive connection and one thread.
    type: int
    default: 64
    version_added: 1.0.0
  fail_on_error:
    description:
      - Fail the task at the end when any user failed. The results of all users are returned either way.
    type: bool
    default: true
  run_timeout:
    description:
      - The most seconds the run may take, for a nightly window. At the deadline nothing new starts, and no request
        is retried. Writes already in flight finish and count as changed.
      - The users not started are reported with RV(results[].action=not_attempted) and the message
        C(run_timeout reached), and are listed in RV(not_attempted_users). The task then fails, as a stopped run does,
        with everything done so far in its result. Run it again to do the rest.
      - The run ends at the latest O(request_timeout) after the deadline, plus the time to prepare one image (what
        was in flight when it passed).
      - Not set, the run has no deadline of its own. More than 0 and at most 604800 (a week).
    type: float
    version_added: 1.1.0
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
  state_file:
    description:
      - Path of a JSON file, on the host that runs the module, in which each run records per user what its comparison
        proved. That is the SHA-256 of the source file, the photo's C(@odata.mediaEtag), width, height and content type,
        and the SHA-256 of the bytes that were compared. With it, a nightly run in which nothing changed downloads only
        the photos due for a re-check (see O(state_file_max_age)) and sends about one request per 20 users for the rest.
      - A user's photo is not downloaded, and the user is reported V(unchanged) with C(comparison.method=state_file),
        only when the record is trusted, names the same source file (the same bytes on disk), and the metadata read now
        shows the recorded etag (never an empty one), width, height and content type, and the record is younger than its
        re-check day. Such an entry's C(sha256) and C(previous_sha256) are null (nothing was read or converted).
      - An etag is trusted only for the bytes it came with. Either the C($value) answer whose bytes were compared carried
        an C(ETag) header equal to the metadata's etag, or two runs' downloads of the same bytes agreed under the same
        etag. Until the second download agrees, the record is pending and the photo is compared again. So a replica
        that serves an older photo's bytes once, under the new photo's etag, cannot make the module skip that user.
      - Everything else is compared in full, as without the file. That is a changed source file, a changed or missing
        etag, width, height or content type, a pending record, a record due for its re-check, a user without a record,
        and every user when the file is missing, empty, unusable, of another format version, written for another
        O(api_url) or O(tenant_id), or written with other comparison settings. Each of these but a missing or empty file,
        a pending or due record, and a file of version 1 (written by collection 1.0.0) also warns once, naming the
        problem. A version 1 file recorded etags that were never checked against the compared bytes, so its records are
        not used (one run compares every photo), and the file is replaced by one of version 2.
      - A file this module wrote (cut off, of another version, for another tenant or settings) is replaced when the run
        ends. Any other file at that path (unreadable, not text, not JSON, or another program's JSON) is left as it is and
        nothing is recorded, since the path may be a mistake, and this module never overwrites a file it did not write.
      - After an upload the record gets the source's SHA-256 alone, because the sync reads nothing back (and a read right
        after a write may still show the old photo). Without C(ETag) headers, the two runs after an upload compare that
        user, and the run after them downloads nothing. A removal or a failure drops the user's record. Records of users
        this run does not name are kept.
      - Records are kept under the user's object id once it is known (from the C(@odata.id) of the photo metadata), so
        that a user named by UPN in one run and by object id in the next shares one record.
      - The file is replaced atomically (a new file in the same directory, then a rename) with mode C(0600), never
        through a symbolic link, and never in check mode, which only reads it. Its directory must exist and be
        writable. It holds user names, hashes and etags, never a secret. If it cannot be written, the task warns and
        the next run compares more photos.
      - R(Nightly runs, ansible_collections.o365.outlook.docsite.guide_bulk.nightly) says how to keep the file between
        AWX jobs, and R(What is trusted, ansible_collections.o365.outlook.docsite.guide_guarantees.trust) what the file
        is trusted with, and for how long.
    type: path
    version_added: 1.0.0
  state_file_max_age:
    description:
      - How many days a trusted record of O(state_file) may stand in for a download. Every record is compared again
        within that time, so that a reused or colliding etag, or a photo changed behind an unchanged etag, lasts no longer.
      - The re-checks are spread over the days by a hash of the user's key, so that about one user in
        O(state_file_max_age) is downloaded each night rather than everyone on the same night. No record is compared
        again before it is a day old.
      - V(0) trusts no record. Every photo is compared on every run, and the file still records the comparisons.
    type: int
    default: 7
    version_added: 1.1.0
extends_documentation_fragment:
  - o365.outlook._connection
  - o365.outlook._auth
  - o365.outlook._photo_policy
  - o365.outlook._shard
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
    sources; nothing is guessed. That includes one user named by UPN and by object id. When a task names users in both
    forms, the UPNs are resolved to object ids before any photo is written, from the photo metadata or with
    C(GET /users/{key}?$select=id), which needs C(User.ReadBasic.All). When an id cannot be had, the task warns once
    and takes those users as named.
  - Reported dimensions after an upload are those of the uploaded image; the service may store another size.
  - A user to remove who no longer exists is reported as V(skipped), not as a failure, so a scheduled job
    does not keep failing once a leaver's account is deleted.
  - O(all_users) with O(user_filter) also needs C(User.ReadBasic.All) to list the users.
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

- name: The company logo for every guest who has no photo, never over one someone chose
  o365.outlook.outlook_user_photo_sync:
    all_users: true
    user_filter: "userType eq 'Guest'"
    default_src: /srv/branding/logo-square.jpg
    max_dimension: 648
    state_file: /var/lib/m365-photos/defaults-state.json
    results: changed
  delegate_to: localhost

- name: Nightly, downloading only the photos that may have changed since the last run
  o365.outlook.outlook_user_photo_sync:
    src_dir: /srv/hr/photos
    state_file: /var/lib/m365-photos/sync-state.json
    results: changed
  delegate_to: localhost
"""

RETURN = r"""
results:
  description:
    - One entry per user selected by O(results), in input order (list entries, then folder files by name, then
      O(absent_users), then the users selected for the default image, in the directory's order and then as
      O(default_users) names them).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(user) or V(group) (a Team is a group).
      type: str
      choices: [user, group]
      version_added: 1.1.0
    default:
      description:
        - Whether the user was selected for the default image (O(all_users), O(default_users)) rather than by an entry or
          a file of their own.
        - Such a user's V(uploaded) means the default was (or would be) set; V(skipped) means the user keeps a photo of
          their own; V(unchanged) means the user holds the default already.
      type: bool
      version_added: 1.1.0
    user:
      description: The user; null for a group entry.
      type: str
    group:
      description: A group entry's group, as the task named it.
      type: str
      version_added: 1.1.0
    group_id:
      description: A group entry's object id; null when it could not be resolved.
      type: str
      version_added: 1.1.0
    endpoint:
      description: A group entry's endpoint, V(group) or V(team).
      type: str
      version_added: 1.1.0
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
      description:
        - How the current photo was compared (method and distance).
        - Method V(state_file) means the photo was not downloaded because O(state_file) showed it unchanged.
      type: dict
    backup_file:
      description: Where the previous photo was saved, with O(backup_dir).
      type: str
    conversion:
      description: What was done to the source image to make it acceptable.
      type: str
summary:
  description:
    - Counts of users by action.
    - With O(all_users) or O(default_users), also C(defaulted), the users among C(uploaded) that got (or, in check
      mode, would get) the default image.
  returned: always
  type: dict
  sample: {total: 1200, uploaded: 31, removed: 2, unchanged: 1160, skipped: 0, failed: 7, not_attempted: 0}
failed_users:
  description: Users whose entry failed. Groups are in RV(failed_groups).
  returned: always
  type: list
  elements: str
failed_groups:
  description: Groups whose entry failed, as the task named them.
  returned: always
  type: list
  elements: str
  version_added: 1.1.0
not_attempted_groups:
  description: Groups the task did not reach because the run stopped (see RV(not_attempted_users)).
  returned: always
  type: list
  elements: str
  version_added: 1.1.0
shard:
  description:
    - The shard this run did, O(shard_index) of O(shard_count); index 1 of count 1 without shards.
  returned: always
  type: dict
  sample: {index: 2, count: 4}
  version_added: 1.1.0
not_attempted_users:
  description:
    - Users the task did not reach because the run stopped (the credentials were refused, the service stayed
      unreachable or throttled every request for longer than the retry budget, or O(run_timeout) passed); empty when
      it ran to the end.
  returned: always
  type: list
  elements: str
  version_added: 1.0.0
unmatched_files:
  description: Files in O(src_dir) whose name did not match O(file_pattern).
  returned: always
  type: list
  elements: str
skipped_files:
  description:
    - Entries of O(src_dir) that are not regular files, so not used whatever their name, each with its name and the
      reason. A symbolic link is never followed, so where it points is not looked at.
    - Entries whose name starts with a dot are ignored and not listed.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The entry's name in O(src_dir).
      type: str
    reason:
      description:
        - V(symbolic link), V(directory), or V(not a regular file) followed by what it is, such as
          V(not a regular file (FIFO\)), V(not a regular file (socket\)) or V(not a regular file (character device\)).
      type: str
  sample: [{name: adele.vance@contoso.com.jpg, reason: symbolic link}, {name: archive, reason: directory}]
  version_added: 1.1.0
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
    concurrency_start:
      description: Requests allowed in flight at the start (O(parallelism)).
      type: int
      version_added: 1.0.0
    concurrency_peak:
      description: The most requests the run allowed in flight at once (at most O(max_parallelism)).
      type: int
      version_added: 1.0.0
    concurrency_final:
      description: Requests allowed in flight when the run ended.
      type: int
      version_added: 1.0.0
    seconds:
      description: Time spent on the users, token included.
      type: float
    photos_downloaded:
      description: Current photos downloaded to be compared with their source.
      type: int
      version_added: 1.0.0
    bytes_downloaded:
      description: Bytes of those photos.
      type: int
      version_added: 1.0.0
    state_file_hits:
      description: Users whose photo was not downloaded because O(state_file) showed it unchanged since its last comparison.
      type: int
      version_added: 1.0.0
    defaults_confirmed:
      description:
        - Defaults set by this run that were read back and found to be the default, so that O(state_file) now records
          their etag. Returned with O(all_users) or O(default_users).
      type: int
      version_added: 1.1.0
"""

from typing import Any, Dict, Optional, Tuple

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import (
    ENTRA_PHOTO_LIMIT, GROUP_PHOTOS, LIST_USERS, REMOVE_PHOTO, PhotoClient, require_capabilities)
from ansible_collections.o365.outlook.plugins.module_utils.many_users._defaults import DefaultPhoto, default_jobs, listed_users
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import KEEP, BulkEngine, Job, map_chunks
from ansible_collections.o365.outlook.plugins.module_utils.many_users._group_jobs import resolve_group_jobs
from ansible_collections.o365.outlook.plugins.module_utils.many_users._photo_trust import DEFAULT_MAX_AGE_DAYS, PhotoTrust
from ansible_collections.o365.outlook.plugins.module_utils.many_users._state_file import StateFile, check_path
from ansible_collections.o365.outlook.plugins.module_utils.many_users._sync_plan import DEFAULT_FILE_PATTERN, SyncPlan, plan_jobs
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._shard_options import ShardOptions
from ansible_collections.o365.outlook.plugins.module_utils.photo._content import ImageContent
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import source_problem


def check_default(task: TaskContext) -> Optional[DefaultPhoto]:
    """The default image, read and prepared, when all_users or default_users select users for it; every mistake in
    these options fails the task before the first request."""
    params = task.params
    if not any(params[name] for name in ("photos", "src_dir", "absent_users", "absent_groups", "all_users")) \
            and params["default_users"] is None:
        # Checked here, not by Ansible: all_users is a bool, which Ansible's required_one_of counts as given when false.
        raise ConfigurationError("one of the following is required: photos, src_dir, absent_users, absent_groups, "
                                 "all_users, default_users")
    selects = params["all_users"] or params["default_users"] is not None
    given = params["default_src"] is not None or params["default_content"] is not None
    if params["user_filter"] is not None:
        if not params["all_users"]:
            raise ConfigurationError("user_filter narrows all_users: set all_users=true, or list the users in default_users.")
        if not params["user_filter"].strip():
            raise ConfigurationError("user_filter is empty: give an OData $filter such as userType eq 'Guest', or leave it out "
                                     "to select every user.")
    if selects and not given:
        raise ConfigurationError("all_users and default_users select users for a default image: give default_src or "
                                 "default_content.")
    if given and not selects:
        raise ConfigurationError("default_src and default_content are the image for the users that all_users or "
                                 "default_users select: give one of them.")
    if not selects:
        return None
    if params["all_users"]:
        require_capabilities(params["api"], (LIST_USERS,), "list_users")
    src = params["default_src"]
    if params["default_content"] is not None:
        src = ImageContent(params["default_content"], "default_content")
    preparation = task.validated.photo_policy.preparation
    problem = source_problem(src, params["convert"], preparation)
    default = DefaultPhoto(src, params["convert"], preparation)
    try:
        if problem is not None:
            raise problem
        image = default.image()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise ConfigurationError("The default image cannot be used: %s" % (getattr(exc, "msg", None) or exc)) from None
    if len(image.data) > ENTRA_PHOTO_LIMIT:
        task.warn("The default image is %d bytes once prepared. Users without an Exchange Online mailbox (guests among "
                  "them) keep their photo in Entra ID, where writes over about 100 KB have been refused: use a smaller "
                  "image (max_dimension, or a more compressed JPEG)." % len(image.data))
    return default


def check(task: TaskContext) -> Tuple[SyncPlan, Optional[DefaultPhoto]]:
    """The jobs, unmatched and skipped files, and the default image, once the API is known to remove photos if any is
    to go: before the first request."""
    params = task.params
    default = check_default(task)
    if params["absent_users"] or params["absent_groups"] or any(entry.get("state") == "absent" for entry in params["photos"] or []):
        require_capabilities(params["api"], (REMOVE_PHOTO,), "remove_photos")
    if params["absent_groups"] or any(entry.get("group") is not None for entry in params["photos"] or []):
        require_capabilities(params["api"], (GROUP_PHOTOS,), "group_photos")
    if params["state_file_max_age"] < 0:
        raise ConfigurationError("state_file_max_age must be 0 (trust no record) or more days, not %d." % params["state_file_max_age"])
    if params["state_file"]:
        check_path(params["state_file"], task.check_mode)
    return plan_jobs(photos=params["photos"], src_dir=params["src_dir"], file_pattern=params["file_pattern"],
                     user_domain=params["user_domain"], absent_users=params["absent_users"], convert=params["convert"],
                     absent_groups=params["absent_groups"], preparation=task.validated.photo_policy.preparation,
                     may_be_empty=default is not None), default


def shard_key(job: Job) -> str:
    """The key a job is sharded by: the user or the group as the task gives it."""
    return job.named["group"] if job.named is not None else job.user


def open_state_file(task: TaskContext) -> Optional[StateFile]:
    """The records of state_file for this API, tenant and comparison settings; None without the option."""
    if not task.params["state_file"]:
        return None
    policy = task.validated.photo_policy
    tenant = task.validated.auth.credentials.values.get("tenant_id") or task.params.get("tenant_id")
    identity = dict(api_url=task.validated.connection.endpoints.api_base, tenant=tenant.lower() if tenant else None)
    shard = task.validated.shard
    if shard.count > 1:
        # Two shards sharing one file would each keep only their own users' records: each shard gets its own file.
        identity["shard"] = shard.view()
    # The preparation too: a record made before a change of crop or max_dimension (or of what preparing does, its
    # version) vouches for a photo prepared another way.
    settings = dict(compare=policy.compare, pixel_tolerance=policy.pixel_tolerance, convert=task.params["convert"],
                    preparation=policy.preparation.settings())
    return StateFile.load(task.params["state_file"], identity, settings, task.warn, check_mode=task.check_mode)


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    plan, default = task.own
    jobs, known_ids = plan.jobs, {}
    if default is not None:
        listed = listed_users(client, task.params["user_filter"]) if task.params["all_users"] else []
        selected, known_ids = default_jobs(Job, jobs, listed, task.params["default_users"] or [], default.src)
        jobs = jobs + selected
    # After the default's selection, which leaves out a user with an entry of their own in any shard.
    jobs = [job for job in jobs if task.validated.shard.holds(shard_key(job))]
    state_file = open_state_file(task)
    many_users = task.validated.many_users
    engine = BulkEngine(client, task.validated.photo_policy, check_mode=task.check_mode, convert=task.params["convert"],
                        parallelism=many_users.parallelism, want_diff=task.diff, keep=KEEP[many_users.results],
                        max_parallelism=many_users.max_parallelism, state_file=state_file, deadline=many_users.deadline,
                        trust=PhotoTrust(task.params["state_file_max_age"]), default=default, known_ids=known_ids)
    resolve_group_jobs(client, jobs, lambda keys, read: map_chunks(keys, read, many_users.parallelism))
    results = engine.run(jobs)
    if state_file is not None:
        state_file.save(task.warn)
    return many_users.outcome(client, "results", results, engine.summary, engine.failed_users, engine.not_attempted_users,
                              engine.stop.error, written=engine.written, unmatched_files=plan.unmatched_files,
                              skipped_files=plan.skipped_files, failed_groups=engine.failed_groups,
                              not_attempted_groups=engine.not_attempted_groups, shard=task.validated.shard.view(),
                              extra_stats=dict(engine.download_stats, seconds=engine.seconds))


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), PhotoPolicyOptions(wait=False, read_after_write=False), ManyUsersOptions(results=True, adaptive=True),
            ShardOptions()),
    options=dict(
        photos=dict(type="list", elements="dict", options=dict(
            user=dict(type="str"),
            group=dict(type="str"),
            endpoint=dict(type="str", choices=["group", "team"], default="group"),
            src=dict(type="path"),
            content=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ), mutually_exclusive=[("user", "group")], required_one_of=[("user", "group")]),
        src_dir=dict(type="path"),
        file_pattern=dict(type="str", default=DEFAULT_FILE_PATTERN),
        user_domain=dict(type="str"),
        absent_users=dict(type="list", elements="str"),
        absent_groups=dict(type="list", elements="str"),
        default_src=dict(type="path"),
        default_content=dict(type="str", no_log=True),
        all_users=dict(type="bool", default=False),
        user_filter=dict(type="str"),
        default_users=dict(type="list", elements="str"),
        state_file=dict(type="path"),
        state_file_max_age=dict(type="int", default=DEFAULT_MAX_AGE_DAYS),
    ),
    check=check,
    supports_check_mode=True,
    mutually_exclusive=[("default_src", "default_content")],
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
