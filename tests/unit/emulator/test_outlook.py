# SPDX-License-Identifier: GPL-3.0-or-later
"""Outlook REST v2.0 dialect: Users('{id}') keys with '' escaping, PascalCase metadata, the 1X1 placeholder."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from PIL import Image

ALEX = "alex.wilber@contoso.onmicrosoft.com"
OBRIEN_ID = "0b810000-0000-4000-8000-000000000005"
OUTLOOK_SCOPE = "https://outlook.office.com/.default"


def _jpeg(size=(120, 120)):
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 10)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def rw_token(api):
    """Outlook v2.0 accepts only Outlook-audience tokens (outlook_audiences): this file's token is one, from the token
    endpoint, for the same read-write client the conftest's Graph token belongs to."""
    return api.token(scope=OUTLOOK_SCOPE)


def test_metadata_is_pascal_case(api, rw_token):
    meta = api.outlook("GET", "/Users('%s')/photo" % ALEX, rw_token).json()
    assert (meta["Id"], meta["Width"], meta["Height"], meta["@odata.mediaContentType"]) == ("240X240", 240, 240, "image/jpeg")
    assert meta["@odata.context"] == "%s/api/v2.0/$metadata#Users('a1e80000-0000-4000-8000-000000000002')/photo/$entity" % api.origin
    assert meta["@odata.id"] == "%s/api/v2.0/Users('a1e80000-0000-4000-8000-000000000002')/photo" % api.origin
    assert meta["@odata.mediaEtag"].startswith('"')
    assert api.log()[-1]["api"] == "outlook_v2"


def test_apostrophe_is_doubled_and_placeholder_answers_a_user_without_photo(api, rw_token):
    for key in ("users('o''brien@contoso.onmicrosoft.com')", quote("Users('o''brien@contoso.onmicrosoft.com')", safe="")):
        resp = api.outlook("GET", "/%s/photo" % key, rw_token)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {
            "@odata.context": "%s/api/v2.0/$metadata#Users('%s')/photo/$entity" % (api.origin, OBRIEN_ID),
            "@odata.id": "%s/api/v2.0/Users('%s')/photo" % (api.origin, OBRIEN_ID),
            "@odata.mediaContentType": "image/gif", "@odata.mediaEtag": "", "Id": "1X1", "Width": 1, "Height": 1}
    error = api.outlook("GET", "/Users('o''brien@contoso.onmicrosoft.com')/photo/$value", rw_token)
    assert error.status_code == 404
    assert error.json()["error"]["code"] == "ErrorItemNotFound" and error.json()["error"]["message"] == "The photo wasn't found."


def test_set_with_put_and_patch_answers_200_and_delete_is_not_offered(api, rw_token):
    path = "/Users('o''brien@contoso.onmicrosoft.com')/photo/$value"
    for method in ("PUT", "PATCH"):
        resp = api.outlook(method, path, rw_token, data=_jpeg(), headers={"Content-Type": "image/jpeg"})
        assert resp.status_code == 200, resp.text
    assert api.outlook("GET", path, rw_token).content == _jpeg()
    assert api.outlook("DELETE", path, rw_token).status_code == 405
    assert api.oracle("o'brien@contoso.onmicrosoft.com")["has_photo"] is True


def test_me_and_the_unknown_user(api, rw_token):
    own = api.mint(user=ALEX, scopes=["User.Read"], resource="https://outlook.office.com")
    assert api.outlook("GET", "/me/photo", own).json()["@odata.context"].endswith("/api/v2.0/$metadata#Me/photo/$entity")
    assert api.outlook("GET", "/me/photo/$value", own).headers["Content-Type"] == "image/jpeg"
    assert api.outlook("GET", "/Users('nobody@contoso.onmicrosoft.com')/photo", rw_token).status_code == 404
    assert api.outlook("GET", "/Users('%s')/photos" % ALEX, rw_token).status_code == 400  # photos exist only in beta


@pytest.mark.parametrize("resource", ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"])
def test_a_graph_token_is_invalid_audience_for_resource(api, resource):
    """The real service answered a Graph-audience token with 401 InvalidAudienceForResource (issue 10)."""
    graph_token = api.mint(resource=resource)
    path = "/Users('%s')/photo" % ALEX
    resp = api.outlook("GET", path, graph_token)
    assert resp.status_code == 401, resp.text
    error = resp.json()["error"]
    assert error["code"] == "InvalidAudienceForResource"
    assert error["message"] == (
        "The audience claim value is invalid for current resource. Audience claim is '%s', request url is '%s/api/v2.0%s' "
        "and resource type is 'Exchange'.") % (resource, api.origin, path)
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    put = api.outlook("PUT", path + "/$value", graph_token, data=_jpeg(), headers={"Content-Type": "image/jpeg"})
    assert put.status_code == 401 and put.json()["error"]["code"] == "InvalidAudienceForResource"
    assert api.oracle(ALEX)["photo"]["width"] == 240  # the write was not applied
    assert [entry["status"] for entry in api.log() if entry["api"] == "outlook_v2"] == [401, 401]


def test_both_outlook_resources_are_accepted_and_the_audiences_are_switchable(api):
    path = "/Users('%s')/photo" % ALEX
    for resource in ("https://outlook.office.com", "https://outlook.office365.com"):
        assert api.outlook("GET", path, api.token(scope=resource + "/.default")).status_code == 200
    graph_token = api.mint()
    assert api.outlook("GET", path, graph_token).status_code == 401
    api.behave(outlook_audiences=["https://outlook.office.com", "https://graph.microsoft.com"])  # the old, kinder default
    assert api.outlook("GET", path, graph_token).status_code == 200
