# SPDX-License-Identifier: GPL-3.0-or-later
"""Every request names the collection's release in its User-Agent, so a tenant's sign-in and audit logs tell which
version wrote a photo; the version in the code must follow galaxy.yml's at each release."""
from __future__ import annotations

import os

import yaml

from ansible_collections.o365.outlook.plugins.module_utils.graph._session import COLLECTION_VERSION, USER_AGENT, TlsSession

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def test_user_agent_names_the_version_in_galaxy_yml():
    with open(os.path.join(COLLECTION_ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert COLLECTION_VERSION == galaxy["version"]
    assert USER_AGENT == "o365.outlook-ansible/" + galaxy["version"]


def test_every_session_sends_the_user_agent():
    assert TlsSession().headers["User-Agent"] == USER_AGENT
