# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils._endpoints import resolve_endpoints
from ansible_collections.o365.outlook.plugins.module_utils._errors import ConfigurationError


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
