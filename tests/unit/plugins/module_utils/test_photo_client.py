# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, GraphError, MalformedAnswerError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import (
    GraphDialect, OutlookV2Dialect, PhotoClient, UserNotFoundError)
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport
from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply, graph_error

GRAPH = "https://graph.example/v1.0"
V2 = "https://outlook.example/api/v2.0"

GRAPH_META = {"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": "\"BA09D118\"", "id": "240X240", "width": 240, "height": 240}
V2_META = {"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": "\"BA09D118\"", "Id": "240X240", "Width": 240, "Height": 240}
V2_PLACEHOLDER = {"@odata.mediaContentType": "image/gif", "@odata.mediaEtag": "", "Id": "1X1", "Width": 1, "Height": 1}


@pytest.fixture
def graph(session, retry_policy):
    return PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), GraphDialect(GRAPH))


@pytest.fixture
def outlook(session, retry_policy):
    return PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), OutlookV2Dialect(V2))


@pytest.mark.parametrize("user, path", [
    (None, "/me/photo"),
    ("adele@contoso.com", "/users/adele%40contoso.com/photo"),
    ("john_fabrikam.com#EXT#@contoso.onmicrosoft.com", "/users/john_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/photo"),
    ("o'brien@contoso.com", "/users/o%27brien%40contoso.com/photo"),
    ("zoë@contoso.com", "/users/zo%C3%AB%40contoso.com/photo"),
    ("a+b%c/d?e@x", "/users/a%2Bb%25c%2Fd%3Fe%40x/photo"),
    ("0b9e6f1a-3c0e-4a55-9d6f-2f2a2f6a8a11", "/users/0b9e6f1a-3c0e-4a55-9d6f-2f2a2f6a8a11/photo"),
    ("$admin@contoso.com", "/users('%24admin%40contoso.com')/photo"),
    ("$o'neil@x", "/users('%24o%27%27neil%40x')/photo"),
])
def test_graph_user_is_one_path_segment(user, path):
    assert GraphDialect(GRAPH).photo_url(user) == GRAPH + path
    assert GraphDialect(GRAPH).photo_url(user, value=True) == GRAPH + path + "/$value"


@pytest.mark.parametrize("user, path", [
    (None, "/me/photo"),
    ("adele@contoso.com", "/Users('adele%40contoso.com')/photo"),
    ("o'brien@contoso.com", "/Users('o%27%27brien%40contoso.com')/photo"),
    ("a/b?c#d", "/Users('a%2Fb%3Fc%23d')/photo"),
])
def test_outlook_v2_user_is_one_odata_key(user, path):
    assert OutlookV2Dialect(V2).photo_url(user) == V2 + path


def test_graph_metadata_is_parsed_and_etag_unquoted(adapter, graph):
    adapter.expect("GET", "/users/a/photo", Reply(200, json_body=GRAPH_META))
    meta = graph.get_metadata("a")
    assert meta.to_dict() == dict(id="240X240", width=240, height=240, content_type="image/jpeg", etag="BA09D118")


@pytest.mark.parametrize("code", ["ImageNotFound", "ErrorItemNotFound"])
def test_graph_no_photo_404_means_none(adapter, graph, code):
    adapter.expect("GET", "/users/a/photo", graph_error(404, code))
    assert graph.get_metadata("a") is None


def test_graph_placeholder_means_none(adapter, graph):
    adapter.expect("GET", "/users/a/photo", Reply(200, json_body={
        "@odata.mediaContentType": "image/gif", "@odata.mediaEtag": "", "id": "1x1", "width": 1, "height": 1}))
    assert graph.get_metadata("a") is None


def test_unknown_user_is_a_clear_error(adapter, graph):
    adapter.expect("GET", "/users/nobody/photo", graph_error(404, "Request_ResourceNotFound", "Resource 'nobody' does not exist"))
    with pytest.raises(UserNotFoundError, match="user 'nobody' was not found"):
        graph.get_metadata("nobody")


def test_forbidden_names_the_permission(adapter, graph):
    adapter.expect("PUT", "/photo/$value", graph_error(403, "ErrorAccessDenied", "Access is denied."))
    # A refused write reads the tenant's photo policy once (issue 20): here it is cloud, so the permission is the cause.
    adapter.expect("GET", "/beta/admin/people/photoUpdateSettings", Reply(200, json_body={"source": "cloud", "allowedRoles": []}))
    with pytest.raises(GraphError, match="ProfilePhoto.ReadWrite.All") as caught:
        graph.put_content("a", b"x", "image/jpeg")
    assert "photo policy" not in caught.value.msg


def test_me_with_app_token_explains(adapter, graph):
    adapter.expect("GET", "/me/photo", graph_error(400, "BadRequest", "/me request is only valid with delegated authentication flow."))
    with pytest.raises(GraphError, match="set user for app-only auth"):
        graph.get_metadata(None)


def test_content_put_and_delete(adapter, graph):
    adapter.expect("GET", "/photo/$value", Reply(200, content=b"\xff\xd8\xffdata"))
    adapter.expect("PUT", "/photo/$value", Reply(200))
    adapter.expect("DELETE", "/photo/$value", Reply(204))
    assert graph.get_content("a") == b"\xff\xd8\xffdata"
    graph.put_content("a", b"bytes", "image/png")
    graph.delete_content("a")
    put = adapter.sent[1]
    assert put["headers"]["Content-Type"] == "image/png"
    assert put["body"] == b"bytes"


def test_delete_of_missing_photo_is_fine(adapter, graph):
    adapter.expect("DELETE", "/photo/$value", graph_error(404, "ImageNotFound"))
    graph.delete_content("a")


def test_outlook_v2_metadata_placeholder_and_patch(adapter, outlook):
    adapter.expect("GET", "/Users('a')/photo", Reply(200, json_body=V2_META))
    adapter.expect("GET", "/Users('b')/photo", Reply(200, json_body=V2_PLACEHOLDER))
    adapter.expect("PATCH", "/Users('a')/photo/$value", Reply(200))
    assert outlook.get_metadata("a").to_dict()["id"] == "240X240"
    assert outlook.get_metadata("b") is None
    outlook.put_content("a", b"x", "image/jpeg")


def test_outlook_v2_cannot_delete(outlook):
    with pytest.raises(ConfigurationError, match="use api=graph for state=absent"):
        outlook.delete_content("a")


# --- issue 8: answers of the wrong shape are one typed error that names the request ---

@pytest.mark.parametrize("reply", [
    Reply(200, content=b"<html>Bad gateway</html>", headers={"request-id": "rid-1"}),
    Reply(200, content=b"", headers={"request-id": "rid-1"}),
    Reply(200, content=b'{"id": "240X240", "width": 240, "hei', headers={"request-id": "rid-1"}),
])
def test_regression_metadata_200_that_is_not_json(adapter, graph, reply):
    """issue 8 defect 2: a read-back answered 200 with a non-JSON body raised a bare JSONDecodeError."""
    adapter.expect("GET", "/users/a/photo", reply)
    with pytest.raises(MalformedAnswerError) as caught:
        graph.get_metadata("a")
    assert "GET %s/users/a/photo" % GRAPH in caught.value.msg and "request-id rid-1" in caught.value.msg


@pytest.mark.parametrize("body, words", [
    (dict(GRAPH_META, width="240"), "width is a string"),
    (dict(GRAPH_META, height=None), "height is null"),
    ([GRAPH_META], "a list where an object was expected"),
])
def test_metadata_of_the_wrong_shape(adapter, graph, body, words):
    adapter.expect("GET", "/users/a/photo", Reply(200, json_body=body))
    with pytest.raises(MalformedAnswerError, match=words):
        graph.get_metadata("a")


def test_empty_photo_body_is_malformed(adapter, graph):
    adapter.expect("GET", "/photo/$value", Reply(200, content=b""))
    with pytest.raises(MalformedAnswerError, match="the photo body is empty"):
        graph.get_content("a")


def test_outlook_v2_many_keeps_a_malformed_answer_per_user(adapter, outlook):
    adapter.expect("GET", "/Users('a')/photo", Reply(200, content=b"not json"))
    adapter.expect("GET", "/Users('b')/photo", Reply(200, json_body=V2_META))
    found = outlook.get_metadata_many(["a", "b"])
    assert isinstance(found["a"], MalformedAnswerError) and found["b"].width == 240


def page(users, next_link=None):
    body = {"value": [{"id": "id-" + upn, "userPrincipalName": upn} for upn in users]}
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return Reply(200, json_body=body)


def test_list_users_passes_the_next_link_unchanged(adapter, graph):
    # The transport decides whether the token may go there; the client must not rewrite the link.
    link = "https://graph.example/v1.0/users?$top=2&$skiptoken=RFNwdAI%2Bx%3D&$select=id,userPrincipalName"
    adapter.expect("GET", "/users?$select=id,userPrincipalName&$top=2", page(["a@x", "b@x"], link))
    adapter.expect("GET", "/users?", page(["c@x"]))
    assert list(graph.list_users(page_size=2)) == [("id-a@x", "a@x"), ("id-b@x", "b@x"), ("id-c@x", "c@x")]
    assert adapter.sent[1]["url"] == link


@pytest.mark.parametrize("reply, words", [
    (page(["a@x"], next_link=42), "nextLink is a number"),
    (page(["a@x"], next_link={"href": "x"}), "nextLink is an object"),
    (Reply(200, json_body={"value": [{"id": "1", "userPrincipalName": None}]}), "has no string id and userPrincipalName"),
    (Reply(200, json_body={"value": ["a@x"]}), "user 0 of the page is a string"),
    (Reply(200, json_body={"users": []}), "value is null, not a list"),
    (Reply(200, content=b"{\"value\": [{\"id\""), "not valid JSON"),
])
def test_regression_malformed_users_page(adapter, graph, reply, words):
    """issue 8 build item 2: a non-string nextLink or a malformed page of users raised TypeError/AttributeError."""
    adapter.expect("GET", "/users?", reply)
    with pytest.raises(MalformedAnswerError, match=words):
        list(graph.list_users())


def test_next_link_back_to_a_read_page_stops(adapter, graph):
    first = "%s/users?$select=id,userPrincipalName&$top=999" % GRAPH
    adapter.expect("GET", "/users?", page(["a@x"], GRAPH + "/users?$skiptoken=2"))
    adapter.expect("GET", "/users?", page(["b@x"], first))
    with pytest.raises(MalformedAnswerError, match="leads back to a page already read"):
        list(graph.list_users())


# --- issue 9: what each API can do is declared once and checked in one function ---

def test_capabilities_table_and_dialects_agree():
    from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import API_CAPABILITIES
    assert GraphDialect(GRAPH).capabilities == API_CAPABILITIES["graph"]
    assert OutlookV2Dialect(V2).capabilities == API_CAPABILITIES["outlook_v2"]
    assert API_CAPABILITIES["outlook_v2"] == frozenset()


@pytest.mark.parametrize("api, needed, use, details, message", [
    ("outlook_v2", ["remove_photo"], "state_absent", {}, "use api=graph for state=absent"),
    ("outlook_v2", ["photo_sizes"], "all_users_or_sizes", {}, "all_users and include_sizes need api=graph"),
    ("outlook_v2", ["national_clouds"], "cloud", dict(cloud="usgov"), "has no endpoint in the usgov cloud"),
])
def test_require_capabilities_refuses_with_the_uses_message(api, needed, use, details, message):
    from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import require_capabilities
    with pytest.raises(ConfigurationError, match=message):
        require_capabilities(api, needed, use, **details)
    require_capabilities("graph", needed, use, **details)
    require_capabilities(api, [], use, **details)


def test_outlook_v2_lists_no_users_and_no_sizes(outlook):
    with pytest.raises(ConfigurationError, match="Listing all users needs api=graph"):
        list(outlook.list_users())
    with pytest.raises(ConfigurationError, match="Photo sizes need api=graph"):
        outlook.get_sizes_many(["a"])


@pytest.mark.parametrize("odata_id, owner", [
    ("https://graph.microsoft.com/v1.0/users('6E3B0CF5-7A54-4A3F-9D3E-1C2B3A4D5E6F@1717622f-1d94-4d0c-9d74-709fad664b77')/photo",
     "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"),                      # the docs' form: <object id>@<tenant id>
    ("https://graph.microsoft.com/v1.0/users('6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f')/photo", "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"),
    ("https://outlook.office.com/api/v2.0/Users('6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f@x')/photo", "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"),
    ("https://graph.microsoft.com/v1.0/users('adele@contoso.com')/photo", None),   # a UPN is no object id: never guessed
    ("https://graph.microsoft.com/v1.0/users('6e3b0cf5')/photo", None),
    (42, None),
    ("x" * 5000, None),
    (None, None),
])
def test_metadata_names_its_owner_from_odata_id(adapter, graph, odata_id, owner):
    body = dict(GRAPH_META)
    if odata_id is not None:
        body["@odata.id"] = odata_id
    adapter.expect("GET", "/users/a/photo", Reply(200, json_body=body))
    assert graph.get_metadata("a").owner_id == owner


def batch_answer(*responses):
    return Reply(200, json_body={"responses": list(responses)})


def test_read_content_many_keeps_the_etag_header_of_each_answer(adapter, graph):
    import base64
    adapter.expect("POST", "/$batch", batch_answer(
        {"id": "0", "status": 200, "headers": {"ETag": "\"AB12CD34\"", "Content-Type": "image/jpeg"}, "body": base64.b64encode(b"one").decode()},
        {"id": "1", "status": 200, "headers": {"Content-Type": "image/jpeg"}, "body": base64.b64encode(b"two").decode()},
        {"id": "2", "status": 404, "body": {"error": {"code": "ImageNotFound", "message": "x"}}, "headers": {"ETag": "\"FF\""}}))
    adapter.expect("GET", "/users/c/photo/$value", graph_error(404, "ImageNotFound"))
    content, etags = graph.read_content_many(["a", "b", "c"])
    assert content["a"] == b"one" and content["b"] == b"two"
    assert etags == {"a": "AB12CD34"}   # only an answer that carried bytes and an ETag


def test_get_content_keeps_the_etag_header_when_asked(adapter, graph):
    adapter.expect("GET", "/users/a/photo/$value", Reply(200, content=b"jpeg", headers={"ETag": "W/\"AB12\""}))
    etags = {}
    assert graph.get_content("a", etags) == b"jpeg" and etags == {"a": "AB12"}


def test_object_ids_many(adapter, graph):
    adapter.expect("POST", "/$batch", batch_answer(
        {"id": "0", "status": 200, "body": {"id": "6E3B0CF5-7A54-4A3F-9D3E-1C2B3A4D5E6F"}},
        {"id": "1", "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "x"}}},
        {"id": "2", "status": 200, "body": {"id": "not-a-guid"}},
        {"id": "3", "status": 403, "body": {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}}))
    found = graph.get_object_ids_many(["adele@x", "ghost@x", "odd@x", "denied@x"])
    assert found["adele@x"] == "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"
    assert isinstance(found["ghost@x"], UserNotFoundError) and found["odd@x"] is None
    assert isinstance(found["denied@x"], GraphError) and found["denied@x"].status == 403
    body = adapter.sent[-1]["body"]
    items = json.loads(body.decode() if isinstance(body, bytes) else body)["requests"]
    assert [item["url"] for item in items][:2] == ["/users/adele%40x?$select=id", "/users/ghost%40x?$select=id"]
