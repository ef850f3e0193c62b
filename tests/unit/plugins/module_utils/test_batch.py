# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.o365.outlook.plugins.module_utils._batch import BatchItem, run_batch
from ansible_collections.o365.outlook.plugins.module_utils._photo_client import GraphDialect, OutlookV2Dialect, PhotoClient
from ansible_collections.o365.outlook.plugins.module_utils._transport import ApiTransport
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
    from ansible_collections.o365.outlook.plugins.module_utils._retry import RetryPolicy
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
