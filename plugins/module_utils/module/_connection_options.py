# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Where to connect and how: cloud, api, api_url, authority_host, validate_certs, ca_path, timeout, request_timeout.

Documented by the doc fragment o365.outlook._connection; keep the two in step.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleFallbackNotFound, env_fallback

from ..graph._connect import ConnectionSettings, checked_connection
from ..graph._photo_client import API_CAPABILITIES
from ._options import ArgSpec, OptionGroup, TaskContext

CLOUDS = ("global", "usgov", "usgovdod", "china")

# Names Azure CLI / azure-identity users already have in AZURE_CLOUD.
_AZURE_CLOUD_NAMES = {
    "azurecloud": "global",
    "azurepubliccloud": "global",
    "azureusgovernment": "usgov",
    "azureusgovernmentcloud": "usgov",
    "azurechinacloud": "china",
}


def cloud_env_fallback() -> str:
    """The cloud option from AZURE_CLOUD, accepting the Azure CLI names."""
    value = os.environ.get("AZURE_CLOUD")
    if not value:
        raise AnsibleFallbackNotFound
    return _AZURE_CLOUD_NAMES.get(value.strip().lower(), value.strip().lower())


class ConnectionOptions(OptionGroup):
    """The connection options of every module; validated into graph._connect.ConnectionSettings."""

    name = "connection"
    doc_fragment = "o365.outlook._connection"

    def options(self) -> ArgSpec:
        return dict(
            cloud=dict(type="str", choices=list(CLOUDS), default="global", fallback=(cloud_env_fallback,)),
            authority_host=dict(type="str", fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
            api=dict(type="str", choices=list(API_CAPABILITIES), default="graph"),
            api_url=dict(type="str", fallback=(env_fallback, ["O365_API_URL"])),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="float", default=30.0),
            request_timeout=dict(type="float", default=300.0),
        )

    def validate(self, task: TaskContext) -> ConnectionSettings:
        return checked_connection(task.params, task.warn)
