# SPDX-License-Identifier: GPL-3.0-or-later
"""The answer readers (issue 8, build item 2): a valid value or MalformedAnswerError, whatever the service sends."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.graph._answers import (
    GRAPH_KEYS, OUTLOOK_V2_KEYS, BatchAnswer, Origin, PhotoMetadata, batch_binary, batch_envelope, error_answer, graph_error, json_body,
    parse_json, photo_bytes, photo_metadata, photo_sizes, request_id_of, response_origin, users_page)
from ansible_collections.o365.outlook.plugins.module_utils.graph._batch import BatchItem, run_batch
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError, MalformedAnswerError, OutlookError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import GraphDialect, PhotoClient
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy

BASE = "https://graph.example/v1.0"
ORIGIN = Origin("GET", BASE + "/users/a/photo", "req-9")
# database=None: no .hypothesis folder is written into the collection tree under ansible-test.
FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any JSON value: what a hostile or broken service can put anywhere in an answer.
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                           max_leaves=20)
# Values that are close to valid, so the readers' success paths are explored too, not only their refusals.
sides = st.integers(min_value=-2, max_value=5000) | st.sampled_from([True, "96", 96.0, None, 2 ** 31, 1])
photo_ids = st.sampled_from(["1x1", "1X1", "96x96", "240X240", "", None, 7]) | st.text(max_size=8)
content_types = st.sampled_from(["image/jpeg", "image/gif", "IMAGE/GIF", None, 5, ["image/gif"]])
etags = st.sampled_from(["\"BA09D118\"", "W/\"x\"", "", None, 12, {"a": 1}])


@st.composite
def near_metadata(draw, keys=GRAPH_KEYS):
    body = {}
    for key, strategy in zip(keys, (photo_ids, sides, sides)):
        if draw(st.booleans()) or draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        body["@odata.mediaContentType"] = draw(content_types)
    if draw(st.booleans()):
        body["@odata.mediaEtag"] = draw(etags)
    return body


any_metadata = json_values | near_metadata() | near_metadata(OUTLOOK_V2_KEYS)


def assert_valid_metadata(value, allow_none=True):
    if value is None:
        assert allow_none
        return
    assert isinstance(value, PhotoMetadata)
    assert isinstance(value.photo_id, str) and value.photo_id
    for side in (value.width, value.height):
        assert isinstance(side, int) and not isinstance(side, bool) and 0 < side < 2 ** 31
    assert value.content_type is None or isinstance(value.content_type, str)
    assert value.etag is None or isinstance(value.etag, str)
    assert not (value.photo_id.lower() == "1x1" and value.width == value.height == 1
                and (value.content_type or "").lower() == "image/gif"), "the placeholder means no photo"


def assert_names_the_request(exc, origin=ORIGIN):
    assert isinstance(exc, MalformedAnswerError)
    assert origin.url in exc.msg and origin.method in exc.msg


class FakeResponse:
    def __init__(self, content, headers=None):
        self.content = content
        self.headers = headers or {}


# --- property-based: nothing but a valid value or MalformedAnswerError ---

@FAST
@given(data=st.binary(max_size=200) | st.text(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
       expect=st.sampled_from([dict, list, None]))
def test_parse_json_of_any_bytes_or_text(data, expect):
    try:
        value = parse_json(data, ORIGIN, expect)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc)
        return
    if expect is not None:
        assert isinstance(value, expect)


@FAST
@given(content=st.binary(max_size=100), request_id=st.none() | st.text(max_size=10) | st.integers())
def test_json_body_and_photo_bytes_of_any_response(content, request_id):
    response = FakeResponse(content, {"request-id": request_id})
    origin = response_origin(response, "GET", BASE + "/x")
    assert origin.request_id is None or isinstance(origin.request_id, str)
    try:
        assert isinstance(json_body(response, origin), dict)
    except MalformedAnswerError:
        pass
    try:
        assert photo_bytes(response, origin) == content and content
    except MalformedAnswerError:
        assert not content


@FAST
@given(body=any_metadata, keys=st.sampled_from([GRAPH_KEYS, OUTLOOK_V2_KEYS]))
def test_photo_metadata_of_any_json(body, keys):
    try:
        value = photo_metadata(body, ORIGIN, keys)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc)
        return
    assert_valid_metadata(value)


@FAST
@given(body=json_values | st.lists(near_metadata(), max_size=4).map(lambda entries: {"value": entries}))
def test_photo_sizes_of_any_json(body):
    try:
        sizes = photo_sizes(body, ORIGIN)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc)
        return
    assert isinstance(sizes, list)
    for size in sizes:
        assert_valid_metadata(size, allow_none=False)


users = st.fixed_dictionaries({}, optional={"id": st.text(max_size=5) | scalars, "userPrincipalName": st.text(max_size=5) | scalars})
pages = st.fixed_dictionaries({}, optional={"value": st.lists(users | json_values, max_size=4) | json_values,
                                            "@odata.nextLink": st.text(max_size=10) | json_values})


@FAST
@given(body=json_values | pages)
def test_users_page_of_any_json(body):
    try:
        found, next_link = users_page(body, ORIGIN)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc)
        return
    assert next_link is None or (isinstance(next_link, str) and next_link)
    for object_id, upn in found:
        assert isinstance(object_id, str) and object_id and isinstance(upn, str) and upn


@FAST
@given(body=json_values | st.binary(max_size=30).map(lambda raw: base64.b64encode(raw).decode()))
def test_batch_binary_of_any_json(body):
    try:
        data = batch_binary(body, ORIGIN)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc)
        return
    assert isinstance(data, bytes) and data and base64.b64encode(data).decode() == body


@FAST
@given(status=st.integers(min_value=100, max_value=599),
       body=json_values | st.fixed_dictionaries({"error": json_values | st.fixed_dictionaries({}, optional=dict(
           code=scalars, message=scalars, innerError=json_values, innererror=json_values))}),
       headers=json_values)
def test_graph_error_of_any_json_never_raises(status, body, headers):
    error = graph_error(status, body, headers, method="GET", url=BASE + "/x")
    assert isinstance(error, GraphError) and error.status == status
    for field in (error.code, error.message, error.request_id, error.retry_after):
        assert field is None or isinstance(field, str)


@FAST
@given(headers=json_values, body=json_values)
def test_request_id_of_any_json_never_raises(headers, body):
    found = request_id_of(headers if isinstance(headers, dict) else None, body)
    assert found is None or isinstance(found, str)


ASKED = {str(n): Origin("GET", "%s/users/u%d/photo" % (BASE, n)) for n in range(4)}
entries = st.fixed_dictionaries({}, optional=dict(
    id=st.sampled_from(["0", "1", "2", "3", 0, 3, 9, "x", None, True, 1.0]),
    status=st.sampled_from([200, 204, 404, 429, 503, 99, 600, "200", True, None, 200.0]),
    headers=st.none() | json_values | st.dictionaries(st.sampled_from(["Retry-After", "request-id", "X"]), scalars),
    body=json_values | near_metadata()))
envelopes = json_values | st.fixed_dictionaries({"responses": st.lists(entries | json_values, max_size=8)})


@FAST
@given(body=envelopes)
def test_batch_envelope_of_any_json(body):
    envelope = Origin("POST", BASE + "/$batch", "env-1")
    try:
        found = batch_envelope(body, ASKED, envelope)
    except MalformedAnswerError as exc:
        assert_names_the_request(exc, envelope)
        return
    assert set(found) == set(ASKED), "one entry per request asked"
    for item_id, answer in found.items():
        if isinstance(answer, MalformedAnswerError):
            assert ASKED[item_id].url in answer.msg
            continue
        assert isinstance(answer, BatchAnswer)
        assert isinstance(answer.status, int) and not isinstance(answer.status, bool) and 100 <= answer.status <= 599
        assert all(isinstance(k, str) and k == k.lower() and isinstance(v, str) for k, v in answer.headers.items())
        matching = [e for e in body["responses"] if isinstance(e, dict) and str(e.get("id")) == item_id
                    and not isinstance(e.get("id"), (bool, float))]
        assert len(matching) == 1, "an answer is only trusted when its id was answered exactly once"


class EnvelopeTransport:
    """Answers each $batch POST with the next scripted body (bytes); records what was asked."""

    def __init__(self, bodies):
        self.bodies = list(bodies)
        self.asked = []
        self.retry_policy = RetryPolicy(max_attempts=3, sleep=lambda seconds: None, rand=lambda: 0.0)

    def count(self, name, amount=1):
        pass

    def heard_items(self, response, throttled, hold, usage):
        assert throttled >= 0 and (usage is None or 0 <= usage <= 10)

    def request(self, method, url, json_body=None, **kwargs):
        self.asked.append(json_body)
        return FakeResponse(self.bodies.pop(0) if self.bodies else b"", {"request-id": "env-1"})


metadata_entries = st.fixed_dictionaries({}, optional=dict(
    id=st.sampled_from([str(n) for n in range(5)] + [0, 7, None]),
    status=st.sampled_from([200, 404, 429, 503, 400, "200", None]),
    headers=st.none() | st.dictionaries(st.sampled_from(["Retry-After", "request-id", "x-ms-throttle-limit-percentage"]), scalars),
    body=json_values | near_metadata() | st.just({"error": {"code": "ImageNotFound"}})))
GOOD_META = {"@odata.mediaContentType": "image/jpeg", "id": "96x96", "width": 96, "height": 96}
# Mostly well-formed entries, so that runs where some users succeed and others fail are common.
good_entries = st.fixed_dictionaries({"id": st.sampled_from([str(n) for n in range(5)]), "status": st.sampled_from([200, 200, 404, 429]),
                                      "body": st.just(GOOD_META) | st.binary(min_size=1, max_size=8).map(lambda raw: base64.b64encode(raw).decode())
                                      | near_metadata()})
raw_envelopes = (st.binary(max_size=50) | json_values.map(lambda v: json.dumps(v).encode())
                 | st.lists(good_entries | metadata_entries | json_values, max_size=8).map(lambda e: json.dumps({"responses": e}).encode()))


@FAST
@given(bodies=st.lists(raw_envelopes, min_size=1, max_size=3), count=st.integers(min_value=1, max_value=5))
def test_run_batch_and_get_metadata_many_over_any_envelopes(bodies, count):
    names = ["user%d@x" % n for n in range(count)]
    transport = EnvelopeTransport(bodies)
    found = PhotoClient(transport, GraphDialect(BASE)).get_metadata_many(names)
    assert sorted(found) == sorted(names), "one entry per user, whatever came back"
    for value in found.values():
        if not isinstance(value, OutlookError):
            assert_valid_metadata(value)
    assert len(transport.asked) <= 3, "throttled items are re-sent within the retry budget only"

    items = run_batch(EnvelopeTransport(bodies), BASE, [BatchItem(n, "GET", "/users/u%d/photo/$value" % n) for n in range(count)])
    for item in items:
        if item.succeeded:
            try:
                assert item.binary(BASE)
            except MalformedAnswerError:
                pass
        else:
            assert isinstance(item.error(BASE), OutlookError)


@FAST
@given(bodies=st.lists(raw_envelopes, min_size=1, max_size=3), count=st.integers(min_value=1, max_value=4))
def test_get_content_many_over_any_envelopes(bodies, count):
    names = ["user%d@x" % n for n in range(count)]
    found = PhotoClient(EnvelopeTransport(bodies), GraphDialect(BASE)).get_content_many(names)
    assert sorted(found) == sorted(names)
    for value in found.values():
        assert value is None or isinstance(value, OutlookError) or (isinstance(value, bytes) and value)


# --- plain cases: the messages say what happened ---

@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b'{"id": "96x96", "width": 9', "not valid JSON"),
    (b"<html>proxy error</html>", "not valid JSON"),
    (b"[1, 2]", "a list where an object was expected"),
    (b"\xff\xfe\x00garbage", "not"),
    (b'{"width": NaN}', "not valid JSON"),
    (b'{"id": "a", "id": "b"}', "appears twice"),
    (b"[" * 100000, "not"),
])
def test_bad_json_bodies_are_named(data, words):
    with pytest.raises(MalformedAnswerError) as caught:
        json_body(FakeResponse(data, {"request-id": "rid-7"}), response_origin(FakeResponse(data, {"request-id": "rid-7"}), "GET", BASE + "/p"))
    assert words in caught.value.msg and "GET %s/p" % BASE in caught.value.msg and "request-id rid-7" in caught.value.msg


@pytest.mark.parametrize("body, words", [
    ({"id": "96x96", "width": "96", "height": 96}, "width is a string"),
    ({"id": "96x96", "width": True, "height": 96}, "width is a boolean"),
    ({"id": "96x96", "width": 96.0, "height": 96}, "width is a number"),
    ({"id": "96x96", "width": 96, "height": 0}, "height is out of range"),
    ({"id": 96, "width": 96, "height": 96}, "id is a number"),
    ({"id": "96x96", "width": 96, "height": 96, "@odata.mediaContentType": 1}, "mediaContentType is a number"),
    ({"id": "96x96", "width": 96, "height": 96, "@odata.mediaEtag": ["x"]}, "mediaEtag is a list"),
    (["not", "an", "object"], "is a list"),
])
def test_bad_metadata_is_named(body, words):
    with pytest.raises(MalformedAnswerError, match=words):
        photo_metadata(body, ORIGIN)


def test_good_metadata_and_placeholders():
    meta = photo_metadata({"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": "\"BA09D118\"", "Id": "240X240",
                           "Width": 240, "Height": 240}, ORIGIN, OUTLOOK_V2_KEYS)
    assert meta.to_dict() == dict(id="240X240", width=240, height=240, content_type="image/jpeg", etag="BA09D118")
    assert photo_metadata({"@odata.mediaContentType": "image/gif", "@odata.mediaEtag": "", "id": "1X1", "width": 1,
                           "height": 1}, ORIGIN) is None
    # The same 1x1 as a JPEG is a real (tiny) photo.
    assert photo_metadata({"@odata.mediaContentType": "image/jpeg", "id": "1x1", "width": 1, "height": 1}, ORIGIN).width == 1


def test_graph_error_tolerates_wrong_types():
    error = graph_error(404, {"error": {"code": 5, "message": ["x"], "innerError": {"request-id": "rid-3"}}},
                        {"retry-after": "2"}, method="GET", url=BASE + "/x")
    assert (error.code, error.message, error.request_id, error.retry_after) == (None, None, "rid-3", "2")
    assert graph_error(500, "plain text", None).code is None


def test_batch_binary_refuses_error_bodies_and_empty_photos():
    with pytest.raises(MalformedAnswerError, match="success with an error body"):
        batch_binary({"error": {"code": "ImageNotFound"}}, ORIGIN)
    with pytest.raises(MalformedAnswerError, match="empty"):
        batch_binary("", ORIGIN)
    with pytest.raises(MalformedAnswerError, match="not valid base64"):
        batch_binary("%%%not-base64", ORIGIN)
    assert batch_binary(base64.b64encode(b"\xff\xd8\xff").decode(), ORIGIN) == b"\xff\xd8\xff"


def test_request_ids_are_read_from_header_or_inner_error_and_never_oversized():
    assert request_id_of({"request-id": "rid-1"}, {"error": {"innerError": {"request-id": "rid-2"}}}) == "rid-1"
    assert request_id_of({}, {"error": {"innererror": {"request-id": "rid-2"}}}) == "rid-2"
    assert request_id_of({"request-id": "x" * 500}) is None


def _http_answer(status, body, headers=None):
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers = requests.structures.CaseInsensitiveDict(headers or {})
    return answer


@pytest.mark.parametrize("body", [
    {"error": {"code": "ImageNotFound", "message": "No photo.", "innerError": {"request-id": "rid-1"}}},
    {"error": {"code": "X", "innerError": "just text", "innererror": {"request-id": "rid-2"}}},
    {"error": {"code": "", "message": "", "innererror": {"request-id": ["no"]}}},
    {"error": {"message": {"nested": 1}}},
])
def test_one_reader_for_error_bodies_in_a_batch_item_and_an_http_answer(body):
    """issue 9: the transport and the batch read an error body with the same code (_error_envelope)."""
    item = graph_error(404, body, {}, method="GET", url=BASE + "/x")
    whole = error_answer(_http_answer(404, body))
    assert (whole.code or None, whole.message or None, whole.request_id) == (item.code, item.message, item.request_id)


def test_an_http_answer_is_read_more_leniently_than_a_batch_item():
    """A whole answer may come from a gateway or the token service: numbers are text and the OAuth shape counts."""
    numbers = {"error": {"code": 42, "message": 7, "innerError": {"request-id": 5}}}
    assert (graph_error(500, numbers).code, graph_error(500, numbers).message) == (None, None)
    said = error_answer(_http_answer(500, numbers, {"Retry-After": "3", "request-id": "header-id"}))
    assert (said.code, said.message, said.request_id, said.retry_after) == ("42", "7", "5", "3")
    oauth = {"error": "invalid_token", "error_description": "The token expired"}
    assert graph_error(401, oauth).code is None
    said = error_answer(_http_answer(401, oauth, {"request-id": "header-id"}))
    assert (said.code, said.message, said.request_id) == ("invalid_token", "The token expired", "header-id")
