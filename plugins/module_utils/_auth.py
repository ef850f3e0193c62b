# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Token providers: a pre-issued token, an app registration (secret or certificate), or a managed identity.

msal is imported only when a token must be fetched: a task that brings its own access_token never pays for it.
"""

from __future__ import annotations

import os
import ssl
import hashlib
import re
import traceback

from ._errors import AuthenticationError, ConfigurationError, MissingLibraryError

# Hints for the Entra ID errors people actually hit, keyed by AADSTS code.
_AADSTS_HINTS = {
    7000215: "check client_secret (or AZURE_CLIENT_SECRET); secrets expire, and the value is needed, not the secret ID",
    7000222: "the client secret has expired: create a new one in the app registration",
    700016: "check client_id and tenant_id: the application was not found in that tenant",
    90002: "check tenant_id: the tenant was not found (or it is in another cloud: see the cloud option)",
    700027: "the certificate is not registered on the app registration, or the key does not match it",
    1002012: "the requested scope is not valid for this application",
    7000112: "the application is disabled",
}


def _import_msal():
    try:
        import msal  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingLibraryError("msal is needed to request a token from Entra ID (or pass access_token)",
                                  "msal", traceback.format_exc()) from None
    return msal


def _token_failure(what, result):
    """An AuthenticationError from an msal error dict: AADSTS code and first line of the description, never the secret."""
    description = (result.get("error_description") or "").strip()
    first_line = description.splitlines()[0] if description else ""
    codes = result.get("error_codes") or []
    if not codes:
        found = re.match(r"AADSTS(\d+)", first_line)
        codes = [int(found.group(1))] if found else []
    msg = "%s: %s" % (what, first_line or result.get("error") or "no access_token in the answer")
    hints = [_AADSTS_HINTS[c] for c in codes if c in _AADSTS_HINTS]
    if hints:
        msg += " (%s)" % "; ".join(hints)
    return AuthenticationError(msg, error=result.get("error"), error_codes=codes or None,
                               correlation_id=result.get("correlation_id"))


def _request_failure(what, exc, hint=None):
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        hint = "set ca_path to the CA that signed the server certificate"
    elif "Unable to get authority configuration" in text:
        hint = _AADSTS_HINTS[90002] + "; also check authority_host"
    msg = "%s: %s: %s" % (what, type(exc).__name__, text)
    return AuthenticationError(msg + (" (%s)" % hint if hint else ""))


class StaticTokenProvider:
    """A token the user already has. It cannot be renewed."""

    can_refresh = False

    def __init__(self, token):
        self._token = token

    def token(self):
        return self._token

    def refresh(self):
        raise AuthenticationError("The API rejected access_token (HTTP 401): it has expired or is not valid for this API.")


class _CachedTokenProvider:
    """Fetches a token on first use and keeps it for the run; refresh() forces a new one."""

    can_refresh = True

    def __init__(self, on_token=None):
        self._token = None
        self._on_token = on_token

    def token(self):
        if self._token is None:
            self._token = self._fetch(force=False)
            if self._on_token:
                self._on_token(self._token)
        return self._token

    def refresh(self):
        self._token = None
        self._token = self._fetch(force=True)
        if self._on_token:
            self._on_token(self._token)

    def _fetch(self, force):
        raise NotImplementedError


class AppTokenProvider(_CachedTokenProvider):
    """Client credentials flow of an app registration, with a client secret or a certificate."""

    def __init__(self, client_id, tenant_id, credential, endpoints, http_client, timeout, on_token=None):
        super().__init__(on_token)
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.credential = credential
        self.endpoints = endpoints
        self.http_client = http_client
        self.timeout = timeout
        self._app = None

    def _fetch(self, force):
        msal = _import_msal()
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
        except (OSError, ValueError, KeyError, msal.exceptions.MsalError) as exc:
            raise _request_failure(what, exc) from None
        if "access_token" not in result:
            raise _token_failure(what, result)
        return result["access_token"]


class ManagedIdentityTokenProvider(_CachedTokenProvider):
    """Azure managed identity: msal finds the endpoint (App Service, IMDS, ...) from the environment."""

    def __init__(self, client_id, endpoints, http_client, on_token=None):
        super().__init__(on_token)
        self.client_id = client_id
        self.endpoints = endpoints
        self.http_client = http_client

    def _fetch(self, force):
        msal = _import_msal()
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
        except (OSError, ValueError, KeyError, msal.exceptions.MsalError) as exc:
            raise _request_failure(what, exc, hint=_MI_HINT) from None
        if "access_token" not in result:
            raise _token_failure(what, result)
        return result["access_token"]


_MI_HINT = ("a managed identity only exists on Azure hosts (App Service, Functions, VMs and scale sets with IMDS, "
            "Azure ML, Service Fabric); elsewhere use a client secret or certificate")

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


def certificate_credential(path, password):
    """msal's client_credential for a PEM (key + certificate) or PKCS#12 file."""
    if not os.path.isfile(path):
        raise ConfigurationError("client_certificate_path %s does not exist or is not a file." % path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigurationError("Cannot read client_certificate_path %s: %s" % (path, exc.strerror)) from None
    if b"-----BEGIN" not in raw:
        # PKCS#12: msal parses it and computes the thumbprint itself.
        credential = {"private_key_pfx_path": path}
        if password:
            credential["passphrase"] = password
        return credential

    text = raw.decode("ascii", "replace")
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(text)]
    keys = [b for b in blocks if "PRIVATE KEY-----" in b.splitlines()[0]]
    certs = [b for b in blocks if b.startswith("-----BEGIN CERTIFICATE-----")]
    if not keys or not certs:
        raise ConfigurationError(
            "client_certificate_path %s must hold both the private key and the certificate in PEM form "
            "(found %d key(s), %d certificate(s)); or give a .pfx file." % (path, len(keys), len(certs)))
    der = ssl.PEM_cert_to_DER_cert(certs[0])
    credential = {
        "private_key": keys[0],
        "public_certificate": certs[0],
        # Entra matches the assertion's x5t against the registered certificate's SHA-1 thumbprint.
        "thumbprint": hashlib.sha1(der).hexdigest().upper(),  # nosec - a certificate fingerprint, not a security hash
    }
    if password:
        credential["passphrase"] = password
    return credential


def build_token_provider(params, endpoints, http_client, on_token=None):
    """Picks the authentication method: access_token, managed_identity, client_secret, then client certificate."""
    if params.get("access_token"):
        return StaticTokenProvider(params["access_token"])
    if params.get("managed_identity"):
        return ManagedIdentityTokenProvider(params.get("managed_identity_client_id"), endpoints, http_client, on_token)

    secret = params.get("client_secret")
    cert_path = params.get("client_certificate_path")
    if not secret and not cert_path:
        raise ConfigurationError(
            "No credentials: set access_token, managed_identity=true, client_secret or client_certificate_path "
            "(or the AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH environment variables).")
    missing = [name for name in ("tenant_id", "client_id") if not params.get(name)]
    if missing:
        raise ConfigurationError("%s required with %s (or AZURE_TENANT_ID / AZURE_CLIENT_ID)." % (
            " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
            "client_secret" if secret else "client_certificate_path"))
    credential = secret if secret else certificate_credential(cert_path, params.get("client_certificate_password"))
    return AppTokenProvider(params["client_id"], params["tenant_id"], credential, endpoints, http_client,
                            params.get("timeout"), on_token)
