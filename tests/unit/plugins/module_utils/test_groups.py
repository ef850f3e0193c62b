# SPDX-License-Identifier: GPL-3.0-or-later
"""graph/_groups.py (issue 20): which group a `group` value names, against a fake transport that answers what a test
scripts. The listing must name exactly one group that really has the key; anything else fails, and a malformed
answer is a MalformedAnswerError, never a guess."""
from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError, MalformedAnswerError
from ansible_collections.o365.outlook.plugins.module_utils.graph._groups import (
    MAX_SHOWN, GroupNotFoundError, GroupRef, key_kind, resolve_group)
from ansible_collections.o365.outlook.plugins.module_utils.graph._owners import GROUP, TEAM, Owner

BASE = "https://graph.example/v1.0"
SALES = "9a000000-0000-4000-8000-000000000001"
MARKETING = "9a000000-0000-4000-8000-000000000003"


class FakeResponse:
    def __init__(self, body, request_id="req-7"):
        self.content = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = {"request-id": request_id}
        self.status_code = 200


class FakeTransport:
    """Answers each request with the next scripted answer (a body, bytes, or a GraphError to raise); records URLs."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)


def group(group_id=MARKETING, name="Marketing", nickname="marketing", mail=None, team=False, **extra):
    body = dict(id=group_id, displayName=name, mailNickname=nickname, mail=mail or "%s@contoso.com" % nickname,
                resourceProvisioningOptions=["Team"] if team else [])
    body.update(extra)
    return body


def listing(*groups, next_link=None):
    body = {"value": list(groups)}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


def refused(status, code="Authorization_RequestDenied"):
    return GraphError(status, code, "Insufficient privileges to complete the operation.", request_id="req-9",
                      method="GET", url=BASE + "/groups")


def sent_filter(transport):
    """The $filter clause of the one listing request, decoded."""
    (method, url), = transport.sent
    assert method == "GET" and url.startswith(BASE + "/groups?$filter=")
    query = url.split("?", 1)[1]
    assert query.count("&") == 2 and query.endswith("&$top=999")  # the key never adds a query option of its own
    return unquote(query.split("&", 1)[0][len("$filter="):])


@pytest.mark.parametrize("key, kind", [
    (SALES, "id"), (SALES.upper(), "id"), ("sales@contoso.com", "mail"), ("sales", "mailNickname"),
    ("9a000000-0000-4000-8000-00000000000", "mailNickname"),  # one digit short: not a GUID
    ("{%s}" % SALES, "mailNickname"),
])
def test_key_kind(key, kind):
    assert key_kind(key) == kind


# --- by object id -----------------------------------------------------------------------------------------------


def test_an_object_id_reads_the_group_and_is_lower_cased():
    transport = FakeTransport(group(SALES, "Sales", "sales", team=True))
    ref = resolve_group(transport, BASE, SALES.upper())
    assert ref == GroupRef(SALES, "Sales", "sales@contoso.com", True)
    assert transport.sent == [("GET", BASE + "/groups/%s?$select=id,displayName,mail,mailNickname,resourceProvisioningOptions" % SALES)]
    assert ref.view(GROUP) == dict(id=SALES, display_name="Sales", mail="sales@contoso.com", kind="team")
    assert ref.owner(GROUP) == Owner(GROUP, SALES) and ref.owner(TEAM) == Owner(TEAM, SALES)


def test_an_object_id_the_app_may_not_read_leaves_the_details_null():
    ref = resolve_group(FakeTransport(refused(403)), BASE, MARKETING)
    assert ref == GroupRef(MARKETING, None, None, None)
    assert ref.view(GROUP)["kind"] == "group" and ref.view(TEAM)["kind"] == "team"


def test_a_team_the_app_may_not_read_is_still_a_team():
    transport = FakeTransport(refused(403))
    ref = resolve_group(transport, BASE, SALES, TEAM)
    assert transport.sent == [("GET", BASE + "/teams/" + SALES)]
    assert ref == GroupRef(SALES, None, None, True)


def test_the_team_resource_gives_the_name_and_no_mail():
    body = {"id": SALES, "displayName": "Sales", "isArchived": False, "mail": "ignored@contoso.com"}
    assert resolve_group(FakeTransport(body), BASE, SALES, TEAM) == GroupRef(SALES, "Sales", None, True)


@pytest.mark.parametrize("endpoint, message", [
    (GROUP, "group %s was not found." % SALES),
    (TEAM, "group %s was not found as a Team (use endpoint=group for a group that is not a Team)." % SALES),
])
def test_an_unknown_object_id(endpoint, message):
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(refused(404, "Request_ResourceNotFound")), BASE, SALES, endpoint)
    assert str(caught.value) == message


def test_another_error_on_the_details_is_raised_unchanged():
    error = refused(503, "ServiceUnavailable")
    with pytest.raises(GraphError) as caught:
        resolve_group(FakeTransport(error), BASE, SALES)
    assert caught.value is error


@pytest.mark.parametrize("body, problem", [
    (b"<html>gateway</html>", "not valid JSON"),
    ([group()], "where an object was expected"),
    (b"", "empty"),
])
def test_a_malformed_group_answer(body, problem):
    with pytest.raises(MalformedAnswerError) as caught:
        resolve_group(FakeTransport(body), BASE, SALES)
    assert problem in str(caught.value) and "req-7" in str(caught.value)


@pytest.mark.parametrize("details, expected", [
    (dict(displayName=42, mail=["x"]), GroupRef(SALES, None, None, False)),
    (dict(resourceProvisioningOptions="Team"), GroupRef(SALES, "Marketing", "marketing@contoso.com", None)),
    (dict(resourceProvisioningOptions=[None, "team"]), GroupRef(SALES, "Marketing", "marketing@contoso.com", True)),
])
def test_odd_details_are_null_never_a_failure(details, expected):
    assert resolve_group(FakeTransport(group(SALES, **details)), BASE, SALES) == expected


# --- by mail or mailNickname ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key, clause", [
    ("marketing@contoso.com", "mail eq 'marketing@contoso.com'"),
    ("marketing", "mailNickname eq 'marketing'"),
    ("o'brien@contoso.com", "mail eq 'o''brien@contoso.com'"),
    ("it's-ops", "mailNickname eq 'it''s-ops'"),
    ("''", "mailNickname eq ''''''"),
    ("a&b=c#d?e f+g", "mailNickname eq 'a&b=c#d?e f+g'"),
])
def test_the_filter_quotes_the_key(key, clause):
    transport = FakeTransport(listing())
    with pytest.raises(GroupNotFoundError):
        resolve_group(transport, BASE, key)
    assert sent_filter(transport) == clause


@pytest.mark.parametrize("key", ["marketing@contoso.com", "MARKETING@Contoso.com", "marketing", "Marketing"])
def test_exactly_one_match_is_taken(key):
    transport = FakeTransport(listing(group(MARKETING.upper())))
    assert resolve_group(transport, BASE, key) == GroupRef(MARKETING, "Marketing", "marketing@contoso.com", False)


def test_a_listing_whose_group_does_not_match_is_not_taken():
    """A lax service (or a proxy) that ignores $filter: the group it returns does not have the key."""
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(listing(group(SALES, "Sales", "sales"))), BASE, "marketing")
    assert str(caught.value) == "no group has mailNickname 'marketing'."


def test_the_match_among_other_groups_is_taken():
    found = listing(group(SALES, "Sales", "sales"), group(MARKETING), group(SALES, "Sales", "marketing-old"))
    assert resolve_group(FakeTransport(found), BASE, "marketing").id == MARKETING


def test_a_nickname_is_matched_on_the_nickname_not_the_mail():
    """The group's mail says marketing@, its nickname does not: mailNickname 'marketing' is not it."""
    with pytest.raises(GroupNotFoundError):
        resolve_group(FakeTransport(listing(group(SALES, nickname="mkt", mail="marketing@contoso.com"))), BASE, "marketing")


def test_no_group():
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(listing()), BASE, "nobody@contoso.com")
    assert str(caught.value) == "no group has mail 'nobody@contoso.com'."


def test_two_groups_are_ambiguous_and_both_are_named():
    other = "7b1e0c2d-4f3a-4e5b-9c6d-8e7f6a5b4c3d"
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(listing(group(MARKETING, "Ops East", "ops"), group(other, "Ops West", "ops"))), BASE, "ops")
    message = str(caught.value)
    assert "ambiguous" in message and "2 groups have mailNickname 'ops'" in message
    assert "Ops East (%s)" % MARKETING in message and "Ops West (%s)" % other in message
    assert "Give the object id" in message and "and more" not in message


def test_a_next_page_makes_even_one_match_ambiguous():
    """A next page may hold more groups with the key: taking the first page's one match would be a guess."""
    found = listing(group(), next_link=BASE + "/groups?$skiptoken=X1")
    transport = FakeTransport(found)
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(transport, BASE, "marketing")
    assert str(caught.value) == ("group 'marketing' is ambiguous: more than one group has mailNickname 'marketing': "
                                 "Marketing (%s) and more. Give the object id of the one you mean." % MARKETING)
    assert len(transport.sent) == 1  # the next page is not fetched


def test_a_next_page_after_several_matches_counts_them_as_a_lower_bound():
    other = "7b1e0c2d-4f3a-4e5b-9c6d-8e7f6a5b4c3d"
    found = listing(group(), group(other, "Marketing EU"), next_link=BASE + "/groups?$skiptoken=X1")
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(found), BASE, "marketing")
    assert "is ambiguous: more than 2 groups have mailNickname 'marketing': " in str(caught.value)
    assert "Marketing EU (%s) and more." % other in str(caught.value)


def test_many_matches_are_cut_short():
    ids = ["9a000000-0000-4000-8000-0000000001%02d" % n for n in range(MAX_SHOWN + 2)]
    found = listing(*[group(group_id, "Ops %d" % n, "ops") for n, group_id in enumerate(ids)])
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(found), BASE, "ops")
    message = str(caught.value)
    assert "%d groups" % len(ids) in message and message.count("(9a000000") == MAX_SHOWN and "and more" in message
    assert ids[MAX_SHOWN] not in message


def test_resolving_without_group_read_all_says_so():
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(refused(403)), BASE, "sales@contoso.com")
    message = str(caught.value)
    assert "group 'sales@contoso.com' cannot be resolved" in message
    assert "Group.Read.All" in message and "object id" in message


def test_another_error_on_the_listing_is_raised_unchanged():
    error = refused(429, "TooManyRequests")
    with pytest.raises(GraphError) as caught:
        resolve_group(FakeTransport(error), BASE, "sales")
    assert caught.value is error


@pytest.mark.parametrize("body, problem", [
    (b"not json", "not valid JSON"),
    (b"", "empty"),
    ([group()], "where an object was expected"),
    ({}, "the group listing's value is not a list of objects"),
    ({"value": None}, "the group listing's value is not a list of objects"),
    ({"value": {"id": MARKETING}}, "the group listing's value is not a list of objects"),
    ({"value": [group(), "marketing"]}, "the group listing's value is not a list of objects"),
    ({"value": [group(), None]}, "the group listing's value is not a list of objects"),
    (listing(group(group_id=None)), "a group in the listing has no object id"),
    (listing(group(group_id="marketing")), "a group in the listing has no object id"),
    (listing(group(group_id=42)), "a group in the listing has no object id"),
    (listing(group(), group(group_id="")), "a group in the listing has no object id"),
])
def test_a_malformed_listing(body, problem):
    with pytest.raises(MalformedAnswerError) as caught:
        resolve_group(FakeTransport(body), BASE, "marketing")
    assert problem in str(caught.value) and "req-7" in str(caught.value)


def test_a_non_matching_entry_without_an_id_is_not_trusted_either():
    """Only the matches must carry an id; a non-matching entry with none is not read at all."""
    found = listing(dict(displayName="Other", mailNickname="other"), group())
    assert resolve_group(FakeTransport(found), BASE, "marketing").id == MARKETING


def test_endpoint_team_refuses_a_group_known_not_to_be_a_team():
    with pytest.raises(GroupNotFoundError) as caught:
        resolve_group(FakeTransport(listing(group())), BASE, "marketing", TEAM)
    assert str(caught.value) == "group 'marketing' (%s) is not a Team: use endpoint=group." % MARKETING


def test_endpoint_team_takes_a_team_or_a_group_of_unknown_kind():
    team = resolve_group(FakeTransport(listing(group(SALES, "Sales", "sales", team=True))), BASE, "sales", TEAM)
    assert team.is_team is True and team.view(TEAM)["kind"] == "team"
    unknown = group(SALES, "Sales", "sales")
    del unknown["resourceProvisioningOptions"]
    ref = resolve_group(FakeTransport(listing(unknown)), BASE, "sales", TEAM)
    assert ref.is_team is None and ref.view(TEAM)["kind"] == "team" and ref.view(GROUP)["kind"] == "group"
