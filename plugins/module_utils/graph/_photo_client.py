# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Photo operations in the two API dialects: Microsoft Graph v1.0 and Outlook REST v2.0."""

from __future__ import annotations

from urllib.parse import quote

from ._answers import (GRAPH_KEYS, OUTLOOK_V2_KEYS, Origin, PhotoMetadata, json_body, photo_bytes, photo_metadata, photo_sizes,
                       response_origin, users_page)
from ._batch import MAX_BATCH, BatchItem, run_batch
from ..common._errors import ConfigurationError, GraphError, MalformedAnswerError, is_no_photo


class GraphDialect:
    """Microsoft Graph v1.0: /users/{id | userPrincipalName}/photo."""

    name = "graph"
    write_method = "PUT"
    supports_delete = True

    def __init__(self, api_base):
        self.api_base = api_base

    def user_path(self, user):
        if user is None:
            return "me"
        if user.startswith("$"):
            # Graph reads /users/$x as a system query option; such UPNs must be a key (Graph known issues).
            return "users('%s')" % quote(user.replace("'", "''"), safe="")
        # One path segment whatever the UPN holds: '#EXT#' would start a fragment, '/' a new segment.
        return "users/" + quote(user, safe="")

    supports_batch = True

    def photo_url(self, user, value=False):
        return self.api_base + self.photo_path(user, value)

    def photo_path(self, user, value=False):
        """Path relative to the API root, as $batch items name it."""
        return "/%s/photo%s" % (self.user_path(user), "/$value" if value else "")

    def sizes_path(self, user):
        return "/%s/photos" % self.user_path(user)

    def users_url(self, page_size):
        return "%s/users?$select=id,userPrincipalName&$top=%d" % (self.api_base, page_size)

    keys = GRAPH_KEYS

    @staticmethod
    def parse_metadata(body, origin=None):
        """PhotoMetadata or None (placeholder); raises MalformedAnswerError."""
        return photo_metadata(body, origin or Origin(), GRAPH_KEYS)


class OutlookV2Dialect:
    """Outlook REST v2.0 (the seed API): /Users('{user_id}')/photo, PascalCase metadata."""

    name = "outlook_v2"
    # The seed document's sample request uses PATCH; v2.0 accepts PATCH or PUT.
    write_method = "PATCH"
    supports_delete = False
    supports_batch = False

    def __init__(self, api_base):
        self.api_base = api_base

    def user_path(self, user):
        if user is None:
            return "me"
        # An OData string key: a quote is doubled, then the whole key is percent-encoded as one segment.
        return "Users('%s')" % quote(user.replace("'", "''"), safe="")

    def photo_url(self, user, value=False):
        return "%s/%s/photo%s" % (self.api_base, self.user_path(user), "/$value" if value else "")

    keys = OUTLOOK_V2_KEYS

    @staticmethod
    def parse_metadata(body, origin=None):
        """PhotoMetadata or None (placeholder); raises MalformedAnswerError."""
        return photo_metadata(body, origin or Origin(), OUTLOOK_V2_KEYS)


def dialect_for(endpoints):
    if endpoints.api == "outlook_v2":
        return OutlookV2Dialect(endpoints.api_base)
    return GraphDialect(endpoints.api_base)


class UserNotFoundError(GraphError):
    """The user key matched nobody in the tenant."""


class PhotoClient:
    """Reads and writes one user's photo. user=None means the signed-in user (/me, delegated tokens only).

    Every answer goes through the readers of _answers: an answer of the wrong shape is a MalformedAnswerError,
    raised by the one-user methods and returned as that user's value by the *_many methods.
    """

    def __init__(self, transport, dialect):
        self.transport = transport
        self.dialect = dialect

    def get_metadata(self, user) -> PhotoMetadata | None:
        """PhotoMetadata, or None when the user has no photo (404 no-photo codes or the 1x1 placeholder)."""
        url = self.dialect.photo_url(user)
        try:
            response = self.transport.request("GET", url)
        except GraphError as exc:
            if is_no_photo(exc):
                return None
            raise self._explain(exc, user) from None
        origin = response_origin(response, "GET", url)
        return photo_metadata(json_body(response, origin), origin, self.dialect.keys)

    def get_metadata_many(self, users):
        """{user: PhotoMetadata | None | OutlookError} for many users, 20 per round trip where the API batches.

        A malformed answer is that user's MalformedAnswerError; a failed or malformed $batch answer is the
        error of each user in that batch. Only errors that stop the run (stops_run) are raised.
        """
        return self._read_many(users, value=False)

    def get_content_many(self, users):
        """{user: bytes | None | OutlookError}, batched like get_metadata_many."""
        return self._read_many(users, value=True)

    def get_sizes_many(self, users):
        """{user: [PhotoMetadata per available size] | OutlookError}: the sizes the service keeps (Graph /photos)."""
        if not self.dialect.supports_batch:
            raise ConfigurationError("Photo sizes need api=graph: the Outlook REST v2.0 API has no /photos.")
        found = {}
        for group, items in self._batches(users, self.dialect.sizes_path):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, self._read_sizes, no_photo=[])
        return found

    def list_users(self, page_size=999):
        """Every user of the tenant as (object id, user principal name), following @odata.nextLink.

        A malformed page raises MalformedAnswerError; so does a nextLink that leads back to a page already read.
        """
        if not self.dialect.supports_batch:
            raise ConfigurationError("Listing all users needs api=graph.")
        url = self.dialect.users_url(page_size)
        visited = set()
        while url:
            visited.add(url)
            response = self.transport.request("GET", url)
            origin = response_origin(response, "GET", url)
            users, next_link = users_page(json_body(response, origin), origin)
            yield from users
            if next_link in visited:
                raise origin.fail("@odata.nextLink leads back to a page already read")
            url = next_link

    def _batches(self, users, path_for):
        users = list(users)
        for start in range(0, len(users), MAX_BATCH):
            group = users[start:start + MAX_BATCH]
            items = [BatchItem(index, "GET", path_for(user)) for index, user in enumerate(group)]
            yield group, run_batch(self.transport, self.dialect.api_base, items)

    def _origin(self, item):
        return item.origin(self.dialect.api_base)

    def _read_many(self, users, value):
        if not self.dialect.supports_batch:
            return {user: self._read_one(user, value) for user in users}
        read = self._read_binary if value else self._read_metadata
        found = {}
        for group, items in self._batches(users, lambda user: self.dialect.photo_path(user, value)):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, read)
        return found

    def _read_binary(self, item):
        return item.binary(self.dialect.api_base)

    def _read_sizes(self, item):
        return photo_sizes(item.body, self._origin(item), self.dialect.keys)

    def _read_metadata(self, item):
        return photo_metadata(item.body, self._origin(item), self.dialect.keys)

    def _read_one(self, user, value):
        try:
            return self.get_content(user) if value else self.get_metadata(user)
        except (GraphError, MalformedAnswerError) as exc:
            return exc

    def _batch_answer(self, user, item, read, no_photo=None):
        """What one batch item means for its user: read(item) on success, else an OutlookError (or no_photo)."""
        if item.failure is not None:
            # Shared by the whole batch when the batch request failed: returned as it is, not explained per user.
            return item.failure
        if item.succeeded:
            try:
                return read(item)
            except MalformedAnswerError as exc:
                return exc
        error = item.error(self.dialect.api_base)
        if is_no_photo(error):
            return no_photo
        return self._explain(error, user)

    def get_content(self, user):
        """The stored image bytes, or None when there is none; an empty 200 body is a MalformedAnswerError."""
        url = self.dialect.photo_url(user, value=True)
        try:
            response = self.transport.request("GET", url)
        except GraphError as exc:
            if is_no_photo(exc):
                return None
            raise self._explain(exc, user) from None
        return photo_bytes(response, response_origin(response, "GET", url))

    def put_content(self, user, data, content_type):
        try:
            self.transport.request(self.dialect.write_method, self.dialect.photo_url(user, value=True),
                                   data=data, headers={"Content-Type": content_type})
        except GraphError as exc:
            raise self._explain(exc, user) from None

    def delete_content(self, user):
        if not self.dialect.supports_delete:
            raise ConfigurationError("The Outlook REST v2.0 API cannot remove a photo: use api=graph for state=absent.")
        try:
            self.transport.request("DELETE", self.dialect.photo_url(user, value=True))
        except GraphError as exc:
            if is_no_photo(exc):
                return  # already gone: the desired state holds
            raise self._explain(exc, user) from None

    @staticmethod
    def _explain(exc, user):
        """Adds the likely fix to the errors people meet most; keeps status, code and request id."""
        hint = None
        code = exc.code.lower() if isinstance(exc.code, str) else ""
        if exc.status == 404 and code in ("request_resourcenotfound", "resourcenotfound", "errorinvalideuser", "errorinvaliduser"):
            return UserNotFoundError(exc.status, exc.code, "user %r was not found: use the object id or the UPN" % user,
                                     request_id=exc.request_id, method=exc.method, url=exc.url)
        if exc.status == 401:
            hint = ("the API refused the token: check that cloud matches the tenant's cloud (the token is issued for "
                    "that cloud's API) and that the app registration is in this tenant")
        elif exc.status == 403:
            hint = "the app needs the ProfilePhoto.ReadWrite.All application permission with admin consent"
        elif exc.status == 400 and user is None:
            hint = "without user the module addresses /me, which needs a delegated token; set user for app-only auth"
        elif exc.status == 413:
            hint = "the photo is larger than the service accepts (4 MB)"
        if hint:
            exc.msg = "%s (%s)" % (exc.msg, hint)
        return exc
