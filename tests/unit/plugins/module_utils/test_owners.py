# SPDX-License-Identifier: GPL-3.0-or-later
"""Whose photo it is (issue 20): one table (graph/_owners.py) decides the URL, what each kind of owner can do and what a
refused call names; the code that decides, compares, backs up and records never looks at the kind."""
from __future__ import annotations

import ast
import os
import threading

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, GraphError
from ansible_collections.o365.outlook.plugins.module_utils.common._users import shown_user
from ansible_collections.o365.outlook.plugins.module_utils.graph._owners import GROUP, TEAM, Owner, owner_noun
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import (
    GraphDialect, OutlookV2Dialect, PhotoClient, UserNotFoundError)
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport
from ansible_collections.o365.outlook.plugins.module_utils.photo._files import safe_file_stem
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import TlsSession
from ansible_collections.o365.outlook.tests.unit.utils.http_script import AnsweringAdapter, FakeTokens, Reply, graph_error

GRAPH = "https://graph.example/v1.0"
GROUP_ID = "9a000000-0000-4000-8000-000000000001"
POLICY = "/beta/admin/people/photoUpdateSettings"
DENIED = graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


@pytest.fixture
def graph(session, retry_policy):
    return PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), GraphDialect(GRAPH))


@pytest.mark.parametrize("owner, path", [
    (Owner(GROUP, GROUP_ID), "/groups/%s/photo" % GROUP_ID),
    (Owner(TEAM, GROUP_ID), "/teams/%s/photo" % GROUP_ID),
    (Owner(GROUP, "a/b?c#d"), "/groups/a%2Fb%3Fc%23d/photo"),  # one segment, whatever a caller passes
])
def test_group_and_team_paths(owner, path):
    dialect = GraphDialect(GRAPH)
    assert dialect.photo_url(owner) == GRAPH + path
    assert dialect.photo_url(owner, value=True) == GRAPH + path + "/$value"
    assert dialect.sizes_path(owner) == path + "s"


def test_outlook_v2_has_no_group_photos():
    with pytest.raises(ConfigurationError, match="Group and Team photos need api=graph"):
        OutlookV2Dialect("https://outlook.example/api/v2.0").photo_url(Owner(GROUP, GROUP_ID))


def test_a_team_photo_cannot_be_removed_and_nothing_is_sent(adapter, graph):
    with pytest.raises(ConfigurationError, match="A Team photo cannot be removed"):
        graph.delete_content(Owner(TEAM, GROUP_ID))
    assert adapter.sent == []


def test_a_group_photo_is_removed(adapter, graph):
    adapter.expect("DELETE", "/groups/%s/photo/$value" % GROUP_ID, Reply(204))
    graph.delete_content(Owner(GROUP, GROUP_ID))
    assert len(adapter.sent) == 1


@pytest.mark.parametrize("owner, needs", [
    (Owner(GROUP, GROUP_ID), "ProfilePhoto.ReadWrite.All or Group.ReadWrite.All"),
    (Owner(TEAM, GROUP_ID), "TeamSettings.ReadWrite.All"),
    ("adele@contoso.com", "ProfilePhoto.ReadWrite.All application permission"),
])
def test_a_refused_write_names_the_owner_kinds_permission_when_the_policy_is_cloud(adapter, graph, owner, needs):
    adapter.expect("PUT", "/photo/$value", DENIED)
    adapter.expect("GET", POLICY, Reply(200, json_body={"source": "cloud", "allowedRoles": []}))
    with pytest.raises(GraphError) as caught:
        graph.put_content(owner, b"x", "image/jpeg")
    assert needs in caught.value.msg and "turned off" not in caught.value.msg
    assert caught.value.status == 403 and caught.value.code == "ErrorAccessDenied"


def test_a_refused_read_names_the_read_permission_and_reads_no_policy(adapter, graph):
    adapter.expect("GET", "/groups/%s/photo" % GROUP_ID, DENIED)
    with pytest.raises(GraphError, match="ProfilePhoto.Read.All or Group.Read.All"):
        graph.get_metadata(Owner(GROUP, GROUP_ID))
    assert len(adapter.sent) == 1  # a read is never explained by the policy


def test_on_premises_policy_explains_the_bare_403(adapter, graph):
    adapter.expect("PUT", "/photo/$value", DENIED)
    adapter.expect("GET", POLICY, Reply(200, json_body={"source": "onPremises", "allowedRoles": []}))
    with pytest.raises(GraphError) as caught:
        graph.put_content("adele@contoso.com", b"x", "image/jpeg")
    assert "photo updates are turned off in this tenant" in caught.value.msg
    assert "up to 24 hours" in caught.value.msg
    assert "ProfilePhoto.ReadWrite.All" not in caught.value.msg  # not a permission problem: do not send people there


def test_an_unreadable_policy_names_the_permission_that_would_tell(adapter, graph):
    adapter.expect("DELETE", "/photo/$value", DENIED)
    adapter.expect("GET", POLICY, DENIED)
    with pytest.raises(GraphError) as caught:
        graph.delete_content(Owner(GROUP, GROUP_ID))
    assert "ProfilePhoto.ReadWrite.All or Group.ReadWrite.All" in caught.value.msg
    assert "PeopleSettings.Read.All would let the module read the policy" in caught.value.msg


def test_the_policy_is_read_once_per_client_even_from_many_threads(retry_policy):
    """The many-object modules share one client: refused writes in parallel read the policy once."""
    def answer(request):
        if POLICY in request.url:
            return Reply(200, json_body={"source": "onPremises", "allowedRoles": []})
        return DENIED

    adapter = AnsweringAdapter(answer)
    http = TlsSession(verify="/ca.pem", timeout=7.0)
    http.mount("https://", adapter)
    client = PhotoClient(ApiTransport(http, FakeTokens(), retry_policy), GraphDialect(GRAPH))
    writes = 8
    barrier = threading.Barrier(writes)
    errors = []

    def write(index):
        barrier.wait()
        try:
            client.put_content("user%d@contoso.com" % index, b"x", "image/jpeg")
        except GraphError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(writes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len([sent for sent in adapter.sent if POLICY in sent["url"]]) == 1
    assert len(errors) == writes and all("turned off" in error.msg for error in errors)


def test_a_policy_answer_of_the_wrong_shape_leaves_the_permission_hint(adapter, graph):
    adapter.expect("PUT", "/photo/$value", DENIED)
    adapter.expect("GET", POLICY, Reply(200, json_body=["not", "an", "object"]))
    with pytest.raises(GraphError) as caught:
        graph.put_content(Owner(GROUP, GROUP_ID), b"x", "image/jpeg")
    assert "Group.ReadWrite.All" in caught.value.msg and "could not be read" in caught.value.msg


def test_app_only_group_update_refusal_offers_the_ways_out(adapter, graph):
    adapter.expect("PUT", "/photo/$value", graph_error(403, "AppOnlyTokenNotSupportedForGroupUpdate", "Exception of type ..."))
    with pytest.raises(GraphError) as caught:
        graph.put_content(Owner(GROUP, GROUP_ID), b"x", "image/jpeg")
    assert "refuses app-only writes of group photos" in caught.value.msg
    assert "delegated" in caught.value.msg and "endpoint=team" in caught.value.msg
    assert len(adapter.sent) == 1  # its own code says why: no policy read


@pytest.mark.parametrize("owner, text", [
    (Owner(GROUP, GROUP_ID), "group %s was not found" % GROUP_ID),
    (Owner(TEAM, GROUP_ID), "check that the group is a Team"),
])
def test_unknown_group_or_team(adapter, graph, owner, text):
    adapter.expect("GET", "/photo", graph_error(404, "NotFound" if owner.kind == TEAM else "Request_ResourceNotFound", "x"))
    with pytest.raises(UserNotFoundError, match=text):
        graph.get_metadata(owner)


def test_owner_names_never_equal_a_user_key():
    """group:<id> in messages, backup files and state-file keys: a UPN cannot hold ':', so no user shares them."""
    group = Owner(GROUP, GROUP_ID)
    assert shown_user(group) == "group:" + GROUP_ID and shown_user(Owner(TEAM, GROUP_ID)) == "team:" + GROUP_ID
    assert safe_file_stem(group) != safe_file_stem(GROUP_ID)
    assert safe_file_stem(group).startswith("group_" + GROUP_ID + "~")  # ":" is replaced, and a hash keeps it unique
    assert (owner_noun(group), owner_noun(Owner(TEAM, "x")), owner_noun("a@b")) == ("group", "Team", "user")
    assert len({Owner(GROUP, "x"), Owner(GROUP, "x"), Owner(TEAM, "x"), "x"}) == 3  # hashable keys of the *_many reads


PLUGINS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils"))
KIND_BLIND = ("photo/_reconcile.py", "photo/_compare.py", "photo/_files.py", "photo/_current.py", "many_users/_state_file.py")


@pytest.mark.parametrize("path", KIND_BLIND)
def test_deciding_comparing_backing_up_and_recording_never_branch_on_the_kind(path):
    """The issue's rule, kept: these modules take an owner and pass it on; they never import the kinds or the table."""
    with open(os.path.join(PLUGINS, path), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"GROUP", "TEAM", "USER", "OWNER_KINDS", "kind_of", "Owner"}
    assert not any(module and module.endswith("_owners") for module in modules)
