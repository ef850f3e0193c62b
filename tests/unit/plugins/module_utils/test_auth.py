# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import hashlib
import sys
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ansible_collections.o365.outlook.plugins.module_utils._auth import (
    AppTokenProvider, ManagedIdentityTokenProvider, StaticTokenProvider, build_token_provider, certificate_credential)
from ansible_collections.o365.outlook.plugins.module_utils._endpoints import resolve_endpoints
from ansible_collections.o365.outlook.plugins.module_utils._errors import (
    AuthenticationError, ConfigurationError, MissingLibraryError)

SECRET = "s3cr3t-value-never-shown"


class FakeMsal:
    """Stands in for the msal package: records constructor arguments and answers from a script."""

    def __init__(self, answers=None, raise_in_constructor=None):
        self.answers = list(answers or [{"access_token": "tok-1", "expires_in": 3599}])
        self.raise_in_constructor = raise_in_constructor
        self.constructed = []
        self.acquired = []
        self.removed = 0
        fake = self

        class MsalError(Exception):
            pass

        class App:
            def __init__(self, client_id, **kwargs):
                if fake.raise_in_constructor:
                    raise fake.raise_in_constructor
                fake.constructed.append(dict(client_id=client_id, **kwargs))

            def acquire_token_for_client(self, scopes=None, resource=None):
                fake.acquired.append(dict(scopes=scopes, resource=resource))
                return fake.answers.pop(0)

            def remove_tokens_for_client(self):
                fake.removed += 1

        class ManagedIdentityClient(App):
            def __init__(self, identity, **kwargs):  # pylint: disable=super-init-not-called
                fake.constructed.append(dict(identity=identity, **kwargs))

        self.module = types.SimpleNamespace(
            ConfidentialClientApplication=App,
            ManagedIdentityClient=ManagedIdentityClient,
            SystemAssignedManagedIdentity=lambda: ("system",),
            UserAssignedManagedIdentity=lambda client_id: ("user", client_id),
            TokenCache=lambda: "fresh-cache",
            exceptions=types.SimpleNamespace(MsalError=MsalError),
        )


@pytest.fixture
def fake_msal(monkeypatch):
    def install(**kwargs):
        fake = FakeMsal(**kwargs)
        monkeypatch.setitem(sys.modules, "msal", fake.module)
        return fake
    return install


ENDPOINTS = resolve_endpoints(dict(cloud="usgov", authority_host="https://127.0.0.1:9999"))
APP = dict(tenant_id="contoso", client_id="app-id", client_secret=SECRET, timeout=12.0)


def test_secret_flow_arguments_and_single_fetch(fake_msal):
    fake = fake_msal()
    seen = []
    provider = build_token_provider(APP, ENDPOINTS, "http-client", on_token=seen.append)
    assert provider.token() == "tok-1"
    assert provider.token() == "tok-1"  # cached for the run
    (ctor,) = fake.constructed
    assert ctor["client_credential"] == SECRET
    assert ctor["authority"] == "https://127.0.0.1:9999/contoso"
    assert ctor["instance_discovery"] is False and ctor["azure_region"] is False
    assert ctor["http_client"] == "http-client" and ctor["timeout"] == 12.0
    assert fake.acquired == [dict(scopes=["https://graph.microsoft.us/.default"], resource=None)]
    assert seen == ["tok-1"]


def test_refresh_drops_cached_token(fake_msal):
    fake = fake_msal(answers=[{"access_token": "tok-1"}, {"access_token": "tok-2"}])
    provider = build_token_provider(APP, ENDPOINTS, None)
    provider.token()
    provider.refresh()
    assert provider.token() == "tok-2" and fake.removed == 1


def test_aadsts_error_is_explained_without_the_secret(fake_msal):
    fake_msal(answers=[{"error": "invalid_client", "error_codes": [7000215], "correlation_id": "corr-9",
                        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x\r\nCorrelation ID: corr-9"}])
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    error = caught.value
    assert "AADSTS7000215: Invalid client secret provided." in error.msg
    assert "check client_secret" in error.msg
    assert "Trace ID" not in error.msg
    assert SECRET not in str(error.fail_kwargs())
    assert error.fail_kwargs()["auth_error_codes"] == [7000215]
    assert error.fail_kwargs()["correlation_id"] == "corr-9"


def test_connection_failure_in_constructor(fake_msal):
    fake_msal(raise_in_constructor=OSError("Connection refused"))
    with pytest.raises(AuthenticationError, match="OSError: Connection refused"):
        build_token_provider(APP, ENDPOINTS, None).token()


def test_missing_msal_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "msal", None)
    with pytest.raises(MissingLibraryError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert caught.value.library == "msal"


def test_access_token_wins_and_needs_no_msal(monkeypatch):
    monkeypatch.setitem(sys.modules, "msal", None)
    provider = build_token_provider(dict(APP, access_token="given"), ENDPOINTS, None)
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "given"
    assert provider.can_refresh is False


def test_managed_identity_system_and_user_assigned(fake_msal):
    fake = fake_msal(answers=[{"access_token": "mi-1"}, {"access_token": "mi-2"}])
    system = build_token_provider(dict(managed_identity=True, client_secret=SECRET), ENDPOINTS, "hc")
    assert isinstance(system, ManagedIdentityTokenProvider) and system.token() == "mi-1"
    user = build_token_provider(dict(managed_identity=True, managed_identity_client_id="uami"), ENDPOINTS, "hc")
    assert user.token() == "mi-2"
    assert [c["identity"] for c in fake.constructed] == [("system",), ("user", "uami")]
    assert fake.acquired[0]["resource"] == "https://graph.microsoft.us"


@pytest.mark.parametrize("params, message", [
    (dict(), "No credentials"),
    (dict(client_secret="x", client_id="c"), "tenant_id is required with client_secret"),
    (dict(client_secret="x"), "tenant_id and client_id are required"),
])
def test_missing_settings(params, message):
    with pytest.raises(ConfigurationError, match=message):
        build_token_provider(params, ENDPOINTS, None)


def make_certificate(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return key_pem, cert_pem, hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_pem_with_key_and_certificate(tmp_path):
    key_pem, cert_pem, thumbprint = make_certificate(tmp_path)
    path = tmp_path / "app.pem"
    path.write_bytes(cert_pem + key_pem)  # order does not matter
    credential = certificate_credential(str(path), "pw")
    assert credential["thumbprint"] == thumbprint
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert credential["passphrase"] == "pw"


def test_pem_without_key_is_refused(tmp_path):
    cert_pem = make_certificate(tmp_path)[1]
    path = tmp_path / "cert-only.pem"
    path.write_bytes(cert_pem)
    with pytest.raises(ConfigurationError, match="found 0 key"):
        certificate_credential(str(path), None)


def test_pfx_is_left_to_msal(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(b"\x30\x82binary-pkcs12")
    assert certificate_credential(str(path), "pw") == {"private_key_pfx_path": str(path), "passphrase": "pw"}


def test_missing_certificate_file():
    with pytest.raises(ConfigurationError, match="does not exist"):
        certificate_credential("/nonexistent/app.pem", None)


def test_certificate_used_when_no_secret(fake_msal, tmp_path):
    key_pem, cert_pem = make_certificate(tmp_path)[:2]
    path = tmp_path / "app.pem"
    path.write_bytes(key_pem + cert_pem)
    fake = fake_msal()
    provider = build_token_provider(dict(tenant_id="t", client_id="c", client_certificate_path=str(path)), ENDPOINTS, None)
    assert isinstance(provider, AppTokenProvider)
    provider.token()
    assert "thumbprint" in fake.constructed[0]["client_credential"]


@pytest.mark.parametrize("error, hint", [
    (ValueError("Unable to get authority configuration for https://login.example/nosuchtenant"), "check tenant_id"),
    (OSError("HTTPSConnectionPool: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "set ca_path"),
])
def test_constructor_failures_get_hints(fake_msal, error, hint):
    fake_msal(raise_in_constructor=error)
    with pytest.raises(AuthenticationError, match=hint):
        build_token_provider(APP, ENDPOINTS, None).token()


def test_managed_identity_off_azure_says_where_it_works(fake_msal):
    fake = fake_msal()

    def off_azure(*args, **kwargs):
        raise ValueError("Expecting value: line 1 column 1 (char 0)")
    fake.module.ManagedIdentityClient = off_azure
    with pytest.raises(AuthenticationError, match="only exists on Azure hosts"):
        build_token_provider(dict(managed_identity=True), ENDPOINTS, None).token()
