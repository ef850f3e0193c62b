# SPDX-License-Identifier: GPL-3.0-or-later
"""The METHODS table drives the argspec, the auth_method choices and the auto order, so that a method cannot be
half-registered; and choose_auth() checks everything before a provider is built."""
from __future__ import annotations

import sys

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.auth._method_base import APP_IDENTIFIERS, SignInMethod
from ansible_collections.o365.outlook.plugins.module_utils.auth._methods import METHODS
from ansible_collections.o365.outlook.plugins.module_utils.auth._selection import AuthChoice, auth_options, choose_auth
from ansible_collections.o365.outlook.plugins.module_utils.auth._tokens import StaticTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
from ansible_collections.o365.outlook.plugins.module_utils.graph._endpoints import resolve_endpoints


def test_auth_method_choices_are_auto_then_the_table():
    assert auth_options()["auth_method"] == dict(type="str", choices=["auto"] + [m.name for m in METHODS], default="auto")


def test_documented_auto_order():
    assert [m.name for m in METHODS] == ["access_token", "managed_identity", "client_secret", "client_certificate"]


def test_every_option_of_every_method_is_in_the_argspec_as_declared():
    options = auth_options()
    declared = {"auth_method"} | {option for option, _variable, _what in APP_IDENTIFIERS}
    for method in METHODS:
        for option, spec in method.options.items():
            assert options[option] == spec, option
            declared.add(option)
    assert set(options) == declared  # nothing in the argspec that no method owns


def test_every_method_is_complete():
    names = [m.name for m in METHODS]
    assert len(set(names)) == len(names)
    all_options = [option for m in METHODS for option in m.options]
    assert len(set(all_options)) == len(all_options), "two methods declare the same option"
    for method in METHODS:
        assert isinstance(method, SignInMethod) and method.name and method.description
        assert type(method).prepare is not SignInMethod.prepare, method.name
        # Environment variables only for the method's own options, the main option first.
        assert all(option in method.options for option, _variable in method.variables)
        if method.variables:
            assert method.variables[0][0] == method.main_option


def test_credentials_have_no_log_and_no_argspec_fallback():
    options = auth_options()
    for option in ("access_token", "client_secret", "client_certificate_password"):
        assert options[option]["no_log"] is True
    for method in METHODS:
        for option in method.options:
            assert "fallback" not in options[option], option
    assert options["tenant_id"]["fallback"][1] == ["AZURE_TENANT_ID"]
    assert options["client_id"]["fallback"][1] == ["AZURE_CLIENT_ID"]


def test_auth_options_returns_fresh_entries():
    auth_options()["client_secret"]["no_log"] = False
    assert auth_options()["client_secret"]["no_log"] is True


def test_choose_auth_checks_without_building_a_provider(monkeypatch):
    monkeypatch.setitem(sys.modules, "msal", None)
    choice = choose_auth(dict(access_token="tok"), environ={})
    assert isinstance(choice, AuthChoice) and choice.method == "access_token"
    endpoints = resolve_endpoints(dict(cloud="global"))
    provider = choice.token_provider(endpoints, None)
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "tok"


@pytest.mark.parametrize("params, message", [
    (dict(client_secret="x", client_id="c"), "tenant_id is required with client_secret"),
    (dict(client_certificate_path="/nonexistent.pem", tenant_id="t", client_id="c"), "does not exist"),
    (dict(access_token="Bearer abc"), "without the scheme"),
    (dict(auth_method="client_secret"), "auth_method=client_secret needs client_secret"),
])
def test_choose_auth_refuses_bad_settings_before_any_provider(params, message):
    with pytest.raises(ConfigurationError, match=message):
        choose_auth(params, environ={})


def test_choose_auth_reads_the_given_environment_only():
    choice = choose_auth(dict(tenant_id="t", client_id="c"), environ={"AZURE_CLIENT_SECRET": "from-env"})
    assert choice.method == "client_secret"
    assert choice.credentials.sources == {"client_secret": "AZURE_CLIENT_SECRET"}
