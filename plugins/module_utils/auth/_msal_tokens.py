# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Tokens fetched from Entra ID with msal: for an app registration (secret or certificate) or a managed identity."""

from __future__ import annotations

from typing import Any, Optional

from ..common._redact import Redactor
from ._tokens import FETCH_ERRORS, CachedTokenProvider, import_msal, request_failure, token_from_answer

_MI_HINT = ("a managed identity only exists on Azure hosts (App Service, Functions, VMs and scale sets with IMDS, "
            "Azure ML, Service Fabric); elsewhere use a client secret or certificate")


class AppTokenProvider(CachedTokenProvider):
    """Client credentials flow of an app registration, with a client secret or a certificate."""

    def __init__(self, client_id: str, tenant_id: str, credential: Any, endpoints: Any, http_client: Any,
                 timeout: Optional[float], redactor: Optional[Redactor] = None) -> None:
        super().__init__(redactor)
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.credential = credential
        self.endpoints = endpoints
        self.http_client = http_client
        self.timeout = timeout
        self._app = None

    def _fetch(self, force: bool) -> str:
        msal = import_msal()
        what = "Could not get a token for client %s in tenant %s from %s" % (
            self.client_id, self.tenant_id, self.endpoints.authority_host)
        try:
            if self._app is None:
                # The constructor already fetches the OpenID configuration, so it sits inside the try.
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self.credential,
                    authority=self.endpoints.authority(self.tenant_id),
                    # Known Microsoft hosts skip discovery anyway; custom hosts (emulator, proxies) must not
                    # call login.microsoftonline.com.
                    instance_discovery=False,
                    azure_region=False,
                    http_client=self.http_client,
                    timeout=self.timeout,
                )
            if force:
                self._app.remove_tokens_for_client()
            result = self._app.acquire_token_for_client(scopes=[self.endpoints.scope])
        except FETCH_ERRORS + (msal.exceptions.MsalError,) as exc:
            raise request_failure(what, exc, self._redactor) from None
        return token_from_answer(what, result, self._redactor)


class ManagedIdentityTokenProvider(CachedTokenProvider):
    """Azure managed identity: msal finds the endpoint (App Service, IMDS, ...) from the environment."""

    def __init__(self, client_id: Optional[str], endpoints: Any, http_client: Any, redactor: Optional[Redactor] = None) -> None:
        super().__init__(redactor)
        self.client_id = client_id
        self.endpoints = endpoints
        self.http_client = http_client

    def _fetch(self, force: bool) -> str:
        msal = import_msal()
        if self.client_id:
            identity = msal.UserAssignedManagedIdentity(client_id=self.client_id)
            what = "Could not get a token for the user-assigned managed identity %s" % self.client_id
        else:
            identity = msal.SystemAssignedManagedIdentity()
            what = "Could not get a token for the system-assigned managed identity"
        try:
            # A fresh cache on refresh: the old token is the one the API just rejected.
            client = msal.ManagedIdentityClient(identity, http_client=self.http_client, token_cache=msal.TokenCache())
            result = client.acquire_token_for_client(resource=self.endpoints.resource)
        except FETCH_ERRORS + (msal.exceptions.MsalError,) as exc:
            raise request_failure(what, exc, self._redactor, hint=_MI_HINT) from None
        return token_from_answer(what, result, self._redactor)
