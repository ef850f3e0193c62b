# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The requests Session every connection goes through: TLS settings that always apply, and the bearer token
attached at send time, only for the allowed origin.

This and the token library it feeds (msal) are the only code that opens connections.
"""

from __future__ import annotations

import re
import traceback
from typing import TYPE_CHECKING, Any, Iterator, Union

from ..common._errors import AuthenticationError, MissingLibraryError
from ..common._redact import Redactor
from ._deadline import DeadlineWatcher
from ._origin import ForeignOrigin, UrlOrigin, url_origin

try:
    import requests
    from requests.auth import AuthBase

    from ._deadline import WatchedAdapter
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    AuthBase = object
    _SessionBase = object
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    _SessionBase = requests.Session

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

COLLECTION_VERSION = "1.0.0"  # galaxy.yml's version: a unit test keeps the two equal
USER_AGENT = "o365.outlook-ansible/" + COLLECTION_VERSION
# RFC 6750 allows only visible ASCII in a bearer token; anything else would break (or inject) headers.
_TOKEN_CHARS = re.compile(r"\A[\x21-\x7e]+\Z")

# requests' verify: False, True (the system CAs) or the path of a CA bundle.
VerifySetting = Union[bool, str]


def require_requests() -> None:
    """MissingLibraryError when requests is not installed."""
    if not HAS_REQUESTS:
        raise MissingLibraryError("requests is needed to talk to the API", "requests", REQUESTS_IMPORT_ERROR)


def tls_verify_setting(validate_certs: bool, ca_path: str | None) -> VerifySetting:
    """requests' verify value for the validate_certs and ca_path options."""
    if not validate_certs:
        return False
    return ca_path or True


class TlsSession(_SessionBase):
    """A Session whose TLS settings always apply and that never leaks credentials.

    - verify is passed per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify
      (psf/requests#3829), which would silently ignore ca_path and validate_certs.
    - timeout is requests' idle timeout (for connecting, and between two reads); request_timeout, when set, bounds
      each whole exchange (connect, headers and the whole body), cut by _deadline's watcher.
    - On an automatic redirect (the token session; ApiTransport follows redirects itself) the Authorization
      header is dropped when the host changes, an https to http redirect is refused, and ~/.netrc is never
      consulted (requests would otherwise put netrc credentials on the redirected request).
    """

    def __init__(self, verify: VerifySetting = True, timeout: float = 30.0, pool_size: int = 10,
                 request_timeout: float | None = None) -> None:
        super().__init__()
        self.verify = verify
        self.default_timeout = timeout
        self.request_timeout = request_timeout
        self.deadlines = DeadlineWatcher()
        adapter = WatchedAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:  # pylint: disable=arguments-differ
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        with self.deadline():
            return super().request(method, url, *args, **kwargs)

    def deadline(self) -> Any:
        """A block within which this thread's exchange ends by request_timeout (the caller's, when already armed)."""
        return self.deadlines.armed(self.request_timeout)

    def resolve_redirects(self, resp: Response, req: PreparedRequest, *args: Any,  # pylint: disable=arguments-differ
                          yield_requests: bool = False, **kwargs: Any) -> Iterator[Any]:
        if yield_requests:
            # With allow_redirects=False requests still prepares the next request (for Response.next, unused here):
            # a hostile Location would raise from that, and the redirect checks belong to ApiTransport.
            return iter(())
        return super().resolve_redirects(resp, req, *args, **kwargs)

    def rebuild_auth(self, prepared_request: PreparedRequest, response: Response) -> None:
        # Called for every automatic redirect before it is sent: the place to refuse a downgrade.
        if (url_origin(response.request.url) or ("",))[0] == "https" and (url_origin(prepared_request.url) or ("",))[0] != "https":
            # A RequestException is an OSError, which the token providers already turn into AuthenticationError.
            raise requests.exceptions.InvalidSchema("refused a redirect from https to a URL that is not https")
        if "Authorization" in prepared_request.headers and self.should_strip_auth(response.request.url, prepared_request.url):
            del prepared_request.headers["Authorization"]


class BearerAuth(AuthBase):
    """Sets the token at send time. Being the session's auth also keeps requests from using ~/.netrc.

    With an origin, it is the last check before the token is attached: a request elsewhere is refused on the
    URL exactly as requests prepared it. Every token it sends is registered with the redactor.
    token_provider: any object with token() -> str.
    """

    def __init__(self, token_provider: Any, origin: UrlOrigin | None = None, redactor: Redactor | None = None) -> None:
        self.token_provider = token_provider
        self.origin = origin
        self.redactor = redactor
        self._registered = None

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.origin is not None and url_origin(request.url) != self.origin:
            raise ForeignOrigin(request.url)
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
