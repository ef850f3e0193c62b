# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""What every sign-in method shares, so that each method in _methods.py only says what is its own.

A method declares its name, its options (the first one is the one that says "this method"), the environment
variables of its options, and how it turns checked values into a token provider. The app registration methods
(secret, certificate) also share the tenant_id and client_id checks.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..common._errors import ConfigurationError
from ..common._redact import Redactor
from ._msal_tokens import AppTokenProvider
from ._tokens import TokenProvider

# Builds the provider once the endpoints and the token endpoint's HTTP client are known: (endpoints, http_client).
ProviderFactory = Callable[[Any, Any], TokenProvider]

# The app registration's identifiers, as (option, environment variable, what a valid value is).
APP_IDENTIFIERS = (
    ("tenant_id", "AZURE_TENANT_ID", "tenant ID (a GUID) or a verified domain"),
    ("client_id", "AZURE_CLIENT_ID", "application (client) ID"),
)
_IDENTIFIER_BAD = re.compile(r"[\s/?#\\]")


def given(value: Any) -> bool:
    """A credential counts as given when it is set and not an empty string (the role passes omit for empty)."""
    return value is not None and value != "" and value is not False


class Credentials:
    """The chosen method, its option values, and where each came from ("task" or the environment variable)."""

    def __init__(self, method: str, values: Dict[str, Any], sources: Dict[str, str]) -> None:
        self.method = method
        self.values = values
        self.sources = sources

    def name(self, option: str) -> str:
        """How a message names option: the option, or 'VARIABLE' when the environment supplied it."""
        source = self.sources.get(option)
        return source if source and source != "task" else option


class SignInMethod:
    """One way to sign in. Subclasses set the class attributes and implement prepare()."""

    name = ""
    # What it is, for messages about an option set without its method: "a client certificate".
    description = ""
    # Argspec entries; the first is the main option, whose value in the task means "this method".
    options: Mapping[str, Dict[str, Any]] = {}
    # (option, environment variable) for the options that fall back to the environment, the main option first.
    variables: Tuple[Tuple[str, str], ...] = ()

    @property
    def main_option(self) -> str:
        return next(iter(self.options))

    @property
    def main_variable(self) -> Optional[str]:
        return dict(self.variables).get(self.main_option)

    @property
    def qualifiers(self) -> List[str]:
        """The options that only qualify the method (a password, an identity's client ID)."""
        return list(self.options)[1:]

    @property
    def secret_options(self) -> List[str]:
        return [option for option, spec in self.options.items() if spec.get("no_log")]

    def label(self, from_environment: bool = False) -> str:
        """How warnings and errors name the method: as it is set in the task, or by its environment variable."""
        if from_environment:
            return "%s (%s)" % (self.main_variable, self.name)
        return self.main_option

    def given_in(self, params: Mapping[str, Any]) -> bool:
        """Whether the task itself (arguments or module_defaults) asks for this method."""
        return given(params.get(self.main_option))

    def prepare(self, credentials: Credentials, params: Mapping[str, Any], redactor: Redactor) -> ProviderFactory:
        """Checks everything this method needs without any request; returns how to build its token provider."""
        raise NotImplementedError


def check_app_identifiers(params: Mapping[str, Any], method_label: str) -> None:
    """tenant_id and client_id are set and look like identifiers (they go into the authority URL)."""
    if not any(given(params.get(option)) for option, _variable, _what in APP_IDENTIFIERS):
        raise ConfigurationError("tenant_id and client_id are required with %s: set them in the task, or the "
                                 "AZURE_TENANT_ID and AZURE_CLIENT_ID environment variables." % method_label)
    for option, variable, what in APP_IDENTIFIERS:
        value = params.get(option)
        if not given(value):
            raise ConfigurationError("%s is required with %s: set it in the task, or the %s environment variable." % (
                option, method_label, variable))
        if not isinstance(value, str) or _IDENTIFIER_BAD.search(value):
            raise ConfigurationError("%s %r is not valid: give the %s without spaces, slashes or URL parts." % (
                option, value, what))


class AppRegistrationMethod(SignInMethod):
    """The client credentials flow of an app registration; subclasses say what the credential is."""

    def credential(self, credentials: Credentials) -> Any:
        """msal's client_credential, checked."""
        raise NotImplementedError

    def prepare(self, credentials: Credentials, params: Mapping[str, Any], redactor: Redactor) -> ProviderFactory:
        check_app_identifiers(params, self.main_option)
        credential = self.credential(credentials)
        client_id, tenant_id, timeout = params["client_id"], params["tenant_id"], params.get("timeout")

        def build(endpoints: Any, http_client: Any) -> TokenProvider:
            return AppTokenProvider(client_id, tenant_id, credential, endpoints, http_client, timeout, redactor)
        return build
