# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The tenant's photo policy: Graph's beta photoUpdateSettings (source, allowedRoles), read and changed.

It exists on /beta only, so the /v1.0 base every module uses becomes /beta here. Answers go through the readers of
_answers: a malformed one is a MalformedAnswerError. A 403 says which permission was missing; every other error is
the transport's own GraphError (or TransportError, AuthenticationError...), unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..common._errors import ConfigurationError, GraphError
from ._answers import Origin, json_body, response_origin

POLICY_PATH = "/admin/people/photoUpdateSettings"
READ_PERMISSION = "PeopleSettings.Read.All"
WRITE_PERMISSION = "PeopleSettings.ReadWrite.All"
SOURCES = ("cloud", "onPremises")

_V1_SUFFIX = re.compile(r"/v1\.0/?\Z")
_READ_HINT = ("reading the tenant's photo policy needs %s (or %s), with admin consent for an application permission"
              % (READ_PERMISSION, WRITE_PERMISSION))
_WRITE_HINT = "changing the tenant's photo policy needs %s, with admin consent for an application permission" % WRITE_PERMISSION
# The module's names of the settings, and the service's.
_WIRE_NAMES = {"source": "source", "allowed_roles": "allowedRoles"}


def beta_base(api_base: str) -> str:
    """api_base with its trailing /v1.0 (a trailing slash allowed) made /beta; ConfigurationError for any other."""
    if not isinstance(api_base, str) or not _V1_SUFFIX.search(api_base):
        raise ConfigurationError("photoUpdateSettings is a beta API: api_url must end in /v1.0 so that the module can use /beta "
                                 "(got %r)." % (api_base,))
    return _V1_SUFFIX.sub("/beta", api_base)


def policy_url(api_base: str) -> str:
    """The URL of photoUpdateSettings for the /v1.0 base api_base."""
    return beta_base(api_base) + POLICY_PATH


class PhotoSettings:
    """The photo policy: source (cloud, onPremises, whatever newer value the service sends, or None when the tenant
    never set it) and allowed_roles, the role template ids that may change photos in the cloud, in lower case, sorted,
    each once (empty when none are set)."""

    __slots__ = ("source", "allowed_roles")

    def __init__(self, source: Optional[str], allowed_roles: Iterable[str]) -> None:
        self.source = source
        self.allowed_roles: List[str] = sorted({role.lower() for role in allowed_roles})

    @property
    def photo_writes_off(self) -> bool:
        """True when the policy turns photo updates in the cloud off (source onPremises), for admins and users alike."""
        return self.source == "onPremises"

    def as_dict(self) -> Dict[str, Any]:
        return dict(source=self.source, allowed_roles=list(self.allowed_roles))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhotoSettings) and (self.source, self.allowed_roles) == (other.source, other.allowed_roles)

    def __hash__(self) -> int:
        return hash((self.source, tuple(self.allowed_roles)))

    def __repr__(self) -> str:
        return "PhotoSettings(source=%r, allowed_roles=%r)" % (self.source, self.allowed_roles)


def photo_settings(body: Any, origin: Origin) -> PhotoSettings:
    """PhotoSettings from a photoUpdateSettings entity; MalformedAnswerError for anything of another shape."""
    if not isinstance(body, dict):
        raise origin.fail("the photo policy is not an object")
    # A tenant that never set its policy has an "empty" one (null values): that is no policy set, not a broken answer.
    source = body.get("source")
    if source is not None and (not isinstance(source, str) or not source):
        raise origin.fail("the photo policy's source is not a non-empty string")
    roles = body.get("allowedRoles")
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(role, str) and role for role in roles):
        raise origin.fail("the photo policy's allowedRoles is not a list of strings")
    return PhotoSettings(source, roles)


def _explained(exc: GraphError, hint: str) -> GraphError:
    """exc itself (its class, status, code and request id kept), its message naming the missing permission on a 403."""
    if exc.status == 403:
        exc.msg = "%s (%s)" % (exc.msg, hint)
    return exc


def read_photo_settings(transport: Any, api_base: str) -> PhotoSettings:
    """The tenant's photo policy: GET {beta}/admin/people/photoUpdateSettings.

    api_base is the collection's /v1.0 base (ConfigurationError for any other, before anything is sent). Raises what
    transport.request() raises (GraphError and its subclasses, TransportError, AuthenticationError...), a 403 naming
    PeopleSettings.Read.All, and MalformedAnswerError for an answer of the wrong shape.
    """
    url = policy_url(api_base)
    try:
        response = transport.request("GET", url)
    except GraphError as exc:
        raise _explained(exc, _READ_HINT) from None
    origin = response_origin(response, "GET", url)
    return photo_settings(json_body(response, origin), origin)


def update_photo_settings(transport: Any, api_base: str, changes: Mapping[str, Any]) -> PhotoSettings:
    """PATCHes the settings in changes ({"source": str, "allowed_roles": [str]}, either or both) and returns the policy
    the service answers with; the keys left out are not sent, so the service keeps them.

    Errors as read_photo_settings(), a 403 naming PeopleSettings.ReadWrite.All. A 204 answer (no entity) is followed
    by one read.
    """
    unknown = sorted(set(changes) - set(_WIRE_NAMES))
    if unknown or not changes:
        raise ValueError("changes must name source and/or allowed_roles, got %r" % sorted(changes))
    body = {_WIRE_NAMES[name]: (list(value) if name == "allowed_roles" else value) for name, value in changes.items()}
    url = policy_url(api_base)
    try:
        response = transport.request("PATCH", url, json_body=body)
    except GraphError as exc:
        raise _explained(exc, _WRITE_HINT) from None
    if getattr(response, "status_code", None) == 204:
        return read_photo_settings(transport, api_base)
    origin = response_origin(response, "PATCH", url)
    return photo_settings(json_body(response, origin), origin)
