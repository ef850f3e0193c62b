# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only. Keep in step with auth_options() in
# plugins/module_utils/auth/_selection.py.

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
    version_added: 1.0.0
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
requirements:
  - msal >= 1.31 (unless O(access_token) is used)
notes:
  - With O(auth_method=auto), the credentials in the task decide, in this order; O(access_token),
    O(managed_identity=true), O(client_secret), then O(client_certificate_path). The credential environment
    variables are read only when the task sets none of them.
  - A token is requested once per task. If the API answers 401 the token is requested again once and the
    request is retried.
"""
