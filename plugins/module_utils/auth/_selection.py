# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Which sign-in method a task uses, chosen from the METHODS table, and every check of it before any request.

The rules (documented under auth_method): an explicit auth_method uses only that method, each of its options from
the task, else from its environment variable. With auth_method=auto the credentials given in the task decide, in
the table's order, and the environment is read only when the task gives none. The credential options have no
argspec fallback on purpose: a stale variable in the environment must never beat what a task says.

Every secret read from the environment is registered with the run's Redactor, whether or not it ends up used.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible.module_utils.basic import env_fallback

from ..common._errors import ConfigurationError
from ..common._redact import Redactor
from ._method_base import APP_IDENTIFIERS, Credentials, ProviderFactory, SignInMethod, given
from ._methods import METHODS
from ._tokens import TokenProvider

Warn = Optional[Callable[[str], None]]

AUTH_METHODS = ("auto",) + tuple(method.name for method in METHODS)
_BY_NAME = {method.name: method for method in METHODS}
SECRET_OPTIONS = tuple(option for method in METHODS for option in method.secret_options)
_SECRET_VARIABLES = frozenset(variable for method in METHODS for option, variable in method.variables if option in SECRET_OPTIONS)


def auth_options() -> Dict[str, Dict[str, Any]]:
    """The argspec entries of auth_method, the app registration's identifiers and every method's options.

    Only the identifiers fall back to the environment here; the credentials' variables are read by choose_auth.
    """
    options: Dict[str, Dict[str, Any]] = dict(auth_method=dict(type="str", choices=list(AUTH_METHODS), default="auto"))
    for option, variable, _what in APP_IDENTIFIERS:
        options[option] = dict(type="str", fallback=(env_fallback, [variable]))
    for method in METHODS:
        for option, spec in method.options.items():
            options[option] = dict(spec)
    return options


class AuthChoice:
    """The sign-in method a task uses, with every setting checked; token_provider() builds its provider."""

    def __init__(self, credentials: Credentials, factory: ProviderFactory) -> None:
        self.method = credentials.method
        self.credentials = credentials
        self._factory = factory

    def token_provider(self, endpoints: Any, http_client: Any) -> TokenProvider:
        """The method's token provider; it sends nothing until its first token() call."""
        return self._factory(endpoints, http_client)


def choose_auth(params: Mapping[str, Any], redactor: Optional[Redactor] = None, warn: Warn = None,
                environ: Optional[Mapping[str, str]] = None) -> AuthChoice:
    """The method for these options (see the module docs, auth_method), checked without any request.

    params: the module's parameters; the app registration's provider uses params["timeout"] as it is here.
    warn(msg): module.warn, for credentials of several methods (ignored if None). environ: os.environ if None.
    """
    redactor = redactor if redactor is not None else Redactor()
    credentials = select_credentials(params, redactor=redactor, warn=warn, environ=environ)
    factory = _BY_NAME[credentials.method].prepare(credentials, params, redactor)
    return AuthChoice(credentials, factory)


def build_token_provider(params: Mapping[str, Any], endpoints: Any, http_client: Any, redactor: Optional[Redactor] = None,
                         warn: Warn = None) -> TokenProvider:
    """The token provider for the method choose_auth() picks; checks its settings, sends no request."""
    return choose_auth(params, redactor=redactor, warn=warn).token_provider(endpoints, http_client)


def select_credentials(params: Mapping[str, Any], redactor: Optional[Redactor] = None, warn: Warn = None,
                       environ: Optional[Mapping[str, str]] = None) -> Credentials:
    """Which method to use and with which values: see the module docs (auth_method) for the rules."""
    redactor = redactor if redactor is not None else Redactor()
    environ = os.environ if environ is None else environ
    requested = params.get("auth_method") or "auto"
    if requested not in AUTH_METHODS:
        raise ConfigurationError("auth_method must be one of %s, got %r." % (", ".join(AUTH_METHODS), requested))

    if requested != "auto":
        creds = _explicit_credentials(_BY_NAME[requested], params, environ, redactor)
    else:
        creds = _automatic_credentials(params, environ, redactor, warn)
    _check_orphans(params, creds)
    for option in SECRET_OPTIONS:
        if given(creds.values.get(option)):
            redactor.add(creds.values[option])
    return creds


def _env_value(environ: Mapping[str, str], variable: str, redactor: Redactor) -> Optional[str]:
    value = environ.get(variable)
    if not value:
        return None
    if variable in _SECRET_VARIABLES:
        # Masked everywhere from now on, whether or not it ends up used.
        redactor.add(value)
    return value


def _one_of(words: List[str]) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _warn_several(warn: Warn, methods: List[SignInMethod], from_environment: bool) -> None:
    if len(methods) < 2 or not warn:
        return
    used = methods[0].label(from_environment)
    ignored = ", ".join(method.label(from_environment) for method in methods[1:])
    if from_environment:
        warn("No credentials in the task, and the environment has them for several authentication methods: using %s, "
             "ignoring %s. Set auth_method to choose one, or unset the variables not wanted." % (used, ignored))
    else:
        warn("Credentials for several authentication methods are set in the task (arguments or module_defaults): "
             "using %s, ignoring %s. Set auth_method to choose one, or remove the others." % (used, ignored))


def _automatic_credentials(params: Mapping[str, Any], environ: Mapping[str, str], redactor: Redactor, warn: Warn) -> Credentials:
    in_task = [method for method in METHODS if method.given_in(params)]
    if in_task:
        method = in_task[0]
        _warn_several(warn, in_task, from_environment=False)
        values = {option: params.get(option) for option, _variable in method.variables}
        values[method.main_option] = params.get(method.main_option)
        return Credentials(method.name, values, {option: "task" for option in values})

    # Nothing in the task: only now does the environment count.
    found = {}
    for method in METHODS:
        if method.main_variable and _env_value(environ, method.main_variable, redactor):
            found[method.name] = {option: _env_value(environ, variable, redactor) for option, variable in method.variables}
    if not found:
        raise ConfigurationError(
            "No credentials: set %s in the task (or, with none of them in the task, the %s environment variable)." % (
                _one_of([method.label() for method in METHODS]),
                _one_of([method.main_variable for method in METHODS if method.main_variable])))
    in_environment = [method for method in METHODS if method.name in found]
    method = in_environment[0]
    _warn_several(warn, in_environment, from_environment=True)
    values = found[method.name]
    sources = {option: variable for option, variable in method.variables if values.get(option)}
    return Credentials(method.name, values, sources)


def _explicit_credentials(method: SignInMethod, params: Mapping[str, Any], environ: Mapping[str, str], redactor: Redactor) -> Credentials:
    """auth_method names the method: each of its options from the task, else from its environment variable."""
    values = {}
    sources = {}
    for option, variable in method.variables:
        if given(params.get(option)):
            values[option], sources[option] = params.get(option), "task"
        else:
            value = _env_value(environ, variable, redactor)
            if value:
                values[option], sources[option] = value, variable
    if method.main_variable and not values.get(method.main_option):
        raise ConfigurationError("auth_method=%s needs %s: set it in the task, or the %s environment variable." % (
            method.name, method.main_option, method.main_variable))
    return Credentials(method.name, values, sources)


def _check_orphans(params: Mapping[str, Any], creds: Credentials) -> None:
    """Options that only qualify a method, set while that method is not in the task at all: a misunderstanding."""
    for method in METHODS:
        if creds.method == method.name or method.given_in(params):
            continue
        for option in method.qualifiers:
            if given(params.get(option)):
                raise ConfigurationError(
                    "%s is only used with %s, but the method is %s: set %s (or auth_method=%s), or remove %s." % (
                        option, method.description, creds.method, method.label(), method.name, option))
