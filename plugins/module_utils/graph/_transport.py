# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""HTTP over one keep-alive requests.Session: TLS settings, bearer token, retries, typed errors.

This and the token library it feeds (msal) are the only code that opens connections.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import traceback
from urllib.parse import urljoin

from ..common._errors import (AuthenticationError, ConfigurationError, GraphError, MalformedAnswerError, MissingLibraryError, OutlookError,
                      TransportError)
from ..common._redact import Redactor
from ._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

try:
    import requests
    import urllib3.exceptions
    from requests.adapters import HTTPAdapter
    from requests.auth import AuthBase
    from urllib3.util import parse_url
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    AuthBase = object
    _SessionBase = object
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    _SessionBase = requests.Session

USER_AGENT = "o365.outlook-ansible/0.1.0"

# Redirects this module follows itself (never requests' automatic ones), at most MAX_REDIRECTS per request.
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 5
# Longest text taken from an error body or a library exception; secrets are redacted before the cut.
ERROR_TEXT_LIMIT = 200
# Error bodies longer than this are not parsed as JSON (their text is still redacted and cut).
_MAX_JSON_ERROR_BODY = 1 << 20
_DEFAULT_PORTS = {"https": 443, "http": 80}
# RFC 6750 allows only visible ASCII in a bearer token; anything else would break (or inject) headers.
_TOKEN_CHARS = re.compile(r"\A[\x21-\x7e]+\Z")


def require_requests():
    if not HAS_REQUESTS:
        raise MissingLibraryError("requests is needed to talk to the API", "requests", REQUESTS_IMPORT_ERROR)


def url_origin(url):
    """(scheme, host, port) that requests will connect to for url, default ports filled in; None if unreadable.

    Parsed with urllib3, the parser the connection pool itself uses: urllib.parse reads some URLs
    (https://evil.example\\@graph.microsoft.com/) as another host than the one actually contacted.
    """
    if not isinstance(url, str):
        return None
    try:
        parsed = parse_url(url)
    except (ValueError, TypeError, UnicodeError):  # LocationParseError is a ValueError
        return None
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").lower()
    if not scheme or not host:
        return None
    return (scheme, host, parsed.port or _DEFAULT_PORTS.get(scheme))


def origin_text(origin):
    return "%s://%s:%s" % origin


class _ForeignOrigin(Exception):
    """Raised by BearerAuth, before a token is attached, for a request outside the allowed origin."""

    def __init__(self, url):
        super().__init__("refused to sign a request outside api_url's origin")
        self.url = url


class RequestError(TransportError):
    """One request could not be made as asked and trying again cannot help (an invalid URL or header in it,
    a malformed response head, an unexpected library error). Unlike other TransportErrors it concerns this
    request only, so a many-user run goes on with the other users."""

    stops_run = False


class TlsSession(_SessionBase):
    """A Session whose TLS settings always apply and that never leaks credentials.

    - verify is passed per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify
      (psf/requests#3829), which would silently ignore ca_path and validate_certs.
    - On an automatic redirect (the token session; ApiTransport follows redirects itself) the Authorization
      header is dropped when the host changes, an https to http redirect is refused, and ~/.netrc is never
      consulted (requests would otherwise put netrc credentials on the redirected request).
    """

    def __init__(self, verify=True, timeout=30.0, pool_size=10):
        super().__init__()
        self.verify = verify
        self.default_timeout = timeout
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)

    def resolve_redirects(self, resp, req, *args, yield_requests=False, **kwargs):  # pylint: disable=arguments-differ
        if yield_requests:
            # With allow_redirects=False requests still prepares the next request (for Response.next, unused here):
            # a hostile Location would raise from that, and the redirect checks belong to ApiTransport.
            return iter(())
        return super().resolve_redirects(resp, req, *args, **kwargs)

    def rebuild_auth(self, prepared_request, response):
        # Called for every automatic redirect before it is sent: the place to refuse a downgrade.
        if (url_origin(response.request.url) or ("",))[0] == "https" and (url_origin(prepared_request.url) or ("",))[0] != "https":
            # A RequestException is an OSError, which the token providers already turn into AuthenticationError.
            raise requests.exceptions.InvalidSchema("refused a redirect from https to a URL that is not https")
        if "Authorization" in prepared_request.headers and self.should_strip_auth(response.request.url, prepared_request.url):
            del prepared_request.headers["Authorization"]


def tls_verify_setting(validate_certs, ca_path):
    if not validate_certs:
        return False
    return ca_path or True


class BearerAuth(AuthBase):
    """Sets the token at send time. Being the session's auth also keeps requests from using ~/.netrc.

    With an origin, it is the last check before the token is attached: a request elsewhere is refused on the
    URL exactly as requests prepared it. Every token it sends is registered with the redactor.
    """

    def __init__(self, token_provider, origin=None, redactor=None):
        self.token_provider = token_provider
        self.origin = origin
        self.redactor = redactor
        self._registered = None

    def __call__(self, request):
        if self.origin is not None and url_origin(request.url) != self.origin:
            raise _ForeignOrigin(request.url)
        token = self.token_provider.token()
        if not isinstance(token, str) or not _TOKEN_CHARS.match(token):
            # Never shown: a broken token may still be most of a real one.
            raise AuthenticationError("The access token is empty or contains spaces, control or non-ASCII characters, so it "
                                      "cannot be sent in an HTTP header: check access_token, or the token service's answer.")
        if self.redactor is not None and token != self._registered:
            self.redactor.add(token)
            self._registered = token
        request.headers["Authorization"] = "Bearer " + token
        return request


def _text_or_number(value):
    """A JSON scalar as text; None for anything else (objects, lists, booleans, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _body_text(response):
    try:
        content = response.content or b""
    except Exception:  # pylint: disable=broad-except
        # Error texts are built while another error is being reported: they must never raise.
        return ""
    if not isinstance(content, bytes):
        return ""
    encoding = None
    try:
        encoding = response.encoding
    except Exception:  # pylint: disable=broad-except
        pass
    try:
        return content.decode(encoding or "utf-8", errors="replace")
    except (LookupError, TypeError, ValueError):
        return content.decode("utf-8", errors="replace")


def _error_from_response(response, method, url, redactor=None):
    """The GraphError for an error answer, whatever its body; every text is redacted before it is cut."""
    redactor = redactor if redactor is not None else Redactor()
    text = _body_text(response)
    body = None
    if text.strip() and len(text) <= _MAX_JSON_ERROR_BODY:
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            body = None
    code = message = request_id = None
    envelope = False
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            envelope = True
            code = _text_or_number(error.get("code"))
            message = _text_or_number(error.get("message"))
            inner = error.get("innerError", error.get("innererror"))
            if isinstance(inner, dict):
                request_id = _text_or_number(inner.get("request-id"))
        elif isinstance(error, str):
            # The OAuth shape: {"error": "invalid_token", "error_description": "..."}
            envelope = True
            code = error
            message = _text_or_number(body.get("error_description"))
    if not envelope and text.strip():
        message = text
    headers = getattr(response, "headers", None) or {}
    request_id = request_id or _text_or_number(headers.get("request-id"))
    retry_after = _text_or_number(headers.get("Retry-After"))
    message = redactor.shorten(message.strip(), ERROR_TEXT_LIMIT) if message and message.strip() else None
    return GraphError(response.status_code, redactor.shorten(code, 100), message, request_id=redactor.shorten(request_id, 100),
                      method=method, url=redactor.redact(url), retry_after=redactor.shorten(retry_after, 100))


class AdaptiveGate:
    """Limits requests in flight across worker threads, and slows everyone down when the service throttles.

    Additive increase, multiplicative decrease: a 429 halves the number of requests allowed at once and
    holds every new request until its Retry-After has passed; each run of successes gives one slot back,
    up to the configured limit. So a throttling tenant is not hammered by the other workers.
    """

    def __init__(self, limit, sleep=time.sleep, clock=time.monotonic):
        self.limit = max(1, int(limit))
        self.allowed = self.limit
        self.in_flight = 0
        self.not_before = 0.0
        self.successes = 0
        self.sleep = sleep
        self.clock = clock
        self._cond = threading.Condition()

    def acquire(self):
        with self._cond:
            while self.in_flight >= self.allowed:
                self._cond.wait()
            self.in_flight += 1
            pause = self.not_before - self.clock()
        if pause > 0:
            self.sleep(pause)

    def release(self, throttled=False, retry_after=None):
        with self._cond:
            self.in_flight -= 1
            if throttled:
                self.allowed = max(1, self.allowed // 2)
                self.successes = 0
                self.not_before = max(self.not_before, self.clock() + (retry_after or 0.0))
            else:
                self.successes += 1
                if self.allowed < self.limit and self.successes >= self.allowed * 4:
                    self.allowed += 1
                    self.successes = 0
            self._cond.notify_all()


class _Stats:
    """Request counters shared by the worker threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.values = {"requests": 0, "retries": 0, "throttled": 0}

    def add(self, name, amount=1):
        with self._lock:
            self.values[name] = self.values.get(name, 0) + amount


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


def tls_failure_is_transient(exc):
    text = str(exc)
    return not any(marker in text for marker in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")) and \
        any(marker in text for marker in _TRANSIENT_TLS_MARKERS)


class ApiTransport:
    """Sends API requests with the bearer token; retries throttling, gateway errors and dropped connections.

    With api_base, the token only ever goes to api_base's scheme, host and port: a request for another origin
    (a @odata.nextLink, a redirect) is refused before anything is sent. Redirects are followed here, never by
    requests: at most MAX_REDIRECTS, only to https and only to that origin (the request's own without api_base).

    request() raises only GraphError, TransportError (RequestError for one broken request),
    MalformedAnswerError, AuthenticationError or MissingLibraryError; their texts go through the redactor.
    """

    def __init__(self, session, token_provider, retry_policy=None, gate=None, redactor=None, api_base=None):
        require_requests()
        self.redactor = redactor if redactor is not None else Redactor()
        self.api_base = api_base
        self.origin = None
        if api_base is not None:
            self.origin = url_origin(api_base)
            if self.origin is None:
                raise ConfigurationError("api_url %r is not a URL the module can use." % self.redactor.shorten(api_base, ERROR_TEXT_LIMIT))
        self.session = session
        self.session.auth = BearerAuth(token_provider, origin=self.origin, redactor=self.redactor)
        self.token_provider = token_provider
        self.retry_policy = retry_policy or RetryPolicy()
        self.gate = gate
        self._stats = _Stats()
        self._token_lock = threading.Lock()

    @property
    def stats(self):
        return dict(self._stats.values)

    def count(self, name, amount=1):
        self._stats.add(name, amount)

    def _send(self, method, url, data, headers, json_body):
        # allow_redirects=False: requests would follow to any host and from https to http (see _redirect).
        if self.gate is None:
            return self.session.request(method, url, data=data, json=json_body, headers=headers, allow_redirects=False)
        self.gate.acquire()
        throttled = False
        retry_after = None
        try:
            response = self.session.request(method, url, data=data, json=json_body, headers=headers, allow_redirects=False)
            throttled = response.status_code == 429
            if throttled:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None:
                    # A hostile Retry-After (days) would otherwise hold every worker: no request waits longer than
                    # the retry budget anyway.
                    retry_after = min(retry_after, float(getattr(self.retry_policy, "max_total", 120.0)))
            return response
        finally:
            self.gate.release(throttled, retry_after)

    def _refresh_token(self, rejected_header):
        # Several workers may see the same expired token: only the first one fetches a new token.
        with self._token_lock:
            if rejected_header == "Bearer " + self.token_provider.token():
                self.token_provider.refresh()

    def _shown(self, url):
        return self.redactor.shorten(url, ERROR_TEXT_LIMIT)

    def _elsewhere(self, what, target_origin, reference):
        """The problem text for a URL outside the allowed origin: names both origins, never the token."""
        if self.origin is not None:
            allowed = "api_url's host %s" % origin_text(self.origin)
        else:
            allowed = "the request's own host %s" % origin_text(reference)
        where = ("on " + origin_text(target_origin)) if target_origin else "an address that cannot be read"
        return "%s (%s), but the token is only sent to %s; check api_url or the proxy" % (what, where, allowed)

    def _refuse_unsent(self, method, url, target_origin):
        problem = self._elsewhere("the service pointed there", target_origin, self.origin)
        error = MalformedAnswerError(problem, method=method, url=self._shown(url))
        # Nothing answered at url, nothing was sent there: the link came from an earlier answer (@odata.nextLink).
        error.msg = "%s %s was not sent: %s" % (method, self._shown(url), problem)
        return error

    def _check_origin(self, method, url):
        if self.origin is None:
            return
        target_origin = url_origin(url)
        if target_origin != self.origin:
            raise self._refuse_unsent(method, url, target_origin)

    def _redirect(self, response, method, url, data, headers, json_body, hops):
        """The next (method, url, data, headers, json_body) for a 3xx answer; refuses what must not be followed."""
        status = response.status_code
        request_id = _text_or_number(response.headers.get("request-id"))
        location = response.headers.get("Location")
        response.close()
        shown = self._shown(url)
        if not location or not location.strip():
            raise MalformedAnswerError("HTTP %d without a Location header" % status, method=method, url=shown, request_id=request_id)
        if hops >= MAX_REDIRECTS:
            raise MalformedAnswerError("more than %d redirects in a row" % MAX_REDIRECTS, method=method, url=shown, request_id=request_id)
        try:
            target = urljoin(url, location.strip())
        except ValueError:
            target = location
        target_origin = url_origin(target)
        reference = self.origin or url_origin(url)
        if target_origin is not None and target_origin[0] != "https":
            raise MalformedAnswerError("a redirect to %s, which is not https: refused, nothing was sent there" % self._shown(target),
                                       method=method, url=shown, request_id=request_id)
        if target_origin is None or target_origin != reference:
            raise MalformedAnswerError(self._elsewhere("a redirect (HTTP %d) to %s" % (status, self._shown(target)), target_origin, reference),
                                       method=method, url=shown, request_id=request_id)
        if status == 303 and method not in ("GET", "HEAD"):
            # "See Other": the write was handled and its result is at Location, to be read with GET (RFC 9110 15.4.4).
            # 301 and 302 keep the method and body, which RFC 9110 allows, so a PUT is never silently turned into a GET.
            headers = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
            return "GET", target, None, headers, None
        return method, target, data, headers, json_body

    def request(self, method, url, data=None, headers=None, json_body=None):
        """Returns the successful (2xx) response; raises GraphError, TransportError, MalformedAnswerError or AuthenticationError."""
        self._check_origin(method, url)
        retry = self.retry_policy.start()
        refreshed = False
        hops = 0
        while True:
            self._stats.add("requests")
            try:
                response = self._send(method, url, data, headers, json_body)
            except OutlookError:
                raise  # from the token provider: already typed
            except _ForeignOrigin as exc:
                # The URL as requests prepared it leads elsewhere although url_origin(url) did not say so.
                raise self._refuse_unsent(method, url, url_origin(exc.url)) from None
            except _TLS as exc:
                if not tls_failure_is_transient(exc):
                    # A certificate problem does not fix itself: fail at once.
                    raise TransportError("%s %s failed: %s" % (method, self._shown(url), _describe(exc, self.redactor)),
                                         method=method, url=self._shown(url)) from None
                delay = retry.next_delay()
                if delay is None:
                    raise TransportError("%s %s failed after %d attempts: %s" % (method, self._shown(url), retry.attempt, _describe(exc, self.redactor)),
                                         method=method, url=self._shown(url)) from None
                self._wait(retry, delay)
                continue
            except _DROPPED as exc:
                delay = retry.next_delay()
                if delay is None:
                    raise TransportError("%s %s failed after %d attempts: %s" % (method, self._shown(url), retry.attempt, _describe(exc, self.redactor)),
                                         method=method, url=self._shown(url)) from None
                self._wait(retry, delay)
                continue
            except Exception as exc:  # pylint: disable=broad-except
                # InvalidURL, InvalidHeader, UnicodeError from an odd URL, a library bug...: the caller gets a typed
                # error for this request, never a raw exception.
                raise RequestError("%s %s could not be completed: %s" % (method, self._shown(url), _describe(exc, self.redactor)),
                                   method=method, url=self._shown(url)) from None
            status = response.status_code
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
                    raise _error_from_response(response, method, url, self.redactor)
                response.close()
                self._wait(retry, delay)
                continue
            if status in REDIRECT_STATUSES:
                method, url, data, headers, json_body = self._redirect(response, method, url, data, headers, json_body, hops)
                hops += 1
                continue
            if status >= 400:
                raise _error_from_response(response, method, url, self.redactor)
            if not 200 <= status < 300:
                # 1xx, 304 and other 3xx were never asked for: their body is not the resource.
                raise MalformedAnswerError("HTTP %d, which is not an answer to this request" % status, method=method,
                                           url=self._shown(url), request_id=_text_or_number(response.headers.get("request-id")))
            return response

    def _wait(self, retry, delay):
        self._stats.add("retries")
        retry.wait(delay)


def _describe(exc, redactor=None):
    """A short reason for a connection failure, without the long urllib3 wrapper chain; secrets redacted."""
    redactor = redactor if redactor is not None else Redactor()
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
