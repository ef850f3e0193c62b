#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_user_photo
short_description: Set or remove a Microsoft 365 user's profile photo, idempotently
description:
  - Reads the user's current photo through Microsoft Graph (or the legacy Outlook REST v2.0 API), compares
    it with the wanted image (equal bytes, or equal pixels because the service re-encodes what it stores;
    see O(compare)), and uploads only when they differ.
  - Reports the photo's dimensions, and in diff mode the SHA-256 and dimensions before and after.
  - The image is read on the host that runs the module; API modules usually run on C(localhost).
version_added: 0.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  user:
    description:
      - Object ID or user principal name (UPN) of the user, for example V(adele.vance@contoso.com).
      - Guest UPNs (C(#EXT#)), apostrophes, C(/), C(?), C(%) and non-ASCII letters are sent as one path segment.
      - When omitted, the signed-in user (C(/me)) is addressed, which needs a delegated O(access_token).
    type: str
    aliases: [user_id, upn]
  state:
    description:
      - V(present) makes the photo the image in O(src).
      - V(absent) removes the user's photo.
    type: str
    choices: [present, absent]
    default: present
  src:
    description:
      - Path of the image on the host that runs the module. A JPEG of at most 4 MB is sent as it is.
      - It must be a regular file. A symbolic link is refused, not followed, so that a link cannot make the module upload
        another file than the one named (directories above the file may be links).
      - The service documents only JPEG (C(image/jpeg)). With O(convert=true) and Pillow installed, a PNG is converted
        to JPEG (transparency on white; the same file always gives the same bytes), GIF, BMP, WebP and TIFF images
        are converted to JPEG, and larger images are scaled down until they fit 4 MB.
      - Without Pillow, or with O(convert=false), a PNG of at most 4 MB is sent as it is as C(image/png), with a
        warning, since a tenant may refuse PNG uploads.
      - Every image is checked whole before any request is sent. A file over 256 MB is refused without being read,
        and an image whose header declares more than 50 million pixels (width times height) without being decoded,
        to protect the host's memory. A JPEG must run
        from its start-of-image marker through a frame header and an image scan to its end-of-image marker (bytes
        after it are allowed). A PNG must have a correct CRC on every chunk, at least one C(IDAT) chunk, and end with
        C(IEND). With Pillow installed, the whole image is also decoded, so truncated or damaged image data is refused.
      - Required with O(state=present), unless O(content) is given.
    type: path
  content:
    description:
      - The image itself, as base64 text, instead of O(src), for photos that come from another system, such as an
        LDAP search's C(thumbnailPhoto) (C(community.general.ldap_search) with C(base64_attributes=[thumbnailPhoto]))
        or an HR API read with M(ansible.builtin.uri).
      - Standard base64. White space and line breaks are ignored (LDIF wraps its lines), the URL-safe alphabet
        (C(-) and C(_)) is accepted, and padding may be left out. Any other character fails the task before any
        request.
      - Every check of O(src) applies to the decoded bytes (the 4 MB limit, the structure, the whole decode, the
        pixel limit), and so do the conversions and O(crop), O(max_dimension) and O(min_dimension).
      - Mutually exclusive with O(src); one of them is required with O(state=present). Never shown in results,
        diffs or logs.
    type: str
    version_added: 1.1.0
  wait:
    description:
      - After a write, poll until the service serves the new state (new photo, or no photo), so that later
        tasks read what this task wrote.
      - Other Microsoft 365 apps (Teams, Outlook, SharePoint) can take hours to show a new photo whatever this says.
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
    description: Sends no write; C(changed) is what a real run would report.
  diff_mode:
    support: full
    description: Before and after SHA-256, width and height of the photo.
  idempotent:
    support: full
    description: A second run with the same image sends no write.
notes:
  - Needs the Microsoft Graph application permission C(ProfilePhoto.ReadWrite.All) (or C(User.ReadWrite.All))
    with admin consent; reading alone needs C(ProfilePhoto.Read.All). With a delegated token for the signed-in
    user (no O(user)), C(User.ReadWrite) is enough.
  - Microsoft 365 re-encodes the photos it stores, so the bytes read back differ from the bytes uploaded.
    Keep O(compare=auto) with Pillow installed for idempotent reruns against a real tenant.
  - A new photo can take hours to appear in Teams, Outlook and SharePoint; O(wait) only covers the photo API itself.
  - The Outlook REST v2.0 API (O(api=outlook_v2)) cannot remove photos; O(state=absent) needs O(api=graph).
seealso:
  - name: Update profilePhoto (Microsoft Graph)
    description: The API call this module makes to set a photo.
    link: https://learn.microsoft.com/en-us/graph/api/profilephoto-update
  - name: Get profilePhoto (Microsoft Graph)
    description: How the current photo is read.
    link: https://learn.microsoft.com/en-us/graph/api/profilephoto-get
"""

EXAMPLES = r"""
- name: Set Adele's photo (app registration with a client secret)
  o365.outlook.outlook_user_photo:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ app_client_id }}"
    client_secret: "{{ app_client_secret }}"
    user: adele.vance@contoso.com
    src: photos/adele.jpg
  delegate_to: localhost

- name: Authenticate with a certificate (PEM holding the private key and the certificate)
  o365.outlook.outlook_user_photo:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ app_client_id }}"
    client_certificate_path: /etc/ansible/certs/photo-app.pem
    user: alex.wilber@contoso.com
    src: photos/alex.jpg
  delegate_to: localhost

- name: Authenticate with a password-protected PFX
  o365.outlook.outlook_user_photo:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ app_client_id }}"
    client_certificate_path: /etc/ansible/certs/photo-app.pfx
    client_certificate_password: "{{ pfx_password }}"
    user: alex.wilber@contoso.com
    src: photos/alex.jpg
  delegate_to: localhost

- name: On an Azure VM or App Service, use its managed identity (user-assigned here)
  o365.outlook.outlook_user_photo:
    managed_identity: true
    managed_identity_client_id: 0f5e2a3b-7c1d-4e8f-9a6b-5c4d3e2f1a0b
    user: megan.bowen@contoso.com
    src: /srv/hr/photos/megan.png

- name: With a token you already have (for example from az account get-access-token)
  o365.outlook.outlook_user_photo:
    access_token: "{{ graph_token }}"
    user: megan.bowen@contoso.com
    src: photos/megan.png
  delegate_to: localhost

- name: Credentials from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), US Government cloud
  o365.outlook.outlook_user_photo:
    cloud: usgov
    user: lee.gu@agency.onmicrosoft.us
    src: photos/lee.jpg
  delegate_to: localhost

- name: Remove a leaver's photo, keeping a copy
  o365.outlook.outlook_user_photo:
    user: 0b9e6f1a-3c0e-4a55-9d6f-2f2a2f6a8a11
    state: absent
    backup_dir: /var/backups/m365-photos
  delegate_to: localhost

- name: A default picture only for users who have none
  o365.outlook.outlook_user_photo:
    user: "{{ item }}"
    src: photos/default-avatar.png
    only_if_missing: true
  loop: "{{ new_starters }}"
  delegate_to: localhost

- name: An HR portrait (3:4) cropped around the face, at the largest size Microsoft 365 shows
  o365.outlook.outlook_user_photo:
    user: adele.vance@contoso.com
    src: hr-photos/adele.jpg
    crop: face
    max_dimension: 648
  delegate_to: localhost

- name: Read the photos Active Directory holds (thumbnailPhoto, as base64)
  community.general.ldap_search:
    dn: OU=Staff,DC=contoso,DC=com
    filter: (thumbnailPhoto=*)
    attrs: [userPrincipalName, thumbnailPhoto]
    base64_attributes: [thumbnailPhoto]
  register: staff
  delegate_to: localhost

- name: Set them in Microsoft 365 straight from memory, no files
  o365.outlook.outlook_user_photo:
    user: "{{ item.userPrincipalName }}"
    content: "{{ item.thumbnailPhoto }}"
    crop: square
  loop: "{{ staff.results }}"
  loop_control:
    label: "{{ item.userPrincipalName }}"
  delegate_to: localhost

- name: Set the connection options once for every module of the collection
  module_defaults:
    group/o365.outlook.outlook:
      tenant_id: contoso.onmicrosoft.com
      client_id: "{{ app_client_id }}"
      client_secret: "{{ app_client_secret }}"
  block:
    - name: Photo for Alex, waiting until the service serves it
      o365.outlook.outlook_user_photo:
        user: alex.wilber@contoso.com
        src: photos/alex.png
        wait: true
      delegate_to: localhost
"""

RETURN = r"""
user:
  description: The user as given, or V(me).
  returned: always
  type: str
  sample: adele.vance@contoso.com
photo:
  description:
    - The photo the service now holds (in check mode, the one it would hold); null when the user has none.
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
    - SHA-256 of the photo the user had before the task, as the service returned it; null when there was none,
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
        - V(none) (the user had no photo), V(sha256) (equal or unequal bytes), V(pixels) (decoded and compared),
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
  sample: /var/backups/photos/adele.vance@contoso.com.20261127T101500123456Z.jpg
conversion:
  description:
    - What was done to the image to make it acceptable, for example V(PNG 320x200 to JPEG 320x200), or
      V(JPEG 4032x3024 to JPEG 648x648 (turned upright - EXIF Orientation 6, face crop, scaled to max_dimension 648)).
    - Null when the image was sent as it is.
  returned: always
  type: str
"""

from typing import Any, Dict, Optional, Tuple

from ansible_collections.o365.outlook.plugins.module_utils.common._users import checked_user

from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import REMOVE_PHOTO, PhotoClient, require_capabilities
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions
from ansible_collections.o365.outlook.plugins.module_utils.module import _source_options
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import SourceImage
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import ensure_absent, ensure_present


def check(task: TaskContext) -> Tuple[Optional[str], Optional[SourceImage]]:
    """The user, and the source image read and checked whole (state=present), before the first request."""
    params = task.params
    user = checked_user(params["user"])
    if params["state"] == "present":
        return user, _source_options.load_wanted(task)
    require_capabilities(params["api"], (REMOVE_PHOTO,), "state_absent")
    return user, None


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    user, source = task.own
    policy = task.validated.photo_policy
    if source is not None:
        changed, result, diff = ensure_present(client, user, source, task.check_mode, policy)
        result["conversion"] = source.conversion
    else:
        changed, result, diff = ensure_absent(client, user, task.check_mode, policy)
        result["conversion"] = None
    result["changed"] = changed
    if task.diff:
        result["diff"] = diff
    return result


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions(), PhotoPolicyOptions(wait=True)),
    options=dict(
        user=dict(type="str", aliases=["user_id", "upn"]),
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
