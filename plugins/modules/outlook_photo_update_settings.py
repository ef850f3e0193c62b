#!/usr/bin/python
# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outlook_photo_update_settings
short_description: Read or set the Microsoft 365 tenant's profile photo policy
description:
  - Reads the tenant's photo policy (Microsoft Graph C(photoUpdateSettings)) and, when asked, changes it to the
    wanted O(source) and O(allowed_roles), idempotently.
  - An option left out is not changed. With neither O(source) nor O(allowed_roles), the module only reads the policy
    and returns it.
  - Only the settings that differ from the tenant's are sent, in one C(PATCH).
  - The policy is a beta API of Microsoft Graph (C(/beta/admin/people/photoUpdateSettings)). The module turns the
    trailing C(/v1.0) of O(api_url) (or of the cloud's default URL) into C(/beta); any other O(api_url) is refused
    before any request, and so is O(api=outlook_v2).
  - With O(source=onPremises), photo updates in the cloud are turned off for administrators and users alike, so
    every photo write of this collection's other modules is refused with HTTP 403.
  - A change can take up to 24 hours to apply in the service, although the policy reads back changed at once.
version_added: 1.1.0
author:
  - o365.outlook maintainers (@o365-outlook)
options:
  source:
    description:
      - Where users' profile photos are managed.
      - V(cloud) lets photos be changed in Microsoft 365 (Graph, Outlook, Teams, the admin centres).
      - V(onPremises) turns photo updates in the cloud off, for administrators and users alike; photos then come
        from the on-premises directory.
      - Left out, the tenant's source is not changed.
    type: str
    choices: [cloud, onPremises]
    version_added: 1.1.0
  allowed_roles:
    description:
      - The Entra ID directory roles allowed to change profile photos in the cloud, as role template ids (GUIDs),
        for example V(62e90394-69f5-4237-9190-012177145e10) for Global Administrator.
      - Compared with the tenant's as a set, ignoring case and order; an empty list removes every role.
      - Each must be a GUID; anything else is refused before any request.
      - Left out, the tenant's roles are not changed.
    type: list
    elements: str
    version_added: 1.1.0
extends_documentation_fragment:
  - o365.outlook._connection
  - o365.outlook._auth
  - o365.outlook._attributes
attributes:
  check_mode:
    support: full
    description: Reads the policy and sends no change; C(changed) and RV(settings) are what a real run would report.
  diff_mode:
    support: full
    description: The policy (O(source) and O(allowed_roles)) before and after.
  idempotent:
    support: full
    description: A second run with the same options sends no change.
notes:
  - Reading the policy needs the Microsoft Graph permission C(PeopleSettings.Read.All) (or
    C(PeopleSettings.ReadWrite.All)); changing it needs C(PeopleSettings.ReadWrite.All). Application permissions
    need admin consent. With a delegated token, changing it also needs the signed-in user to hold a supported
    Entra ID role (People Administrator is the least privileged one). A missing permission fails the task with a
    message that names it.
  - C(photoUpdateSettings) is a beta API, which Microsoft may change or remove without notice.
  - Changes take up to 24 hours to apply in the service; until then, photo writes may still be accepted or refused
    as before.
seealso:
  - module: o365.outlook.outlook_user_photo
  - module: o365.outlook.outlook_user_photo_sync
  - name: Configure profile photo settings (Microsoft Graph)
    description: The photo policy and what O(source=onPremises) turns off.
    link: https://learn.microsoft.com/en-us/graph/profilephoto-configure-settings
"""

EXAMPLES = r"""
- name: Read the tenant's photo policy
  o365.outlook.outlook_photo_update_settings:
    tenant_id: contoso.onmicrosoft.com
    client_id: "{{ app_client_id }}"
    client_secret: "{{ app_client_secret }}"
  register: photo_policy
  delegate_to: localhost

- name: Photos come from the on-premises directory; nobody changes them in the cloud
  o365.outlook.outlook_photo_update_settings:
    source: onPremises
  delegate_to: localhost

- name: Photos are managed in the cloud, and Global and User Administrators may change other users' photos
  o365.outlook.outlook_photo_update_settings:
    source: cloud
    allowed_roles:
      - 62e90394-69f5-4237-9190-012177145e10  # Global Administrator
      - fe930be7-5e62-47db-91af-98c3a49a38b1  # User Administrator
  delegate_to: localhost
"""

RETURN = r"""
settings:
  description:
    - The tenant's photo policy after the task (in check mode, what it would be).
  returned: always
  type: dict
  contains:
    source:
      description:
        - V(cloud) or V(onPremises), or a newer value the service sends, as it sends it.
        - Null when the tenant has never set its policy (the service then answers an empty one).
      type: str
    allowed_roles:
      description: The role template ids allowed to change photos in the cloud, in lower case and sorted; empty when none are set.
      type: list
      elements: str
  sample: {source: cloud, allowed_roles: [62e90394-69f5-4237-9190-012177145e10]}
"""

from types import SimpleNamespace
from typing import Any, Dict, List, Optional

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._answers import is_object_id
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoClient
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_settings import (SOURCES, PhotoSettings, beta_base, read_photo_settings,
                                                                                         update_photo_settings)
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._options import TaskContext
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule


def checked_roles(roles: Optional[List[str]]) -> Optional[List[str]]:
    """allowed_roles as a sorted list of lower-case GUIDs, each once; None when the option is left out."""
    if roles is None:
        return None
    bad = [role for role in roles if not isinstance(role, str) or not is_object_id(role)]
    if bad:
        raise ConfigurationError("allowed_roles must be role template ids (GUIDs such as 62e90394-69f5-4237-9190-012177145e10), "
                                 "got %s." % ", ".join(repr(role) for role in bad))
    return sorted({role.lower() for role in roles})


def check(task: TaskContext) -> SimpleNamespace:
    """The API and api_url can reach the beta policy, and every role is a GUID: before the first request."""
    params = task.params
    if params["api"] == "outlook_v2":
        raise ConfigurationError("The Outlook REST v2.0 API has no photo policy: use api=graph for outlook_photo_update_settings.")
    beta_base(task.validated.connection.endpoints.api_base)
    return SimpleNamespace(source=params["source"], allowed_roles=checked_roles(params["allowed_roles"]))


def wanted_changes(current: PhotoSettings, source: Optional[str], allowed_roles: Optional[List[str]]) -> Dict[str, Any]:
    """The settings that differ from current, by the module's names; roles compared as sets of lower-case ids."""
    changes: Dict[str, Any] = {}
    if source is not None and source != current.source:
        changes["source"] = source
    if allowed_roles is not None and set(allowed_roles) != set(current.allowed_roles):
        changes["allowed_roles"] = allowed_roles
    return changes


def work(client: PhotoClient, task: TaskContext) -> Dict[str, Any]:
    wanted = task.own
    api_base = client.dialect.api_base
    before = read_photo_settings(client.transport, api_base)
    changes = wanted_changes(before, wanted.source, wanted.allowed_roles)
    if not changes:
        after = before
    elif task.check_mode:
        after = PhotoSettings(changes.get("source", before.source), changes.get("allowed_roles", before.allowed_roles))
    else:
        after = update_photo_settings(client.transport, api_base, changes)
    result: Dict[str, Any] = dict(changed=bool(changes), settings=after.as_dict())
    if task.diff:
        result["diff"] = dict(before=before.as_dict(), after=after.as_dict())
    return result


MODULE = OutlookModule(
    groups=(ConnectionOptions(), AuthOptions()),
    options=dict(
        source=dict(type="str", choices=list(SOURCES)),
        allowed_roles=dict(type="list", elements="str"),
    ),
    check=check,
    supports_check_mode=True,
)


def main() -> None:
    MODULE.run(work)


if __name__ == "__main__":
    main()
