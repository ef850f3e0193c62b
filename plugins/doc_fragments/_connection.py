# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only. Keep in step with ConnectionOptions in
# plugins/module_utils/module/_connection_options.py.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - The Microsoft cloud, which sets the API host and the Entra ID authority host.
      - V(global) is the worldwide service (also Microsoft 365 GCC), V(usgov) is US Government L4 (GCC High),
        V(usgovdod) is US Government L5 (DoD), V(china) is the service operated by 21Vianet.
      - If not set, the value of the E(AZURE_CLOUD) environment variable is used; Azure CLI names such as
        V(AzureUSGovernment) are understood there.
    type: str
    choices: [global, usgov, usgovdod, china]
    default: global
  authority_host:
    description:
      - Entra ID authority host, overriding the one O(cloud) selects, for example V(https://login.microsoftonline.us).
      - If not set, the value of the E(AZURE_AUTHORITY_HOST) environment variable is used.
    type: str
  api:
    description:
      - Which API to call.
      - V(graph) is Microsoft Graph v1.0 (C(/users/{id}/photo)).
      - V(outlook_v2) is the Outlook REST API v2.0 (C(/api/v2.0/Users('{id}')/photo)), which Microsoft
        decommissioned in 2024; it is kept for compatible services and old scripts.
    type: str
    choices: [graph, outlook_v2]
    default: graph
  api_url:
    description:
      - Base URL of the API, overriding the one O(cloud) and O(api) select,
        for example V(https://127.0.0.1:8443/v1.0) for the emulator shipped in C(tests/emulator).
      - If not set, the value of the E(O365_API_URL) environment variable is used.
    type: str
  validate_certs:
    description:
      - Whether to verify TLS certificates. Only set to V(false) against a test service.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authorities to trust for TLS, for example a TLS-inspecting proxy's CA
        or the emulator's CA.
      - When not set, the bundle named by E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) is used, else the C(certifi)
        bundle that C(requests) ships. Set O(ca_path) to override both.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP request to connect, and for each part of its answer.
      - It is an idle timeout, which starts again whenever data arrives, so a slow upload or download that keeps moving
        is not cut. O(request_timeout) bounds the whole request.
      - More than 0 and at most 3600; other values fail the task before any request.
    type: float
    default: 30
  request_timeout:
    description:
      - The most seconds one HTTP request may take in all, from connecting to the last byte of its answer, whatever
        the server does (a server that sends one byte at a time never trips O(timeout)). The connection is then cut,
        and the request is retried like a dropped connection, within the retry budget (about two minutes in all).
      - This covers token requests too. More than 0 and at most 3600; other values fail the task before any request.
    type: float
    default: 300
    version_added: 1.1.0
requirements:
  - python >= 3.9
  - requests >= 2.25
notes:
  - Every connection option is checked before the first request.
"""
