# SPDX-License-Identifier: GPL-3.0-or-later
"""What users are told about a user without an Exchange Online mailbox (issue 10 build item 5), driven through the
modules' own client code against the in-process emulator: the message says so and names the fix, the error is never
read as "no photo", and in a sync it fails that one user, not the run."""
from __future__ import annotations

import base64
import io
import os
import sys

import pytest
import requests
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError, is_no_photo
from ansible_collections.o365.outlook.plugins.module_utils.graph._connect import connect
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import UserNotFoundError
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job, stops_run
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

CLIENT = "11111111-1111-4111-8111-111111111111"
SECRET = "emulator-secret-value"
TENANT = "00000000-0000-4000-8000-00000000c0de"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
MEGAN = "megan.bowen@contoso.onmicrosoft.com"
GUEST = "eva_partner.example#EXT#@contoso.onmicrosoft.com"
UNLICENSED = "unlicensed@contoso.onmicrosoft.com"
CODES = ("ErrorNonExistentMailbox", "MailboxNotEnabledForRESTAPI")


def _jpeg(size=(64, 64), color=(200, 40, 40)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("mailbox-emulator"))) as server:
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

    def photo_writes(self, upn):
        user_id = self("GET", "/users/" + requests.utils.quote(upn, safe=""))["id"]
        return [entry for entry in self("GET", "/requests?since=0")["requests"]
                if entry["user"] == user_id and entry["method"] in ("PUT", "PATCH", "DELETE")]


@pytest.fixture
def control(emulator, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    emulator.state.reset()
    ctl = Control(emulator)
    # The historical answer: these tests are about what the modules say when the service refuses a user without a
    # mailbox. The emulator's default, no_mailbox "entra", serves such users (their photos live in Entra ID).
    ctl("PUT", "/behaviours", {"no_mailbox": "ErrorNonExistentMailbox"})
    ctl("POST", "/users", {"users": [{"userPrincipalName": GUEST},
                                     {"userPrincipalName": UNLICENSED, "mailbox": False,
                                      "photo_b64": base64.b64encode(_jpeg()).decode()}]})
    yield ctl
    ctl.session.close()


def _client(emulator, api="graph"):
    info = emulator.info
    params = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, authority_host=info["authority_host"], api=api,
                  api_url=info["graph_url"] if api == "graph" else info["outlook_url"], ca_path=info["ca_path"],
                  validate_certs=True, timeout=30.0)
    return connect(params, pool_size=4)


def _assert_mailbox_message(error, user, code):
    assert isinstance(error, GraphError) and not isinstance(error, UserNotFoundError), error
    assert (error.status, error.code) == (404, code)
    assert not is_no_photo(error) and not stops_run(error)
    assert "user %r has no Exchange Online mailbox" % user in error.msg
    assert "guests, unlicensed users and mailboxes hosted on-premises" in error.msg
    assert error.msg.index("no mailbox: the tenant keeps no photo for this user") < error.msg.index("has no Exchange Online")
    assert "this tenant keeps photos in mailboxes" in error.msg
    assert error.request_id and error.request_id in error.msg  # still usable for a support case


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("user", [GUEST, UNLICENSED])
def test_reads_and_writes_say_the_user_has_no_mailbox(emulator, control, code, user):
    control("PUT", "/behaviours", {"no_mailbox": code})
    client = _client(emulator)
    for call in (lambda: client.get_metadata(user), lambda: client.get_content(user),
                 lambda: client.put_content(user, _jpeg(), "image/jpeg")):
        with pytest.raises(GraphError) as caught:
            call()
        _assert_mailbox_message(caught.value, user, code)


def test_removal_is_not_taken_for_already_gone(emulator, control):
    client = _client(emulator)
    with pytest.raises(GraphError) as caught:
        client.delete_content(UNLICENSED)
    _assert_mailbox_message(caught.value, UNLICENSED, CODES[0])
    assert control("GET", "/users/" + UNLICENSED)["has_photo"] is True


def test_outlook_v2_dialect_says_the_same(emulator, control):
    client = _client(emulator, api="outlook_v2")
    with pytest.raises(GraphError) as caught:
        client.get_metadata(GUEST)
    _assert_mailbox_message(caught.value, GUEST, CODES[0])
    assert client.get_metadata(ALEX).width == 240


def test_batched_reads_give_that_user_the_message(emulator, control):
    found = _client(emulator).get_metadata_many([ALEX, GUEST, MEGAN])
    assert found[ALEX].width == 240
    assert found[MEGAN] is None  # a member without a photo: "no photo", as before
    _assert_mailbox_message(found[GUEST], GUEST, CODES[0])


@pytest.mark.parametrize("state", ["present", "absent"])
def test_sync_fails_only_the_users_without_a_mailbox(emulator, control, tmp_path, state):
    source = tmp_path / "photo.jpg"
    source.write_bytes(_jpeg((120, 120), (10, 90, 30)))
    src = str(source) if state == "present" else None
    users = [ALEX, GUEST, MEGAN, UNLICENSED]
    engine = BulkEngine(_client(emulator), PhotoPolicy(read_after_write=False), parallelism=2)
    entries = {entry["user"]: entry for entry in engine.run([Job(user, state, src) for user in users])}

    for user in (GUEST, UNLICENSED):
        assert entries[user]["action"] == "failed" and entries[user]["changed"] is False
        assert "has no Exchange Online mailbox" in entries[user]["message"]
        assert control.photo_writes(user) == []  # nothing sent after the failed read
    expected = {"present": "uploaded", "absent": "removed"}[state]
    assert entries[ALEX]["action"] == expected
    assert entries[MEGAN]["action"] == ("uploaded" if state == "present" else "unchanged")
    assert engine.summary["failed"] == 2 and engine.summary["not_attempted"] == 0
    assert engine.not_attempted_users == []
