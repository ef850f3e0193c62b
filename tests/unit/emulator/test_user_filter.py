# SPDX-License-Identifier: GPL-3.0-or-later
"""$filter on GET /users (userType and accountEnabled clauses, joined by and; every other filter refused with 400
Request_UnsupportedQuery), paging a filtered listing, and accountEnabled per user: the control API's spec, the oracle
view, Graph's user JSON and the journal."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulator import records
from emulator.server import EmulatorServer

DOMAIN = "contoso.onmicrosoft.com"
SEEDED_MEMBERS = {"a+b%c/d?e@" + DOMAIN, "adele.vance@" + DOMAIN, "alex.wilber@" + DOMAIN, "megan.bowen@" + DOMAIN,
                  "o'brien@" + DOMAIN, "zoë.müller@" + DOMAIN}
JOHN = "john_fabrikam.com#EXT#@" + DOMAIN  # the seeded guest
ANN = "ann_partner.example#EXT#@" + DOMAIN  # a guest by her UPN
BOB = "bob@" + DOMAIN  # a declared guest whose account is disabled
CARL = "carl.leaver@" + DOMAIN  # a disabled member
DORA = "dora_partner.example#EXT#@" + DOMAIN
GUESTS = {JOHN, ANN, BOB, DORA}
MEMBERS = SEEDED_MEMBERS | {CARL}
DISABLED = {BOB, CARL}
ENABLED = (GUESTS | MEMBERS) - DISABLED
UNSUPPORTED = re.compile(r"Unsupported or invalid query filter clause specified for property '(.*)' of resource 'User'\.")


@pytest.fixture
def directory(api):
    resp = api.control("POST", "/users", json={"users": [
        {"userPrincipalName": ANN},
        {"userPrincipalName": BOB, "userType": "Guest", "accountEnabled": False},
        {"userPrincipalName": CARL, "accountEnabled": False},
        {"userPrincipalName": DORA, "accountEnabled": True},
    ]})
    assert resp.status_code == 200, resp.text
    return api


@pytest.fixture
def reader(api):
    return api.mint(roles=["User.ReadBasic.All"])


def _list(api, token, **params):
    return api.graph("GET", "/users", token, params=params)


def _upns(resp):
    assert resp.status_code == 200, resp.text
    return [user["userPrincipalName"] for user in resp.json()["value"]]


def _all_pages(api, token, params):
    """Every page of a listing, following @odata.nextLink; returns (UPNs in order, the next links)."""
    resp = _list(api, token, **params)
    found, links = _upns(resp), []
    while "@odata.nextLink" in resp.json():
        link = resp.json()["@odata.nextLink"]
        links.append(link)
        resp = api.http.get(link, headers={"Authorization": "Bearer " + token}, timeout=10)
        found += _upns(resp)
    return found, links


def _refused(resp, prop):
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert list(body) == ["error"]  # an error, and no users
    assert body["error"]["code"] == "Request_UnsupportedQuery"
    match = UNSUPPORTED.fullmatch(body["error"]["message"])
    assert match, body["error"]["message"]
    assert match.group(1) == prop


# --------------------------------------------------------------------------- filtered listings

@pytest.mark.parametrize("text, expected", [
    ("userType eq 'Guest'", GUESTS),
    ("userType eq 'Member'", MEMBERS),
    ("accountEnabled eq true", ENABLED),
    ("accountEnabled eq false", DISABLED),
    ("userType eq 'Guest' and accountEnabled eq false", {BOB}),
    ("accountEnabled eq false and userType eq 'Member'", {CARL}),
    ("userType eq 'Guest' and accountEnabled eq true", {JOHN, ANN, DORA}),
])
def test_filtered_listing_returns_exactly_the_matching_users(directory, reader, text, expected):
    found = _upns(_list(directory, reader, **{"$filter": text}))
    assert sorted(found) == sorted(expected)
    assert found == sorted(found, key=str.lower)  # still ordered by UPN


@pytest.mark.parametrize("text, expected", [
    ("USERTYPE EQ 'guest'", GUESTS),
    ("usertype eq 'MEMBER'", MEMBERS),
    ("AccountEnabled Eq FALSE", DISABLED),
    ("accountenabled eq True", ENABLED),
    ("  userType   eq   'Guest'   AND   accountEnabled  eq  false ", {BOB}),
])
def test_names_values_and_and_are_case_insensitive(directory, reader, text, expected):
    assert sorted(_upns(_list(directory, reader, **{"$filter": text}))) == sorted(expected)


def test_graph_user_json_shows_user_type_and_account_enabled(directory, reader):
    body = _list(directory, reader, **{"$filter": "accountEnabled eq false", "$select": "userPrincipalName,userType,accountEnabled"}).json()
    assert {user["userPrincipalName"]: (user["userType"], user["accountEnabled"]) for user in body["value"]} == {
        BOB: ("Guest", False), CARL: ("Member", False)}
    alex = directory.graph("GET", "/users/alex.wilber@%s?$select=accountEnabled" % DOMAIN, reader).json()
    assert alex["accountEnabled"] is True


@pytest.mark.parametrize("text, expected, pages", [
    ("userType eq 'Guest'", GUESTS, 2),
    ("userType eq 'Member'", MEMBERS, 4),
    ("accountEnabled eq false", DISABLED, 1),
])
def test_paging_a_filtered_listing_returns_each_match_once(directory, reader, text, expected, pages):
    found, links = _all_pages(directory, reader, {"$filter": text, "$top": "2"})
    assert len(found) == len(set(found))  # nobody twice
    assert set(found) == expected  # everyone who matches, nobody who does not
    assert len(links) == pages - 1
    for link in links:
        query = urlsplit(link).query
        assert " " not in query and "%20" in query  # URL-encoded
        assert parse_qs(query)["$filter"] == [text]  # the same filter, on every page
        assert parse_qs(query)["$top"] == ["2"]


def test_paging_keeps_select_and_filter_together(directory, reader):
    select = "userPrincipalName,userType"
    found, links = _all_pages(directory, reader, {"$filter": "userType eq 'Guest'", "$top": "1", "$select": select})
    assert sorted(found) == sorted(GUESTS) and len(links) == 3
    assert all("$select=" + select in link for link in links)
    resp = directory.http.get(links[-1], headers={"Authorization": "Bearer " + reader}, timeout=10)
    assert [set(user) for user in resp.json()["value"]] == [{"userPrincipalName", "userType"}]
    assert resp.json()["value"][0]["userType"] == "Guest"


def test_unfiltered_next_link_carries_no_filter(directory, reader):
    found, links = _all_pages(directory, reader, {"$top": "5"})
    assert set(found) == GUESTS | MEMBERS and len(found) == len(GUESTS | MEMBERS)
    assert links and all("$filter" not in link for link in links)


# --------------------------------------------------------------------------- refused filters

@pytest.mark.parametrize("text, prop", [
    ("displayName eq 'Adele Vance'", "displayName"),
    ("mail eq 'adele.vance@contoso.onmicrosoft.com'", "mail"),
    ("userType eq 'Guest' or accountEnabled eq false", "userType"),
    ("userType ne 'Guest'", "userType"),
    ("accountEnabled ne true", "accountEnabled"),
    ("accountEnabled eq 'true'", "accountEnabled"),  # a quoted boolean
    ("userType eq Guest", "userType"),  # an unquoted string
    ("userType eq 'Other'", "userType"),
    ("userType eq 'Guest' and displayName eq 'x'", "displayName"),
    ("userType eq 'Guest' and ", ""),  # a dangling and
    ("startswith(displayName,'A')", "displayName"),
    ("userType eq 'Guest", "userType"),  # a quote left open
    ("!!garbage!!", "garbage"),
    ("== ??", "== ??"),  # no name at all: the clause itself
    ("", ""),
    ("   ", ""),
])
def test_other_filters_are_refused(directory, reader, text, prop):
    _refused(_list(directory, reader, **{"$filter": text}), prop)


def test_a_refused_filter_is_refused_on_every_page_size(directory, reader):
    _refused(_list(directory, reader, **{"$filter": "city eq 'Paris'", "$top": "1", "$select": "id"}), "city")


def test_other_query_options_are_still_not_supported(directory, reader):
    resp = _list(directory, reader, **{"$filter": "userType eq 'Guest'", "$orderby": "displayName"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "BadRequest"
    assert "$orderby" in resp.json()["error"]["message"]


def test_filter_needs_the_directory_permission(directory, rw_token):
    resp = _list(directory, rw_token, **{"$filter": "userType eq 'Guest'"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "Authorization_RequestDenied"


def test_batch_items_take_the_filter(directory, reader):
    batch = {"requests": [
        {"id": "guests", "method": "GET", "url": "/users?$filter=userType eq 'Guest'&$select=userPrincipalName"},
        {"id": "disabled", "method": "GET", "url": "/users?$filter=accountEnabled%20eq%20false"},
        {"id": "refused", "method": "GET", "url": "/users?$filter=userType eq 'Guest' or accountEnabled eq true"},
        {"id": "paged", "method": "GET", "url": "/users?$filter=userType eq 'Guest'&$top=3"},
    ]}
    resp = directory.graph("POST", "/$batch", reader, json=batch)
    assert resp.status_code == 200, resp.text
    answers = {item["id"]: item for item in resp.json()["responses"]}
    assert {user["userPrincipalName"] for user in answers["guests"]["body"]["value"]} == GUESTS
    assert {user["userPrincipalName"] for user in answers["disabled"]["body"]["value"]} == DISABLED
    assert answers["refused"]["status"] == 400
    assert answers["refused"]["body"]["error"]["code"] == "Request_UnsupportedQuery"
    assert "value" not in answers["refused"]["body"]
    paged = answers["paged"]["body"]
    assert len(paged["value"]) == 3
    assert parse_qs(urlsplit(paged["@odata.nextLink"]).query)["$filter"] == ["userType eq 'Guest'"]


# --------------------------------------------------------------------------- accountEnabled per user

def test_account_enabled_from_the_control_api_and_in_the_oracle_view(api):
    resp = api.control("POST", "/users", json={"users": [
        {"userPrincipalName": CARL, "accountEnabled": False}, {"userPrincipalName": "plain@" + DOMAIN}]})
    assert resp.status_code == 200, resp.text
    assert [user["accountEnabled"] for user in resp.json()["users"]] == [False, True]
    assert api.oracle(CARL)["accountEnabled"] is False
    assert api.oracle("plain@" + DOMAIN)["accountEnabled"] is True
    assert all(user["accountEnabled"] is True for user in api.control("GET", "/users").json()["users"] if user["userPrincipalName"] != CARL)
    # Replacing the user replaces the flag too.
    api.control("POST", "/users", json={"users": [{"userPrincipalName": CARL, "accountEnabled": True}]}).raise_for_status()
    assert api.oracle(CARL)["accountEnabled"] is True


@pytest.mark.parametrize("value", ["false", 0, 1, None, [], {}])
def test_a_bad_account_enabled_is_400_and_changes_nothing(api, value):
    resp = api.control("POST", "/users", json={"users": [
        {"userPrincipalName": "fine@" + DOMAIN}, {"userPrincipalName": CARL, "accountEnabled": value}]})
    assert resp.status_code == 400 and "accountEnabled of %s must be true or false" % CARL in resp.text, resp.text
    assert api.control("GET", "/users/" + requests.utils.quote(CARL, safe="")).status_code == 404
    assert api.control("GET", "/users/fine@" + DOMAIN).status_code == 404  # the whole request was refused


def test_account_enabled_survives_a_restart_from_the_journal(tmp_path):
    state_dir = str(tmp_path / "emu")
    for round_ in range(2):  # written through, then loaded and compacted, then loaded again
        with EmulatorServer(state_dir, persist=True, profile="ideal") as server, requests.Session() as http:
            http.verify, http.trust_env = server.info["ca_path"], False
            control = server.info["control_url"]
            if round_ == 0:
                http.post(control + "/users", timeout=10, json={"users": [
                    {"userPrincipalName": CARL, "accountEnabled": False}, {"userPrincipalName": DORA}]}).raise_for_status()
            views = {user["userPrincipalName"]: user for user in http.get(control + "/users", timeout=10).json()["users"]}
            assert views[CARL]["accountEnabled"] is False and views[DORA]["accountEnabled"] is True
            token = http.post(control + "/tokens", timeout=10, json={"roles": ["User.Read.All"]}).json()["access_token"]
            listed = http.get(server.info["graph_url"] + "/users", params={"$filter": "accountEnabled eq false"},
                              headers={"Authorization": "Bearer " + token}, timeout=10)
            assert [user["userPrincipalName"] for user in listed.json()["value"]] == [CARL]


def test_journal_records_without_account_enabled_load_as_enabled():
    old = {"op": "user", "id": "1e6ac700-0000-4000-8000-000000000001", "upn": "legacy@" + DOMAIN, "name": "Legacy",
           "mail": "legacy@" + DOMAIN, "photo": None, "user_type": None, "mailbox": None}
    assert records.user_from_record(old).account_enabled is True
    assert records.user_from_record(dict(old, account_enabled=None)).account_enabled is True
    disabled = records.user_from_record(dict(old, account_enabled=False))
    assert disabled.account_enabled is False
    assert records.user_record(disabled)["account_enabled"] is False
