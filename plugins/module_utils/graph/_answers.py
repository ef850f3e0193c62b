# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The one place where what the service sent becomes trusted values.

Every reader returns a value of the promised shape or raises MalformedAnswerError, which names the request
and its request-id; nothing else escapes (no KeyError, TypeError, ValueError, binascii.Error, RecursionError...).
A proxy or a broken service can send anything, and one bad answer must fail one user, not the whole run.
The exceptions are the error-answer readers, graph_error() and error_answer(), which never raise: an error
answer is already a failure, so a malformed one still becomes what could be read. They share one reader of
Graph's error body, _error_envelope().
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, NoReturn

from ..common._errors import GraphError, MalformedAnswerError

if TYPE_CHECKING:  # annotations only: this file works without requests
    from requests import Response

# Graph's profilePhoto height and width are Int32 (graph-photo-api.md section 1.5).
_MAX_INT32 = 2 ** 31 - 1
_MAX_REQUEST_ID = 128
# Error bodies longer than this are not parsed as JSON (error_answer() still returns their text).
_MAX_JSON_ERROR_BODY = 1 << 20
GRAPH_KEYS = ("id", "width", "height")
OUTLOOK_V2_KEYS = ("Id", "Width", "Height")


class Origin:
    """Which request an answer belongs to: named in every MalformedAnswerError."""

    __slots__ = ("method", "url", "request_id")

    def __init__(self, method: str | None = None, url: str | None = None, request_id: str | None = None) -> None:
        self.method = method
        self.url = url
        self.request_id = request_id

    def fail(self, problem: str) -> MalformedAnswerError:
        return MalformedAnswerError(problem, method=self.method, url=self.url, request_id=self.request_id)

    def with_request_id(self, request_id: str | None) -> Origin:
        return Origin(self.method, self.url, request_id or self.request_id)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str | None:
    """value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def _request_id(value: Any) -> str | None:
    # A request-id is a GUID; a long text there is not one, and is not shown (nor cut, which would defeat redaction).
    value = _text(value)
    return value if value is not None and len(value) <= _MAX_REQUEST_ID else None


def text_or_number(value: Any) -> str | None:
    """A JSON scalar as text; None for anything else (objects, lists, booleans, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


class ErrorFields:
    """What an error answer says about itself, as found: any field may be None. Not redacted nor cut."""

    __slots__ = ("code", "message", "request_id", "retry_after")

    def __init__(self, code: str | None = None, message: str | None = None, request_id: str | None = None,
                 retry_after: str | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


def _error_envelope(body: Any, wire: bool = False) -> ErrorFields | None:
    """The one reader of an error body: code, message and innerError request-id of {"error": {...}}; None when
    body is not an error envelope.

    By default Graph's own shape, as in a $batch item: strings only, a request-id no longer than one can be.
    wire: a whole HTTP answer, which the token service, a gateway or a proxy may have written: numbers count
    as text, and the OAuth shape {"error": "invalid_token", "error_description": "..."} is an envelope too.
    """
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    scalar = text_or_number if wire else _text
    if isinstance(error, dict):
        inner = error.get("innerError")
        if not isinstance(inner, dict):
            inner = error.get("innererror")
        request_id = None
        if isinstance(inner, dict):
            request_id = (text_or_number if wire else _request_id)(inner.get("request-id"))
        return ErrorFields(scalar(error.get("code")), scalar(error.get("message")), request_id)
    if wire and isinstance(error, str):
        return ErrorFields(error, scalar(body.get("error_description")))
    return None


def _header_request_id(headers: Any) -> str | None:
    try:
        return _request_id(headers.get("request-id")) if headers is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def request_id_of(headers: Any = None, body: Any = None) -> str | None:
    """The request-id of an answer: the response header, else the error body's innerError. Never raises."""
    found = _header_request_id(headers)
    if found is None:
        envelope = _error_envelope(body)
        found = envelope.request_id if envelope is not None else None
    return found


def response_origin(response: Response, method: str, url: str) -> Origin:
    """The Origin of a requests Response (its request-id header); never raises."""
    return Origin(method, url, request_id_of(getattr(response, "headers", None)))


def _unique_keys(pairs: list) -> dict:
    """object_pairs_hook: a key twice in one object is two answers to one question."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("a key appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON (RFC 8259), although Python's json reads them.
    raise ValueError("%s is not JSON" % name)


def parse_json(data: Any, origin: Origin, expect: type | None = dict) -> Any:
    """The JSON value in data (bytes or str); expect is the top-level type wanted (None: any)."""
    if isinstance(data, (bytes, bytearray)):
        if not data.strip():
            raise origin.fail("the body is empty where JSON was expected")
    elif isinstance(data, str):
        if not data.strip():
            raise origin.fail("the body is empty where JSON was expected")
    else:
        raise origin.fail("the body is %s, not JSON text" % _type_name(data))
    try:
        value = json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise origin.fail("the body is JSON nested too deeply to read") from None
    except UnicodeError:
        raise origin.fail("the body is not UTF-8 text") from None
    except ValueError as exc:
        # JSONDecodeError's text says where it stopped, never what the body holds.
        raise origin.fail("the body is not valid JSON (cut off or not JSON): %s" % str(exc)[:200]) from None
    if expect is not None and not isinstance(value, expect):
        raise origin.fail("the body is %s where %s was expected" % (_type_name(value), _type_name(expect())))
    return value


def _content(response: Response, origin: Origin) -> Any:
    try:
        return response.content
    # requests' own exceptions (a body cut off while it was read) are OSErrors.
    except (HTTPException, OSError, ValueError, AttributeError) as exc:
        raise origin.fail("the body could not be read (%s)" % type(exc).__name__) from None


def json_body(response: Response, origin: Origin, expect: type | None = dict) -> Any:
    """The JSON body of a requests Response; expect as in parse_json."""
    return parse_json(_content(response, origin), origin, expect)


def photo_bytes(response: Response, origin: Origin) -> bytes:
    """The image bytes of a 200 $value answer: an empty body is no photo at all, so it is malformed."""
    data = _content(response, origin)
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise origin.fail("the photo body is empty")
    return bytes(data)


class PhotoMetadata:
    """What the service says about a stored photo."""

    __slots__ = ("photo_id", "width", "height", "content_type", "etag", "owner_id")

    def __init__(self, photo_id: str, width: int, height: int, content_type: str | None, etag: str | None,
                 owner_id: str | None = None) -> None:
        self.photo_id = photo_id
        self.width = width
        self.height = height
        self.content_type = content_type
        self.etag = etag
        # The owner's object id as the answer's @odata.id names it (lower case), or None: tells one user's two names apart.
        self.owner_id = owner_id

    def to_dict(self) -> dict:
        return dict(id=self.photo_id, width=self.width, height=self.height,
                    content_type=self.content_type, etag=self.etag)


def _unquote_etag(value: str | None) -> str | None:
    # Graph sends "@odata.mediaEtag": "\"BA09D118\"" (a quoted string inside the JSON string).
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def served_etag(headers: Any) -> str | None:
    """The ETag header of a $value answer (a dict of lower-cased names, or requests' headers), unquoted; None without one."""
    value = headers.get("etag") if headers is not None else None
    return _unquote_etag(value) if isinstance(value, str) and len(value) <= 258 else None


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# .../users('<object id>@<tenant id>')/photo (the docs' example), or users('<object id>'); Outlook v2.0: Users('...').
_OWNER_IN_ODATA_ID = re.compile(r"/users\('([^'/]{1,200})'\)/", re.IGNORECASE)


def is_object_id(value: str | None) -> bool:
    """Whether a user key is an object id (a GUID) rather than a UPN or another name; never for a group's Owner."""
    return isinstance(value, str) and bool(value) and bool(_GUID.match(value.lower()))


def _owner_id(body: dict) -> str | None:
    """The object id in @odata.id, or None when it is missing or names no GUID: never guessed."""
    value = body.get("@odata.id")
    found = _OWNER_IN_ODATA_ID.search(value) if isinstance(value, str) and len(value) <= 2048 else None
    if found is None:
        return None
    owner = found.group(1).split("@", 1)[0].lower()
    return owner if is_object_id(owner) else None


def _is_placeholder(content_type: str | None, photo_id: str, width: int, height: int) -> bool:
    """The 1x1 image/gif answer that means "no photo" (Outlook v2.0 always, Graph as documented)."""
    return (photo_id.lower() == "1x1" and width == 1 and height == 1
            and (content_type or "").lower() == "image/gif")


def photo_metadata(body: Any, origin: Origin, keys: tuple = GRAPH_KEYS) -> PhotoMetadata | None:
    """PhotoMetadata from a profilePhoto entity, or None for the 1x1 image/gif "no photo" placeholder.

    keys: the names of id, width and height in the dialect (GRAPH_KEYS or OUTLOOK_V2_KEYS).
    """
    if not isinstance(body, dict):
        raise origin.fail("the photo metadata is %s, not an object" % _type_name(body))
    id_key, width_key, height_key = keys
    photo_id = body.get(id_key)
    if not isinstance(photo_id, str) or not photo_id:
        raise origin.fail("the photo metadata's %s is %s, not a non-empty string" % (id_key, _type_name(photo_id)))
    sides = []
    for key in (width_key, height_key):
        value = body.get(key)
        if not _is_int(value):
            raise origin.fail("the photo metadata's %s is %s, not a positive integer" % (key, _type_name(value)))
        if not 0 < value <= _MAX_INT32:
            raise origin.fail("the photo metadata's %s is out of range (not a positive 32-bit integer)" % key)
        sides.append(value)
    width, height = sides
    content_type = body.get("@odata.mediaContentType")
    if content_type is not None and not isinstance(content_type, str):
        raise origin.fail("@odata.mediaContentType is %s, not a string" % _type_name(content_type))
    etag = body.get("@odata.mediaEtag")
    if etag is not None and not isinstance(etag, str):
        raise origin.fail("@odata.mediaEtag is %s, not a string" % _type_name(etag))
    if _is_placeholder(content_type, photo_id, width, height):
        return None
    return PhotoMetadata(photo_id, width, height, content_type or None, _unquote_etag(etag), _owner_id(body))


def _collection(body: Any, origin: Origin, what: str) -> list:
    """The "value" list of an OData collection answer; what names the answer in the error."""
    if not isinstance(body, dict):
        raise origin.fail("%s is %s, not an object" % (what, _type_name(body)))
    entries = body.get("value")
    if not isinstance(entries, list):
        raise origin.fail("%s's value is %s, not a list" % (what, _type_name(entries)))
    return entries


def photo_sizes(body: Any, origin: Origin, keys: tuple = GRAPH_KEYS) -> list[PhotoMetadata]:
    """[PhotoMetadata] from a /photos collection; 1x1 placeholders are left out."""
    entries = _collection(body, origin, "the photo list")
    sizes = [photo_metadata(entry, origin, keys) for entry in entries]
    return [size for size in sizes if size is not None]


def users_page(body: Any, origin: Origin) -> tuple[list[tuple[str, str]], str | None]:
    """([(object id, userPrincipalName)], next link or None) from one page of GET /users."""
    entries = _collection(body, origin, "the users page")
    users = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise origin.fail("user %d of the page is %s, not an object" % (position, _type_name(entry)))
        object_id, upn = entry.get("id"), entry.get("userPrincipalName")
        if not isinstance(object_id, str) or not object_id or not isinstance(upn, str) or not upn:
            raise origin.fail("user %d of the page has no string id and userPrincipalName" % position)
        users.append((object_id, upn))
    next_link = body.get("@odata.nextLink")
    if next_link is not None and (not isinstance(next_link, str) or not next_link):
        raise origin.fail("@odata.nextLink is %s, not a link" % _type_name(next_link))
    return users, next_link


def graph_error(status: int, body: Any = None, headers: Any = None, method: str | None = None, url: str | None = None) -> GraphError:
    """The GraphError a $batch item's error answer stands for (headers lower-cased, as in BatchAnswer).
    Tolerant: fields of the wrong type become None; never raises."""
    envelope = _error_envelope(body) or ErrorFields()
    retry_after = None
    if isinstance(headers, Mapping):
        retry_after = _text(headers.get("retry-after"))
    request_id = _header_request_id(headers) or envelope.request_id
    return GraphError(status, envelope.code, envelope.message, request_id=request_id, method=method, url=url,
                      retry_after=retry_after)


def _body_text(response: Response) -> str:
    """The body of response as text, whatever it holds; "" when it cannot be read."""
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


def _any_json(text: str) -> Any:
    """The JSON value of text, or None: an error body may be anything, and is read as leniently as it comes."""
    if not text.strip() or len(text) > _MAX_JSON_ERROR_BODY:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def error_answer(response: Response) -> ErrorFields:
    """What an HTTP error answer says, whatever its body; never raises. Its texts are as sent: redact before showing.

    The answer may come from Graph, the token service or a proxy: the OAuth error shape is read too, numbers
    count as text, and a body that is no error envelope is the message itself. The request-id of the body wins
    over the header's.
    """
    text = _body_text(response)
    envelope = _error_envelope(_any_json(text), wire=True)
    if envelope is None:
        envelope = ErrorFields(message=text if text.strip() else None)
    headers = getattr(response, "headers", None) or {}
    envelope.request_id = envelope.request_id or text_or_number(headers.get("request-id"))
    envelope.retry_after = text_or_number(headers.get("Retry-After"))
    return envelope


def batch_binary(body: Any, origin: Origin) -> bytes:
    """The bytes of a 2xx $value item: Graph sends them as a standard base64 string inside the JSON."""
    if isinstance(body, dict) and "error" in body:
        raise origin.fail("the item answered success with an error body")
    if not isinstance(body, str):
        raise origin.fail("the photo body is %s, not a base64 string" % _type_name(body))
    try:
        data = base64.b64decode(body.encode("ascii"), validate=True)
    except (UnicodeError, binascii.Error, ValueError):
        raise origin.fail("the photo body is not valid base64") from None
    if not data:
        raise origin.fail("the photo body is empty")
    return data


class BatchAnswer:
    """One validated $batch response entry: an int status, lower-cased string headers, any body."""

    __slots__ = ("status", "headers", "body", "request_id")

    def __init__(self, status: int, headers: dict, body: Any, request_id: str | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.request_id = request_id


def _headers(value: dict) -> dict:
    """Lower-cased names; string values kept, numbers written as text, anything else dropped."""
    headers = {}
    for name, item in value.items():
        if isinstance(item, str):
            headers[str(name).lower()] = item
        elif (_is_int(item) or isinstance(item, float)) and -1e15 < item < 1e15:
            headers[str(name).lower()] = repr(item)
    return headers


def _batch_entry(entry: dict, origin: Origin) -> BatchAnswer:
    headers = entry.get("headers")
    if headers is None:
        headers = {}
    elif not isinstance(headers, dict):
        raise origin.fail("the $batch answer's headers for this request are %s, not an object" % _type_name(headers))
    headers = _headers(headers)
    body = entry.get("body")
    request_id = request_id_of(headers, body) or origin.request_id
    status = entry.get("status")
    if not _is_int(status):
        raise origin.with_request_id(request_id).fail(
            "the $batch answer's status for this request is %s, not an HTTP status code" % _type_name(status))
    if not 100 <= status <= 599:
        raise origin.with_request_id(request_id).fail("the $batch answer's status for this request is out of range (not 100-599)")
    return BatchAnswer(status, headers, body, request_id)


def batch_envelope(body: Any, asked: dict, origin: Origin) -> dict:
    """{id: BatchAnswer | MalformedAnswerError} for every id in asked, from a $batch answer body.

    asked maps each request id (a string) to the Origin of that request (its method and URL). A body that
    is not an object with a list "responses" raises MalformedAnswerError: no answer in it can be trusted.
    Per id, never a guess: an id answered twice, an entry with a bad status or headers, and an id with no
    entry each become that id's MalformedAnswerError. Ids that were not asked for are ignored.
    """
    if not isinstance(body, dict):
        raise origin.fail("the $batch answer is %s, not an object" % _type_name(body))
    entries = body.get("responses")
    if not isinstance(entries, list):
        raise origin.fail("the $batch answer's responses is %s, not a list" % _type_name(entries))
    seen = {}
    unreadable = 0
    for entry in entries:
        item_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(item_id, str) or _is_int(item_id):
            item_id = str(item_id)
        else:
            unreadable += 1
            continue
        if item_id in asked:
            seen.setdefault(item_id, []).append(entry)
    found = {}
    for item_id, item_origin in asked.items():
        item_origin = item_origin.with_request_id(origin.request_id)
        answers = seen.get(item_id, [])
        if len(answers) > 1:
            found[item_id] = item_origin.fail("the service answered this request %d times in one $batch answer" % len(answers))
        elif not answers:
            problem = "the $batch answer had no entry for this request"
            if unreadable:
                problem += " (%d of its entries had no readable id)" % unreadable
            found[item_id] = item_origin.fail(problem)
        else:
            try:
                found[item_id] = _batch_entry(answers[0], item_origin)
            except MalformedAnswerError as exc:
                found[item_id] = exc
    return found
