# SPDX-License-Identifier: GPL-3.0-or-later
"""The mailbox model (issue 10 build item 5): users without an Exchange Online mailbox and guests, and the
no_mailbox switch that decides what the photo API answers for them: "entra" by default (the photo is kept in Entra ID,
with a 100 KB cap on writes), the historical 404 ErrorNonExistentMailbox one switch away."""

from __future__ import annotations

import base64
import hashlib
import io
from urllib.parse import quote

import pytest
from PIL import Image

from emulator.behaviours import profile_behaviours
from emulator.graph_photos import ENTRA_PHOTO_MAX_BYTES
from emulator.state import State, _user_record

ALEX = "alex.wilber@contoso.onmicrosoft.com"
JOHN = "john_fabrikam.com#EXT#@contoso.onmicrosoft.com"
NOBOX = "no.mailbox@contoso.onmicrosoft.com"
GUEST = "eva_partner.example#EXT#@contoso.onmicrosoft.com"
JPEG = {"Content-Type": "image/jpeg"}
NON_EXISTENT = ("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
NOT_ENABLED = ("MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
TOO_LARGE_FOR_ENTRA = ("ErrorItemNotFound", "The specified object was not found in the store.")


def _jpeg(size=(64, 64), color=(20, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _key(upn):
    return quote(upn, safe="@")


def _add(api, **spec):
    resp = api.control("POST", "/users", json={"users": [spec]})
    assert resp.status_code == 200, resp.text
    return resp.json()["users"][0]


def _seed_no_mailbox(api):
    """A member flagged without a mailbox who nevertheless holds a photo (an Entra-only leftover)."""
    return _add(api, userPrincipalName=NOBOX, mailbox=False, photo_b64=base64.b64encode(_jpeg()).decode())


def _error(resp, status, code, message=None):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    assert error["innerError"]["request-id"]
    return error


# --------------------------------------------------------------------------- who has a mailbox

def test_members_have_a_mailbox_guests_do_not_unless_given_one(api):
    assert _add(api, userPrincipalName="member@contoso.onmicrosoft.com")["mailbox"] is True
    assert _add(api, userPrincipalName=NOBOX, mailbox=False)["mailbox"] is False
    guest = _add(api, userPrincipalName=GUEST)
    assert (guest["userType"], guest["mailbox"], guest["mail"]) == ("Guest", False, None)
    declared = _add(api, userPrincipalName="partner@contoso.onmicrosoft.com", userType="Guest")
    assert (declared["userType"], declared["mailbox"]) == ("Guest", False)
    given = _add(api, userPrincipalName="boxed_partner.example#EXT#@contoso.onmicrosoft.com", mailbox=True)
    assert (given["userType"], given["mailbox"]) == ("Guest", True)
    # The seeded guest keeps a mailbox so that the addressing tests exercise #EXT# in a key, not this model.
    assert api.oracle(JOHN)["mailbox"] is True


def test_declared_guest_shows_in_graph_user_type(api):
    user = _add(api, userPrincipalName="partner@contoso.onmicrosoft.com", userType="Guest")
    reader = api.mint(roles=["User.Read.All"])
    body = api.graph("GET", "/users/%s?$select=userType,mail" % user["id"], reader).json()
    assert body["userType"] == "Guest" and body["mail"] is None


@pytest.mark.parametrize("spec, words", [
    ({"mailbox": "no"}, "mailbox of"),
    ({"mailbox": 0}, "mailbox of"),
    ({"userType": "guest"}, "userType of"),
])
def test_bad_mailbox_or_user_type_is_400_and_changes_nothing(api, spec, words):
    spec = dict(spec, userPrincipalName=NOBOX)
    resp = api.control("POST", "/users", json={"users": [spec]})
    assert resp.status_code == 400 and words in resp.text, resp.text
    assert api.control("GET", "/users/" + _key(NOBOX)).status_code == 404


def test_bad_no_mailbox_value_is_400(api):
    resp = api.control("PUT", "/behaviours", json={"no_mailbox": "ImageNotFound"})
    assert resp.status_code == 400 and "no_mailbox" in resp.text
    assert api.control("GET", "/behaviours").json()["no_mailbox"] == "entra"


def test_mailbox_flag_survives_the_journal():
    state = State()
    users = state.add_users([{"userPrincipalName": NOBOX, "mailbox": False},
                             {"userPrincipalName": "partner@contoso.onmicrosoft.com", "userType": "Guest", "mailbox": True}])
    records = [_user_record(user) for user in users]
    fresh = State()
    fresh._replay(records)  # pylint: disable=protected-access
    assert fresh.find_user(NOBOX).has_mailbox is False
    partner = fresh.find_user("partner@contoso.onmicrosoft.com")
    assert (partner.user_type, partner.has_mailbox) == ("Guest", True)


# --------------------------------------------------------------------------- what the photo API answers

GRAPH_CALLS = [
    ("GET", "/photo", None),
    ("GET", "/photo/$value", None),
    ("GET", "/photos", None),
    ("GET", "/photos/48x48", None),
    ("GET", "/photos/48x48/$value", None),
    ("PUT", "/photo/$value", "jpeg"),
    ("PATCH", "/photo/$value", "jpeg"),
    ("DELETE", "/photo/$value", None),
]


@pytest.mark.parametrize("method, tail, body", GRAPH_CALLS)
def test_error_non_existent_mailbox_switch_every_graph_photo_call(api, rw_token, method, tail, body):
    before = _seed_no_mailbox(api)["photo"]
    api.behave(no_mailbox="ErrorNonExistentMailbox")
    kwargs = {"data": _jpeg((80, 80)), "headers": JPEG} if body else {}
    resp = api.graph(method, "/users/%s%s" % (_key(NOBOX), tail), rw_token, **kwargs)
    _error(resp, 404, *NON_EXISTENT)
    assert api.oracle(NOBOX)["photo"] == before  # nothing written, nothing removed
    # The user stays in the directory: only the mailbox-backed photo is out of reach.
    reader = api.mint(roles=["User.Read.All"])
    assert api.graph("GET", "/users/" + _key(NOBOX), reader).status_code == 200


def test_guest_without_mailbox_on_both_dialects(api, rw_token):
    _add(api, userPrincipalName=GUEST)
    api.behave(no_mailbox="ErrorNonExistentMailbox")
    key = quote(GUEST, safe="@")
    _error(api.graph("GET", "/users/%s/photo" % key, rw_token), 404, *NON_EXISTENT)
    outlook = api.token(scope="https://outlook.office.com/.default")
    _error(api.outlook("GET", "/Users('%s')/photo" % key, outlook), 404, *NON_EXISTENT)
    _error(api.outlook("PATCH", "/Users('%s')/photo/$value" % key, outlook, data=_jpeg(), headers=JPEG), 404, *NON_EXISTENT)
    assert api.oracle(GUEST)["has_photo"] is False


def test_members_with_a_mailbox_are_unaffected(api, rw_token):
    _seed_no_mailbox(api)
    api.behave(no_mailbox="ErrorNonExistentMailbox")
    assert api.graph("GET", "/users/%s/photo" % ALEX, rw_token).status_code == 200
    assert api.graph("PUT", "/users/%s/photo/$value" % _key(JOHN), rw_token, data=_jpeg(), headers=JPEG).status_code == 200


def test_mailbox_not_enabled_switch(api, rw_token):
    _seed_no_mailbox(api)
    api.behave(no_mailbox="MailboxNotEnabledForRESTAPI")
    _error(api.graph("GET", "/users/%s/photo/$value" % _key(NOBOX), rw_token), 404, *NOT_ENABLED)
    _error(api.graph("PUT", "/users/%s/photo/$value" % _key(NOBOX), rw_token, data=_jpeg(), headers=JPEG), 404, *NOT_ENABLED)


def test_no_photo_switch_reads_say_no_photo_and_writes_are_refused(api, rw_token):
    before = _seed_no_mailbox(api)["photo"]
    assert before is not None
    api.behave(no_mailbox="no_photo")
    base = "/users/%s" % _key(NOBOX)
    _error(api.graph("GET", base + "/photo", rw_token), 404, "ImageNotFound")
    _error(api.graph("GET", base + "/photo/$value", rw_token), 404, "ImageNotFound")
    _error(api.graph("PUT", base + "/photo/$value", rw_token, data=_jpeg((90, 90)), headers=JPEG), 404, "ImageNotFound")
    assert api.oracle(NOBOX)["photo"] == before
    # The no_photo switches still decide how "no photo" looks.
    api.behave(no_photo="placeholder", no_photo_code="ErrorItemNotFound")
    placeholder = api.graph("GET", base + "/photo", rw_token).json()
    assert (placeholder["id"], placeholder["@odata.mediaContentType"]) == ("1x1", "image/gif")
    listing = api.graph("GET", base + "/photos", rw_token).json()["value"]
    assert [entry["id"] for entry in listing] == ["1x1"]
    _error(api.graph("GET", base + "/photo/$value", rw_token), 404, "ErrorItemNotFound")


def test_mailbox_switch_serves_them_like_everyone(api, rw_token):
    _seed_no_mailbox(api)
    api.behave(no_mailbox="mailbox")
    assert api.graph("GET", "/users/%s/photo" % _key(NOBOX), rw_token).json()["width"] == 64
    new = _jpeg((96, 96))
    assert api.graph("PUT", "/users/%s/photo/$value" % _key(NOBOX), rw_token, data=new, headers=JPEG).status_code == 200
    assert api.oracle(NOBOX)["photo"]["width"] == 96


def test_batch_items_answer_per_user(api, rw_token):
    _seed_no_mailbox(api)
    api.behave(no_mailbox="ErrorNonExistentMailbox")
    batch = {"requests": [{"id": "1", "method": "GET", "url": "/users/%s/photo" % ALEX},
                          {"id": "2", "method": "GET", "url": "/users/%s/photo" % _key(NOBOX)}]}
    resp = api.graph("POST", "/$batch", rw_token, json=batch)
    assert resp.status_code == 200
    answers = {item["id"]: item for item in resp.json()["responses"]}
    assert answers["1"]["status"] == 200
    assert answers["2"]["status"] == 404 and answers["2"]["body"]["error"]["code"] == NON_EXISTENT[0]
    logged = [entry for entry in api.log() if entry["batch"]]
    assert sorted(entry["status"] for entry in logged) == [200, 404]


# --------------------------------------------------------------------------- no_mailbox "entra" (the default)

def _jpeg_of_size(total, size=(64, 64), color=(30, 160, 90)):
    """A valid JPEG of exactly `total` bytes: comment (COM) segments after SOI pad it out."""
    data = _jpeg(size, color)
    pad = total - len(data)
    assert pad >= 8, "the picture alone is already %d bytes" % len(data)
    segments, parts = -(-pad // 65537), []
    for index in range(segments):
        share = pad // segments + (1 if index < pad % segments else 0)  # bytes of this segment, marker included
        payload = share - 4
        parts.append(b"\xff\xfe" + (payload + 2).to_bytes(2, "big") + b"e" * payload)
    padded = data[:2] + b"".join(parts) + data[2:]
    assert len(padded) == total
    Image.open(io.BytesIO(padded)).load()  # still decodes
    return padded


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_entra_is_the_default_in_both_profiles(api):
    assert api.control("GET", "/behaviours").json()["no_mailbox"] == "entra"
    assert profile_behaviours("production")["no_mailbox"] == "entra"
    assert profile_behaviours("ideal")["no_mailbox"] == "entra"
    assert ENTRA_PHOTO_MAX_BYTES == 102400


def test_entra_guest_takes_a_photo_and_reads_it_back(api, rw_token):
    _add(api, userPrincipalName=GUEST)
    assert api.oracle(GUEST)["mailbox"] is False
    base = "/users/%s" % _key(GUEST)
    _error(api.graph("GET", base + "/photo", rw_token), 404, "ImageNotFound")  # no photo yet: the usual answer
    upload = _jpeg((96, 96))
    assert api.graph("PUT", base + "/photo/$value", rw_token, data=upload, headers=JPEG).status_code == 200
    meta = api.graph("GET", base + "/photo", rw_token)
    assert meta.status_code == 200 and (meta.json()["width"], meta.json()["height"]) == (96, 96)
    value = api.graph("GET", base + "/photo/$value", rw_token)
    assert value.status_code == 200 and value.content == upload
    assert [entry["id"] for entry in api.graph("GET", base + "/photos", rw_token).json()["value"]] == ["48x48", "64x64", "96x96"]
    assert api.oracle(GUEST)["photo"]["sha256"] == _sha(upload)
    assert api.graph("DELETE", base + "/photo/$value", rw_token).status_code == 200
    assert api.oracle(GUEST)["has_photo"] is False


def test_entra_guest_in_batch_and_on_outlook_v2(api, rw_token):
    _add(api, userPrincipalName=GUEST)
    url = "/users/%s/photo" % _key(GUEST)
    upload = _jpeg((80, 80), (5, 5, 200))
    batch = {"requests": [
        {"id": "put", "method": "PUT", "url": url + "/$value", "headers": {"Content-Type": "image/jpeg"},
         "body": base64.b64encode(upload).decode()},
        {"id": "meta", "method": "GET", "url": url, "dependsOn": ["put"]},
        {"id": "value", "method": "GET", "url": url + "/$value", "dependsOn": ["meta"]}]}
    resp = api.graph("POST", "/$batch", rw_token, json=batch)
    answers = {item["id"]: item for item in resp.json()["responses"]}
    assert [answers[key]["status"] for key in ("put", "meta", "value")] == [200, 200, 200], resp.text
    assert answers["meta"]["body"]["width"] == 80
    assert base64.b64decode(answers["value"]["body"]) == upload
    outlook = api.token(scope="https://outlook.office.com/.default")
    key = "/Users('%s')/photo" % quote(GUEST, safe="@")
    assert api.outlook("GET", key, outlook).json()["Width"] == 80
    again = _jpeg((72, 72), (200, 5, 5))
    assert api.outlook("PATCH", key + "/$value", outlook, data=again, headers=JPEG).status_code == 200
    assert api.outlook("GET", key + "/$value", outlook).content == again


def test_entra_serves_a_member_flagged_without_a_mailbox(api, rw_token):
    _seed_no_mailbox(api)
    assert api.graph("GET", "/users/%s/photo" % _key(NOBOX), rw_token).json()["width"] == 64


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_entra_cap_a_write_over_100_kb_is_404_and_stores_nothing(api, rw_token, method):
    before = _seed_no_mailbox(api)["photo"]
    _add(api, userPrincipalName=GUEST)
    over = _jpeg_of_size(ENTRA_PHOTO_MAX_BYTES + 1)
    for upn in (NOBOX, GUEST):
        resp = api.graph(method, "/users/%s/photo/$value" % _key(upn), rw_token, data=over, headers=JPEG)
        _error(resp, 404, *TOO_LARGE_FOR_ENTRA)
    assert api.oracle(NOBOX)["photo"] == before
    assert api.oracle(GUEST)["has_photo"] is False
    # Exactly the cap is taken, and stored as sent (the ideal profile does not re-encode).
    at_cap = _jpeg_of_size(ENTRA_PHOTO_MAX_BYTES)
    assert api.graph(method, "/users/%s/photo/$value" % _key(GUEST), rw_token, data=at_cap, headers=JPEG).status_code == 200
    assert api.oracle(GUEST)["photo"]["sha256"] == _sha(at_cap)
    assert api.oracle(GUEST)["photo"]["size"] == ENTRA_PHOTO_MAX_BYTES


def test_entra_cap_in_batch_and_on_outlook_v2(api, rw_token):
    _add(api, userPrincipalName=GUEST)
    over = _jpeg_of_size(ENTRA_PHOTO_MAX_BYTES + 1)
    batch = {"requests": [{"id": "1", "method": "PUT", "url": "/users/%s/photo/$value" % _key(GUEST),
                           "headers": {"Content-Type": "image/jpeg"}, "body": base64.b64encode(over).decode()}]}
    item = api.graph("POST", "/$batch", rw_token, json=batch).json()["responses"][0]
    assert item["status"] == 404 and item["body"]["error"]["code"] == TOO_LARGE_FOR_ENTRA[0]
    assert item["body"]["error"]["message"] == TOO_LARGE_FOR_ENTRA[1]
    outlook = api.token(scope="https://outlook.office.com/.default")
    resp = api.outlook("PUT", "/Users('%s')/photo/$value" % quote(GUEST, safe="@"), outlook, data=over, headers=JPEG)
    _error(resp, 404, *TOO_LARGE_FOR_ENTRA)
    assert api.oracle(GUEST)["has_photo"] is False


def test_entra_cap_does_not_touch_members_with_a_mailbox(api, rw_token):
    large = _jpeg_of_size(3 * ENTRA_PHOTO_MAX_BYTES)
    for upn in (ALEX, JOHN):  # a member, and the seeded guest who was given a mailbox
        assert api.graph("PUT", "/users/%s/photo/$value" % _key(upn), rw_token, data=large, headers=JPEG).status_code == 200
        assert api.oracle(upn)["photo"]["sha256"] == _sha(large)


def test_historical_answer_is_one_switch_away(api, rw_token):
    _add(api, userPrincipalName=GUEST)
    api.behave(no_mailbox="ErrorNonExistentMailbox")
    resp = api.graph("PUT", "/users/%s/photo/$value" % _key(GUEST), rw_token, data=_jpeg(), headers=JPEG)
    _error(resp, 404, *NON_EXISTENT)
    assert api.oracle(GUEST)["has_photo"] is False
    api.behave(no_mailbox="entra")
    assert api.graph("PUT", "/users/%s/photo/$value" % _key(GUEST), rw_token, data=_jpeg(), headers=JPEG).status_code == 200
