# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import hashlib
import json
import sys
import threading
import time
import types
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.o365.outlook.plugins.module_utils.module._options import connection_argument_spec
from ansible_collections.o365.outlook.plugins.module_utils.auth._auth import (
    AppTokenProvider, ManagedIdentityTokenProvider, StaticTokenProvider, build_token_provider, certificate_credential)
from ansible_collections.o365.outlook.plugins.module_utils.graph._endpoints import resolve_endpoints
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import (
    AuthenticationError, ConfigurationError, MissingLibraryError)
from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor

SECRET = "s3cr3t-value-never-shown"
CREDENTIAL_VARIABLES = ("O365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                        "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The build machine's own variables must not decide these tests."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class FakeMsal:
    """Stands in for the msal package: records constructor arguments and answers from a script."""

    def __init__(self, answers=None, raise_in_constructor=None, delay=0.0):
        self.answers = list(answers or [{"access_token": "tok-1", "expires_in": 3599}])
        self.raise_in_constructor = raise_in_constructor
        # A slow token endpoint widens the window in which unsynchronised callers would each fetch.
        self.delay = delay
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
                time.sleep(fake.delay)
                fake.constructed.append(dict(client_id=client_id, **kwargs))

            def acquire_token_for_client(self, scopes=None, resource=None):
                fake.acquired.append(dict(scopes=scopes, resource=resource))
                time.sleep(fake.delay)
                return fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]

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
    redactor = Redactor()
    provider = build_token_provider(APP, ENDPOINTS, "http-client", redactor=redactor)
    assert provider.token() == "tok-1"
    assert provider.token() == "tok-1"  # cached for the run
    (ctor,) = fake.constructed
    assert ctor["client_credential"] == SECRET
    assert ctor["authority"] == "https://127.0.0.1:9999/contoso"
    assert ctor["instance_discovery"] is False and ctor["azure_region"] is False
    assert ctor["http_client"] == "http-client" and ctor["timeout"] == 12.0
    assert fake.acquired == [dict(scopes=["https://graph.microsoft.us/.default"], resource=None)]
    # The token and the task's secret are masked in any text from now on.
    assert redactor.redact("got tok-1 with %s" % SECRET) == "got %s with %s" % (MASK, MASK)


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
    credential = certificate_credential(str(path), None)
    assert credential["thumbprint"] == thumbprint
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "passphrase" not in credential


def test_pem_without_key_is_refused(tmp_path):
    cert_pem = make_certificate(tmp_path)[1]
    path = tmp_path / "cert-only.pem"
    path.write_bytes(cert_pem)
    with pytest.raises(ConfigurationError, match="found 0 key"):
        certificate_credential(str(path), None)


def test_pfx_is_left_to_msal(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pw"))
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


# ------------------------------------------------------------------------------------------ issue 8, defect 7

def _together(count, work):
    """Runs work() in count threads released at the same moment; returns their results and exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = work()
        except Exception as exc:  # pylint: disable=broad-except
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_regression_concurrent_first_calls_fetch_one_token(fake_msal):
    """issue 8 defect 7: sixteen workers starting together made several token requests and several msal apps."""
    fake = fake_msal(answers=[{"access_token": "tok-%d" % i} for i in range(1, 20)], delay=0.05)
    provider = build_token_provider(APP, ENDPOINTS, None)
    results = _together(16, provider.token)
    assert results == ["tok-1"] * 16
    assert len(fake.constructed) == 1
    assert len(fake.acquired) == 1


def test_concurrent_refreshes_are_serialised(fake_msal):
    fake = fake_msal(answers=[{"access_token": "tok-%d" % i} for i in range(1, 20)], delay=0.02)
    provider = build_token_provider(APP, ENDPOINTS, None)
    provider.token()
    # Each refresh() is a forced fetch; the lock keeps them one at a time, so token() never sees None.
    results = _together(4, lambda: (provider.refresh(), provider.token())[1])
    assert all(isinstance(r, str) and r.startswith("tok-") for r in results)
    assert len(fake.constructed) == 1 and len(fake.acquired) == 5 and fake.removed == 4


def test_a_failed_fetch_is_not_repeated_by_every_worker(fake_msal):
    fake = fake_msal(answers=[{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}],
                     delay=0.02)
    provider = build_token_provider(APP, ENDPOINTS, None)
    results = _together(8, provider.token)
    assert all(isinstance(r, AuthenticationError) and "AADSTS7000215" in r.msg for r in results)
    assert len(fake.acquired) == 1


# ------------------------------------------------------------------------------------------ issue 8, defect 8

def _module_params(**task):
    """Parameters as AnsibleModule would see them: the shared argspec, its defaults and its env fallbacks."""
    result = ArgumentSpecValidator(connection_argument_spec()).validate(task)
    assert result.error_messages == []
    return result.validated_parameters


def test_regression_task_secret_beats_stale_environment_token(fake_msal, monkeypatch):
    """issue 8 defect 8: a stale O365_ACCESS_TOKEN in the environment overrode a client_secret written in the task."""
    monkeypatch.setenv("O365_ACCESS_TOKEN", "stale-token-from-yesterday")
    fake = fake_msal()
    provider = build_token_provider(_module_params(**APP), ENDPOINTS, None)
    assert isinstance(provider, AppTokenProvider)
    assert provider.token() == "tok-1"
    assert fake.constructed[0]["client_credential"] == SECRET


def test_a_task_credential_with_environment_credentials_does_not_warn(fake_msal, monkeypatch):
    monkeypatch.setenv("O365_ACCESS_TOKEN", "stale-token-from-yesterday")
    warnings = []
    build_token_provider(_module_params(**APP), ENDPOINTS, None, warn=warnings.append)
    assert warnings == []  # the environment is simply not consulted


def test_regression_task_certificate_beats_environment_secret(fake_msal, monkeypatch, tmp_path):
    """issue 8 defect 8: AZURE_CLIENT_SECRET in the environment overrode a task's client_certificate_path."""
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret-value")
    path = tmp_path / "app.pem"
    key_pem, cert_pem = make_certificate(tmp_path)[:2]
    path.write_bytes(key_pem + cert_pem)
    fake = fake_msal()
    params = _module_params(tenant_id="t", client_id="c", client_certificate_path=str(path))
    build_token_provider(params, ENDPOINTS, None).token()
    assert isinstance(fake.constructed[0]["client_credential"], dict)
    assert "thumbprint" in fake.constructed[0]["client_credential"]


def test_argspec_has_no_fallback_on_credentials_but_keeps_identifiers(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret-value")
    monkeypatch.setenv("O365_ACCESS_TOKEN", "env-token")
    monkeypatch.setenv("AZURE_TENANT_ID", "env-tenant")
    monkeypatch.setenv("AZURE_CLIENT_ID", "env-client")
    params = _module_params()
    assert params["client_secret"] is None and params["access_token"] is None
    assert params["tenant_id"] == "env-tenant" and params["client_id"] == "env-client"
    assert params["auth_method"] == "auto"


def test_environment_is_used_when_the_task_gives_no_credential(fake_msal, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret-value")
    fake = fake_msal()
    redactor = Redactor()
    build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, None, redactor=redactor).token()
    assert fake.constructed[0]["client_credential"] == "env-secret-value"
    assert redactor.redact("env-secret-value") == MASK


def test_environment_order_and_warning_without_values(fake_msal, monkeypatch):
    monkeypatch.setenv("O365_ACCESS_TOKEN", "env-token-value")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret-value")
    warnings = []
    redactor = Redactor()
    provider = build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, None, redactor=redactor,
                                    warn=warnings.append)
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "env-token-value"
    (warning,) = warnings
    assert "using O365_ACCESS_TOKEN" in warning and "ignoring AZURE_CLIENT_SECRET" in warning
    assert "env-token-value" not in warning and "env-secret-value" not in warning
    # Both were read, so both are masked, even the one not used.
    assert redactor.redact("env-token-value env-secret-value") == MASK + " " + MASK


def test_two_methods_in_the_task_warn_and_name_the_one_used(fake_msal):
    warnings = []
    provider = build_token_provider(dict(APP, access_token="task-token-value"), ENDPOINTS, None, warn=warnings.append)
    assert isinstance(provider, StaticTokenProvider)
    (warning,) = warnings
    assert "using access_token" in warning and "ignoring client_secret" in warning and "auth_method" in warning
    assert SECRET not in warning and "task-token-value" not in warning


def test_managed_identity_in_the_task_beats_a_secret_in_the_task(fake_msal):
    warnings = []
    provider = build_token_provider(dict(APP, managed_identity=True), ENDPOINTS, None, warn=warnings.append)
    assert isinstance(provider, ManagedIdentityTokenProvider)
    assert "using managed_identity=true, ignoring client_secret" in warnings[0]


def test_explicit_auth_method_uses_only_that_method(fake_msal, monkeypatch):
    monkeypatch.setenv("O365_ACCESS_TOKEN", "env-token")
    fake = fake_msal()
    warnings = []
    params = dict(tenant_id="t", client_id="c", auth_method="client_secret", access_token="task-token")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret")
    build_token_provider(params, ENDPOINTS, None, warn=warnings.append).token()
    assert fake.constructed[0]["client_credential"] == "env-secret"
    assert warnings == []


def test_explicit_access_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("O365_ACCESS_TOKEN", "env-token")
    provider = build_token_provider(dict(APP, auth_method="access_token"), ENDPOINTS, None)
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "env-token"


def test_explicit_managed_identity_without_the_flag(fake_msal):
    provider = build_token_provider(dict(auth_method="managed_identity", managed_identity_client_id="uami"), ENDPOINTS, None)
    assert isinstance(provider, ManagedIdentityTokenProvider) and provider.client_id == "uami"


@pytest.mark.parametrize("method, option, variable", [
    ("access_token", "access_token", "O365_ACCESS_TOKEN"),
    ("client_secret", "client_secret", "AZURE_CLIENT_SECRET"),
    ("client_certificate", "client_certificate_path", "AZURE_CLIENT_CERTIFICATE_PATH"),
])
def test_explicit_auth_method_missing_its_credential(method, option, variable):
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(dict(tenant_id="t", client_id="c", auth_method=method, managed_identity=True), ENDPOINTS, None)
    assert "auth_method=%s needs %s" % (method, option) in caught.value.msg
    assert variable in caught.value.msg


def test_task_secrets_are_registered_in_every_form(fake_msal):
    redactor = Redactor()
    build_token_provider(dict(APP, client_secret="a+b/c=d e"), ENDPOINTS, None, redactor=redactor)
    for form in ("a+b/c=d e", quote("a+b/c=d e", safe=""), quote_plus("a+b/c=d e")):
        assert redactor.redact("x%sx" % form) == "x%sx" % MASK


@pytest.mark.parametrize("params, message", [
    (dict(APP, managed_identity_client_id="uami"), "managed_identity_client_id is only used with a managed identity"),
    (dict(APP, client_certificate_password="pw"), "client_certificate_password is only used with a client certificate"),
    (dict(access_token="tok", client_certificate_password="pw"), "set client_certificate_path"),
])
def test_options_without_their_method_are_refused(params, message):
    with pytest.raises(ConfigurationError, match=message):
        build_token_provider(params, ENDPOINTS, None)


def test_qualifying_options_of_an_ignored_method_only_warn(fake_msal, tmp_path):
    # The certificate is in the task but loses to the secret: its password goes with it, with a warning.
    warnings = []
    provider = build_token_provider(dict(APP, client_certificate_path="/nonexistent.pem", client_certificate_password="pw"),
                                    ENDPOINTS, None, warn=warnings.append)
    assert isinstance(provider, AppTokenProvider) and provider.credential == SECRET
    assert "ignoring client_certificate_path" in warnings[0]


def test_unknown_auth_method():
    from ansible_collections.o365.outlook.plugins.module_utils.auth._auth import select_credentials

    with pytest.raises(ConfigurationError, match="auth_method must be one of"):
        select_credentials(dict(auth_method="kerberos"))


@pytest.mark.parametrize("name, value", [("tenant_id", "contoso.com/extra"), ("client_id", "app id")])
def test_identifiers_are_checked(name, value):
    with pytest.raises(ConfigurationError, match="%s .* is not valid" % name):
        build_token_provider(dict(APP, **{name: value}), ENDPOINTS, None)


@pytest.mark.parametrize("token, message", [
    ("Bearer abc", "without the scheme"),
    ("abc def", "white space"),
    ("   ", "is empty"),
])
def test_bad_access_tokens_are_refused_before_any_request(token, message):
    with pytest.raises(ConfigurationError, match=message):
        build_token_provider(dict(access_token=token), ENDPOINTS, None)


def test_access_token_is_stripped_and_masked():
    redactor = Redactor()
    provider = build_token_provider(dict(access_token=" tok-value\n"), ENDPOINTS, None, redactor=redactor)
    assert provider.token() == "tok-value"
    assert redactor.redact("Bearer tok-value") == "Bearer " + MASK


# ------------------------------------------------------------------------------------------ issue 8, defect 9

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_pem(tmp_path, key=None, password=None, cert_key=None, name="app.pem", traditional=False):
    """A PEM file with key (encrypted with password if given) and a certificate for cert_key (default: key)."""
    key = key or _RSA_KEY
    signer = cert_key or key
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(signer.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(signer, algorithm))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, key_format, encryption)
                     + cert.public_bytes(serialization.Encoding.PEM))
    return str(path), cert


def make_pfx(password, key=None):
    key = key or _RSA_KEY
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(8).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"app", key, cert, None, encryption)


def _cert_params(path, password=None):
    params = dict(tenant_id="t", client_id="c", client_certificate_path=path)
    if password is not None:
        params["client_certificate_password"] = password
    return params


def test_regression_password_for_an_unencrypted_pem(tmp_path):
    """issue 8 defect 9: a password for an unencrypted PEM key gave an uncaught TypeError inside msal."""
    path = make_pem(tmp_path)[0]
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(_cert_params(path, "needless-pw"), ENDPOINTS, None)
    assert "client_certificate_password is set, but the private key" in caught.value.msg
    assert "not encrypted: remove client_certificate_password" in caught.value.msg
    assert "needless-pw" not in caught.value.msg


@pytest.mark.parametrize("make_key, kind", [
    (lambda: ec.generate_private_key(ec.SECP256R1()), "EC"),
    (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
])
def test_regression_key_that_is_not_rsa(tmp_path, make_key, kind):
    """issue 8 defect 9: an EC key made msal raise a bare TypeError while signing the assertion."""
    path = make_pem(tmp_path, key=make_key())[0]
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(_cert_params(path), ENDPOINTS, None)
    assert "is an %s key" % kind in caught.value.msg
    assert "need an RSA key" in caught.value.msg


@pytest.mark.parametrize("traditional", [False, True])
def test_encrypted_pem_without_password(tmp_path, traditional):
    path = make_pem(tmp_path, password=b"right-pw", traditional=traditional)[0]
    with pytest.raises(ConfigurationError, match="is encrypted: set client_certificate_password"):
        build_token_provider(_cert_params(path), ENDPOINTS, None)


def test_encrypted_pem_with_a_wrong_password(tmp_path):
    path = make_pem(tmp_path, password=b"right-pw")[0]
    with pytest.raises(ConfigurationError, match="client_certificate_password does not decrypt the private key"):
        build_token_provider(_cert_params(path, "wrong-pw"), ENDPOINTS, None)


def test_encrypted_pem_with_the_right_password(tmp_path, fake_msal):
    fake_msal()
    path, cert = make_pem(tmp_path, password=b"right-pw")
    provider = build_token_provider(_cert_params(path, "right-pw"), ENDPOINTS, None)
    assert provider.credential["passphrase"] == "right-pw"
    assert provider.credential["thumbprint"] == hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_key_that_does_not_match_the_certificate(tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = make_pem(tmp_path, cert_key=other)[0]
    with pytest.raises(ConfigurationError, match="does not belong to its certificate"):
        build_token_provider(_cert_params(path), ENDPOINTS, None)


def test_the_certificate_of_the_key_is_picked_from_a_chain(tmp_path):
    # A file with an unrelated certificate first (a CA, say) and the key's own certificate second.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    own_path, own_cert = make_pem(tmp_path, name="own.pem")
    other_path = make_pem(tmp_path, key=other, name="other.pem")[0]
    with open(other_path, "rb") as handle:
        other_cert_pem = handle.read().split(b"-----END PRIVATE KEY-----\n")[1]
    with open(own_path, "rb") as handle:
        key_pem, own_cert_pem = handle.read().split(b"-----END PRIVATE KEY-----\n")
    path = tmp_path / "chain.pem"
    path.write_bytes(key_pem + b"-----END PRIVATE KEY-----\n" + other_cert_pem + own_cert_pem)
    credential = certificate_credential(str(path), None)
    assert credential["thumbprint"] == hashlib.sha1(own_cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_pfx_with_a_wrong_password(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pfx-pass"))
    with pytest.raises(ConfigurationError, match="client_certificate_password does not open the PKCS#12 file"):
        build_token_provider(_cert_params(str(path), "not-the-password"), ENDPOINTS, None)


def test_pfx_password_for_an_unprotected_file(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(None))
    with pytest.raises(ConfigurationError, match="has no password: remove client_certificate_password"):
        build_token_provider(_cert_params(str(path), "pw"), ENDPOINTS, None)


def test_protected_pfx_without_password(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pfx-pass"))
    with pytest.raises(ConfigurationError, match="set client_certificate_password if it has one"):
        build_token_provider(_cert_params(str(path)), ENDPOINTS, None)


def test_certificate_problems_name_the_environment_variables(tmp_path, monkeypatch):
    path = make_pem(tmp_path)[0]
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", path)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "stale-pw")
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, None)
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD is set" in caught.value.msg
    assert "AZURE_CLIENT_CERTIFICATE_PATH %s" % path in caught.value.msg


def test_deep_checks_are_skipped_without_cryptography(tmp_path, monkeypatch):
    path = make_pem(tmp_path, password=b"pw")[0]
    for name in ("cryptography", "cryptography.hazmat.primitives.serialization"):
        monkeypatch.setitem(sys.modules, name, None)
    credential = certificate_credential(path, None)
    assert credential["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


# ------------------------------------------------------------------------------------------ issue 8, defect 10

def _discovery(authority):
    return {"token_endpoint": authority + "/oauth2/v2.0/token", "issuer": authority + "/v2.0",
            "authorization_endpoint": authority + "/oauth2/v2.0/authorize"}


class EchoingTokenEndpoint:
    """An msal http_client whose token endpoint echoes the whole form (and the Basic header) in error_description,
    padded so that the secret straddles a 300-character cut."""

    def __init__(self, pad=260):
        self.pad = pad
        self.forms = []

    @staticmethod
    def _answer(status, body):
        return types.SimpleNamespace(status_code=status, text=json.dumps(body), headers={},
                                     raise_for_status=lambda: None)

    def get(self, url, **kwargs):
        return self._answer(200, _discovery(url.split("/v2.0/.well-known")[0]))

    def post(self, url, data=None, headers=None, **kwargs):
        self.forms.append(data)
        echo = "x" * self.pad + " " + urlencode(data) + " auth=" + (headers or {}).get("Authorization", "")
        return self._answer(401, {"error": "invalid_client", "error_codes": [7000215],
                                  "error_description": "AADSTS7000215: bad form " + echo + "\r\nTrace ID: t"})


HOSTILE_SECRET = "Zq8~s3cr3t+with/special=chars&more"


@pytest.mark.parametrize("pad", [0, 260, 283])
def test_regression_token_endpoint_echo_shows_no_form_of_the_secret(pad):
    """issue 8 defect 10: a token endpoint that echoes the form showed the URL-encoded secret (and a 300-character
    cut could leave its first characters)."""
    echo = EchoingTokenEndpoint(pad)
    provider = build_token_provider(dict(APP, client_secret=HOSTILE_SECRET), ENDPOINTS, echo)
    with pytest.raises(AuthenticationError) as caught:
        provider.token()
    assert echo.forms and echo.forms[0]["client_secret"] == HOSTILE_SECRET  # real msal really sent it
    shown = json.dumps(caught.value.fail_kwargs()) + caught.value.msg
    for form in (HOSTILE_SECRET, quote(HOSTILE_SECRET, safe=""), quote_plus(HOSTILE_SECRET), HOSTILE_SECRET[:8],
                 quote_plus(HOSTILE_SECRET)[:8]):
        assert form not in shown
    assert "AADSTS7000215" in caught.value.msg


def test_secret_from_the_environment_is_masked_in_errors(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", HOSTILE_SECRET)
    provider = build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, EchoingTokenEndpoint(0))
    with pytest.raises(AuthenticationError) as caught:
        provider.token()
    assert quote_plus(HOSTILE_SECRET) not in caught.value.msg and HOSTILE_SECRET not in caught.value.msg
    assert MASK in caught.value.msg


def test_request_failure_is_redacted_before_it_is_cut(fake_msal):
    fake_msal(raise_in_constructor=OSError("y" * 290 + quote_plus(SECRET)))
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert quote_plus(SECRET)[:6] not in caught.value.msg and MASK in caught.value.msg


# ------------------------------------------------------------------------------------------ token answers

@pytest.mark.parametrize("answer, message", [
    ({"access_token": None}, "access_token is a JSON NoneType, not a string"),
    ({"access_token": 42}, "access_token is a JSON int, not a string"),
    ({"access_token": ["a"]}, "access_token is a JSON list"),
    ({"access_token": ""}, "access_token is empty"),
    ({"access_token": "a b"}, "white space or control characters"),
    ({"token_type": "Bearer"}, "no access_token in the answer"),
    ({"error": 5, "error_codes": "7000215", "error_description": {"x": 1}, "correlation_id": []}, "no access_token"),
    ({"error_codes": [[1], {"a": 1}, True, 700016]}, "check client_id and tenant_id"),
    (["not", "an", "object"], "not an object"),
])
def test_malformed_token_answers_are_authentication_errors(fake_msal, answer, message):
    fake_msal(answers=[answer])
    with pytest.raises(AuthenticationError, match=message) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert json.dumps(caught.value.fail_kwargs())  # plain data only


def test_managed_identity_answer_without_token(fake_msal):
    fake_msal(answers=[{"access_token": ""}])
    with pytest.raises(AuthenticationError, match="managed identity: the answer's access_token is empty"):
        build_token_provider(dict(managed_identity=True), ENDPOINTS, None).token()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
                     max_leaves=12)
_ANSWER_KEYS = st.sampled_from(["access_token", "error", "error_description", "error_codes", "correlation_id", "x"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_JSON | st.dictionaries(_ANSWER_KEYS, _JSON, max_size=5))
def test_property_any_token_answer_gives_a_token_or_an_authentication_error(fake_msal, answer):
    fake_msal(answers=[answer])
    try:
        token = build_token_provider(APP, ENDPOINTS, None).token()
    except AuthenticationError as exc:
        assert isinstance(exc.msg, str)
        json.dumps(exc.fail_kwargs())
    else:
        assert isinstance(token, str) and token.strip()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.text(max_size=400), after=st.text(max_size=50),
       encode=st.sampled_from([lambda v: v, quote_plus, lambda v: quote(v, safe=""), lambda v: json.dumps(v)[1:-1]]))
def test_property_an_echoed_secret_never_shows(fake_msal, before, after, encode):
    fake_msal(answers=[{"error": "invalid_client", "error_description": before + encode(HOSTILE_SECRET) + after}])
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(dict(APP, client_secret=HOSTILE_SECRET), ENDPOINTS, None).token()
    shown = caught.value.msg + json.dumps(caught.value.fail_kwargs())
    assert HOSTILE_SECRET not in shown and quote_plus(HOSTILE_SECRET) not in shown
