# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Which hosts to talk to: national cloud table plus the api_url / authority_host overrides."""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..common._errors import ConfigurationError
from ._photo_client import NATIONAL_CLOUDS, require_capabilities

# Microsoft Graph national cloud deployments (graph-photo-api.md section 6).
GRAPH_CLOUDS = {
    "global": ("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgov": ("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "usgovdod": ("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": ("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}

# The Outlook REST v2.0 service only ever existed at this host for the worldwide cloud.
OUTLOOK_V2_RESOURCE = "https://outlook.office.com"


class Endpoints:
    """Resolved hosts for one module run."""

    def __init__(self, api: str, api_base: str, authority_host: str, resource: str) -> None:
        self.api = api
        self.api_base = api_base.rstrip("/")
        self.authority_host = authority_host.rstrip("/")
        # The token audience: the cloud's API root, even when api_url points elsewhere (a proxy, the emulator).
        self.resource = resource

    @property
    def scope(self) -> str:
        return self.resource + "/.default"

    def authority(self, tenant: str) -> str:
        return "%s/%s" % (self.authority_host, tenant.strip("/"))


def _with_scheme(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    return url


def resolve_endpoints(params: Mapping[str, Any]) -> Endpoints:
    """The hosts for cloud, api, api_url and authority_host; refuses an unknown cloud, an API the cloud lacks and unusable URLs."""
    cloud = params.get("cloud") or "global"
    if cloud not in GRAPH_CLOUDS:
        raise ConfigurationError("Unknown cloud %r: use one of %s." % (cloud, ", ".join(sorted(GRAPH_CLOUDS))))
    graph_root, login_host = GRAPH_CLOUDS[cloud]
    api = params.get("api") or "graph"
    if cloud != "global" and not params.get("api_url"):
        require_capabilities(api, (NATIONAL_CLOUDS,), "cloud", cloud=cloud)

    if api == "outlook_v2":
        resource = OUTLOOK_V2_RESOURCE
        default_base = OUTLOOK_V2_RESOURCE + "/api/v2.0"
    else:
        resource = graph_root
        default_base = graph_root + "/v1.0"

    api_base = _with_scheme(params.get("api_url") or default_base)
    authority_host = _with_scheme(params.get("authority_host") or login_host)
    for name, url in (("api_url", api_base), ("authority_host", authority_host)):
        _check_url(name, url)
    return Endpoints(api, api_base, authority_host, resource)


def _shown(url: str) -> str:
    """url for a message, without any user:password@ part."""
    return re.sub(r"//[^/?#]*@", "//***@", url)


def _check_url(name: str, url: str) -> None:
    """Refuses, before any request, URLs that could not work or would send the token somewhere unexpected."""
    shown = _shown(url)
    if not url.lower().startswith("https://"):
        raise ConfigurationError("%s must be an https:// URL, got %r." % (name, shown))
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ConfigurationError("%s must not contain white space or control characters, got %r." % (name, shown))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError("%s %r is not a valid URL (check the host and the port)." % (name, shown)) from None
    if not parts.hostname:
        raise ConfigurationError("%s %r has no host name: give https://host[:port]/path." % (name, shown))
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("%s must not hold a user name or password (%s://user:password@...): remove them." % (
            name, parts.scheme))
    if parts.query or parts.fragment:
        raise ConfigurationError("%s must not have a query string or a fragment (?... or #...), got %r." % (name, shown))
    if port == 0:
        raise ConfigurationError("%s %r has port 0: give the real port, or none for 443." % (name, shown))
