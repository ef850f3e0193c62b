# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_photo_update_settings against the in-process emulator (issue 20 build item 4): a read-only run, a change
then a rerun with no PATCH (from the request log), check and diff mode, allowed_roles as a set ignoring case, only what
differs sent, the 403s naming the permissions, and bad options refused before any request."""
from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
import requests
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.plugins.modules import outlook_photo_update_settings
from ansible_collections.o365.outlook.tests.unit.plugins.modules.test_module_builder import documented_options

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

TENANT = "00000000-0000-4000-8000-00000000c0de"
POLICY_APP = "c4d81b3e-2f6a-4e97-b05c-8a1d3f6e9b27"
POLICY_SECRET = "Hx7qLp2VzN9wKd4RtB6yMc3sFg"
READER_APP = "e0a5f392-7b1c-4d68-9f2e-5c3b8a1d7e40"
READER_SECRET = "Jt3mWv8QxR5nPk2ZbD9hLs6cYa"
PHOTO_APP = ("11111111-1111-4111-8111-111111111111", "emulator-secret-value")  # seeded: ProfilePhoto.ReadWrite.All only
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
POLICY_PATH = "/beta/admin/people/photoUpdateSettings"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("photo-update-settings-emulator"))) as server:
        yield server


class Control:
    def __init__(self, server):
        self.info = server.info
        self.session = requests.Session()
        self.session.verify = server.info["ca_path"]
        self.session.trust_env = False

    def __call__(self, method, path, body=None):
        response = self.session.request(method, self.info["control_url"] + path, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def mark(self):
        return self("GET", "/requests?since=999999999")["last_seq"]

    def requests_since(self, mark=0):
        return self("GET", "/requests?since=%d" % mark)["requests"]

    def patches_since(self, mark=0):
        return [entry for entry in self.requests_since(mark) if entry["method"] in ("PUT", "PATCH", "DELETE")]


@pytest.fixture
def control(emulator, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "O365_ACCESS_TOKEN",
                 "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLOUD",
                 "O365_API_URL", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    emulator.state.reset()
    ctl = Control(emulator)
    ctl("POST", "/clients", {"client_id": POLICY_APP, "secret": POLICY_SECRET,
                             "roles": ["PeopleSettings.ReadWrite.All", "ProfilePhoto.ReadWrite.All"]})
    ctl("POST", "/clients", {"client_id": READER_APP, "secret": READER_SECRET, "roles": ["PeopleSettings.Read.All"]})
    ctl("DELETE", "/requests")
    yield ctl
    ctl.session.close()


@pytest.fixture
def run(emulator, capfd):
    def runner(app=(POLICY_APP, POLICY_SECRET), **args):
        info = emulator.info
        args = dict(dict(tenant_id=TENANT, client_id=app[0], client_secret=app[1], authority_host=info["authority_host"],
                         api_url=info["graph_url"], ca_path=info["ca_path"]), **args)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                outlook_photo_update_settings.main()
        return json.loads(capfd.readouterr().out)
    return runner


def test_without_options_it_only_reads(run, control):
    result = run()
    assert result["changed"] is False and not result.get("failed")
    assert result["settings"] == {"source": "cloud", "allowed_roles": []}
    assert "diff" not in result
    graph = [(entry["method"], entry["path"]) for entry in control.requests_since() if entry["api"] != "entra"]
    assert graph == [("GET", POLICY_PATH)]


def test_set_on_premises_then_rerun_sends_no_patch(run, control):
    first = run(source="onPremises")
    assert first["changed"] is True
    assert first["settings"] == {"source": "onPremises", "allowed_roles": []}
    patches = control.patches_since()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in patches] == [("PATCH", POLICY_PATH, 200)]
    # Only what differs goes out: the source, not the roles the task did not name.
    assert patches[0]["body_sha256"] == hashlib.sha256(json.dumps({"source": "onPremises"}).encode()).hexdigest()
    assert control("GET", "/photo_policy") == {"source": "onPremises", "allowedRoles": []}
    mark = control.mark()
    again = run(source="onPremises")
    assert again["changed"] is False and again["settings"] == first["settings"]
    assert control.patches_since(mark) == []
    assert [entry["method"] for entry in control.requests_since(mark) if entry["api"] != "entra"] == ["GET"]


def test_check_mode_sends_no_patch_and_says_what_a_real_run_would(run, control):
    checked = run(source="onPremises", allowed_roles=[GLOBAL_ADMIN], _ansible_check_mode=True)
    assert checked["changed"] is True
    assert checked["settings"] == {"source": "onPremises", "allowed_roles": [GLOBAL_ADMIN]}
    assert control.patches_since() == []
    assert control("GET", "/photo_policy") == {"source": "cloud", "allowedRoles": []}
    unchanged = run(source="cloud", allowed_roles=[], _ansible_check_mode=True)
    assert unchanged["changed"] is False


def test_diff_mode_shows_before_and_after(run, control):
    result = run(source="onPremises", allowed_roles=[USER_ADMIN], _ansible_diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"source": "cloud", "allowed_roles": []},
                              "after": {"source": "onPremises", "allowed_roles": [USER_ADMIN]}}
    again = run(source="onPremises", _ansible_diff=True)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]


def test_allowed_roles_are_a_set_ignoring_case_and_order(run, control):
    control("PUT", "/photo_policy", {"allowedRoles": [GLOBAL_ADMIN, USER_ADMIN]})
    same = run(allowed_roles=[USER_ADMIN.upper(), GLOBAL_ADMIN, GLOBAL_ADMIN.upper()])
    assert same["changed"] is False
    assert same["settings"]["allowed_roles"] == sorted([GLOBAL_ADMIN, USER_ADMIN])
    assert control.patches_since() == []
    fewer = run(allowed_roles=[USER_ADMIN.upper()])
    assert fewer["changed"] is True and fewer["settings"] == {"source": "cloud", "allowed_roles": [USER_ADMIN]}
    patches = control.patches_since()
    assert len(patches) == 1
    assert patches[0]["body_sha256"] == hashlib.sha256(json.dumps({"allowedRoles": [USER_ADMIN]}).encode()).hexdigest()
    assert control("GET", "/photo_policy") == {"source": "cloud", "allowedRoles": [USER_ADMIN]}


def test_an_app_without_the_read_permission_is_told_which_one(run, control):
    result = run(app=PHOTO_APP)
    assert result["failed"] is True and result["status"] == 403
    assert "reading the tenant's photo policy needs PeopleSettings.Read.All" in result["msg"]


def test_an_app_that_may_only_read_is_told_it_needs_read_write(run, control):
    assert run(app=(READER_APP, READER_SECRET))["settings"]["source"] == "cloud"
    result = run(app=(READER_APP, READER_SECRET), source="onPremises")
    assert result["failed"] is True and result["status"] == 403
    assert "needs PeopleSettings.ReadWrite.All" in result["msg"]
    assert control("GET", "/photo_policy")["source"] == "cloud"
    assert READER_SECRET not in json.dumps(result)


@pytest.mark.parametrize("roles", [["Global Administrator"], [GLOBAL_ADMIN, "62e90394-69f5-4237-9190-012177145e1"],
                                   ["{%s}" % GLOBAL_ADMIN], [" %s" % GLOBAL_ADMIN]])
def test_a_role_that_is_not_a_guid_is_refused_before_any_request(run, control, roles):
    result = run(source="cloud", allowed_roles=roles)
    assert result["failed"] is True
    assert "allowed_roles must be role template ids (GUIDs" in result["msg"]
    assert repr(roles[-1]) in result["msg"]
    assert control.requests_since() == []


@pytest.mark.parametrize("url_of", [lambda info: info["graph_url"].replace("/v1.0", "/beta"),
                                    lambda info: info["graph_url"].replace("/v1.0", ""),
                                    lambda info: info["outlook_url"]])
def test_an_api_url_not_ending_in_v1_is_refused_before_any_request(run, control, emulator, url_of):
    result = run(api_url=url_of(emulator.info))
    assert result["failed"] is True
    assert "photoUpdateSettings is a beta API: api_url must end in /v1.0 so that the module can use /beta" in result["msg"]
    assert control.requests_since() == []


def test_outlook_v2_is_refused_before_any_request(run, control, emulator):
    result = run(api="outlook_v2", api_url=emulator.info["outlook_url"], source="cloud")
    assert result["failed"] is True and "use api=graph" in result["msg"]
    assert control.requests_since() == []


def test_a_bad_source_is_refused_by_its_choices(run, control):
    result = run(source="onpremises")
    assert result["failed"] is True and "source" in result["msg"] and "cloud, onPremises" in result["msg"]
    assert control.requests_since() == []


def test_documentation_matches_the_spec():
    options, fragments = documented_options(outlook_photo_update_settings)
    assert options == set(outlook_photo_update_settings.MODULE.argument_spec())
    assert set(outlook_photo_update_settings.MODULE.doc_fragments()) <= set(fragments)
