# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._batch import BatchItem, run_batch
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError, MalformedAnswerError, TransportError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import GraphDialect, OutlookV2Dialect, PhotoClient
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport
from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply

BASE = "https://graph.example/v1.0"
META = {"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": "\"AB12\"", "id": "96x96", "width": 96, "height": 96}


def answers(*responses):
    return Reply(200, json_body={"responses": list(responses)})


def test_items_are_sent_together_and_binary_bodies_decoded(adapter, session, retry_policy):
    adapter.expect("POST", "/v1.0/$batch", answers(
        {"id": "1", "status": 200, "body": base64.b64encode(b"\xff\xd8\xffpixels").decode()},
        {"id": "0", "status": 200, "body": META}))
    transport = ApiTransport(session, FakeTokens(), retry_policy)
    items = run_batch(transport, BASE, [BatchItem(0, "GET", "/users/a/photo"), BatchItem(1, "GET", "/users/a/photo/$value")])
    sent = json.loads(adapter.sent[0]["body"])
    assert sent == {"requests": [{"id": "0", "method": "GET", "url": "/users/a/photo"},
                                 {"id": "1", "method": "GET", "url": "/users/a/photo/$value"}]}
    assert items[0].body == META and items[1].binary() == b"\xff\xd8\xffpixels"
    assert transport.stats["batches"] == 1


def test_throttled_items_alone_are_sent_again_after_retry_after(adapter, session, retry_policy, sleeps):
    adapter.expect("POST", "/$batch", answers(
        {"id": "0", "status": 200, "body": META},
        {"id": "1", "status": 429, "headers": {"Retry-After": "1.5"}, "body": {"error": {"code": "TooManyRequests"}}}))
    adapter.expect("POST", "/$batch", answers({"id": "1", "status": 200, "body": META}))
    transport = ApiTransport(session, FakeTokens(), retry_policy)
    items = run_batch(transport, BASE, [BatchItem(0, "GET", "/users/a/photo"), BatchItem(1, "GET", "/users/b/photo")])
    assert [item.status for item in items] == [200, 200]
    assert json.loads(adapter.sent[1]["body"])["requests"] == [{"id": "1", "method": "GET", "url": "/users/b/photo"}]
    assert sleeps == [1.5]
    assert transport.stats["throttled"] == 1 and transport.stats["retries"] == 1


def test_item_throttled_past_the_budget_keeps_its_error(adapter, session, sleeps):
    from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
    policy = RetryPolicy(max_attempts=2, sleep=sleeps.append)
    for dummy in range(2):
        adapter.expect("POST", "/$batch", answers({"id": "0", "status": 429, "headers": {"retry-after": "1"},
                                                   "body": {"error": {"code": "TooManyRequests", "message": "later"}}}))
    items = run_batch(ApiTransport(session, FakeTokens(), policy), BASE, [BatchItem(0, "GET", "/users/a/photo")])
    error = items[0].error(BASE)
    assert error.status == 429 and error.code == "TooManyRequests" and error.url == BASE + "/users/a/photo"


def test_more_than_twenty_is_refused(session, retry_policy):
    with pytest.raises(ValueError):
        run_batch(ApiTransport(session, FakeTokens(), retry_policy), BASE, [BatchItem(i, "GET", "/x") for i in range(21)])


def test_client_reads_many_in_groups_of_twenty(adapter, session, retry_policy):
    users = ["user%02d@x" % n for n in range(25)]
    first = [{"id": str(n), "status": 200, "body": META} for n in range(20)]
    first[3] = {"id": "3", "status": 404, "body": {"error": {"code": "ImageNotFound"}}}
    first[4] = {"id": "4", "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "no"}}}
    adapter.expect("POST", "/$batch", answers(*first))
    adapter.expect("POST", "/$batch", answers(*[{"id": str(n), "status": 200, "body": META} for n in range(5)]))
    client = PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), GraphDialect(BASE))
    found = client.get_metadata_many(users)
    assert len(json.loads(adapter.sent[0]["body"])["requests"]) == 20
    assert len(json.loads(adapter.sent[1]["body"])["requests"]) == 5
    assert found["user03@x"] is None
    assert "user 'user04@x' was not found" in found["user04@x"].msg
    assert found["user24@x"].width == 96


def test_outlook_v2_reads_one_by_one(adapter, session, retry_policy):
    adapter.expect("GET", "/Users('a')/photo", Reply(200, json_body={"Id": "1X1", "Width": 1, "Height": 1,
                                                                     "@odata.mediaContentType": "image/gif"}))
    client = PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), OutlookV2Dialect("https://o.example/api/v2.0"))
    assert client.get_metadata_many(["a"]) == {"a": None}


# --- issue 8: the shape of $batch answers is never trusted ---

def graph_client(session, retry_policy):
    return PhotoClient(ApiTransport(session, FakeTokens(), retry_policy), GraphDialect(BASE))


@pytest.mark.parametrize("reply, words", [
    (Reply(200, content=b'{"responses": [{"id": "0", "status": 200, "body": {"id": "96x96", "wid'), "not valid JSON"),
    (Reply(200, json_body=[{"id": "0", "status": 200, "body": META}]), "is a list where an object was expected"),
    (Reply(200, json_body={"responses": {"0": META}}), "responses is an object, not a list"),
    (Reply(200, content=b""), "empty"),
])
def test_regression_malformed_envelope_fails_every_user_of_the_batch(adapter, session, retry_policy, reply, words):
    """issue 8 defect 1: a cut-off, list-shaped or empty $batch answer crashed the run (JSONDecodeError, AttributeError)."""
    adapter.expect("POST", "/$batch", Reply(reply.status, json_body=reply.json_body, content=reply.content,
                                            headers={"request-id": "env-42"}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert set(found) == {"a@x", "b@x"}
    for error in found.values():
        assert isinstance(error, MalformedAnswerError)
        assert words in error.msg and "POST %s/$batch" % BASE in error.msg and "request-id env-42" in error.msg


def test_regression_non_dict_entries_fail_only_unanswered_users(adapter, session, retry_policy):
    """issue 8 defect 1: a non-dict entry in responses crashed the whole batch with AttributeError."""
    adapter.expect("POST", "/$batch", answers("garbage", 7, None, {"id": "0", "status": 200, "body": META}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert found["a@x"].width == 96
    assert isinstance(found["b@x"], MalformedAnswerError)
    assert "the $batch answer had no entry for this request" in found["b@x"].msg
    assert "3 of its entries had no readable id" in found["b@x"].msg and "/users/b%40x/photo" in found["b@x"].msg


def test_regression_bad_base64_fails_that_user_only(adapter, session, retry_policy):
    """issue 8 defect 1: bad base64 in a $value item raised binascii.Error out of get_content_many."""
    adapter.expect("POST", "/$batch", answers(
        {"id": "0", "status": 200, "body": "@@not base64!!", "headers": {"request-id": "item-5"}},
        {"id": "1", "status": 200, "body": base64.b64encode(b"\xff\xd8\xffok").decode()},
        {"id": "2", "status": 200, "body": {"id": "oops"}}))
    found = graph_client(session, retry_policy).get_content_many(["a@x", "b@x", "c@x"])
    assert isinstance(found["a@x"], MalformedAnswerError) and "not valid base64" in found["a@x"].msg
    assert "request-id item-5" in found["a@x"].msg and "GET %s/users/a%%40x/photo/$value" % BASE in found["a@x"].msg
    assert found["b@x"] == b"\xff\xd8\xffok"
    assert isinstance(found["c@x"], MalformedAnswerError) and "not a base64 string" in found["c@x"].msg


@pytest.mark.parametrize("status", ["200", True, None, 200.0, 1000])
def test_regression_string_or_bad_status_fails_that_user_only(adapter, session, retry_policy, status):
    """issue 8 defect 1: a string status raised TypeError (200 <= "200") out of get_metadata_many."""
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": status, "body": META}, {"id": "1", "status": 200, "body": META}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert isinstance(found["a@x"], MalformedAnswerError)
    assert "not an HTTP status code" in found["a@x"].msg or "out of range (not 100-599)" in found["a@x"].msg
    assert found["b@x"].width == 96


@pytest.mark.parametrize("second", [{"id": "0", "status": 200, "body": META},
                                    {"id": 0, "status": 404, "body": {"error": {"code": "ImageNotFound"}}}])
def test_regression_id_answered_twice_fails_that_user(adapter, session, retry_policy, second):
    """issue 8 defect 4: a duplicated id silently kept the last answer (even one that says "no photo")."""
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 200, "body": META}, {"id": "1", "status": 200, "body": META}, second))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert isinstance(found["a@x"], MalformedAnswerError)
    assert "answered this request 2 times" in found["a@x"].msg
    assert found["b@x"].width == 96


def test_regression_missing_id_is_not_reported_as_http_500(adapter, session, retry_policy):
    """issue 8 defect 4: a request with no entry in the answer was reported as "HTTP 500", which nobody sent."""
    adapter.expect("POST", "/$batch", answers({"id": "1", "status": 200, "body": META}, {"id": "77", "status": 200, "body": META}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert isinstance(found["a@x"], MalformedAnswerError) and "HTTP 500" not in found["a@x"].msg
    assert "the $batch answer had no entry for this request" in found["a@x"].msg
    assert found["b@x"].width == 96, "an id nobody asked for is ignored and breaks nothing"


def test_int_ids_are_matched_as_strings(adapter, session, retry_policy):
    adapter.expect("POST", "/$batch", answers({"id": 0, "status": 200, "body": META}))
    assert graph_client(session, retry_policy).get_metadata_many(["a@x"])["a@x"].etag == "AB12"


def test_malformed_metadata_item_fails_that_user_only(adapter, session, retry_policy):
    bad = dict(META, width="96")
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 200, "body": bad}, {"id": "1", "status": 200, "body": META}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert isinstance(found["a@x"], MalformedAnswerError) and "width is a string" in found["a@x"].msg
    assert found["b@x"].width == 96


def test_throttled_item_answered_twice_on_the_retry_fails(adapter, session, retry_policy, sleeps):
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 429, "headers": {"Retry-After": "1"}},
                                              {"id": "1", "status": 200, "body": META}))
    # Item 1 is done: an answer for it in the second round was not asked for and changes nothing.
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 200, "body": META}, {"id": "0", "status": 200, "body": META},
                                              {"id": "1", "status": 500}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert sleeps == [1.0]
    assert "answered this request 2 times" in found["a@x"].msg
    assert found["b@x"].width == 96


def test_envelope_error_status_fails_the_batch_without_raising(adapter, session, retry_policy):
    adapter.expect("POST", "/$batch", Reply(400, json_body={"error": {"code": "BadRequest", "message": "Invalid batch payload format."}}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert found["a@x"] is found["b@x"]
    assert isinstance(found["a@x"], GraphError) and found["a@x"].status == 400 and "Invalid batch payload" in found["a@x"].msg


def test_connection_failure_still_stops_the_run(adapter, session, sleeps):
    import requests
    from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
    adapter.expect("POST", "/$batch", Reply(raises=requests.exceptions.ConnectionError("Connection refused")))
    client = PhotoClient(ApiTransport(session, FakeTokens(), RetryPolicy(max_attempts=1, sleep=sleeps.append)), GraphDialect(BASE))
    with pytest.raises(TransportError):
        client.get_metadata_many(["a@x"])


def test_sizes_item_with_bad_entries_fails_that_user(adapter, session, retry_policy):
    adapter.expect("POST", "/$batch", answers(
        {"id": "0", "status": 200, "body": {"value": [META, dict(META, id="1x1", width=1, height=1, **{"@odata.mediaContentType": "image/gif"})]}},
        {"id": "1", "status": 200, "body": {"value": [META, {"id": "48x48", "width": None, "height": 48}]}},
        {"id": "2", "status": 404, "body": {"error": {"code": "ImageNotFound"}}}))
    found = graph_client(session, retry_policy).get_sizes_many(["a@x", "b@x", "c@x"])
    assert [size.photo_id for size in found["a@x"]] == ["96x96"]
    assert isinstance(found["b@x"], MalformedAnswerError) and "width is null" in found["b@x"].msg
    assert found["c@x"] == []


def test_malformed_envelope_on_the_retry_fails_only_the_items_still_pending(adapter, session, retry_policy, sleeps):
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 503}, {"id": "1", "status": 200, "body": META}))
    adapter.expect("POST", "/$batch", Reply(200, content=b'{"responses": [', headers={"request-id": "env-2"}))
    found = graph_client(session, retry_policy).get_metadata_many(["a@x", "b@x"])
    assert isinstance(found["a@x"], MalformedAnswerError) and "request-id env-2" in found["a@x"].msg
    assert found["b@x"].width == 96


def test_items_rejected_with_401_get_one_new_token_and_are_sent_again(adapter, session, retry_policy, sleeps):
    """Found by the fault matrix: a token revoked between a $batch envelope and its items left those users failed
    (and stopped the run) although a new token fixes them, as it does for a direct 401."""
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Lifetime validation failed, the token is expired."}}
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 200, "body": META}, {"id": "1", "status": 401, "body": expired}))
    adapter.expect("POST", "/$batch", answers({"id": "1", "status": 200, "body": META}))
    tokens = FakeTokens()
    transport = ApiTransport(session, tokens, retry_policy)
    items = run_batch(transport, BASE, [BatchItem(0, "GET", "/users/a/photo"), BatchItem(1, "GET", "/users/b/photo")])
    assert [item.status for item in items] == [200, 200]
    assert tokens.refreshes == 1 and sleeps == []
    assert adapter.sent[1]["headers"]["Authorization"] == "Bearer token-2"
    assert json.loads(adapter.sent[1]["body"])["requests"] == [{"id": "1", "method": "GET", "url": "/users/b/photo"}]


def test_items_rejected_again_after_the_new_token_keep_their_401(adapter, session, retry_policy):
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}}
    for dummy in range(2):
        adapter.expect("POST", "/$batch", answers({"id": "0", "status": 401, "body": expired}))
    tokens = FakeTokens()
    items = run_batch(ApiTransport(session, tokens, retry_policy), BASE, [BatchItem(0, "GET", "/users/a/photo")])
    assert items[0].error(BASE).status == 401 and tokens.refreshes == 1 and len(adapter.sent) == 2


def test_items_rejected_with_a_token_that_cannot_be_renewed_fail(adapter, session, retry_policy):
    adapter.expect("POST", "/$batch", answers({"id": "0", "status": 401, "body": {"error": {"code": "InvalidAuthenticationToken"}}}))
    items = run_batch(ApiTransport(session, FakeTokens(can_refresh=False), retry_policy), BASE, [BatchItem(0, "GET", "/users/a/photo")])
    assert items[0].error(BASE).status == 401 and len(adapter.sent) == 1
