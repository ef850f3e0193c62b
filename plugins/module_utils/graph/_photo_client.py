# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Photo operations in the two API dialects: Microsoft Graph v1.0 and Outlook REST v2.0."""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union
from urllib.parse import quote

from ._answers import (GRAPH_KEYS, OUTLOOK_V2_KEYS, Origin, PhotoMetadata, is_object_id, json_body, photo_bytes, photo_metadata,
                       photo_sizes, response_origin, served_etag, users_page)
from ._batch import MAX_BATCH, BatchItem, run_batch
from ._body import JSON_ANSWER, PHOTO_ANSWER, AnswerLimit
from ..common._errors import ConfigurationError, GraphError, MalformedAnswerError, OutlookError, is_no_photo
from ..common._users import ME, shown_user
from ._owners import Owner, PhotoOwner, kind_of
from ._photo_settings import read_photo_settings

# What an API can do. Each name below is a capability that API_CAPABILITIES lists per API.
REMOVE_PHOTO = "remove_photo"        # DELETE .../photo/$value
BATCH = "batch"                      # JSON batching ($batch), 20 reads per request
LIST_USERS = "list_users"            # /users, page by page
PHOTO_SIZES = "photo_sizes"          # /photos, the sizes kept of a photo
NATIONAL_CLOUDS = "national_clouds"  # a default endpoint outside the worldwide cloud
GROUP_PHOTOS = "group_photos"        # /groups/{id}/photo and /teams/{id}/photo (_owners.OWNER_KINDS)

API_CAPABILITIES = {
    "graph": frozenset((REMOVE_PHOTO, BATCH, LIST_USERS, PHOTO_SIZES, NATIONAL_CLOUDS, GROUP_PHOTOS)),
    # The Outlook REST v2.0 service only ever had the photo itself, at one host of the worldwide cloud.
    "outlook_v2": frozenset(),
}

# Why a task needs capabilities, and what it is told when the chosen API lacks one (the wording users know).
API_USES = {
    "state_absent": "The Outlook REST v2.0 API cannot remove a photo: use api=graph for state=absent.",
    "remove_photos": "The Outlook REST v2.0 API cannot remove a photo: use api=graph to remove photos.",
    "all_users_or_sizes": ("all_users and include_sizes need api=graph: the Outlook REST v2.0 API has neither a user list "
                           "nor /photos."),
    "list_users": "Listing all users needs api=graph.",
    "photo_sizes": "Photo sizes need api=graph: the Outlook REST v2.0 API has no /photos.",
    "cloud": "The Outlook REST v2.0 API has no endpoint in the %(cloud)s cloud: use api=graph, or set api_url.",
    "group_photos": "Group and Team photos need api=graph: the Outlook REST v2.0 API has user photos only.",
}


def api_can(api: str, capability: str) -> bool:
    """Whether api (an api option value) has capability; any other value means Graph, as in dialect_for()."""
    return capability in API_CAPABILITIES.get(api, API_CAPABILITIES["graph"])


def require_capabilities(api: str, needed: Iterable[str], use: str, **details: Any) -> None:
    """The one check of what an API can do: ConfigurationError(API_USES[use] % details) when api lacks any of needed.

    Called with the options before the first request; the client repeats it as a guard for callers that skip it.
    """
    if any(not api_can(api, capability) for capability in needed):
        raise ConfigurationError(API_USES[use] % details if details else API_USES[use])


def odata_key(user: str) -> str:
    """('key') for an OData key segment: a quote is doubled, then the whole key is percent-encoded as one segment."""
    return "('%s')" % quote(user.replace("'", "''"), safe="")


class Dialect:
    """What differs between the APIs: how a user is addressed, the write method, the metadata keys, the capabilities."""

    name = ""
    write_method = ""
    keys: Any = None

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base

    @property
    def capabilities(self) -> frozenset:
        return API_CAPABILITIES[self.name]

    def user_path(self, user: PhotoOwner) -> str:
        """The owner's path: ME for the signed-in user (None), a user's key path, or groups/{id} and teams/{id}."""
        if isinstance(user, Owner):
            kind = kind_of(user)
            require_capabilities(self.name, (kind.capability,), kind.capability)
            return "%s/%s" % (kind.collection, quote(user.key, safe=""))
        return ME if user is None else self._user_key_path(user)

    def _user_key_path(self, user: str) -> str:
        raise NotImplementedError

    def photo_url(self, user: Optional[str], value: bool = False) -> str:
        return self.api_base + self.photo_path(user, value)

    def photo_path(self, user: Optional[str], value: bool = False) -> str:
        """Path relative to the API root, as $batch items name it."""
        return "/%s/photo%s" % (self.user_path(user), "/$value" if value else "")

    def parse_metadata(self, body: Any, origin: Optional[Origin] = None) -> Optional[PhotoMetadata]:
        """PhotoMetadata or None (placeholder); raises MalformedAnswerError."""
        return photo_metadata(body, origin or Origin(), self.keys)


class GraphDialect(Dialect):
    """Microsoft Graph v1.0: /users/{id | userPrincipalName}/photo."""

    name = "graph"
    write_method = "PUT"
    keys = GRAPH_KEYS

    def _user_key_path(self, user: str) -> str:
        if user.startswith("$"):
            # Graph reads /users/$x as a system query option; such UPNs must be a key (Graph known issues).
            return "users" + odata_key(user)
        # One path segment whatever the UPN holds: '#EXT#' would start a fragment, '/' a new segment.
        return "users/" + quote(user, safe="")

    def sizes_path(self, user: Optional[str]) -> str:
        return "/%s/photos" % self.user_path(user)

    def object_id_path(self, user: str) -> str:
        return "/%s?$select=id" % self.user_path(user)

    def users_url(self, page_size: int, user_filter: Optional[str] = None) -> str:
        url = "%s/users?$select=id,userPrincipalName&$top=%d" % (self.api_base, page_size)
        if user_filter is not None:
            url += "&$filter=" + quote(user_filter, safe="")
        return url


class OutlookV2Dialect(Dialect):
    """Outlook REST v2.0 (the seed API): /Users('{user_id}')/photo, PascalCase metadata."""

    name = "outlook_v2"
    # The seed document's sample request uses PATCH; v2.0 accepts PATCH or PUT.
    write_method = "PATCH"
    keys = OUTLOOK_V2_KEYS

    def _user_key_path(self, user: str) -> str:
        return "Users" + odata_key(user)


def dialect_for(endpoints: Any) -> Dialect:
    if endpoints.api == "outlook_v2":
        return OutlookV2Dialect(endpoints.api_base)
    return GraphDialect(endpoints.api_base)


# Codes that say the user has no Exchange Online mailbox (graph-photo-api.md sections 3 and 8): the photo API
# cannot serve them. Never "no photo": a sync must not upload over, or report as missing, what it cannot read.
NO_MAILBOX_CODES = frozenset(("errornonexistentmailbox", "mailboxnotenabledforrestapi", "mailboxnothostedinexchangeonline"))


# Writes larger than this were refused (404) for users whose photo is kept in Entra ID (microsoft-graph-docs#8236;
# AD's thumbnailPhoto holds at most 102,400 bytes).
ENTRA_PHOTO_LIMIT = 100 * 1024


class UserNotFoundError(GraphError):
    """The user key matched nobody in the tenant."""


class PhotoClient:
    """Reads and writes one user's photo. user=None means the signed-in user (/me, delegated tokens only).

    Every answer goes through the readers of _answers: an answer of the wrong shape is a MalformedAnswerError,
    raised by the one-user methods and returned as that user's value by the *_many methods.
    """

    def __init__(self, transport: Any, dialect: Dialect) -> None:
        self.transport = transport
        self.dialect = dialect
        self._policy = None  # the tenant's photo policy once a refused write made the client read it (policy_hint)
        self._policy_lock = threading.Lock()

    def get_metadata(self, user: Optional[str]) -> Optional[PhotoMetadata]:
        """PhotoMetadata, or None when the user has no photo (404 no-photo codes or the 1x1 placeholder)."""
        url = self.dialect.photo_url(user)
        response = self._get_photo(user, url)
        if response is None:
            return None
        origin = response_origin(response, "GET", url)
        return photo_metadata(json_body(response, origin), origin, self.dialect.keys)

    def _get_photo(self, user: Optional[str], url: str, limit: AnswerLimit = JSON_ANSWER) -> Any:
        """The answer to GET url, or None when the user has no photo; other errors explained."""
        try:
            return self.transport.request("GET", url, limit=limit)
        except GraphError as exc:
            if is_no_photo(exc):
                return None
            raise self._explain(exc, user) from None

    def get_metadata_many(self, users: Iterable[Optional[str]]) -> Dict[Optional[str], Union[PhotoMetadata, None, OutlookError]]:
        """{user: PhotoMetadata | None | OutlookError} for many users, 20 per round trip where the API batches.

        A malformed answer is that user's MalformedAnswerError; a failed or malformed $batch answer is the
        error of each user in that batch. Only errors that stop the run (stops_run) are raised.
        """
        return self._read_many(users, value=False)

    def get_content_many(self, users: Iterable[Optional[str]]) -> Dict[Optional[str], Union[bytes, None, OutlookError]]:
        """{user: bytes | None | OutlookError}, batched like get_metadata_many."""
        return self._read_many(users, value=True)

    def read_content_many(self, users: Iterable[Optional[str]]) -> Tuple[Dict[Optional[str], Union[bytes, None, OutlookError]], Dict[Optional[str], str]]:
        """(content as get_content_many gives it, {user: the ETag header that came with those very bytes}); a user whose
        answer had no ETag header is not in the second dict."""
        etags: Dict[Optional[str], str] = {}
        return self._read_many(users, value=True, etags=etags), etags

    def get_object_ids_many(self, users: Iterable[str]) -> Dict[str, Union[str, None, OutlookError]]:
        """{user: object id (lower case) | None when the answer names none | OutlookError}: GET /users/{key}?$select=id,
        20 per $batch (needs User.ReadBasic.All). UserNotFoundError for a key that matches nobody."""
        require_capabilities(self.dialect.name, (LIST_USERS, BATCH), "list_users")
        found: Dict[str, Union[str, None, OutlookError]] = {}
        for group, items in self._batches(users, self.dialect.object_id_path):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, self._read_object_id)
        return found

    def get_sizes_many(self, users: Iterable[Optional[str]]) -> Dict[Optional[str], Union[List[PhotoMetadata], OutlookError]]:
        """{user: [PhotoMetadata per available size] | OutlookError}: the sizes the service keeps (Graph /photos)."""
        require_capabilities(self.dialect.name, (PHOTO_SIZES, BATCH), "photo_sizes")
        found = {}
        for group, items in self._batches(users, self.dialect.sizes_path):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, self._read_sizes, no_photo=[])
        return found

    def list_users(self, page_size: int = 999, user_filter: Optional[str] = None) -> Iterator[Tuple[str, Optional[str]]]:
        """Every user of the tenant as (object id, user principal name), following @odata.nextLink; with user_filter,
        the users that OData $filter selects (the service refuses, with a 400, a filter it does not serve).

        A malformed page raises MalformedAnswerError; so does a nextLink that leads back to a page already read.
        """
        require_capabilities(self.dialect.name, (LIST_USERS,), "list_users")
        url = self.dialect.users_url(page_size, user_filter)
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

    def _read_many(self, users, value, etags=None):
        if BATCH not in self.dialect.capabilities:
            return {user: self._read_one(user, value, etags) for user in users}
        read = self._read_binary if value else self._read_metadata
        found = {}
        for group, items in self._batches(users, lambda user: self.dialect.photo_path(user, value)):
            for user, item in zip(group, items):
                found[user] = self._batch_answer(user, item, read)
                etag = served_etag(item.headers) if etags is not None and isinstance(found[user], bytes) else None
                if etag:
                    etags[user] = etag
        return found

    def _read_binary(self, item):
        return item.binary(self.dialect.api_base)

    def _read_object_id(self, item):
        value = item.body.get("id") if isinstance(item.body, dict) else None
        if not isinstance(value, str) or not is_object_id(value):
            return None
        return value.lower()

    def _read_sizes(self, item):
        return photo_sizes(item.body, self._origin(item), self.dialect.keys)

    def _read_metadata(self, item):
        return photo_metadata(item.body, self._origin(item), self.dialect.keys)

    def _read_one(self, user, value, etags=None):
        try:
            return self.get_content(user, etags) if value else self.get_metadata(user)
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

    def get_content(self, user: Optional[str], etags: Optional[Dict[Optional[str], str]] = None) -> Optional[bytes]:
        """The stored image bytes, or None when there is none; an empty 200 body is a MalformedAnswerError. With etags,
        the answer's ETag header (if any) goes into etags[user]."""
        url = self.dialect.photo_url(user, value=True)
        response = self._get_photo(user, url, PHOTO_ANSWER)
        if response is None:
            return None
        data = photo_bytes(response, response_origin(response, "GET", url))
        etag = served_etag(getattr(response, "headers", None)) if etags is not None else None
        if etag:
            etags[user] = etag
        return data

    def put_content(self, user: PhotoOwner, data: bytes, content_type: str) -> None:
        try:
            self.transport.request(self.dialect.write_method, self.dialect.photo_url(user, value=True),
                                   data=data, headers={"Content-Type": content_type})
        except GraphError as exc:
            if exc.status == 404 and len(data) > ENTRA_PHOTO_LIMIT and not isinstance(user, Owner):
                # What a photo kept in Entra ID (a user without a mailbox) answered for a write over ~100 KB
                # (microsoft-graph-docs#8236): a 404 that names no size.
                exc.msg = ("%s (the photo is %d bytes: a user without an Exchange Online mailbox, such as a guest, keeps "
                           "the photo in Entra ID, where writes over about 100 KB have been refused with a 404; send a "
                           "smaller image, for example with max_dimension)" % (exc.msg, len(data)))
                raise exc from None
            raise self._explain(exc, user, write=True) from None

    def delete_content(self, user: PhotoOwner) -> None:
        require_capabilities(self.dialect.name, (REMOVE_PHOTO,), "state_absent")
        if not kind_of(user).can_remove:
            raise ConfigurationError("A %s photo cannot be removed (the service has no DELETE for it)." % kind_of(user).noun)
        try:
            self.transport.request("DELETE", self.dialect.photo_url(user, value=True))
        except GraphError as exc:
            if is_no_photo(exc):
                return  # already gone: the desired state holds
            raise self._explain(exc, user, write=True) from None

    def _explain(self, exc, user, write=False):
        """Adds the likely fix to the errors people meet most; keeps status, code and request id. A refused write
        (403) is checked against the tenant's photo policy first (policy_hint)."""
        hint = None
        kind = kind_of(user)
        code = exc.code.lower() if isinstance(exc.code, str) else ""
        if exc.status == 404 and code in ("request_resourcenotfound", "resourcenotfound", "errorinvalideuser", "errorinvaliduser",
                                          "notfound"):
            found = ("user %r was not found: use the object id or the UPN" % user if not isinstance(user, Owner)
                     else "%s %s was not found: no group has this object id" % (kind.noun, user.key))
            if isinstance(user, Owner) and not kind.can_remove:
                found += " (and check that the group is a Team: use endpoint=group for a group that is not)"
            return UserNotFoundError(exc.status, exc.code, found, request_id=exc.request_id, method=exc.method, url=exc.url)
        if code == "apponlytokennotsupportedforgroupupdate":
            hint = ("this tenant or cloud refuses app-only writes of group photos: use a delegated token (access_token of a "
                    "signed-in user who owns the group or is an administrator), or endpoint=team for a Team with "
                    "TeamSettings.ReadWrite.All")
        elif code in NO_MAILBOX_CODES:
            hint = ("no mailbox: the tenant keeps no photo for this user; %s has no Exchange Online mailbox (guests, "
                    "unlicensed users and mailboxes hosted on-premises have none), and this tenant keeps photos in "
                    "mailboxes: license the user for Exchange Online or leave them out"
                    % ("the signed-in user" if user is None else "%s %r" % (kind.noun, shown_user(user))))
        elif exc.status == 401:
            hint = ("the API refused the token: check that cloud matches the tenant's cloud (the token is issued for "
                    "that cloud's API) and that the app registration is in this tenant")
        elif exc.status == 403:
            needs = "the app needs %s" % kind.write_permissions if write else "the app needs %s" % kind.read_permissions
            if kind is kind_of(None):
                needs = "the app needs the ProfilePhoto.ReadWrite.All application permission with admin consent"
            hint = self.policy_hint(needs) if write else needs
        elif exc.status == 400 and user is None:
            hint = "without user the module addresses /me, which needs a delegated token; set user for app-only auth"
        elif exc.status == 413:
            hint = "the photo is larger than the service accepts (4 MB)"
        if hint:
            exc.msg = "%s (%s)" % (exc.msg, hint)
        return exc

    def policy_hint(self, needs: str) -> str:
        """Why a photo write got a bare 403: the tenant's photo policy (read once per client, so once per run), or the
        permission `needs` names. The service answers both with the same 403, so only the policy can tell them apart."""
        with self._policy_lock:
            if self._policy is None:
                self._policy = self._read_policy()
            policy = self._policy
        if isinstance(policy, str):
            return "%s, unless the tenant's photo policy turns photo updates off; %s" % (needs, policy)
        if getattr(policy, "source", None) == "onPremises":
            return ("photo updates are turned off in this tenant: its photo policy (photoUpdateSettings) says source "
                    "onPremises, so photos are managed on-premises; a change of that setting takes up to 24 hours to apply")
        return needs

    def _read_policy(self):
        """The tenant's PhotoSettings, or a text saying why the module cannot tell."""
        try:
            return read_photo_settings(self.transport, self.dialect.api_base)
        except ConfigurationError:
            return "with an api_url that does not end in /v1.0 the module cannot read the policy (a beta API) to tell"
        except GraphError as exc:
            if exc.status == 403:
                return "PeopleSettings.Read.All would let the module read the policy and tell which"
            return "the policy could not be read to tell (HTTP %s)" % exc.status
        except OutlookError as exc:  # a malformed answer, a dropped connection: the write's own error still stands
            return "the policy could not be read to tell (%s)" % type(exc).__name__
