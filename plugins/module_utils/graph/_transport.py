# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Sending one API request: retries, token refresh, redirects by hand, typed and redacted errors.

The connection itself is _session's TlsSession; where the token may go is _origin's; how many requests run
at once is _gate's. Those names are importable from here too (ApiTransport's callers build them together).
"""

from __future__ import annotations

import http.client
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..common._errors import ConfigurationError, GraphError, MalformedAnswerError, OutlookError, TransportError
from ..common._redact import Redactor
from ._answers import error_answer, text_or_number
from ._body import ERROR_BODY, JSON_ANSWER, AnswerLimit, read_body, read_error_body
from ._gate import AdaptiveGate, Slot, throttle_usage
from ._origin import REDIRECT_STATUSES, ForeignOrigin, OriginRules, url_origin
from ._retry import RETRY_STATUSES, RetryPolicy, RetryState, parse_retry_after
from ._session import HAS_REQUESTS, BearerAuth, TlsSession, require_requests, tls_verify_setting

if HAS_REQUESTS:
    import requests
    import urllib3.exceptions

if TYPE_CHECKING:
    from requests import Response

__all__ = ["AdaptiveGate", "ApiTransport", "RequestError", "TlsSession", "require_requests", "tls_failure_is_transient",
           "tls_verify_setting"]

# Longest text taken from an error body or a library exception; secrets are redacted before the cut.
ERROR_TEXT_LIMIT = 200
# Requests in a row (with no other answer between) that a 429 sent away for longer than their retry budget: the
# service throttles everything for now, so the run stops instead of failing every user in turn.
THROTTLED_OUT_STOP = 3


class RequestError(TransportError):
    """One request could not be made as asked and trying again cannot help (an invalid URL or header in it,
    a malformed response head, an unexpected library error). Unlike other TransportErrors it concerns this
    request only, so a many-user run goes on with the other users."""

    stops_run = False


class ThrottledOutError(GraphError):
    """A 429 whose Retry-After is beyond the retry budget, after THROTTLED_OUT_STOP such answers in a row: the service
    throttles every request for longer than a run waits, so the run stops and reports who was not attempted."""

    stops_run = True


class ExchangeTimedOut(TimeoutError):
    """request_timeout passed before the whole answer arrived; retried like any cut connection."""

    def __init__(self, seconds: float) -> None:
        super().__init__("request_timeout of %g s reached before the whole answer arrived" % seconds)


def _error_from_response(response: Response, method: str, url: str, redactor: Redactor | None = None,
                         kind: Callable[..., GraphError] = GraphError) -> GraphError:
    """The GraphError for an error answer, whatever its body; every text is redacted before it is cut."""
    redactor = redactor if redactor is not None else Redactor()
    said = error_answer(response)
    message = redactor.shorten(said.message.strip(), ERROR_TEXT_LIMIT) if said.message and said.message.strip() else None
    if getattr(response, "o365_body_over_limit", False):
        message = ((message + " ") if message else "") + "(the error body was over the %d MiB limit and was not read)" % (
            ERROR_BODY.max_bytes >> 20)
    return kind(response.status_code, redactor.shorten(said.code, 100), message, request_id=redactor.shorten(said.request_id, 100),
                method=method, url=redactor.redact(url), retry_after=redactor.shorten(said.retry_after, 100))


class _Stats:
    """Request counters shared by the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"requests": 0, "retries": 0, "throttled": 0}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.values[name] = self.values.get(name, 0) + amount


class _ThrottledOut:
    """Counts requests in a row that a 429 sent away for longer than their budget (THROTTLED_OUT_STOP)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_a_row = 0

    def answered(self) -> None:
        with self._lock:
            self._in_a_row = 0

    def gave_up(self, beyond_budget: bool) -> bool:
        """A request gave up on a 429; True when this makes THROTTLED_OUT_STOP in a row. Running out of attempts on
        short waits is not counted: that is a busy service, not one that turned everyone away."""
        with self._lock:
            if not beyond_budget:
                self._in_a_row = 0
                return False
            self._in_a_row += 1
            return self._in_a_row >= THROTTLED_OUT_STOP


# A connection that broke before the whole answer arrived: no answer, or a body shorter than its
# Content-Length (requests raises ChunkedEncodingError for that, not ConnectionError), or a body that
# cannot be decoded. All are retried within the retry budget, like a refused connection.
if HAS_REQUESTS:
    _DROPPED = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError, urllib3.exceptions.ProtocolError, urllib3.exceptions.TimeoutError,
                urllib3.exceptions.DecodeError, http.client.IncompleteRead, ConnectionError, TimeoutError)
    _TLS = (requests.exceptions.SSLError, urllib3.exceptions.SSLError)
else:
    _DROPPED = _TLS = ()


# A TLS error with one of these in its text is a connection cut during or after the handshake (a server restart,
# a proxy dropping idle connections), retried like any dropped connection; every other TLS error (certificate,
# host name, protocol version) is a configuration problem that no retry fixes.
_TRANSIENT_TLS_MARKERS = ("EOF occurred in violation of protocol", "UNEXPECTED_EOF_WHILE_READING", "Connection reset",
                          "Connection aborted", "RemoteDisconnected", "Broken pipe", "timed out")


def tls_failure_is_transient(exc: BaseException) -> bool:
    """True when a TLS error is a cut connection worth retrying, False for a certificate or protocol problem."""
    text = str(exc)
    return not any(marker in text for marker in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")) and \
        any(marker in text for marker in _TRANSIENT_TLS_MARKERS)


class ApiTransport:
    """Sends API requests with the bearer token; retries throttling, gateway errors and dropped connections.

    With api_base, the token only ever goes to api_base's scheme, host and port: a request for another origin
    (a @odata.nextLink, a redirect) is refused before anything is sent. Redirects are followed here, never by
    requests: at most MAX_REDIRECTS, only to https and only to that origin (the request's own without api_base).
    token_provider: any object with token(), refresh() and can_refresh.

    request() raises only GraphError, TransportError (RequestError for one broken request),
    MalformedAnswerError, AuthenticationError or MissingLibraryError; their texts go through the redactor.
    """

    def __init__(self, session: TlsSession, token_provider: Any, retry_policy: RetryPolicy | None = None, gate: AdaptiveGate | None = None,
                 redactor: Redactor | None = None, api_base: str | None = None) -> None:
        require_requests()
        self.redactor = redactor if redactor is not None else Redactor()
        self.api_base = api_base
        self.origin = None
        if api_base is not None:
            self.origin = url_origin(api_base)
            if self.origin is None:
                raise ConfigurationError("api_url %r is not a URL the module can use." % self.redactor.shorten(api_base, ERROR_TEXT_LIMIT))
        self._origin_rules = OriginRules(self.origin, self._shown)
        self.session = session
        self.session.auth = BearerAuth(token_provider, origin=self.origin, redactor=self.redactor)
        self.token_provider = token_provider
        self.retry_policy = retry_policy or RetryPolicy()
        self.gate = gate
        self._stats = _Stats()
        self._token_lock = threading.Lock()
        self._throttled_out = _ThrottledOut()

    @property
    def stats(self) -> dict:
        """A copy of the counters: requests, retries, throttled, and any added with count()."""
        return dict(self._stats.values)

    def count(self, name: str, amount: int = 1) -> None:
        self._stats.add(name, amount)

    def _send(self, method: str, url: str, data: Any, headers: dict | None, json_body: Any, retry: RetryState,
              limit: AnswerLimit, slot: Slot | None) -> Response:
        """One exchange, its body read within its limit; the gate hears its answer (a 429 says how long everyone
        should hold, a throttle header how near the limit the app is)."""
        started = self.gate.sending(slot) if slot is not None else None
        status = hold = usage = None
        try:
            response = self._exchange(method, url, data, headers, json_body, limit)
            status = response.status_code
            usage = throttle_usage(response.headers)
            if status == 429:
                # Only a wait this request will itself honour holds the others: a Retry-After beyond its retry budget
                # (a day, a hostile value) makes it give up at once, and must not stall anyone.
                hold = retry.honoured_wait(parse_retry_after(response.headers.get("Retry-After")))
            response.o365_slot = slot
            return response
        finally:
            if slot is not None:
                self.gate.answered(slot, "BATCH" if url.endswith("/$batch") else method, started, status, hold, usage)

    def _exchange(self, method: str, url: str, data: Any, headers: dict | None, json_body: Any, limit: AnswerLimit) -> Response:
        """Request and whole body within request_timeout; a 2xx body within limit, any other within ERROR_BODY."""
        # allow_redirects=False: requests would follow to any host and from https to http (see OriginRules.follow).
        with self.session.deadline() as exchange:
            try:
                response = self.session.request(method, url, data=data, json=json_body, headers=headers, allow_redirects=False,
                                                stream=True)
                if 200 <= response.status_code < 300:
                    read_body(response, limit, method, self._shown(url))
                elif not read_error_body(response):
                    response.o365_body_over_limit = True
                return response
            except OutlookError:
                raise
            except Exception:
                if exchange is not None and exchange.expired:
                    raise ExchangeTimedOut(exchange.seconds) from None
                raise

    def heard_items(self, response: Any, throttled: int, hold: float | None, usage: float | None) -> None:
        """What the items of a $batch answer said about the limit: how many were throttled (429), the Retry-After the
        retry will wait out (None: it will not), the highest x-ms-throttle-limit-percentage."""
        slot = getattr(response, "o365_slot", None)
        if self.gate is not None and slot is not None:
            self.gate.throttled_items(slot, throttled, hold, usage)

    def refresh_rejected_token(self, response: Any) -> bool:
        """After a 401 inside an answer that itself succeeded (a $batch item): fetch a new token once for all
        workers, as request() does for a direct 401. False when the token cannot be renewed."""
        if not self.token_provider.can_refresh:
            return False
        request = getattr(response, "request", None)
        self._refresh_token((getattr(request, "headers", None) or {}).get("Authorization", ""))
        return True

    def _refresh_token(self, rejected_header: str) -> None:
        # Several workers may see the same expired token: only the first one fetches a new token.
        with self._token_lock:
            if rejected_header == "Bearer " + self.token_provider.token():
                self.token_provider.refresh()

    def _shown(self, url: str) -> str:
        return self.redactor.shorten(url, ERROR_TEXT_LIMIT)

    def _failure(self, kind: Callable[..., TransportError], method: str, url: str, what: str, exc: BaseException) -> TransportError:
        shown = self._shown(url)
        return kind("%s %s %s: %s" % (method, shown, what, _describe(exc, self.redactor)), method=method, url=shown)

    def _retry_dropped(self, retry: RetryState, exc: BaseException, method: str, url: str) -> None:
        """Waits before another attempt after a broken connection; TransportError once the budget is spent."""
        delay = retry.next_delay()
        if delay is None:
            raise self._failure(TransportError, method, url, "failed after %d attempts" % retry.attempt, exc) from None
        self._wait(retry, delay)

    def _attempt(self, method: str, url: str, data: Any, headers: dict | None, json_body: Any, retry: RetryState,
                 limit: AnswerLimit, slot: Slot | None) -> Response | None:
        """The answer to one attempt; None when the connection broke and another attempt is due (already waited for)."""
        self._stats.add("requests")
        try:
            return self._send(method, url, data, headers, json_body, retry, limit, slot)
        except OutlookError:
            raise  # from the token provider: already typed
        except ForeignOrigin as exc:
            # The URL as requests prepared it leads elsewhere although url_origin(url) did not say so.
            raise self._origin_rules.refuse_unsent(method, url, url_origin(exc.url)) from None
        except _TLS as exc:
            if not tls_failure_is_transient(exc):
                # A certificate problem does not fix itself: fail at once.
                raise self._failure(TransportError, method, url, "failed", exc) from None
            self._retry_dropped(retry, exc, method, url)
        except _DROPPED as exc:
            self._retry_dropped(retry, exc, method, url)
        except Exception as exc:  # pylint: disable=broad-except
            # InvalidURL, InvalidHeader, UnicodeError from an odd URL, a library bug...: the caller gets a typed
            # error for this request, never a raw exception.
            raise self._failure(RequestError, method, url, "could not be completed", exc) from None
        return None

    def request(self, method: str, url: str, data: Any = None, headers: dict | None = None, json_body: Any = None,
                limit: AnswerLimit = JSON_ANSWER) -> Response:
        """Returns the successful (2xx) response, its body read (at most limit); raises GraphError, TransportError,
        MalformedAnswerError (AnswerTooLargeError over the limit) or AuthenticationError."""
        self._origin_rules.check(method, url)
        # One slot in the gate from the first attempt to the last: waits for a retry keep it (see _gate.Slot).
        slot = self.gate.acquire() if self.gate is not None else None
        try:
            return self._request(method, url, data, headers, json_body, limit, slot)
        finally:
            if slot is not None:
                self.gate.release(slot)

    def _request(self, method: str, url: str, data: Any, headers: dict | None, json_body: Any, limit: AnswerLimit,
                 slot: Slot | None) -> Response:
        retry = self.retry_policy.start()
        refreshed = False
        hops = 0
        while True:
            response = self._attempt(method, url, data, headers, json_body, retry, limit, slot)
            if response is None:
                continue
            status = response.status_code
            if status != 429:
                self._throttled_out.answered()
            if status == 401 and not refreshed and self.token_provider.can_refresh:
                # An expired or revoked token: get a new one once, then retry the same request.
                refreshed = True
                rejected = response.request.headers.get("Authorization", "")
                response.close()
                self._refresh_token(rejected)
                continue
            if status in RETRY_STATUSES:
                if status == 429:
                    self._stats.add("throttled")
                delay = retry.next_delay(response.headers.get("Retry-After"))
                if delay is None:
                    stop = status == 429 and self._throttled_out.gave_up(retry.attempt < self.retry_policy.max_attempts)
                    raise _error_from_response(response, method, url, self.redactor, ThrottledOutError if stop else GraphError)
                response.close()
                self._wait(retry, delay)
                continue
            if status in REDIRECT_STATUSES:
                method, url, data, headers, json_body = self._origin_rules.follow(response, (method, url, data, headers, json_body), hops)
                hops += 1
                continue
            if status >= 400:
                raise _error_from_response(response, method, url, self.redactor)
            if not 200 <= status < 300:
                # 1xx, 304 and other 3xx were never asked for: their body is not the resource.
                raise MalformedAnswerError("HTTP %d, which is not an answer to this request" % status, method=method,
                                           url=self._shown(url), request_id=text_or_number(response.headers.get("request-id")))
            return response

    def _wait(self, retry: RetryState, delay: float) -> None:
        self._stats.add("retries")
        retry.wait(delay)


def _describe(exc: BaseException, redactor: Redactor | None = None) -> str:
    """A short reason for a connection failure, without the long urllib3 wrapper chain; secrets redacted."""
    redactor = redactor if redactor is not None else Redactor()
    if isinstance(exc, ExchangeTimedOut):
        return str(exc)
    try:
        text = redactor.redact(str(exc))
    except Exception:  # pylint: disable=broad-except
        text = ""
    for marker in ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "timed out", "Name or service not known",
                   "RemoteDisconnected", "Connection aborted", "Connection reset", "IncompleteRead"):
        if marker in text:
            hint = ""
            if marker == "CERTIFICATE_VERIFY_FAILED":
                hint = " (set ca_path to the CA that signed the server certificate)"
            elif marker == "IncompleteRead":
                hint = " (the connection closed before the whole answer arrived)"
            return "%s: %s%s" % (type(exc).__name__, marker, hint)
    return "%s: %s" % (type(exc).__name__, redactor.shorten(text, 300))
