# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Builds a ready PhotoClient from the shared connection options, after checking every one of them."""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Mapping, Optional, Union

from ..auth._selection import AuthChoice, choose_auth
from ._endpoints import Endpoints, resolve_endpoints
from ..common._errors import ConfigurationError
from ._photo_client import PhotoClient, dialect_for
from ..common._redact import Redactor
from ._session import TlsSession, require_requests, tls_verify_setting
from ._transport import ApiTransport

DEFAULT_TIMEOUT = 30.0
# A whole exchange (connect, headers, body): a 4 MB upload over a slow link fits, a trickling server does not.
DEFAULT_REQUEST_TIMEOUT = 300.0
# An hour per request is already far beyond anything the service needs; more is a typo (milliseconds?).
MAX_TIMEOUT = 3600.0


def checked_seconds(params: Mapping[str, Any], name: str, default: float, example: str) -> float:
    """Option `name` as a float: a finite number of seconds, > 0 and <= MAX_TIMEOUT (default when not set)."""
    value = params.get(name)
    if value is None:
        return default
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be a number of seconds, got %r." % (name, value)) from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT:
        raise ConfigurationError("%s must be a number of seconds greater than 0 and at most %d, got %s: set it to %s."
                                 % (name, MAX_TIMEOUT, value, example))
    return seconds


def checked_timeout(params: Mapping[str, Any]) -> float:
    """The timeout option (idle time per request) as a float."""
    return checked_seconds(params, "timeout", DEFAULT_TIMEOUT, "the seconds to wait for each request, for example 30")


def checked_request_timeout(params: Mapping[str, Any]) -> float:
    """The request_timeout option (a whole exchange) as a float."""
    return checked_seconds(params, "request_timeout", DEFAULT_REQUEST_TIMEOUT,
                           "the most seconds one request may take in all, body included, for example 300")


def checked_tls(params: Mapping[str, Any], warn: Optional[Callable[[str], None]] = None) -> Union[bool, str]:
    """The verify setting for requests from validate_certs and ca_path, refusing a ca_path that cannot be read."""
    validate_certs = params.get("validate_certs", True)
    if validate_certs is None:
        validate_certs = True
    ca_path = params.get("ca_path")
    if ca_path:
        if not os.path.isfile(ca_path):
            raise ConfigurationError("ca_path %s does not exist or is not a file: give the PEM file of the CA to trust." % ca_path)
        if not os.access(ca_path, os.R_OK):
            raise ConfigurationError("ca_path %s cannot be read by this user: fix its permissions." % ca_path)
        if not validate_certs and warn:
            warn("ca_path is ignored because validate_certs=false turns certificate verification off.")
    return tls_verify_setting(validate_certs, ca_path)


class ConnectionSettings:
    """The checked connection options (cloud, api, api_url, authority_host, validate_certs, ca_path, timeout,
    request_timeout)."""

    def __init__(self, endpoints: Endpoints, verify: Union[bool, str], timeout: float,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.endpoints = endpoints
        self.verify = verify
        self.timeout = timeout
        self.request_timeout = request_timeout


def checked_connection(params: Mapping[str, Any], warn: Optional[Callable[[str], None]] = None) -> ConnectionSettings:
    """Every connection option checked, nothing sent; a missing requests library is reported first."""
    require_requests()
    timeout = checked_timeout(params)
    request_timeout = checked_request_timeout(params)
    verify = checked_tls(params, warn)
    return ConnectionSettings(resolve_endpoints(params), verify, timeout, request_timeout)


def open_client(settings: ConnectionSettings, auth: AuthChoice, redactor: Redactor, pool_size: int = 10, retry_policy: Any = None,
                gate: Any = None) -> PhotoClient:
    """A PhotoClient from checked settings and a chosen sign-in method; sends nothing (the first token comes with the first request)."""
    # Separate sessions: the token endpoint must never see the API bearer token.
    token_session = TlsSession(verify=settings.verify, timeout=settings.timeout, request_timeout=settings.request_timeout)
    provider = auth.token_provider(settings.endpoints, token_session)
    api_session = TlsSession(verify=settings.verify, timeout=settings.timeout, pool_size=pool_size,
                             request_timeout=settings.request_timeout)
    transport = ApiTransport(api_session, provider, retry_policy=retry_policy, gate=gate, redactor=redactor,
                             api_base=settings.endpoints.api_base)
    return PhotoClient(transport, dialect_for(settings.endpoints))


def connect(params: Mapping[str, Any], redactor: Optional[Redactor] = None, warn: Optional[Callable[[str], None]] = None,
            pool_size: int = 10, retry_policy: Any = None, gate: Any = None) -> PhotoClient:
    """A PhotoClient for these options, every one of them checked before anything is sent.

    redactor: the run's _redact.Redactor (a new one if None); every token and every secret read from the
    environment is added to it. warn(msg): module.warn, for choices the user should know about (ignored if None).
    """
    redactor = redactor if redactor is not None else Redactor()
    settings = checked_connection(params, warn)
    auth = choose_auth(dict(params, timeout=settings.timeout), redactor=redactor, warn=warn)
    return open_client(settings, auth, redactor, pool_size=pool_size, retry_policy=retry_policy, gate=gate)
