# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Builds a ready PhotoClient from the shared connection options, after checking every one of them."""

from __future__ import annotations

import math
import os

from ..auth._auth import build_token_provider
from ._endpoints import resolve_endpoints
from ..common._errors import ConfigurationError
from ._photo_client import PhotoClient, dialect_for
from ..common._redact import Redactor
from ._transport import ApiTransport, TlsSession, require_requests, tls_verify_setting

DEFAULT_TIMEOUT = 30.0
# An hour per request is already far beyond anything the service needs; more is a typo (milliseconds?).
MAX_TIMEOUT = 3600.0


def checked_timeout(params):
    """The timeout option as a float: a finite number of seconds, > 0 and <= MAX_TIMEOUT."""
    value = params.get("timeout")
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError("timeout must be a number of seconds, got %r." % (value,)) from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT:
        raise ConfigurationError("timeout must be a number of seconds greater than 0 and at most %d, got %s: set it to the "
                                 "seconds to wait for each request, for example 30." % (MAX_TIMEOUT, value))
    return seconds


def checked_tls(params, warn=None):
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


def connect(params, redactor=None, warn=None, pool_size=10, retry_policy=None, gate=None):
    """A PhotoClient for these options.

    redactor: the run's _redact.Redactor (a new one if None); every token and every secret read from the
    environment is added to it. warn(msg): module.warn, for choices the user should know about (ignored if None).
    Every connection option is checked before anything is sent.
    """
    require_requests()
    redactor = redactor if redactor is not None else Redactor()
    timeout = checked_timeout(params)
    verify = checked_tls(params, warn)
    endpoints = resolve_endpoints(params)
    # Separate sessions: the token endpoint must never see the API bearer token.
    token_session = TlsSession(verify=verify, timeout=timeout)
    provider = build_token_provider(dict(params, timeout=timeout), endpoints, token_session, redactor=redactor, warn=warn)
    api_session = TlsSession(verify=verify, timeout=timeout, pool_size=pool_size)
    transport = ApiTransport(api_session, provider, retry_policy=retry_policy, gate=gate, redactor=redactor,
                             api_base=endpoints.api_base)
    return PhotoClient(transport, dialect_for(endpoints))
