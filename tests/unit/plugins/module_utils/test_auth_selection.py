# SPDX-License-Identifier: GPL-3.0-or-later
"""Which sign-in method a task uses (auth/_selection.py over auth/_methods.py): task beats environment, warnings
for several methods, explicit auth_method, orphan options, identifiers, access token checks."""
from __future__ import annotations

import sys
from urllib.parse import quote, quote_plus

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.o365.outlook.plugins.module_utils.auth._msal_tokens import AppTokenProvider, ManagedIdentityTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.auth._selection import auth_options, build_token_provider
from ansible_collections.o365.outlook.plugins.module_utils.auth._tokens import StaticTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_auth_certificates import make_certificate
# Shared fakes; clean_environment is an autouse fixture, fake_msal a fixture.
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_auth_tokens import (  # noqa: F401 pylint: disable=unused-import
    APP, ENDPOINTS, SECRET, clean_environment, fake_msal)


def test_access_token_wins_and_needs_no_msal(monkeypatch):
    monkeypatch.setitem(sys.modules, "msal", None)
    provider = build_token_provider(dict(APP, access_token="given"), ENDPOINTS, None)
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "given"
    assert provider.can_refresh is False


@pytest.mark.parametrize("params, message", [
    (dict(), "No credentials"),
    (dict(client_secret="x", client_id="c"), "tenant_id is required with client_secret"),
    (dict(client_secret="x"), "tenant_id and client_id are required"),
])
def test_missing_settings(params, message):
    with pytest.raises(ConfigurationError, match=message):
        build_token_provider(params, ENDPOINTS, None)


# ------------------------------------------------------------------------------------------ issue 8, defect 8

def _module_params(**task):
    """Parameters as AnsibleModule would see them: the sign-in argspec, its defaults and its env fallbacks."""
    result = ArgumentSpecValidator(dict(auth_options(), timeout=dict(type="float", default=30.0))).validate(task)
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
    from ansible_collections.o365.outlook.plugins.module_utils.auth._selection import select_credentials

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
