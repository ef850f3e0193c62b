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
    it with the wanted image by SHA-256, and uploads only when they differ.
  - Reports the photo's dimensions, and in diff mode the SHA-256 and dimensions before and after.
  - The image is read on the host that runs the module; API modules usually run on C(localhost).
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
      - Path of a JPEG or PNG image of at most 4 MB on the host that runs the module.
      - Required with O(state=present).
    type: path
extends_documentation_fragment:
  - o365.outlook._connection
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
    with admin consent; reading alone needs C(ProfilePhoto.Read.All).
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

- name: Remove a leaver's photo; credentials come from AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET
  o365.outlook.outlook_user_photo:
    user: 0b9e6f1a-3c0e-4a55-9d6f-2f2a2f6a8a11
    state: absent
  delegate_to: localhost

- name: Set the connection options once for every module of the collection
  module_defaults:
    group/o365.outlook.outlook:
      tenant_id: contoso.onmicrosoft.com
      client_id: "{{ app_client_id }}"
      client_secret: "{{ app_client_secret }}"
  block:
    - name: Photo for Alex
      o365.outlook.outlook_user_photo:
        user: alex.wilber@contoso.com
        src: photos/alex.png
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
  description: SHA-256 of the image in O(src), what was (or would be) uploaded; null with O(state=absent).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
previous_sha256:
  description: SHA-256 of the photo the user had before the task; null when there was none.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.o365.outlook.plugins.module_utils._argspec import module_argument_spec
from ansible_collections.o365.outlook.plugins.module_utils._image import load_source
from ansible_collections.o365.outlook.plugins.module_utils._module import normalize_user, run_module
from ansible_collections.o365.outlook.plugins.module_utils._reconcile import ensure_absent, ensure_present


def build_module():
    spec = module_argument_spec(
        user=dict(type="str", aliases=["user_id", "upn"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        src=dict(type="path"),
    )
    return AnsibleModule(argument_spec=spec, supports_check_mode=True, required_if=[("state", "present", ["src"])])


def main():
    module = build_module()
    params = module.params

    def work(client):
        user = normalize_user(params["user"])
        if params["state"] == "present":
            source = load_source(params["src"])
            changed, result, diff = ensure_present(client, user, source, module.check_mode)
        else:
            changed, result, diff = ensure_absent(client, user, module.check_mode)
        result["changed"] = changed
        if module._diff:
            result["diff"] = diff
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
