# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The connection/auth argument spec shared by every module.

Documented by the doc fragment o365.outlook._connection; keep the two in step.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleFallbackNotFound, env_fallback

from ..auth._auth import AUTH_METHODS
from ..photo._compare import DEFAULT_PIXEL_TOLERANCE

CLOUDS = ("global", "usgov", "usgovdod", "china")

# Names Azure CLI / azure-identity users already have in AZURE_CLOUD.
_AZURE_CLOUD_NAMES = {
    "azurecloud": "global",
    "azurepubliccloud": "global",
    "azureusgovernment": "usgov",
    "azureusgovernmentcloud": "usgov",
    "azurechinacloud": "china",
}


def cloud_env_fallback():
    value = os.environ.get("AZURE_CLOUD")
    if not value:
        raise AnsibleFallbackNotFound
    return _AZURE_CLOUD_NAMES.get(value.strip().lower(), value.strip().lower())


def connection_argument_spec():
    # The credential options have no env fallback: with one, a stale variable would count as "set in the task"
    # and could beat what the task says. _auth.select_credentials reads the environment only when the task gives
    # no credential (or, with an explicit auth_method, for the options of that method the task leaves out).
    return dict(
        auth_method=dict(type="str", choices=list(AUTH_METHODS), default="auto"),
        tenant_id=dict(type="str", fallback=(env_fallback, ["AZURE_TENANT_ID"])),
        client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
        client_secret=dict(type="str", no_log=True),
        client_certificate_path=dict(type="path"),
        client_certificate_password=dict(type="str", no_log=True),
        access_token=dict(type="str", no_log=True),
        managed_identity=dict(type="bool", default=False),
        managed_identity_client_id=dict(type="str"),
        cloud=dict(type="str", choices=list(CLOUDS), default="global", fallback=(cloud_env_fallback,)),
        authority_host=dict(type="str", fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
        api=dict(type="str", choices=["graph", "outlook_v2"], default="graph"),
        api_url=dict(type="str", fallback=(env_fallback, ["O365_API_URL"])),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="float", default=30.0),
    )


def photo_policy_options(wait=True):
    """Options that steer the decision and the write, shared by the single-user and the bulk module."""
    options = dict(
        compare=dict(type="str", choices=["auto", "sha256", "pixels"], default="auto"),
        pixel_tolerance=dict(type="float", default=DEFAULT_PIXEL_TOLERANCE),
        only_if_missing=dict(type="bool", default=False),
        backup_dir=dict(type="path"),
        convert=dict(type="bool", default=True),
    )
    if wait:
        options.update(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=60))
    return options


def module_argument_spec(**module_options):
    """The shared connection options plus a module's own options."""
    spec = connection_argument_spec()
    overlap = set(spec) & set(module_options)
    if overlap:
        raise ValueError("module options clash with connection options: %s" % ", ".join(sorted(overlap)))
    spec.update(module_options)
    return spec
