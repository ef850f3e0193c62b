# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Where the bearer token may go: the origin rules for requests, service links and redirects.

With api_url, the token only ever goes to its scheme, host and port; a request for another origin (a
@odata.nextLink, a redirect) is refused before anything is sent. Redirects are followed by ApiTransport, never
by requests: at most MAX_REDIRECTS, only to https and only to that origin (the request's own without api_url).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple
from urllib.parse import urljoin

from ..common._errors import MalformedAnswerError
from ._answers import text_or_number

try:
    from urllib3.util import parse_url
except ImportError:  # requests (and its urllib3) missing: ApiTransport says so before any URL is read
    parse_url = None

if TYPE_CHECKING:
    from requests import Response

# (scheme, host, port) as the connection pool sees it.
UrlOrigin = Tuple[str, str, Optional[int]]
# (method, url, data, headers, json_body) of the next request to send.
NextRequest = Tuple[str, str, Any, Optional[dict], Any]

# Redirects ApiTransport follows itself, at most MAX_REDIRECTS per request.
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"https": 443, "http": 80}


def url_origin(url: Any) -> UrlOrigin | None:
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


def origin_text(origin: UrlOrigin) -> str:
    return "%s://%s:%s" % origin


class ForeignOrigin(Exception):
    """Raised by BearerAuth, before a token is attached, for a request outside the allowed origin."""

    def __init__(self, url: str) -> None:
        super().__init__("refused to sign a request outside api_url's origin")
        self.url = url


class OriginRules:
    """The origin checks of one ApiTransport. origin: api_url's, or None (each request's own);
    shown: how a URL appears in an error text (redacted and cut)."""

    def __init__(self, origin: UrlOrigin | None, shown: Callable[[str], str]) -> None:
        self.origin = origin
        self.shown = shown

    def _elsewhere(self, what: str, target_origin: UrlOrigin | None, reference: UrlOrigin | None) -> str:
        """The problem text for a URL outside the allowed origin: names both origins, never the token."""
        if self.origin is not None:
            allowed = "api_url's host %s" % origin_text(self.origin)
        else:
            allowed = "the request's own host %s" % origin_text(reference)
        where = ("on " + origin_text(target_origin)) if target_origin else "an address that cannot be read"
        return "%s (%s), but the token is only sent to %s; check api_url or the proxy" % (what, where, allowed)

    def refuse_unsent(self, method: str, url: str, target_origin: UrlOrigin | None) -> MalformedAnswerError:
        """The error for a request that was not sent because url is outside the allowed origin."""
        problem = self._elsewhere("the service pointed there", target_origin, self.origin)
        error = MalformedAnswerError(problem, method=method, url=self.shown(url))
        # Nothing answered at url, nothing was sent there: the link came from an earlier answer (@odata.nextLink).
        error.msg = "%s %s was not sent: %s" % (method, self.shown(url), problem)
        return error

    def check(self, method: str, url: str) -> None:
        """Raises refuse_unsent()'s error when url is outside api_url's origin."""
        if self.origin is None:
            return
        target_origin = url_origin(url)
        if target_origin != self.origin:
            raise self.refuse_unsent(method, url, target_origin)

    def follow(self, response: Response, asked: NextRequest, hops: int) -> NextRequest:
        """The next request for a 3xx answer to asked (method, url, data, headers, json_body), hops redirects
        after the first request; refuses what must not be followed."""
        method, url, data, headers, json_body = asked
        status = response.status_code
        request_id = text_or_number(response.headers.get("request-id"))
        location = response.headers.get("Location")
        response.close()
        shown = self.shown(url)
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
            raise MalformedAnswerError("a redirect to %s, which is not https: refused, nothing was sent there" % self.shown(target),
                                       method=method, url=shown, request_id=request_id)
        if target_origin is None or target_origin != reference:
            raise MalformedAnswerError(self._elsewhere("a redirect (HTTP %d) to %s" % (status, self.shown(target)), target_origin, reference),
                                       method=method, url=shown, request_id=request_id)
        if status == 303 and method not in ("GET", "HEAD"):
            # "See Other": the write was handled and its result is at Location, to be read with GET (RFC 9110 15.4.4).
            # 301 and 302 keep the method and body, which RFC 9110 allows, so a PUT is never silently turned into a GET.
            headers = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
            return "GET", target, None, headers, None
        return method, target, data, headers, json_body
