# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Builds a ready PhotoClient from the shared connection options."""

from __future__ import annotations

import os

from ._auth import build_token_provider
from ._endpoints import resolve_endpoints
from ._errors import ConfigurationError
from ._photo_client import PhotoClient, dialect_for
from ._transport import ApiTransport, TlsSession, require_requests, tls_verify_setting


def connect(params, register_secret=None, pool_size=10, retry_policy=None, gate=None):
    """A PhotoClient for these options. register_secret(value) is called with every token obtained,
    so the module can mask it in any output."""
    require_requests()
    ca_path = params.get("ca_path")
    if ca_path and not os.path.isfile(ca_path):
        raise ConfigurationError("ca_path %s does not exist or is not a file." % ca_path)
    endpoints = resolve_endpoints(params)
    verify = tls_verify_setting(params.get("validate_certs", True), ca_path)
    timeout = params.get("timeout") or 30.0
    # Separate sessions: the token endpoint must never see the API bearer token.
    token_session = TlsSession(verify=verify, timeout=timeout)
    provider = build_token_provider(params, endpoints, token_session, on_token=register_secret)
    api_session = TlsSession(verify=verify, timeout=timeout, pool_size=pool_size)
    transport = ApiTransport(api_session, provider, retry_policy=retry_policy, gate=gate)
    return PhotoClient(transport, dialect_for(endpoints))
