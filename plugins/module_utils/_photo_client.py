# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Photo operations in the two API dialects: Microsoft Graph v1.0 and Outlook REST v2.0."""

from __future__ import annotations

from urllib.parse import quote

from ._batch import MAX_BATCH, BatchItem, run_batch
from ._errors import ConfigurationError, GraphError, is_no_photo


class PhotoMetadata:
    """What the service says about a stored photo."""

    __slots__ = ("photo_id", "width", "height", "content_type", "etag")

    def __init__(self, photo_id, width, height, content_type, etag):
        self.photo_id = photo_id
        self.width = width
        self.height = height
        self.content_type = content_type
        self.etag = etag

    def to_dict(self):
        return dict(id=self.photo_id, width=self.width, height=self.height,
                    content_type=self.content_type, etag=self.etag)


def _unquote_etag(value):
    # Graph sends "@odata.mediaEtag": "\"BA09D118\"" (a quoted string inside the JSON string).
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def _is_placeholder(content_type, photo_id, width, height):
    """The 1x1 image/gif answer that means "no photo" (Outlook v2.0 always, Graph as documented)."""
    return (str(photo_id or "").lower() == "1x1" and width == 1 and height == 1
            and (content_type or "").lower() == "image/gif")


def _metadata(body, keys):
    photo_id, width, height = (body.get(k) for k in keys)
    content_type = body.get("@odata.mediaContentType")
    if _is_placeholder(content_type, photo_id, width, height):
        return None
    return PhotoMetadata(photo_id, width, height, content_type, _unquote_etag(body.get("@odata.mediaEtag")))


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

    @staticmethod
    def parse_metadata(body):
        return _metadata(body, ("id", "width", "height"))


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

    @staticmethod
    def parse_metadata(body):
        return _metadata(body, ("Id", "Width", "Height"))


def dialect_for(endpoints):
    if endpoints.api == "outlook_v2":
        return OutlookV2Dialect(endpoints.api_base)
    return GraphDialect(endpoints.api_base)


class UserNotFoundError(GraphError):
    """The user key matched nobody in the tenant."""


class PhotoClient:
    """Reads and writes one user's photo. user=None means the signed-in user (/me, delegated tokens only)."""

    def __init__(self, transport, dialect):
        self.transport = transport
        self.dialect = dialect

    def get_metadata(self, user):
        """PhotoMetadata, or None when the user has no photo (404 no-photo codes or the 1x1 placeholder)."""
        try:
            response = self.transport.request("GET", self.dialect.photo_url(user))
        except GraphError as exc:
            if is_no_photo(exc):
                return None
            raise self._explain(exc, user) from None
        return self.dialect.parse_metadata(response.json())

    def get_metadata_many(self, users):
        """{user: PhotoMetadata | None | GraphError} for many users, 20 per round trip where the API batches."""
        return self._read_many(users, value=False)

    def get_content_many(self, users):
        """{user: bytes | None | GraphError}, batched like get_metadata_many."""
        return self._read_many(users, value=True)

    def get_sizes_many(self, users):
        """{user: [PhotoMetadata per available size] | GraphError}: the sizes the service keeps (Graph /photos)."""
        if not self.dialect.supports_batch:
            raise ConfigurationError("Photo sizes need api=graph: the Outlook REST v2.0 API has no /photos.")
        found = {}
        for group, items in self._batches(users, self.dialect.sizes_path):
            for user, item in zip(group, items):
                if item.status is not None and 200 <= item.status < 300:
                    found[user] = [self.dialect.parse_metadata(entry) for entry in (item.body or {}).get("value", [])]
                    found[user] = [size for size in found[user] if size is not None]
                else:
                    error = item.error(self.dialect.api_base)
                    found[user] = [] if is_no_photo(error) else self._explain(error, user)
        return found

    def list_users(self, page_size=999):
        """Every user of the tenant as (object id, user principal name), following @odata.nextLink."""
        if not self.dialect.supports_batch:
            raise ConfigurationError("Listing all users needs api=graph.")
        url = self.dialect.users_url(page_size)
        while url:
            body = self.transport.request("GET", url).json()
            for entry in body.get("value", []):
                yield entry.get("id"), entry.get("userPrincipalName")
            url = body.get("@odata.nextLink")

    def _batches(self, users, path_for):
        users = list(users)
        for start in range(0, len(users), MAX_BATCH):
            group = users[start:start + MAX_BATCH]
            items = [BatchItem(index, "GET", path_for(user)) for index, user in enumerate(group)]
            yield group, run_batch(self.transport, self.dialect.api_base, items)

    def _read_many(self, users, value):
        if not self.dialect.supports_batch:
            return {user: self._read_one(user, value) for user in users}
        found = {}
        for group, items in self._batches(users, lambda user: self.dialect.photo_path(user, value)):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, value)
        return found

    def _read_one(self, user, value):
        try:
            return self.get_content(user) if value else self.get_metadata(user)
        except GraphError as exc:
            return exc

    def _batch_answer(self, user, item, value):
        if item.status is not None and 200 <= item.status < 300:
            return item.binary() if value else self.dialect.parse_metadata(item.body or {})
        error = item.error(self.dialect.api_base)
        if is_no_photo(error):
            return None
        return self._explain(error, user)

    def get_content(self, user):
        """The stored image bytes, or None when there is none."""
        try:
            response = self.transport.request("GET", self.dialect.photo_url(user, value=True))
        except GraphError as exc:
            if is_no_photo(exc):
                return None
            raise self._explain(exc, user) from None
        return response.content

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
        code = (exc.code or "").lower()
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
