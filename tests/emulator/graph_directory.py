# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory reads (/users and /groups with $filter, /users/{key}, /groups/{id}) and the tenant's photo policy
(beta /admin/people/photoUpdateSettings)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote

from .graph_errors import graph_error
from .wire import Response

MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 100
# Graph's default user properties, then the extra ones $select may ask for.
DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                           "preferredLanguage", "surname", "userPrincipalName", "id")
USER_PROPERTIES = {name.lower(): name for name in DEFAULT_USER_PROPERTIES + ("userType", "accountEnabled")}
DEFAULT_GROUP_PROPERTIES = ("id", "displayName", "description", "mail", "mailNickname", "mailEnabled", "securityEnabled",
                            "groupTypes", "resourceProvisioningOptions", "visibility")
GROUP_PROPERTIES = {name.lower(): name for name in DEFAULT_GROUP_PROPERTIES}
_QUOTED = r"'((?:[^']|'')*)'"
# The $filter clauses /groups takes, joined by "and": what the modules and administrators' scripts send.
_GROUP_CLAUSES = (
    (re.compile(r"(mail|mailNickname|displayName|id)\s+eq\s+" + _QUOTED, re.IGNORECASE), "eq"),
    (re.compile(r"startswith\(\s*(mail|mailNickname|displayName)\s*,\s*" + _QUOTED + r"\s*\)", re.IGNORECASE), "startswith"),
    (re.compile(r"(groupTypes|resourceProvisioningOptions)/any\(\s*(\w+)\s*:\s*\2\s+eq\s+" + _QUOTED + r"\s*\)", re.IGNORECASE), "any"),
)
_GROUP_ATTRIBUTES = {"mail": "mail", "mailnickname": "mail_nickname", "displayname": "display_name", "id": "id",
                     "grouptypes": "group_types", "resourceprovisioningoptions": "provisioning"}
# The $filter clauses /users takes, joined by "and" (names and the userType value case-insensitive; true and false
# unquoted): the guest and disabled-account sweeps administrators' scripts run. Anything else is refused as Graph's
# directory refuses an unsupported clause (BEHAVIOURS.md, "Graph answers in detail", /users).
_USER_CLAUSES = (
    (re.compile(r"(userType)\s+eq\s+'(Guest|Member)'", re.IGNORECASE), "user_type"),
    (re.compile(r"(accountEnabled)\s+eq\s+(true|false)", re.IGNORECASE), "account_enabled"),
)
# Words of OData's $filter grammar that name no property: skipped when the refusal names the clause's property.
_FILTER_WORDS = frozenset(("eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "in", "has", "true", "false", "null",
                           "startswith", "endswith", "contains", "any", "all"))
_SKIPTOKEN_PREFIX = "RFNwdAI"


def _decode_base64(text):
    """Standard or URL-safe base64, padding optional (the batch doc says "base64 URL-encoded", SDKs send standard)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error:
        return base64.b64decode(padded, altchars=b"-_", validate=True)


def _split_and(text):
    """The clauses of a $filter joined by ' and ' outside quotes."""
    clauses, current, quoted, index = [], [], False, 0
    while index < len(text):
        char = text[index]
        if char == "'":
            quoted = not quoted
        if not quoted and text[index:index + 5].lower() == " and ":
            clauses.append("".join(current).strip())
            current, index = [], index + 5
            continue
        current.append(char)
        index += 1
    clauses.append("".join(current).strip())
    return clauses


def group_filter(text):
    """A predicate on groups for a $filter, or raise ValueError with Graph's kind of message."""
    tests = []
    if not text.strip():
        raise ValueError("Invalid filter clause: the $filter is empty.")
    for clause in _split_and(text):
        for pattern, how in _GROUP_CLAUSES:
            match = pattern.fullmatch(clause)
            if match:
                break
        else:
            raise ValueError("Invalid filter clause: the emulator takes mail, mailNickname, displayName or id eq '...', "
                             "startswith(...) and groupTypes/any(c:c eq '...') or resourceProvisioningOptions/any(...), "
                             "joined by 'and'; not '%s'." % clause)
        attribute = _GROUP_ATTRIBUTES[match.group(1).lower()]
        wanted = match.group(match.lastindex).replace("''", "'").lower()
        tests.append((how, attribute, wanted))

    def matches(group):
        for how, attribute, wanted in tests:
            value = getattr(group, attribute)
            if how == "any":
                if wanted not in (item.lower() for item in value):
                    return False
            elif value is None or not (value.lower() == wanted if how == "eq" else value.lower().startswith(wanted)):
                return False
        return True

    return matches


class UnsupportedQuery(ValueError):
    """A $filter the emulator's /users does not serve; str() is Graph's Request_UnsupportedQuery message."""


def _filter_property(clause):
    """The property a refused clause names, for the message: its first name outside quotes that is not an OData word."""
    unquoted = re.sub(r"'(?:[^']|'')*'?", " ", clause)
    for name in re.findall(r"[A-Za-z_][\w/.]*", unquoted):
        if name.lower() not in _FILTER_WORDS:
            return name
    return clause.strip()


def user_filter(text):
    """A predicate on users for a $filter of /users, or raise UnsupportedQuery. An empty or blank $filter is refused,
    never read as "every user"."""
    tests = []
    for clause in _split_and(text):
        for pattern, attribute in _USER_CLAUSES:
            match = pattern.fullmatch(clause)
            if match:
                break
        else:
            raise UnsupportedQuery("Unsupported or invalid query filter clause specified for property '%s' of resource 'User'."
                                   % _filter_property(clause))
        value = match.group(2).lower()
        tests.append((attribute, value == "true") if attribute == "account_enabled" else (attribute, value))

    def matches(user):
        for attribute, wanted in tests:
            if attribute == "user_type" and user.user_type.lower() != wanted:
                return False
            if attribute == "account_enabled" and user.account_enabled is not wanted:
                return False
        return True

    return matches


class DirectoryOperations:
    """Mixed into GraphApi."""

    @staticmethod
    def _user_json(user, select=None):
        values = {"businessPhones": [], "displayName": user.display_name, "givenName": None, "jobTitle": None, "mail": user.mail,
                  "mobilePhone": None, "officeLocation": None, "preferredLanguage": None, "surname": None,
                  "userPrincipalName": user.upn, "id": user.id, "userType": user.user_type,
                  "accountEnabled": user.account_enabled}
        return {name: values[name] for name in (select or DEFAULT_USER_PROPERTIES)}

    @staticmethod
    def _parse_select(text, known=None, entity="user"):
        """Property names of $select (canonical case), or raise ValueError naming the unknown one."""
        if not text:
            return None
        known = known or USER_PROPERTIES
        names = []
        for name in (part.strip() for part in text.split(",") if part.strip()):
            if name.lower() not in known:
                raise ValueError("Could not find a property named '%s' on type 'microsoft.graph.%s'." % (name, entity))
            names.append(known[name.lower()])
        return names

    def _get_user(self, req, call):
        try:
            select = self._parse_select(req.query.get("$select"))
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        body = {"@odata.context": "%s%s/$metadata#users/$entity" % (req.base_url, call.version)}
        body.update(self._user_json(call.owner, select))
        return Response.json(200, body)

    def _list_users(self, req, call):
        known = ("$top", "$select", "$skiptoken", "$filter")
        unsupported = sorted(name for name in req.query if name.startswith("$") and name not in known)
        if unsupported:
            return graph_error(req, 400, "BadRequest", "Query option '%s' is not supported by the emulator." % unsupported[0])
        top_text = req.query.get("$top", str(DEFAULT_PAGE_SIZE))
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_PAGE_SIZE:
            return graph_error(req, 400, "BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % top_text)
        try:
            match = user_filter(req.query["$filter"]) if "$filter" in req.query else None
            select = self._parse_select(req.query.get("$select"))
            after = self._decode_skiptoken(req.query.get("$skiptoken"))
        except UnsupportedQuery as exc:
            return graph_error(req, 400, "Request_UnsupportedQuery", str(exc))
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        users, next_key = call.tenant.users_page(after, int(top_text), match)
        context = "users(%s)" % ",".join(select) if select else "users"
        body = {"@odata.context": "%s%s/$metadata#%s" % (req.base_url, call.version, context),
                "value": [self._user_json(user, select) for user in users]}
        if next_key is not None:
            link = "%s%s/users?$top=%s&$skiptoken=%s" % (req.base_url, call.version, top_text, self._encode_skiptoken(next_key))
            if select:
                link += "&$select=" + quote(",".join(select), safe=",")
            if match is not None:  # the next page is filtered alike: each matching user comes once, and only they
                link += "&$filter=" + quote(req.query["$filter"], safe="'")
            body["@odata.nextLink"] = link
        return Response.json(200, body)

    @staticmethod
    def _encode_skiptoken(key):
        return _SKIPTOKEN_PREFIX + base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")

    @staticmethod
    def _decode_skiptoken(token):
        """The sort key a page starts after; opaque to clients (a prefix plus base64url of the last UPN)."""
        if not token:
            return None
        if not token.startswith(_SKIPTOKEN_PREFIX):
            raise ValueError("Invalid $skiptoken.")
        try:
            return _decode_base64(token[len(_SKIPTOKEN_PREFIX):]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("Invalid $skiptoken.") from exc

    # ----------------------------------------------------------------- groups

    @staticmethod
    def _group_json(group, select=None):
        values = {"id": group.id, "displayName": group.display_name, "description": None, "mail": group.mail,
                  "mailNickname": group.mail_nickname, "mailEnabled": group.mail_enabled, "securityEnabled": group.security_enabled,
                  "groupTypes": list(group.group_types), "resourceProvisioningOptions": list(group.provisioning),
                  "visibility": "Private" if group.unified else None}
        return {name: values[name] for name in (select or DEFAULT_GROUP_PROPERTIES)}

    def _get_group(self, req, call):
        try:
            select = self._parse_select(req.query.get("$select"), GROUP_PROPERTIES, "group")
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        body = {"@odata.context": "%s%s/$metadata#groups/$entity" % (req.base_url, call.version)}
        body.update(self._group_json(call.owner, select))
        return Response.json(200, body)

    @staticmethod
    def _get_team(req, call):
        """The team resource (team-get): no mail, no mailNickname; its id is the group's."""
        team = call.owner
        body = {"@odata.context": "%s%s/$metadata#teams/$entity" % (req.base_url, call.version), "id": team.id,
                "createdDateTime": None, "displayName": team.display_name, "description": None, "internalId": None,
                "classification": None, "specialization": "none", "visibility": "private", "webUrl": None, "isArchived": False,
                "tenantId": call.tenant.id, "isMembershipLimitedToOwners": False}
        return Response.json(200, body)

    def _list_groups(self, req, call):
        known = ("$top", "$select", "$skiptoken", "$filter")
        unsupported = sorted(name for name in req.query if name.startswith("$") and name not in known)
        if unsupported:
            return graph_error(req, 400, "BadRequest", "Query option '%s' is not supported by the emulator." % unsupported[0])
        top_text = req.query.get("$top", str(DEFAULT_PAGE_SIZE))
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_PAGE_SIZE:
            return graph_error(req, 400, "BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % top_text)
        try:
            select = self._parse_select(req.query.get("$select"), GROUP_PROPERTIES, "group")
            after = self._decode_skiptoken(req.query.get("$skiptoken"))
            # An empty $filter is refused, not read as "every group": a client whose filter came out empty must not
            # act on the whole directory (assumption: Graph's parser refuses it too).
            match = group_filter(req.query["$filter"]) if "$filter" in req.query else None
        except ValueError as exc:
            return graph_error(req, 400, "BadRequest", str(exc))
        groups, next_key = call.tenant.groups_page(after, int(top_text), match)
        context = "groups(%s)" % ",".join(select) if select else "groups"
        body = {"@odata.context": "%s%s/$metadata#%s" % (req.base_url, call.version, context),
                "value": [self._group_json(group, select) for group in groups]}
        if next_key is not None:
            link = "%s%s/groups?$top=%s&$skiptoken=%s" % (req.base_url, call.version, top_text, self._encode_skiptoken(next_key))
            for name in ("$select", "$filter"):
                if req.query.get(name):
                    link += "&%s=%s" % (name, quote(req.query[name], safe=",'()"))
            body["@odata.nextLink"] = link
        return Response.json(200, body)

    # ----------------------------------------------------------------- the tenant's photo policy

    def _photo_policy(self, req, call):
        if req.method == "PATCH":
            try:
                patch = json.loads(req.body.decode("utf-8") or "null")
                call.tenant.update_policy(patch)
            except (ValueError, UnicodeDecodeError) as exc:
                return graph_error(req, 400, "BadRequest", "Invalid photoUpdateSettings: %s" % exc)
        body = {"@odata.context": "%s/beta/$metadata#admin/people/photoUpdateSettings/$entity" % req.base_url}
        body.update(call.tenant.photo_policy)
        return Response.json(200, body)
