# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""How much of an answer is read: each kind of answer has a size limit, enforced while the body streams in, so a
broken or hostile server cannot make a run hold gigabytes. Content-Length is not trusted: the bytes are counted."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..common._errors import AnswerTooLargeError

if TYPE_CHECKING:
    from requests import Response


class AnswerLimit(NamedTuple):
    name: str
    max_bytes: int


MIB = 1 << 20
# 20 photos of 4 MB, base64-encoded in JSON, are about 107 MiB.
BATCH_ANSWER = AnswerLimit("$batch answer", 128 * MIB)
# The service stores photos of up to 4 MB; the rest is headroom for a re-encode.
PHOTO_ANSWER = AnswerLimit("photo ($value) answer", 5 * MIB)
# Metadata, a page of users, an empty write answer.
JSON_ANSWER = AnswerLimit("JSON answer", MIB)
# An error body is read for its code and message only; a bigger one is left unread and the status still counts.
ERROR_BODY = AnswerLimit("error answer", MIB)

CHUNK_BYTES = 64 * 1024


def _announced_length(response: Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def read_body(response: Response, limit: AnswerLimit, method: str, url: str) -> None:
    """Reads the body of a streamed response into response.content, at most limit.max_bytes (decoded) bytes.

    Over the limit: AnswerTooLargeError, with the connection closed (never handed back to the pool half read).
    Errors while reading (a cut connection, a timeout) come from requests as they are.
    """
    announced = _announced_length(response)
    if announced is not None and announced > limit.max_bytes:
        response.close()
        raise _too_large(response, limit, method, url)
    body = bytearray()
    already = getattr(response, "_content", False)
    # An adapter may hand over an answer read already (requests marks an unread body with False).
    chunks = (already,) if isinstance(already, bytes) else response.iter_content(CHUNK_BYTES)
    for chunk in chunks:
        body += chunk
        if len(body) > limit.max_bytes:
            response.close()
            raise _too_large(response, limit, method, url)
    # What requests itself does at the end of a read: .content and .text work as for an answer read whole.
    response._content = bytes(body)  # pylint: disable=protected-access
    response._content_consumed = True  # pylint: disable=protected-access


def read_error_body(response: Response) -> bool:
    """Reads an error answer's body within ERROR_BODY; False (and an empty body) when it is bigger."""
    try:
        read_body(response, ERROR_BODY, "", "")
    except AnswerTooLargeError:
        response._content = b""  # pylint: disable=protected-access
        response._content_consumed = True  # pylint: disable=protected-access
        return False
    return True


def _too_large(response: Response, limit: AnswerLimit, method: str, url: str) -> AnswerTooLargeError:
    request_id = response.headers.get("request-id") if hasattr(response, "headers") else None
    return AnswerTooLargeError(limit.name, limit.max_bytes, method=method, url=url,
                               request_id=request_id if isinstance(request_id, str) and len(request_id) <= 128 else None)
