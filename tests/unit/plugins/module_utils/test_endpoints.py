# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._endpoints import resolve_endpoints
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError


@pytest.mark.parametrize("cloud, api_base, authority, scope", [
    ("global", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com", "https://graph.microsoft.com/.default"),
    ("usgov", "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us", "https://graph.microsoft.us/.default"),
    ("usgovdod", "https://dod-graph.microsoft.us/v1.0", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/.default"),
    ("china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn",
     "https://microsoftgraph.chinacloudapi.cn/.default"),
])
def test_cloud_table(cloud, api_base, authority, scope):
    endpoints = resolve_endpoints(dict(cloud=cloud))
    assert (endpoints.api_base, endpoints.authority_host, endpoints.scope) == (api_base, authority, scope)
    assert endpoints.authority("contoso.onmicrosoft.com") == authority + "/contoso.onmicrosoft.com"


def test_overrides_keep_the_cloud_audience():
    endpoints = resolve_endpoints(dict(cloud="usgov", api_url="https://127.0.0.1:8443/v1.0/", authority_host="127.0.0.1:8443"))
    assert endpoints.api_base == "https://127.0.0.1:8443/v1.0"
    assert endpoints.authority_host == "https://127.0.0.1:8443"
    # The token is still for the cloud's Graph, whatever host answers.
    assert endpoints.scope == "https://graph.microsoft.us/.default"


def test_outlook_v2_defaults():
    endpoints = resolve_endpoints(dict(api="outlook_v2"))
    assert endpoints.api_base == "https://outlook.office.com/api/v2.0"
    assert endpoints.scope == "https://outlook.office.com/.default"


def test_outlook_v2_outside_global_needs_api_url():
    with pytest.raises(ConfigurationError, match="no endpoint in the china cloud"):
        resolve_endpoints(dict(api="outlook_v2", cloud="china"))


def test_plain_http_is_refused():
    with pytest.raises(ConfigurationError, match="api_url must be an https:// URL"):
        resolve_endpoints(dict(api_url="http://127.0.0.1:8080/v1.0"))


@pytest.mark.parametrize("option, value, message", [
    ("api_url", "https://graph.example/v1.0?x=1", "api_url must not have a query string"),
    ("api_url", "https://graph.example/v1.0#top", "api_url must not have a query string or a fragment"),
    ("api_url", "https://graph.example:99999/v1.0", "api_url .* is not a valid URL"),
    ("api_url", "https://graph.example:0/v1.0", "api_url .* has port 0"),
    ("api_url", "https:///v1.0", "api_url .* has no host name"),
    ("api_url", "https://graph example/v1.0", "api_url must not contain white space"),
    ("authority_host", "https://login.example\n", None),  # surrounding white space is trimmed, so this one is fine
    ("authority_host", "ftp://login.example", "authority_host must be an https:// URL"),
])
def test_urls_are_checked_before_any_request(option, value, message):
    params = {option: value}
    if message is None:
        resolve_endpoints(params)
        return
    with pytest.raises(ConfigurationError, match=message):
        resolve_endpoints(params)


def test_credentials_in_a_url_are_refused_and_not_shown():
    with pytest.raises(ConfigurationError) as caught:
        resolve_endpoints(dict(api_url="https://user:hunter2@graph.example/v1.0"))
    assert "must not hold a user name or password" in caught.value.msg
    assert "hunter2" not in caught.value.msg


def test_credentials_are_not_shown_in_other_url_errors():
    with pytest.raises(ConfigurationError) as caught:
        resolve_endpoints(dict(api_url="http://user:hunter2@graph.example/v1.0"))
    assert "hunter2" not in caught.value.msg and "***@graph.example" in caught.value.msg
