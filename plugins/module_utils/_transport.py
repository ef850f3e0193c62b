# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""HTTP over one keep-alive requests.Session: TLS settings, bearer token, retries, typed errors.

This and the token library it feeds (msal) are the only code that opens connections.
"""

from __future__ import annotations

import threading
import time
import traceback

from ._errors import GraphError, MissingLibraryError, TransportError
from ._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

try:
    import requests
    from requests.adapters import HTTPAdapter
    from requests.auth import AuthBase
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


def require_requests():
    if not HAS_REQUESTS:
        raise MissingLibraryError("requests is needed to talk to the API", "requests", REQUESTS_IMPORT_ERROR)


class TlsSession(_SessionBase):
    """A Session whose TLS settings always apply and that never leaks credentials.

    - verify is passed per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify
      (psf/requests#3829), which would silently ignore ca_path and validate_certs.
    - On a redirect the Authorization header is dropped when the host changes, and ~/.netrc is never
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

    def rebuild_auth(self, prepared_request, response):
        if "Authorization" in prepared_request.headers and self.should_strip_auth(response.request.url, prepared_request.url):
            del prepared_request.headers["Authorization"]


def tls_verify_setting(validate_certs, ca_path):
    if not validate_certs:
        return False
    return ca_path or True


class BearerAuth(AuthBase):
    """Sets the token at send time. Being the session's auth also keeps requests from using ~/.netrc."""

    def __init__(self, token_provider):
        self.token_provider = token_provider

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.token_provider.token()
        return request


def _error_from_response(response, method, url):
    code = message = request_id = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code")
        message = error.get("message")
        inner = error.get("innerError") or error.get("innererror") or {}
        if isinstance(inner, dict):
            request_id = inner.get("request-id")
    elif response.text:
        message = response.text.strip()[:200]
    request_id = request_id or response.headers.get("request-id")
    return GraphError(response.status_code, code, message, request_id=request_id, method=method, url=url,
                      retry_after=response.headers.get("Retry-After"))


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


class ApiTransport:
    """Sends API requests with the bearer token; retries throttling, gateway errors and dropped connections."""

    def __init__(self, session, token_provider, retry_policy=None, gate=None):
        require_requests()
        self.session = session
        self.session.auth = BearerAuth(token_provider)
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
        if self.gate is None:
            return self.session.request(method, url, data=data, json=json_body, headers=headers, allow_redirects=True)
        self.gate.acquire()
        throttled = False
        retry_after = None
        try:
            response = self.session.request(method, url, data=data, json=json_body, headers=headers, allow_redirects=True)
            throttled = response.status_code == 429
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if throttled else None
            return response
        finally:
            self.gate.release(throttled, retry_after)

    def _refresh_token(self, rejected_header):
        # Several workers may see the same expired token: only the first one fetches a new token.
        with self._token_lock:
            if rejected_header == "Bearer " + self.token_provider.token():
                self.token_provider.refresh()

    def request(self, method, url, data=None, headers=None, json_body=None):
        """Returns the successful response; raises GraphError or TransportError."""
        retry = self.retry_policy.start()
        refreshed = False
        while True:
            self._stats.add("requests")
            try:
                response = self._send(method, url, data, headers, json_body)
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not fix itself: fail at once.
                raise TransportError("%s %s failed: %s" % (method, url, _describe(exc)), method=method, url=url) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                delay = retry.next_delay()
                if delay is None:
                    raise TransportError("%s %s failed after %d attempts: %s" % (method, url, retry.attempt, _describe(exc)),
                                         method=method, url=url) from None
                self._wait(retry, delay)
                continue
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
                    raise _error_from_response(response, method, url)
                response.close()
                self._wait(retry, delay)
                continue
            if status >= 400:
                raise _error_from_response(response, method, url)
            return response

    def _wait(self, retry, delay):
        self._stats.add("retries")
        retry.wait(delay)


def _describe(exc):
    """A short reason for a connection failure, without the long urllib3 wrapper chain."""
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "timed out", "Name or service not known",
                   "RemoteDisconnected", "Connection aborted", "Connection reset"):
        if marker in text:
            hint = ""
            if marker == "CERTIFICATE_VERIFY_FAILED":
                hint = " (set ca_path to the CA that signed the server certificate)"
            return "%s: %s%s" % (type(exc).__name__, marker, hint)
    return "%s: %s" % (type(exc).__name__, text[:300])
