# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Typed errors. Modules turn any of them into one fail_json() call."""

from __future__ import annotations

from typing import Any


class OutlookError(Exception):
    """Base class: a message for the user plus extra, non-secret fields for the result.

    stops_run: in a many-user task, this error means the other users cannot succeed either (credentials gone,
    service unreachable after every retry), so the run stops and reports the users it did not attempt.
    """

    stops_run = False

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = {k: v for k, v in details.items() if v is not None}

    def __str__(self) -> str:
        # msg may be refined after construction (hints added), so it is the source of truth.
        return self.msg

    def fail_kwargs(self) -> dict:
        return dict(msg=self.msg, **self.details)


class ConfigurationError(OutlookError):
    """Options that cannot work together, or are missing."""


class MissingLibraryError(OutlookError):
    """A Python library the requested feature needs is not installed."""

    def __init__(self, msg: str, library: str, exception: str | None = None) -> None:
        super().__init__(msg)
        self.library = library
        self.exception = exception


class SourceImageError(OutlookError):
    """The image to upload is unusable. Raised before any write."""

    def __init__(self, msg: str, path: str | None = None) -> None:
        super().__init__(msg, src=path)


class AuthenticationError(OutlookError):
    """No token could be obtained (Entra ID error, unreachable authority, bad credential file)."""

    stops_run = True

    def __init__(self, msg: str, error: str | None = None, error_codes: list | None = None, correlation_id: str | None = None) -> None:
        super().__init__(msg, auth_error=error, auth_error_codes=error_codes, correlation_id=correlation_id)


class TransportError(OutlookError):
    """The request never got an HTTP answer (connection refused, TLS, timeout), even after retries."""

    stops_run = True

    def __init__(self, msg: str, method: str | None = None, url: str | None = None) -> None:
        super().__init__(msg, method=method, url=url)


class UsersFailed(OutlookError):
    """Some users of a many-user task failed and fail_on_error is set: the task fails with every result attached."""


class GraphError(OutlookError):
    """The API answered with an error status; code and request id are kept for support cases."""

    def __init__(self, status: int, code: str | None, message: str | None, request_id: str | None = None, method: str | None = None,
                 url: str | None = None, retry_after: str | None = None) -> None:
        text = "%s %s failed with HTTP %s" % (method or "Request", url or "", status)
        if code:
            text += " %s" % code
        if message:
            text += ": %s" % message
        if request_id:
            text += " (request-id %s)" % request_id
        super().__init__(text, status=status, error_code=code, request_id=request_id)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        self.retry_after = retry_after


class MalformedAnswerError(OutlookError):
    """The service answered, but not with what the API promises (wrong JSON types, missing fields, bad base64,
    a cut-off body, duplicated or missing $batch ids). Names the request and its request-id for a support case."""

    def __init__(self, problem: str, method: str | None = None, url: str | None = None, request_id: str | None = None) -> None:
        text = "%s %s answered something this module cannot trust: %s" % (method or "Request", url or "", problem)
        if request_id:
            text += " (request-id %s)" % request_id
        super().__init__(text, method=method, url=url, request_id=request_id)
        self.problem = problem
        self.request_id = request_id


class AnswerTooLargeError(MalformedAnswerError):
    """An answer bigger than the limit set for its kind ($batch, photo, JSON): refused while it streams in, never read
    whole. limit_name says which limit, limit_bytes how many bytes it allows."""

    def __init__(self, limit_name: str, limit_bytes: int, method: str | None = None, url: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__("the answer is over the %s limit of %s, so it was not read" % (limit_name, _size(limit_bytes)),
                         method=method, url=url, request_id=request_id)
        self.details.update(answer_limit=limit_name, answer_limit_bytes=limit_bytes)
        self.limit_name = limit_name
        self.limit_bytes = limit_bytes


def _size(count: int) -> str:
    return "%d MiB" % (count >> 20) if count >= 1 << 20 and not count % (1 << 20) else "%d bytes" % count


class PhotoDisagreementError(OutlookError):
    """Two answers about one photo contradict each other (metadata says there is a photo, $value says there is
    none). Never read as "no photo": that would replace or keep a photo on a guess."""


class UnexpectedError(OutlookError):
    """Anything that is not one of ours (a bug, a library's surprise), caught so that it fails one user, not the run."""

    def __init__(self, what: str, exc: BaseException) -> None:
        super().__init__("%s: unexpected %s: %s" % (what, type(exc).__name__, exc))
        self.original = exc


class WrittenThenFailedError(OutlookError):
    """The write succeeded and something after it failed (read-back, wait): the task changed the photo all the same."""

    def __init__(self, what: str, cause: BaseException, **details: Any) -> None:
        cause_text = cause.msg if isinstance(cause, OutlookError) else "%s: %s" % (type(cause).__name__, cause)
        super().__init__("%s succeeded, but then: %s" % (what, cause_text), changed=True, **details)
        self.cause = cause


def as_outlook_error(exc: BaseException, what: str) -> OutlookError:
    """exc itself when it is one of ours, else an UnexpectedError naming what was being done."""
    return exc if isinstance(exc, OutlookError) else UnexpectedError(what, exc)


# Codes Graph and Outlook use for "this user has no photo" (graph-photo-api.md section 2).
NO_PHOTO_CODES = frozenset(("imagenotfound", "erroritemnotfound", "errorentitynotfound", "getuserphoto"))


def is_no_photo(error: BaseException | None) -> bool:
    return (isinstance(error, GraphError) and error.status == 404 and isinstance(error.code, str)
            and error.code.lower() in NO_PHOTO_CODES)
