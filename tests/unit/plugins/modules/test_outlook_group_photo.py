# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_group_photo (issue 20) end to end: main() against the in-process emulator, on its default (production)
profile: re-encoded photos, and reads that lag a write by a second, so a rerun straight after a write is preceded by
wait=true on the write. Every write, and every absence of one, is proven from the emulator's request log."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys

import pytest
import requests
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.plugins.module_utils.graph._owners import GROUP, Owner
from ansible_collections.o365.outlook.plugins.module_utils.photo._files import safe_file_stem
from ansible_collections.o365.outlook.plugins.modules import outlook_group_photo

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
SALES = "9a000000-0000-4000-8000-000000000001"  # a Team, with a 240x240 photo
PHOENIX = "9a000000-0000-4000-8000-000000000002"  # a Team, no photo
MARKETING = "9a000000-0000-4000-8000-000000000003"  # not a Team, no photo
UNKNOWN = "9a000000-0000-4000-8000-0000000000ff"
POLICY_PATH = "/beta/admin/people/photoUpdateSettings"

# client id, secret, app roles. The first two are the emulator's seeded apps; the others are registered per test.
APPS = {
    "writer": ("11111111-1111-4111-8111-111111111111", "emulator-secret-value", None),
    "reader": ("22222222-2222-4222-8222-222222222222", "emulator-readonly-secret", None),
    "directory": ("6d0c51a4-93b2-4f7e-8c1a-2b7f4e9a0c31", "Xq7vT2mLw9PzR4kJ8sNb1cYe",
                  ["Group.Read.All", "ProfilePhoto.ReadWrite.All"]),
    "team": ("b3e8a27f-5c14-4d9b-a6f0-71c2d8e4953a", "hV3nQ8zK2wLp6TfR0yMx5JdB", ["TeamSettings.ReadWrite.All"]),
    "team_reader": ("e41f7c09-2a6d-4b83-9e5c-0d8b3a6f21c7", "mN5rW1kZ8tYq3HvC7gLs0PxF", ["TeamSettings.Read.All"]),
    "policy_reader": ("8a2d6e13-7f40-4c59-b1e8-93c5a0d7f624", "Tz4bK9pW2nXr6LqV1hJm8sDc",
                      ["ProfilePhoto.ReadWrite.All", "PeopleSettings.Read.All"]),
}
ENVIRONMENT = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "O365_ACCESS_TOKEN",
               "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_TENANT_ID",
               "AZURE_CLIENT_ID", "AZURE_CLOUD", "O365_API_URL", "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT",
               "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET")


def jpeg_bytes(color, size=(96, 96)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "logo.jpg"
    path.write_bytes(jpeg_bytes((20, 110, 190)))
    return str(path)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("group-photo-emulator"))) as server:
        yield server


class Control:
    """The emulator's control API (never in the request log), and what the request log says."""

    def __init__(self, server):
        self.info = server.info
        self.session = requests.Session()
        self.session.verify = server.info["ca_path"]
        self.session.trust_env = False

    def __call__(self, method, path, body=None):
        response = self.session.request(method, self.info["control_url"] + path, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def register(self, app):
        client_id, secret, roles = APPS[app]
        self("POST", "/clients", {"client_id": client_id, "secret": secret, "roles": roles})

    def mark(self):
        return self("GET", "/requests?since=999999999")["last_seq"]

    def log(self, since=0):
        """The Graph requests since the mark (token requests left out)."""
        return [entry for entry in self("GET", "/requests?since=%d" % since)["requests"] if entry["api"] == "graph"]

    def everything(self, since=0):
        return self("GET", "/requests?since=%d" % since)["requests"]

    def group(self, group_id):
        return self("GET", "/groups/" + group_id)


def writes(log):
    return [entry for entry in log if entry["method"] in ("PUT", "PATCH", "DELETE")]


def policy_reads(log):
    return [entry for entry in log if entry["path"] == POLICY_PATH]


@pytest.fixture
def control(emulator, monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    emulator.state.reset()
    ctl = Control(emulator)
    yield ctl
    ctl.session.close()


@pytest.fixture
def run(emulator, capfd):
    def runner(app="writer", **args):
        info = emulator.info
        connection = dict(tenant_id=TENANT, authority_host=info["authority_host"], api_url=info["graph_url"],
                          ca_path=info["ca_path"])
        if app is not None:
            client_id, secret, _roles = APPS[app]
            connection.update(client_id=client_id, client_secret=secret)
        with patch_module_args(dict(connection, **args)):
            with pytest.raises(SystemExit) as caught:
                outlook_group_photo.main()
        result = json.loads(capfd.readouterr().out)
        result["_rc"] = caught.value.code
        return result
    return runner


# --- naming the group -------------------------------------------------------------------------------------------


def test_group_by_object_id_needs_only_the_photo_permission(control, run, src):
    """The seeded writer holds ProfilePhoto.ReadWrite.All alone: it may not read the group, so its details are null,
    and that is not a failure."""
    result = run(group=MARKETING, src=src)
    assert result["_rc"] == 0 and result["changed"] is True, result
    assert result["group"] == dict(id=MARKETING, display_name=None, mail=None, kind="group")
    assert "user" not in result
    log = control.log()
    details = [entry for entry in log if entry["path"] == "/v1.0/groups/%s" % MARKETING]
    assert [entry["status"] for entry in details] == [403]  # asked once, refused, carried on
    assert [(entry["method"], entry["path"]) for entry in writes(log)] == [("PUT", "/v1.0/groups/%s/photo/$value" % MARKETING)]
    stored = control.group(MARKETING)
    assert stored["has_photo"] is True and stored["photo"]["uploaded_sha256"] == result["sha256"]
    assert policy_reads(log) == []  # no refused write: no look at the photo policy


@pytest.mark.parametrize("key", ["marketing@%s" % DOMAIN, "MARKETING@%s" % DOMAIN.upper(), "marketing", "Marketing"])
def test_group_by_mail_or_mail_nickname(control, run, src, key):
    control.register("directory")
    result = run(app="directory", group=key, src=src)
    assert result["changed"] is True, result
    assert result["group"] == dict(id=MARKETING, display_name="Marketing", mail="marketing@" + DOMAIN, kind="group")
    log = control.log()
    attribute = "mail" if "@" in key else "mailNickname"
    listing = [entry for entry in log if entry["path"] == "/v1.0/groups"]
    assert len(listing) == 1 and listing[0]["status"] == 200
    assert requests.utils.unquote(listing[0]["query"]).startswith("$filter=%s eq '%s'" % (attribute, key))
    assert [entry["path"] for entry in writes(log)] == ["/v1.0/groups/%s/photo/$value" % MARKETING]
    assert control.group(MARKETING)["photo"]["uploaded_sha256"] == result["sha256"]


def test_a_team_named_by_id_is_reported_as_a_team(control, run, src):
    control.register("directory")
    result = run(app="directory", group=SALES.upper(), src=src)
    assert result["group"] == dict(id=SALES, display_name="Sales", mail="sales@" + DOMAIN, kind="team")
    # endpoint=group (the default): the group's path, whatever the group is
    assert [entry["path"] for entry in writes(control.log())] == ["/v1.0/groups/%s/photo/$value" % SALES]


# --- set, rerun, check mode, diff, absent --------------------------------------------------------------------


def test_set_then_rerun_sends_no_write(control, run, src):
    # wait=true: the production profile's reads lag a write by a second; without it the rerun could still see no photo.
    first = run(group=MARKETING, src=src, wait=True)
    assert first["changed"] is True and first["photo"]["etag"]
    mark = control.mark()
    second = run(group=MARKETING, src=src)
    assert second["_rc"] == 0 and second["changed"] is False, second
    assert second["comparison"]["method"] == "pixels"  # the service re-encoded what it stored
    assert second["previous_sha256"] == control.group(MARKETING)["photo"]["sha256"]
    assert second["photo"]["etag"] == first["photo"]["etag"]
    log = control.log(mark)
    assert log and {entry["method"] for entry in log} == {"GET"}
    assert policy_reads(log) == []


def test_check_mode_sends_no_write(control, run, src):
    result = run(group=MARKETING, src=src, _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True, result
    assert result["photo"]["width"] == 96 and result["photo"]["etag"] is None
    assert result["diff"]["before"] == dict(has_photo=False, sha256=None, width=None, height=None)
    assert result["diff"]["after"]["sha256"] == result["sha256"]
    log = control.log()
    assert log and writes(log) == []
    assert control.group(MARKETING)["has_photo"] is False


def test_diff_of_a_replaced_photo(control, run, src):
    before = control.group(SALES)["photo"]
    result = run(group=SALES, src=src, _ansible_diff=True)
    assert result["changed"] is True
    assert result["previous_sha256"] == before["sha256"]
    assert result["diff"]["before"] == dict(has_photo=True, sha256=before["sha256"], width=240, height=240)
    assert result["diff"]["after"] == dict(has_photo=True, sha256=result["sha256"], width=96, height=96)
    assert len(writes(control.log())) == 1


def test_no_diff_without_diff_mode(control, run, src):
    assert "diff" not in run(group=MARKETING, src=src)


def test_absent_keeps_a_backup_named_after_the_group(control, run, tmp_path):
    backups = tmp_path / "backups"
    before = control.group(SALES)["photo"]
    result = run(group=SALES, state="absent", backup_dir=str(backups), wait=True, _ansible_diff=True)
    assert result["changed"] is True and result["photo"] is None and result["sha256"] is None, result
    assert result["previous_sha256"] == before["sha256"]
    assert result["diff"]["after"]["has_photo"] is False
    name = os.path.basename(result["backup_file"])
    assert re.match(r"^%s\.\d{8}T\d{12}Z\.jpg$" % re.escape(safe_file_stem(Owner(GROUP, SALES))), name), name
    assert SALES in name
    assert os.listdir(str(backups)) == [name]
    assert hashlib.sha256((backups / name).read_bytes()).hexdigest() == before["sha256"]
    assert [(entry["method"], entry["path"]) for entry in writes(control.log())] == [
        ("DELETE", "/v1.0/groups/%s/photo/$value" % SALES)]
    assert control.group(SALES)["has_photo"] is False

    mark = control.mark()
    again = run(group=SALES, state="absent", backup_dir=str(backups))
    assert again["changed"] is False and again["previous_sha256"] is None and again["backup_file"] is None
    assert writes(control.log(mark)) == []
    assert os.listdir(str(backups)) == [name]


# --- endpoint team ---------------------------------------------------------------------------------------------


def test_endpoint_team_with_only_team_settings(control, run, src):
    control.register("team")
    result = run(app="team", group=PHOENIX, endpoint="team", src=src)
    assert result["_rc"] == 0 and result["changed"] is True, result
    assert result["group"] == dict(id=PHOENIX, display_name="Project Phoenix", mail=None, kind="team")
    log = control.log()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log if entry["path"] == "/v1.0/teams/" + PHOENIX] == [
        ("GET", "/v1.0/teams/" + PHOENIX, 200)]
    assert [(entry["method"], entry["path"]) for entry in writes(log)] == [("PUT", "/v1.0/teams/%s/photo/$value" % PHOENIX)]
    assert not [entry for entry in log if entry["path"].startswith("/v1.0/groups")]
    assert control.group(PHOENIX)["photo"]["uploaded_sha256"] == result["sha256"]


def test_endpoint_team_and_absent_is_refused_before_any_request(control, run):
    result = run(group=SALES, endpoint="team", state="absent")
    assert result["failed"] is True and result["_rc"] == 1
    assert "A Team photo cannot be removed" in result["msg"] and "endpoint=group" in result["msg"]
    assert control.everything() == []  # not even a token request
    assert control.group(SALES)["has_photo"] is True


def test_outlook_v2_is_refused_before_any_request(control, emulator, run, src):
    result = run(group=MARKETING, src=src, api="outlook_v2", api_url=emulator.info["outlook_url"])
    assert result["failed"] is True
    assert "Group and Team photos need api=graph" in result["msg"]
    assert control.everything() == []


@pytest.mark.parametrize("key, message", [
    ("", "group '' is empty: give an object id, a mail or a mailNickname."),
    ("   ", "group '   ' is empty"),
    (" sales", "group ' sales' is padded with white space"),
])
def test_a_blank_or_padded_group_is_refused_before_any_request(control, run, src, key, message):
    result = run(group=key, src=src)
    assert result["failed"] is True and message in result["msg"]
    assert control.everything() == []


def test_state_present_needs_src(control, run):
    result = run(group=MARKETING)
    assert result["failed"] is True and "missing: src" in result["msg"]
    assert control.everything() == []


def test_endpoint_team_of_a_group_that_is_not_a_team(control, run, src):
    control.register("team")
    result = run(app="team", group=MARKETING, endpoint="team", src=src)
    assert result["failed"] is True
    assert "group %s was not found as a Team" % MARKETING in result["msg"] and "endpoint=group" in result["msg"]
    assert writes(control.log()) == []


# --- failures that say what to do, each without a write -------------------------------------------------------


@pytest.mark.parametrize("app, key, message", [
    ("directory", UNKNOWN, "group %s was not found." % UNKNOWN),
    # without Group.Read.All the group's details are refused first; the photo read then names the group
    ("writer", UNKNOWN, "group %s was not found: no group has this object id" % UNKNOWN),
    ("directory", "nobody@" + DOMAIN, "no group has mail 'nobody@%s'." % DOMAIN),
    ("directory", "nobody", "no group has mailNickname 'nobody'."),
])
def test_an_unknown_group(control, run, src, app, key, message):
    if app == "directory":
        control.register(app)
    result = run(app=app, group=key, src=src)
    assert result["failed"] is True and result.get("changed", False) is False
    assert message in result["msg"], result["msg"]
    log = control.log()
    assert log and writes(log) == [] and policy_reads(log) == []


def test_an_ambiguous_mail_nickname_names_both_groups(control, run, src):
    made = control("POST", "/groups", {"groups": [
        {"displayName": "Ops East", "mailNickname": "ops", "mail": "ops-east@" + DOMAIN},
        {"displayName": "Ops West", "mailNickname": "ops", "mail": "ops-west@" + DOMAIN}]})
    ids = [group["id"] for group in made["groups"]]
    assert len(set(ids)) == 2
    control.register("directory")
    result = run(app="directory", group="ops", src=src)
    assert result["failed"] is True
    assert "ambiguous" in result["msg"] and "2 groups have mailNickname 'ops'" in result["msg"]
    for group_id in ids:
        assert group_id in result["msg"]
    assert "Give the object id" in result["msg"]
    assert writes(control.log()) == []


def test_resolving_by_mail_without_group_read_all(control, run, src):
    result = run(group="marketing@" + DOMAIN, src=src)
    assert result["failed"] is True
    assert "Group.Read.All" in result["msg"] and "object id" in result["msg"]
    log = control.log()
    assert [(entry["path"], entry["status"]) for entry in log] == [("/v1.0/groups", 403)]  # the listing, nothing after it


def test_missing_write_permission_names_the_group_permissions(control, run, src):
    result = run(app="reader", group=MARKETING, src=src)
    assert result["failed"] is True and result["status"] == 403
    assert "ProfilePhoto.ReadWrite.All or Group.ReadWrite.All" in result["msg"], result["msg"]
    log = control.log()
    assert [entry["status"] for entry in writes(log)] == [403]
    assert control.group(MARKETING)["has_photo"] is False


def test_missing_write_permission_on_endpoint_team_names_team_settings(control, run, src):
    control.register("team_reader")
    result = run(app="team_reader", group=PHOENIX, endpoint="team", src=src)
    assert result["failed"] is True and result["status"] == 403
    assert "TeamSettings.ReadWrite.All" in result["msg"], result["msg"]
    assert "Group.ReadWrite.All" not in result["msg"]
    assert [entry["path"] for entry in writes(control.log())] == ["/v1.0/teams/%s/photo/$value" % PHOENIX]
    assert control.group(PHOENIX)["has_photo"] is False


def test_a_refused_app_only_write_offers_the_ways_around_it(control, run, src):
    control("PUT", "/behaviours", {"group_app_only_writes": "refuse"})
    result = run(group=MARKETING, src=src)
    assert result["failed"] is True and result["status"] == 403
    assert result["error_code"] == "AppOnlyTokenNotSupportedForGroupUpdate"
    assert "AppOnlyTokenNotSupportedForGroupUpdate" in result["msg"]
    assert "delegated token" in result["msg"] and "endpoint=team" in result["msg"]
    log = control.log()
    assert [entry["status"] for entry in writes(log)] == [403]
    assert policy_reads(log) == []  # the code says why: no need to ask the photo policy
    assert control.group(MARKETING)["has_photo"] is False


def test_the_ways_around_a_refused_app_only_write_work(control, run, src):
    """What the message offers: a Team through /teams, and a delegated token."""
    control("PUT", "/behaviours", {"group_app_only_writes": "refuse"})
    control.register("team")
    team = run(app="team", group=PHOENIX, endpoint="team", src=src)
    assert team["changed"] is True, team
    token = control("POST", "/tokens", {"user": "megan.bowen@" + DOMAIN, "scopes": ["Group.ReadWrite.All"]})["access_token"]
    delegated = run(app=None, access_token=token, group=MARKETING, src=src)
    assert delegated["changed"] is True, delegated
    assert delegated["group"]["display_name"] == "Marketing"  # Group.ReadWrite.All may read the group too
    assert [entry["status"] for entry in writes(control.log())] == [200, 200]


# --- the tenant's photo policy -----------------------------------------------------------------------------------


@pytest.fixture
def photos_on_premises(control):
    control("PUT", "/photo_policy", {"source": "onPremises"})
    control("PUT", "/behaviours", {"photo_policy_scope": "users_and_groups"})


def test_policy_on_premises_is_named_when_the_app_may_read_it(control, run, src, photos_on_premises):
    control.register("policy_reader")
    result = run(app="policy_reader", group=MARKETING, src=src)
    assert result["failed"] is True and result["status"] == 403
    assert "photo updates are turned off in this tenant" in result["msg"], result["msg"]
    assert "up to 24 hours" in result["msg"]
    log = control.log()
    assert [(entry["method"], entry["status"]) for entry in policy_reads(log)] == [("GET", 200)]  # read once
    assert [entry["fault"] for entry in writes(log)] == ["photo_policy"]
    assert control.group(MARKETING)["has_photo"] is False


def test_policy_unreadable_names_people_settings(control, run, src, photos_on_premises):
    result = run(group=MARKETING, src=src)
    assert result["failed"] is True and result["status"] == 403
    assert "PeopleSettings.Read.All" in result["msg"], result["msg"]
    assert "ProfilePhoto.ReadWrite.All or Group.ReadWrite.All" in result["msg"]
    log = control.log()
    assert [entry["status"] for entry in policy_reads(log)] == [403]
    assert control.group(MARKETING)["has_photo"] is False


def test_policy_on_premises_for_users_only_leaves_group_writes_alone(control, run, src):
    control("PUT", "/photo_policy", {"source": "onPremises"})  # photo_policy_scope stays "users"
    result = run(group=MARKETING, src=src)
    assert result["changed"] is True, result
    assert policy_reads(control.log()) == []


def test_a_run_with_no_refused_write_never_reads_the_policy(control, run, src, tmp_path):
    """Issue 20, build item 5: the policy is read only to explain a refused write."""
    control.register("team")
    run(group=MARKETING, src=src, _ansible_check_mode=True)
    run(group=MARKETING, src=src, wait=True)
    run(group=MARKETING, src=src)
    run(group=SALES, state="absent", backup_dir=str(tmp_path / "b"))
    run(app="team", group=PHOENIX, endpoint="team", src=src)
    run(group=UNKNOWN, src=src)  # a failure, but not a refused write
    log = control.log()
    assert len(writes(log)) == 3
    assert policy_reads(log) == []
    assert not [entry for entry in log if "photoUpdateSettings" in entry["path"]]
