# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""What every token provider shares: the pre-issued token, the cached and thread-safe base of fetched tokens, the
msal import, and the checks and redaction of what a token endpoint answers.

msal is imported only when a token is fetched: a task that brings its own access_token never pays for it. Every
token is registered with the run's Redactor before anyone can see it, and every error text is redacted before it
is cut short.
"""

from __future__ import annotations

import re
import threading
import traceback
from typing import Any, Optional, Protocol

from ..common._errors import AuthenticationError, ConfigurationError, MissingLibraryError
from ..common._redact import Redactor

# Hints for the Entra ID errors people actually hit, keyed by AADSTS code.
AADSTS_HINTS = {
    7000215: "check client_secret (or AZURE_CLIENT_SECRET); secrets expire, and the value is needed, not the secret ID",
    7000222: "the client secret has expired: create a new one in the app registration",
    700016: "check client_id and tenant_id: the application was not found in that tenant",
    90002: "check tenant_id: the tenant was not found (or it is in another cloud: see the cloud option)",
    700027: "the certificate is not registered on the app registration, or the key does not match it",
    1002012: "the requested scope is not valid for this application",
    7000112: "the application is disabled",
    500011: ("the API is not known in this tenant: check the cloud option (a token for another cloud's Graph is refused) "
             "and api"),
}

# Longest piece of a service's text an error message shows (after redaction).
_TEXT_LIMIT = 300


class TokenProvider(Protocol):
    """What the transport needs from a sign-in method: a bearer token, and a new one after a 401 if it can."""

    can_refresh: bool

    def token(self) -> str:
        ...

    def refresh(self) -> None:
        ...


def import_msal() -> Any:
    """The msal package, or a MissingLibraryError that says how to do without it."""
    try:
        import msal  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingLibraryError("msal is needed to request a token from Entra ID (or pass access_token)",
                                  "msal", traceback.format_exc()) from None
    return msal


def _first_line(text: Any) -> str:
    text = text.strip() if isinstance(text, str) else ""
    return text.splitlines()[0] if text else ""


def _token_failure(what: str, result: Any, redactor: Redactor) -> AuthenticationError:
    """An AuthenticationError from an msal error dict: AADSTS code and first line of the description, never a secret.

    The answer comes from the network, so nothing in it is trusted: wrong types are ignored, and every text is
    redacted before it is cut (a token endpoint may echo the form, client_secret=<URL-encoded secret> included).
    """
    if not isinstance(result, dict):
        return AuthenticationError(redactor.redact("%s: the token endpoint answered with a JSON %s, not an object" % (
            what, type(result).__name__)))
    description = result.get("error_description")
    description = description if isinstance(description, str) else ""
    # Redact the whole description before taking a line of it and cutting it short.
    first_line = redactor.shorten(_first_line(redactor.redact(description)), _TEXT_LIMIT)
    error = result.get("error") if isinstance(result.get("error"), str) else None
    error = redactor.shorten(error, 100) if error else None
    raw_codes = result.get("error_codes")
    codes = [c for c in raw_codes if isinstance(c, int) and not isinstance(c, bool)] if isinstance(raw_codes, list) else []
    if not codes:
        found = re.match(r"AADSTS(\d+)", first_line)
        codes = [int(found.group(1))] if found else []
    msg = "%s: %s" % (what, first_line or error or "no access_token in the answer")
    hints = [AADSTS_HINTS[c] for c in codes if c in AADSTS_HINTS]
    if hints:
        msg += " (%s)" % "; ".join(hints)
    correlation_id = result.get("correlation_id")
    correlation_id = redactor.shorten(correlation_id, 100) if isinstance(correlation_id, str) else None
    return AuthenticationError(redactor.redact(msg), error=error, error_codes=codes or None, correlation_id=correlation_id)


def request_failure(what: str, exc: BaseException, redactor: Redactor, hint: Optional[str] = None) -> AuthenticationError:
    """An AuthenticationError for an exception raised while asking for a token: redacted, then shortened."""
    text = redactor.redact(str(exc)) or ""
    text = redactor.shorten(_first_line(text), _TEXT_LIMIT)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        hint = "set ca_path to the CA that signed the server certificate"
    elif "Unable to get authority configuration" in text:
        hint = AADSTS_HINTS[90002] + "; also check authority_host"
    msg = "%s: %s: %s" % (what, type(exc).__name__, text)
    return AuthenticationError(redactor.redact(msg + (" (%s)" % hint if hint else "")))


def token_from_answer(what: str, result: Any, redactor: Redactor) -> str:
    """The access token of a token answer, or an AuthenticationError that says what is wrong with the answer."""
    if not isinstance(result, dict) or "access_token" not in result:
        raise _token_failure(what, result, redactor)
    token = result["access_token"]
    problem = None
    if not isinstance(token, str):
        problem = "is a JSON %s, not a string" % type(token).__name__
    elif not token.strip():
        problem = "is empty"
    elif _bad_token_characters(token):
        # It would go into an HTTP header as is; never echo it.
        redactor.add(token)
        problem = "contains white space or control characters"
    if problem:
        raise AuthenticationError(redactor.redact("%s: the answer's access_token %s" % (what, problem)))
    return token


def _bad_token_characters(token: str) -> bool:
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) > 126 for ch in token)


# What msal and the HTTP client it drives can raise on a bad or hostile answer (requests' errors are OSErrors).
FETCH_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError)


class StaticTokenProvider:
    """A token the user already has. It cannot be renewed."""

    can_refresh = False

    def __init__(self, token: Any, redactor: Optional[Redactor] = None, source: str = "access_token") -> None:
        self._redactor = redactor or Redactor()
        self._redactor.add(token)
        token = token.strip() if isinstance(token, str) else token
        self._redactor.add(token)
        if not isinstance(token, str) or not token:
            raise ConfigurationError("%s is empty: give the bearer token itself." % source)
        if token[:7].lower() == "bearer ":
            raise ConfigurationError("%s starts with 'Bearer ': give the token alone, without the scheme." % source)
        if _bad_token_characters(token):
            raise ConfigurationError("%s contains white space or control characters: give the token alone, on one line." % source)
        self._token = token

    def token(self) -> str:
        return self._token

    def refresh(self) -> None:
        raise AuthenticationError("The API rejected access_token (HTTP 401): it has expired or is not valid for this API.")


class CachedTokenProvider:
    """Fetches a token on first use and keeps it for the run; refresh() forces a new one.

    Thread-safe: the workers of a many-user task share one provider, and the first call of each of them may come
    at the same moment; the lock makes that one token request (and one msal application), not one per worker.
    A failure is kept and raised again, so the waiting workers do not each ask the token endpoint once more.
    Subclasses implement _fetch(force).
    """

    can_refresh = True

    def __init__(self, redactor: Optional[Redactor] = None) -> None:
        self._redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._failure: Optional[AuthenticationError] = None

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._obtain(force=False)
            return self._token

    def refresh(self) -> None:
        with self._lock:
            self._token = None
            self._obtain(force=True)

    def _obtain(self, force: bool) -> None:
        if self._failure is not None:
            raise self._failure
        try:
            token = self._fetch(force)
        except AuthenticationError as exc:
            self._failure = exc
            raise
        # Registered before anyone can see it, so that no output can show it.
        self._redactor.add(token)
        self._token = token

    def _fetch(self, force: bool) -> str:
        raise NotImplementedError
