# SPDX-License-Identifier: GPL-3.0-or-later
"""outlook_user_photo_info with groups and all_groups (issue 21), against the in-process emulator on its production
profile: all_groups reports exactly the Microsoft 365 groups, page by page; groups named by id, mail and mailNickname
(and the ones that name nothing, or several groups); the permissions; exports and sizes; every read through $batch
(from the emulator's request log); a fault fails only the group entries of the batches it hits."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import re
import sys

import pytest
from PIL import Image
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.tests.unit.utils.emulator_control import clear_connection_environment, control_calls
from ansible_collections.o365.outlook.plugins.module_utils.graph._owners import GROUP, Owner
from ansible_collections.o365.outlook.plugins.module_utils.many_users import _group_report
from ansible_collections.o365.outlook.plugins.module_utils.photo._files import safe_file_stem
from ansible_collections.o365.outlook.plugins.modules import outlook_user_photo_info
# The bad-options harness: its fixtures (paths, connections) refuse any connection.
from ansible_collections.o365.outlook.tests.unit.plugins.modules.test_bad_options import (  # noqa: F401  pylint: disable=unused-import
    connections, paths, run_module)

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "5d2b8e71-0c4f-4a9e-b3d6-8f1e2a7c9b40"
SECRET = "Xw7-Tq2p-Jm9c-Ld4v"
TENANT = "00000000-0000-4000-8000-00000000c0de"
DOMAIN = "contoso.onmicrosoft.com"
READER = ["ProfilePhoto.Read.All", "Group.Read.All"]
SALES = "9a000000-0000-4000-8000-000000000001"
PHOENIX = "9a000000-0000-4000-8000-000000000002"
MARKETING = "9a000000-0000-4000-8000-000000000003"
FINANCE = "9a000000-0000-4000-8000-000000000004"  # a security group: never in all_groups
UNKNOWN = "9a000000-0000-4000-8000-0000000000ff"
ALEX = "alex.wilber@" + DOMAIN  # has a photo
ADELE = "adele.vance@" + DOMAIN  # has none
GROUP_FIELDS = ("kind", "group", "id", "display_name", "mail", "team", "has_photo", "photo_id", "width", "height", "content_type",
                "etag", "sha256", "sizes", "dest_file", "error")
USER_FIELDS_1_0 = ("user", "user_id", "has_photo", "id", "width", "height", "content_type", "etag", "sha256", "sizes", "dest_file",
                   "error")


def jpeg(color, size=(96, 96)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("info-groups-emulator"))) as server:  # production profile
        yield server


@pytest.fixture
def control(emulator, monkeypatch):
    clear_connection_environment(monkeypatch)
    with control_calls(emulator) as call:
        call("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": READER})
        yield call


def info(emulator, capfd, **args):
    emulated = emulator.info
    args = dict(dict(fail_on_error=False, parallelism=4), **args)
    args.update(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=emulated["authority_host"],
                api_url=emulated["graph_url"], ca_path=emulated["ca_path"])
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            outlook_user_photo_info.main()
    return json.loads(capfd.readouterr().out)


def last_seq(control):
    return control("GET", "/requests?since=999999999")["last_seq"]


def graph_requests(control, since):
    """The Graph requests since `since`: $batch items (batch true) and direct requests; envelopes are api "batch"."""
    return [entry for entry in control("GET", "/requests?since=%d" % since)["requests"] if entry["api"] == "graph"]


def unified_groups(control):
    """The oracle: every Microsoft 365 group of the tenant, as the control API sees it."""
    return {group["id"]: group for group in control("GET", "/groups")["groups"] if "Unified" in group["groupTypes"]}


def by_group(result):
    return {entry["group"]: entry for entry in result["groups"]}


def test_all_groups_reports_exactly_the_microsoft_365_groups_page_by_page(emulator, control, capfd, monkeypatch):
    control("POST", "/groups/generate", {"count": 20, "team_ratio": 0.3, "photo_ratio": 0.5})
    monkeypatch.setattr(_group_report, "PAGE_SIZE", 7)  # 23 groups: four pages
    expected = unified_groups(control)
    assert len(expected) == 23 and FINANCE not in expected
    before = last_seq(control)

    result = info(emulator, capfd, all_groups=True)

    assert result.get("failed") is not True, result.get("msg")
    assert result["photos"] == [] and result["failed_users"] == []  # groups only: /me is not read
    entries = result["groups"]
    assert [entry["id"] for entry in entries] == [entry["group"] for entry in entries]
    assert sorted(entry["id"] for entry in entries) == sorted(expected)  # each once, the security group never
    for entry in entries:
        group = expected[entry["id"]]
        assert tuple(entry) == GROUP_FIELDS
        assert (entry["kind"], entry["display_name"], entry["mail"], entry["team"]) == ("group", group["displayName"], group["mail"], group["team"])
        assert entry["has_photo"] is group["has_photo"] and entry["error"] is None
        if group["has_photo"]:
            photo = group["photo"]
            assert (entry["width"], entry["height"], entry["photo_id"]) == (photo["width"], photo["height"], "%dx%d" % (photo["width"], photo["height"]))
    assert sum(entry["team"] for entry in entries) == 6 + 2  # generated (team_ratio 0.3) and seeded Teams
    with_photo = sum(1 for group in expected.values() if group["has_photo"])
    assert result["summary"] == dict(total=23, with_photo=with_photo, without_photo=23 - with_photo, failed=0, not_attempted=0)
    assert result["failed_groups"] == [] and result["not_attempted_groups"] == []

    requests = graph_requests(control, before)
    pages = [entry for entry in requests if entry["path"] == "/v1.0/groups"]
    assert len(pages) == math.ceil(23 / 7) and not any(entry["batch"] for entry in pages)
    assert all("groupTypes%2Fany%28c%3Ac%20eq%20%27Unified%27%29" in entry["query"] or "Unified" in entry["query"] for entry in pages)
    photo_reads = [entry for entry in requests if re.match(r"^/v1\.0/groups/[^/]+/photo$", entry["path"])]
    assert sorted(entry["group"] for entry in photo_reads) == sorted(expected)
    assert all(entry["batch"] for entry in photo_reads)  # 20 per $batch, never one by one
    assert [entry for entry in requests if entry not in pages and not entry["batch"]] == []


def test_all_groups_asks_for_the_largest_page(emulator, control, capfd):
    before = last_seq(control)
    result = info(emulator, capfd, all_groups=True, users=[ALEX])
    assert [entry["user"] for entry in result["photos"]] == [ALEX] and result["photos"][0]["has_photo"] is True
    assert sorted(entry["id"] for entry in result["groups"]) == [SALES, PHOENIX, MARKETING]
    pages = [entry for entry in graph_requests(control, before) if entry["path"] == "/v1.0/groups"]
    assert len(pages) == 1 and "top=999" in pages[0]["query"]
    assert result["summary"]["total"] == 4 and result["summary"]["with_photo"] == 2


def test_groups_by_id_mail_and_nickname_and_the_ones_that_name_no_single_group(emulator, control, capfd):
    control("POST", "/groups", {"groups": [{"displayName": "Twin A", "mailNickname": "twin", "mail": "twin-a@" + DOMAIN},
                                           {"displayName": "Twin B", "mailNickname": "twin", "mail": "twin-b@" + DOMAIN}]})
    keys = [SALES.upper(), "marketing@" + DOMAIN.upper(), "phoenix", "no-such-group", "twin", UNKNOWN, "nobody@" + DOMAIN]
    before = last_seq(control)

    result = info(emulator, capfd, groups=keys, users=[ADELE])

    assert [entry["group"] for entry in result["groups"]] == keys  # in the order asked, each as named
    entries = by_group(result)
    sales = entries[SALES.upper()]
    assert (sales["id"], sales["display_name"], sales["mail"], sales["team"]) == (SALES, "Sales", "sales@" + DOMAIN, True)
    assert (sales["has_photo"], sales["photo_id"], sales["width"], sales["content_type"]) == (True, "240x240", 240, "image/jpeg")
    assert sales["etag"] and sales["error"] is None
    marketing = entries["marketing@" + DOMAIN.upper()]
    assert (marketing["id"], marketing["team"], marketing["has_photo"], marketing["error"]) == (MARKETING, False, False, None)
    phoenix = entries["phoenix"]
    assert (phoenix["id"], phoenix["display_name"], phoenix["team"], phoenix["has_photo"]) == (PHOENIX, "Project Phoenix", True, False)
    assert "no group has mailNickname 'no-such-group'" in entries["no-such-group"]["error"]
    assert "no group has mail 'nobody@%s'" % DOMAIN in entries["nobody@" + DOMAIN]["error"]
    assert "group 'twin' is ambiguous: 2 groups have mailNickname 'twin'" in entries["twin"]["error"]
    assert "group %s was not found" % UNKNOWN in entries[UNKNOWN]["error"]
    for key in ("no-such-group", "twin", UNKNOWN, "nobody@" + DOMAIN):
        failed = entries[key]
        assert (failed["id"], failed["has_photo"], failed["display_name"], failed["team"]) == (None, None, None, None)
    assert sorted(result["failed_groups"]) == sorted(["no-such-group", "twin", UNKNOWN, "nobody@" + DOMAIN])
    assert result["failed_users"] == [] and result["photos"][0]["kind"] == "user" and result["photos"][0]["has_photo"] is False
    assert result["summary"] == dict(total=8, with_photo=1, without_photo=3, failed=4, not_attempted=0)

    # Every group read went through $batch: the lookups by name, the details by id and the photos.
    requests = [entry for entry in graph_requests(control, before) if entry["path"].startswith("/v1.0/groups")]
    assert requests and all(entry["batch"] for entry in requests)
    lookups = [entry for entry in requests if entry["path"] == "/v1.0/groups"]
    details = [entry for entry in requests if entry["path"] in ("/v1.0/groups/%s" % SALES, "/v1.0/groups/%s" % UNKNOWN)]
    assert len(lookups) == 5 and all("filter" in entry["query"] for entry in lookups) and len(details) == 2
    photos = sorted(entry["group"] for entry in requests if entry["path"].endswith("/photo"))
    assert photos == sorted([SALES, MARKETING, PHOENIX])  # the groups that failed were never read


def test_a_failed_group_fails_the_task_with_fail_on_error_and_still_reports_every_entry(emulator, control, capfd):
    result = info(emulator, capfd, groups=["sales", "no-such-group"], fail_on_error=True)
    assert result["failed"] is True
    assert "1 of 2 entries could not be read: group no-such-group" in result["msg"]
    assert by_group(result)["sales"]["has_photo"] is True and result["failed_groups"] == ["no-such-group"]


def test_without_group_read_all_names_fail_and_ids_are_read_without_details(emulator, control, capfd):
    control("POST", "/clients", {"client_id": CLIENT, "secret": SECRET, "roles": ["ProfilePhoto.Read.All"]})
    result = info(emulator, capfd, groups=["sales", SALES, MARKETING])
    entries = by_group(result)
    assert "needs Group.Read.All" in entries["sales"]["error"] and entries["sales"]["has_photo"] is None
    by_id = entries[SALES]
    assert (by_id["id"], by_id["display_name"], by_id["mail"], by_id["team"]) == (SALES, None, None, None)
    assert (by_id["has_photo"], by_id["width"], by_id["error"]) == (True, 240, None)
    assert (entries[MARKETING]["has_photo"], entries[MARKETING]["error"]) == (False, None)
    assert result["failed_groups"] == ["sales"]

    listed = info(emulator, capfd, all_groups=True)
    assert listed["failed"] is True and "all_groups lists the tenant's groups, which needs the Group.Read.All" in listed["msg"]
    assert "403" in listed["msg"]


def test_dest_dir_exports_group_photos_under_names_no_user_can_have(emulator, control, capfd, tmp_path):
    logo = jpeg((220, 120, 0), (160, 160))
    # Marketing again, by its mail (so its id stays), now with a photo.
    control("POST", "/groups", {"groups": [{"displayName": "Marketing", "mailNickname": "marketing", "photo_b64": base64.b64encode(logo).decode()}]})
    assert control("GET", "/groups/%s" % MARKETING)["has_photo"] is True
    dest = tmp_path / "export"

    result = info(emulator, capfd, users=[ALEX], groups=[SALES, "sales@" + DOMAIN, "marketing", "phoenix"], dest_dir=str(dest),
                  include_sha256=True)

    assert result["failed_groups"] == [] and result["failed_users"] == []
    entries = by_group(result)
    user_file = result["photos"][0]["dest_file"]
    sales_file = entries[SALES]["dest_file"]
    assert entries["sales@" + DOMAIN]["dest_file"] == sales_file  # one group named twice: one file
    marketing_file = entries["marketing"]["dest_file"]
    assert entries["phoenix"]["dest_file"] is None and entries["phoenix"]["has_photo"] is False
    for group_id, path in ((SALES, sales_file), (MARKETING, marketing_file)):
        stem = safe_file_stem(Owner(GROUP, group_id))
        assert re.fullmatch(r"group_%s~[0-9a-f]{12}" % group_id, stem)
        assert path == str(dest / (stem + ".jpg"))
    assert len({user_file, sales_file, marketing_file}) == 3
    assert sorted(os.listdir(dest)) == sorted(os.path.basename(path) for path in (user_file, sales_file, marketing_file))
    for entry in (entries[SALES], entries["marketing"], result["photos"][0]):
        data = open(entry["dest_file"], "rb").read()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert os.stat(entry["dest_file"]).st_mode & 0o777 == 0o600
    assert entries["marketing"]["width"] == 160


def test_include_sizes_lists_the_sizes_kept_of_a_group_photo(emulator, control, capfd):
    before = last_seq(control)
    result = info(emulator, capfd, groups=[SALES, "phoenix"], include_sizes=True)
    entries = by_group(result)
    assert [size["id"] for size in entries[SALES]["sizes"]] == ["48x48", "64x64", "96x96", "120x120", "240x240"]
    assert entries["phoenix"]["sizes"] is None  # no photo: no sizes read
    sizes_reads = [entry for entry in graph_requests(control, before) if entry["path"].endswith("/photos")]
    assert [entry["group"] for entry in sizes_reads] == [SALES] and sizes_reads[0]["batch"] is True


def test_a_transient_fault_on_group_reads_is_retried(emulator, control, capfd):
    control("POST", "/groups/generate", {"count": 20, "photo_ratio": 0.5})
    control("PUT", "/behaviours", {"faults": [{"path_regex": "/groups/", "status": 503, "retry_after": "0", "count": 30}]})
    expected = unified_groups(control)
    result = info(emulator, capfd, all_groups=True, users=[ALEX])
    assert result.get("failed") is not True, result.get("msg")
    assert [entry["error"] for entry in result["groups"] if entry["error"]] == []
    assert {entry["id"]: entry["has_photo"] for entry in result["groups"]} == {key: group["has_photo"] for key, group in expected.items()}
    assert result["stats"]["retries"] >= 1
    assert control("GET", "/behaviours")["faults"] == []  # every fault was met


def test_a_failed_batch_fails_only_its_own_group_entries(emulator, control, capfd):
    control("POST", "/groups/generate", {"count": 42, "photo_ratio": 0.5})
    # One $batch of group photo reads answers 500 (not retried); the users' batches and the other groups' are left alone.
    control("PUT", "/behaviours", {"faults": [{"method": "POST", "path_regex": "/\\$batch$", "body_regex": "/groups/[^\"]+/photo",
                                               "status": 500, "count": 1}]})
    result = info(emulator, capfd, all_groups=True, users=[ALEX, ADELE])
    assert result.get("failed") is not True, result.get("msg")
    assert [entry["error"] for entry in result["photos"]] == [None, None] and result["photos"][0]["has_photo"] is True
    entries = result["groups"]
    assert len(entries) == 45
    failed = [position for position, entry in enumerate(entries) if entry["error"]]
    chunks = [list(range(start, min(start + 20, 45))) for start in range(0, 45, 20)]
    assert failed in chunks  # exactly the entries of one batch
    assert all("HTTP 500" in entries[position]["error"] and entries[position]["has_photo"] is None for position in failed)
    assert all(entry["has_photo"] is not None for position, entry in enumerate(entries) if position not in failed)
    assert sorted(result["failed_groups"]) == sorted(entries[position]["group"] for position in failed)
    assert result["summary"]["failed"] == len(failed) and result["not_attempted_groups"] == []


def test_a_1_0_0_task_gets_its_user_entries_as_before_and_no_group_is_read(emulator, control, capfd):
    before = last_seq(control)
    result = info(emulator, capfd, users=[ALEX, ADELE])
    assert [tuple(key for key in entry if key != "kind") for entry in result["photos"]] == [USER_FIELDS_1_0] * 2
    assert [entry["kind"] for entry in result["photos"]] == ["user", "user"]
    assert result["groups"] == [] and result["failed_groups"] == [] and result["not_attempted_groups"] == []
    assert result["summary"] == dict(total=2, with_photo=1, without_photo=1, failed=0, not_attempted=0)
    assert not any(entry["path"].startswith("/v1.0/groups") for entry in graph_requests(control, before))


def test_a_run_that_stops_on_users_does_not_read_its_groups(emulator, control, capfd):
    # A 401 on the users' batch: the credentials are refused; no group is read, each is listed as not attempted.
    control("PUT", "/behaviours", {"faults": [{"method": "POST", "path_regex": "/\\$batch$", "status": 401, "count": 5}]})
    before = last_seq(control)
    result = info(emulator, capfd, users=[ALEX], groups=["sales", MARKETING])
    assert result["failed"] is True and "The run stopped" in result["msg"]
    assert result["not_attempted_groups"] == ["sales", MARKETING]
    assert all(entry["error"].startswith("not attempted: the run stopped") for entry in result["groups"])
    assert not any(entry["path"].startswith("/v1.0/groups") for entry in graph_requests(control, before))


@pytest.mark.parametrize("bad, message", [
    (dict(groups=["sales", ""]), "groups: '' is empty: give an object id, a mail or a mailNickname."),
    (dict(groups=[" sales"]), "groups: ' sales' is padded with white space"),
    (dict(groups=["sales"], api="outlook_v2"), "Group and Team photos need api=graph"),
    (dict(all_groups=True, api="outlook_v2"), "Group and Team photos need api=graph"),
    (dict(groups=["sales"], all_groups=True), "mutually exclusive"),
])
def test_bad_group_options_fail_before_anything_connects(bad, message, paths, connections, capfd):  # noqa: F811
    result = run_module(outlook_user_photo_info, dict(dict(access_token="bad-options-token"), **bad), capfd)
    assert result.get("failed") is True and message in result["msg"], result
    assert connections == []


def test_a_failed_lookup_batch_fails_only_the_groups_it_named(emulator, control, capfd):
    control("POST", "/groups/generate", {"count": 25})
    keys = ["group%05d@%s" % (index, DOMAIN) for index in range(1, 26)]  # two chunks: 20 names, then 5
    control("PUT", "/behaviours", {"faults": [{"method": "POST", "path_regex": "/\\$batch$", "body_regex": "filter", "status": 500, "count": 1}]})
    result = info(emulator, capfd, groups=keys, users=[ALEX])
    assert result.get("failed") is not True, result.get("msg")
    assert result["photos"][0]["error"] is None
    failed = [position for position, entry in enumerate(result["groups"]) if entry["error"]]
    assert failed in (list(range(0, 20)), list(range(20, 25)))
    assert all("HTTP 500" in result["groups"][position]["error"] for position in failed)
    assert all(entry["id"] and entry["has_photo"] is False for position, entry in enumerate(result["groups"]) if position not in failed)


@pytest.mark.parametrize("page, problem", [
    ({"value": 5}, "the group listing's value is not a list"),
    ({"value": [{"displayName": "No id"}]}, "group 0 of the page has no object id"),
    ({"value": [], "@odata.nextLink": 7}, "@odata.nextLink is not a link"),
    ({"value": [], "@odata.nextLink": "{first}"}, "@odata.nextLink leads back to a page already read"),
], ids=["value", "id", "next-link-type", "next-link-loop"])
def test_a_malformed_group_listing_fails_the_task_naming_the_request(emulator, control, capfd, page, problem):
    first = _group_report.groups_url(emulator.info["graph_url"])
    if page.get("@odata.nextLink") == "{first}":
        page = dict(page, **{"@odata.nextLink": first})
    control("PUT", "/behaviours", {"faults": [{"method": "GET", "path_regex": "/v1\\.0/groups$", "status": 200, "raw_body": json.dumps(page),
                                               "count": 1}]})
    result = info(emulator, capfd, all_groups=True)
    assert result["failed"] is True and problem in result["msg"] and "/groups" in result["msg"], result["msg"]
