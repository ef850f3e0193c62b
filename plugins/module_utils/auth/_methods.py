# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The sign-in methods, one class each, and METHODS: the table that auth_method and auth_options() are built from.

To add a method: write its class here (see _method_base.SignInMethod), add it to METHODS at its place in the
auto order, and document its options in the doc fragment o365.outlook._connection.
"""

from __future__ import annotations

from typing import Any, Mapping, Tuple

from ..common._redact import Redactor
from ._certificates import CertificateNames, certificate_credential
from ._method_base import AppRegistrationMethod, Credentials, ProviderFactory, SignInMethod
from ._msal_tokens import ManagedIdentityTokenProvider
from ._tokens import StaticTokenProvider, TokenProvider


class AccessToken(SignInMethod):
    """A bearer token the task already has: used as is, never renewed, and no msal needed."""

    name = "access_token"
    description = "an access token"
    options = {"access_token": dict(type="str", no_log=True)}
    variables = (("access_token", "O365_ACCESS_TOKEN"),)

    def prepare(self, credentials: Credentials, params: Mapping[str, Any], redactor: Redactor) -> ProviderFactory:
        # The provider checks the token as it is built: a bad token is refused before any request.
        provider = StaticTokenProvider(credentials.values["access_token"], redactor, source=credentials.name("access_token"))
        return lambda endpoints, http_client: provider


class ManagedIdentity(SignInMethod):
    """An Azure managed identity, system-assigned or user-assigned (managed_identity_client_id)."""

    name = "managed_identity"
    description = "a managed identity"
    options = {"managed_identity": dict(type="bool", default=False), "managed_identity_client_id": dict(type="str")}
    # None: msal finds the identity endpoint itself, and IDENTITY_ENDPOINT & co. do not say that a task wants it.
    variables = ()

    def label(self, from_environment: bool = False) -> str:
        return "managed_identity=true"

    def given_in(self, params: Mapping[str, Any]) -> bool:
        return params.get("managed_identity") is True

    def prepare(self, credentials: Credentials, params: Mapping[str, Any], redactor: Redactor) -> ProviderFactory:
        client_id = params.get("managed_identity_client_id")

        def build(endpoints: Any, http_client: Any) -> TokenProvider:
            return ManagedIdentityTokenProvider(client_id, endpoints, http_client, redactor)
        return build


class ClientSecret(AppRegistrationMethod):
    """An app registration's client secret."""

    name = "client_secret"
    description = "a client secret"
    options = {"client_secret": dict(type="str", no_log=True)}
    variables = (("client_secret", "AZURE_CLIENT_SECRET"),)

    def credential(self, credentials: Credentials) -> Any:
        return credentials.values["client_secret"]


class ClientCertificate(AppRegistrationMethod):
    """An app registration's certificate: a PEM (key + certificate) or PKCS#12 file, checked before any request."""

    name = "client_certificate"
    description = "a client certificate"
    options = {"client_certificate_path": dict(type="path"), "client_certificate_password": dict(type="str", no_log=True)}
    variables = (("client_certificate_path", "AZURE_CLIENT_CERTIFICATE_PATH"),
                 ("client_certificate_password", "AZURE_CLIENT_CERTIFICATE_PASSWORD"))

    def credential(self, credentials: Credentials) -> Any:
        names = CertificateNames(credentials.name("client_certificate_path"), credentials.name("client_certificate_password"))
        return certificate_credential(credentials.values["client_certificate_path"],
                                      credentials.values.get("client_certificate_password"), names)


# The documented auto order: with auth_method=auto, the first method the task (else the environment) gives wins.
METHODS: Tuple[SignInMethod, ...] = (AccessToken(), ManagedIdentity(), ClientSecret(), ClientCertificate())
