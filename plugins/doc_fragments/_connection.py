# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only. Keep in step with plugins/module_utils/_argspec.py.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  auth_method:
    description:
      - How to authenticate.
      - V(auto) picks the method from the credentials given in the task (its arguments, including
        C(module_defaults)), in this order; the first one set wins; O(access_token), O(managed_identity=true),
        O(client_secret), O(client_certificate_path). When the task sets credentials for more than one method, the
        module warns, naming the method used and the ones ignored.
      - Only when the task gives none of them does V(auto) read the environment, in the same order;
        E(O365_ACCESS_TOKEN), E(AZURE_CLIENT_SECRET), E(AZURE_CLIENT_CERTIFICATE_PATH) (with
        E(AZURE_CLIENT_CERTIFICATE_PASSWORD)). So a variable left in the environment never beats a credential
        written in the task.
      - V(access_token), V(client_secret), V(client_certificate) and V(managed_identity) use only that method,
        whatever else is set. Each of its options comes from the task, else from its environment variable;
        when one is missing, the task fails before any request, naming the option and the variable.
      - Every secret read from the environment is masked in the output like the options marked C(no_log).
    type: str
    choices: [auto, access_token, client_secret, client_certificate, managed_identity]
    default: auto
  tenant_id:
    description:
      - Directory (tenant) ID or a verified domain of the tenant, for example V(contoso.onmicrosoft.com).
      - Needed for client secret and client certificate authentication.
      - If not set, the value of the E(AZURE_TENANT_ID) environment variable is used.
    type: str
  client_id:
    description:
      - Application (client) ID of the app registration.
      - Needed for client secret and client certificate authentication.
      - With O(managed_identity=true) it is not used; see O(managed_identity_client_id).
      - If not set, the value of the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - Client secret of the app registration.
      - The E(AZURE_CLIENT_SECRET) environment variable is used instead only when the task sets no credential at
        all, or with O(auth_method=client_secret); see O(auth_method).
    type: str
  client_certificate_path:
    description:
      - Path to the app registration's certificate on the host that runs the module, either a PEM file holding
        the private key and the certificate, or a PKCS#12 (C(.pfx) / C(.p12)) file.
      - The key must be an RSA key (Entra ID client assertions are signed with RS256 or PS256), and the file
        must hold the certificate of that key. Both are checked before any request.
      - The E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used instead only when the task sets no
        credential at all, or with O(auth_method=client_certificate); see O(auth_method).
    type: path
  client_certificate_password:
    description:
      - Password of an encrypted PEM private key or of the PKCS#12 file. Only for a client certificate; a password
        for a key or file that has none is refused.
      - The E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used with the path from
        E(AZURE_CLIENT_CERTIFICATE_PATH), or with O(auth_method=client_certificate) when the task sets no password.
    type: str
  access_token:
    description:
      - A bearer token issued for the API, used as is. No token is requested from Entra ID.
      - A token cannot be refreshed; when the API rejects it the task fails.
      - The E(O365_ACCESS_TOKEN) environment variable is used instead only when the task sets no credential at
        all, or with O(auth_method=access_token); see O(auth_method).
    type: str
  managed_identity:
    description:
      - Authenticate with the Azure managed identity of the host that runs the module (App Service,
        Functions, Azure VM IMDS and the other sources that C(msal) supports).
      - Use O(managed_identity_client_id) to pick a user-assigned identity.
      - O(auth_method=managed_identity) does the same.
    type: bool
    default: false
  managed_identity_client_id:
    description:
      - Client ID of a user-assigned managed identity. Without it the system-assigned identity is used.
      - Only with a managed identity; set with another method alone, the task fails before any request.
    type: str
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
      - Seconds to wait for each HTTP request to connect and to answer.
      - More than 0 and at most 3600; other values fail the task before any request.
    type: float
    default: 30
requirements:
  - python >= 3.9
  - requests >= 2.25
  - msal >= 1.31 (unless O(access_token) is used)
notes:
  - With O(auth_method=auto), the credentials in the task decide, in this order; O(access_token),
    O(managed_identity=true), O(client_secret), then O(client_certificate_path). The credential environment
    variables are read only when the task sets none of them.
  - Every connection option is checked before the first request.
  - A token is requested once per task. If the API answers 401 the token is requested again once and the
    request is retried.
"""
