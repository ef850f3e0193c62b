# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant's photo policy (issue 20 build item 4): the /beta base, the answers read through _answers (malformed ones
are MalformedAnswerErrors, from a fake transport and from the emulator's raw-body faults), and 403s that name the
permission."""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, GraphError, MalformedAnswerError
from ansible_collections.o365.outlook.plugins.module_utils.graph._connect import connect
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_settings import (PhotoSettings, beta_base, photo_settings,
                                                                                         read_photo_settings, update_photo_settings)
from ansible_collections.o365.outlook.plugins.module_utils.graph._answers import Origin
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ThrottledOutError

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from emulator.server import EmulatorServer  # noqa: E402  pylint: disable=wrong-import-position

TENANT = "00000000-0000-4000-8000-00000000c0de"
POLICY_APP = "7e1f0c2a-94d3-4b6e-a8f5-0d2c9b7e4a61"
POLICY_SECRET = "Qm8vT2xZcW4kRj3pLwX9sN7dHa"
READER_APP = "b3c94e17-5a2d-4f08-9e6b-c17a0d8f2e53"
READER_SECRET = "Zp4rKx7WqT2nVb9sYc6mLd3hJf"
BASE = "https://graph.example.test/v1.0"
URL = "https://graph.example.test/beta/admin/people/photoUpdateSettings"
ROLE_A = "62e90394-69f5-4237-9190-012177145e10"
ROLE_B = "fe930be7-5e62-47db-91af-98c3a49a38b1"


# ----------------------------------------------------------------- beta_base

@pytest.mark.parametrize("api_base, beta", [
    ("https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/beta"),
    ("https://graph.microsoft.com/v1.0/", "https://graph.microsoft.com/beta"),
    ("https://127.0.0.1:8443/v1.0", "https://127.0.0.1:8443/beta"),
    ("https://proxy.example.test/graph/v1.0", "https://proxy.example.test/graph/beta"),
    ("https://v1.0.example.test/v1.0", "https://v1.0.example.test/beta"),
])
def test_beta_base_turns_a_trailing_v1_into_beta(api_base, beta):
    assert beta_base(api_base) == beta


@pytest.mark.parametrize("api_base", [
    "https://graph.microsoft.com/beta",
    "https://outlook.office.com/api/v2.0",
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/v1.0/users",
    "https://graph.microsoft.com/v1.01",
    "https://graph.microsoft.com/v1x0",
    "https://graph.microsoft.com/v1.0//",
    "https://graph.microsoft.com/v1.0\n",
    "",
])
def test_beta_base_refuses_any_other_api_base(api_base):
    with pytest.raises(ConfigurationError) as caught:
        beta_base(api_base)
    assert "photoUpdateSettings is a beta API: api_url must end in /v1.0 so that the module can use /beta" in caught.value.msg
    assert repr(api_base) in caught.value.msg


# ----------------------------------------------------------------- a fake transport

class FakeResponse:
    def __init__(self, status=200, body=None, raw=None, request_id="5c1e2f7a-0b9d-4c3e-8a6f-2d7b1e9c4a08"):
        self.status_code = status
        self.headers = {"request-id": request_id}
        self.content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())


class FakeTransport:
    """Answers each request with the next of `answers` (a FakeResponse, or an exception to raise); records the calls."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, data=None, headers=None, json_body=None, **kwargs):
        self.calls.append((method, url, json_body))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_read_sends_one_get_to_beta_and_normalises_the_roles():
    transport = FakeTransport(FakeResponse(body={"@odata.context": "x", "source": "onPremises",
                                                 "allowedRoles": [ROLE_B.upper(), ROLE_A, ROLE_B]}))
    settings = read_photo_settings(transport, BASE)
    assert transport.calls == [("GET", URL, None)]
    assert settings == PhotoSettings("onPremises", [ROLE_A, ROLE_B])
    assert settings.as_dict() == {"source": "onPremises", "allowed_roles": [ROLE_A, ROLE_B]}
    assert settings.photo_writes_off is True
    assert PhotoSettings("cloud", []).photo_writes_off is False


def test_a_policy_never_set_is_read_as_empty_not_as_malformed():
    """A tenant's untouched policy has null values; a newer source value is kept as the service sends it."""
    assert read_photo_settings(FakeTransport(FakeResponse(body={"source": None, "allowedRoles": None})), BASE) == PhotoSettings(None, [])
    assert read_photo_settings(FakeTransport(FakeResponse(body={})), BASE).as_dict() == {"source": None, "allowed_roles": []}
    assert read_photo_settings(FakeTransport(FakeResponse(body={"source": "unknownFutureValue", "allowedRoles": []})),
                               BASE).source == "unknownFutureValue"


@pytest.mark.parametrize("raw, problem", [
    (b"[]", "the body is a list where an object was expected"),
    (b'"cloud"', "the body is a string where an object was expected"),
    (b"", "the body is empty"),
    (b"{\"source\": \"cloud\"", "not valid JSON"),
    (b'{"source": "cloud", "source": "onPremises", "allowedRoles": []}', "not valid JSON"),
    (b'{"source": 1, "allowedRoles": []}', "source is not a non-empty string"),
    (b'{"source": "", "allowedRoles": []}', "source is not a non-empty string"),
    (b'{"source": ["cloud"], "allowedRoles": []}', "source is not a non-empty string"),
    (b'{"source": "cloud", "allowedRoles": "62e90394-69f5-4237-9190-012177145e10"}', "allowedRoles is not a list of strings"),
    (b'{"source": "cloud", "allowedRoles": {}}', "allowedRoles is not a list of strings"),
    (b'{"source": "cloud", "allowedRoles": [1]}', "allowedRoles is not a list of strings"),
    (b'{"source": "cloud", "allowedRoles": [null]}', "allowedRoles is not a list of strings"),
    (b'{"source": "cloud", "allowedRoles": [""]}', "allowedRoles is not a list of strings"),
])
def test_a_malformed_answer_is_a_malformed_answer_error_naming_the_request(raw, problem):
    with pytest.raises(MalformedAnswerError) as caught:
        read_photo_settings(FakeTransport(FakeResponse(raw=raw)), BASE)
    assert problem in caught.value.msg
    assert caught.value.msg.startswith("GET %s answered something this module cannot trust" % URL)
    assert caught.value.request_id == "5c1e2f7a-0b9d-4c3e-8a6f-2d7b1e9c4a08"


def test_the_reader_of_the_entity_never_raises_anything_else():
    for body in (None, 3, "x", [], {"source": {}}, {"allowedRoles": [[]]}):
        with pytest.raises(MalformedAnswerError):
            photo_settings(body, Origin("GET", URL))


def test_a_403_on_read_names_the_read_permission_and_keeps_the_error():
    refused = GraphError(403, "ErrorAccessDenied", "Access is denied.", request_id="r-1", method="GET", url=URL)
    with pytest.raises(GraphError) as caught:
        read_photo_settings(FakeTransport(refused), BASE)
    assert caught.value is refused
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (403, "ErrorAccessDenied", "r-1")
    assert "reading the tenant's photo policy needs PeopleSettings.Read.All" in caught.value.msg
    assert caught.value.fail_kwargs()["msg"] == caught.value.msg


def test_a_403_on_update_names_the_write_permission():
    refused = GraphError(403, "ErrorAccessDenied", "Access is denied.", method="PATCH", url=URL)
    with pytest.raises(GraphError) as caught:
        update_photo_settings(FakeTransport(refused), BASE, {"source": "cloud"})
    assert "needs PeopleSettings.ReadWrite.All" in caught.value.msg
    assert "PeopleSettings.Read.All" not in caught.value.msg


def test_other_errors_pass_unchanged_with_their_class():
    throttled = ThrottledOutError(429, "TooManyRequests", "slow down", method="GET", url=URL)
    missing = GraphError(404, "NotFound", "no", method="GET", url=URL)
    for error in (throttled, missing):
        text = error.msg
        with pytest.raises(GraphError) as caught:
            read_photo_settings(FakeTransport(error), BASE)
        assert caught.value is error and caught.value.msg == text


def test_a_bad_api_base_is_refused_before_anything_is_sent():
    transport = FakeTransport()
    for call in (lambda: read_photo_settings(transport, "https://outlook.office.com/api/v2.0"),
                 lambda: update_photo_settings(transport, "https://graph.microsoft.com/beta", {"source": "cloud"})):
        with pytest.raises(ConfigurationError):
            call()
    assert transport.calls == []


def test_update_sends_only_the_changes_under_the_service_names():
    transport = FakeTransport(FakeResponse(body={"source": "cloud", "allowedRoles": [ROLE_A]}))
    settings = update_photo_settings(transport, BASE, {"allowed_roles": [ROLE_A]})
    assert transport.calls == [("PATCH", URL, {"allowedRoles": [ROLE_A]})]
    assert settings == PhotoSettings("cloud", [ROLE_A])
    transport = FakeTransport(FakeResponse(body={"source": "onPremises", "allowedRoles": []}))
    update_photo_settings(transport, BASE, {"source": "onPremises"})
    assert transport.calls == [("PATCH", URL, {"source": "onPremises"})]


def test_an_update_answered_204_is_read_back_once():
    transport = FakeTransport(FakeResponse(status=204), FakeResponse(body={"source": "onPremises", "allowedRoles": []}))
    assert update_photo_settings(transport, BASE, {"source": "onPremises"}) == PhotoSettings("onPremises", [])
    assert [call[0] for call in transport.calls] == ["PATCH", "GET"]


def test_a_malformed_update_answer_is_malformed():
    with pytest.raises(MalformedAnswerError) as caught:
        update_photo_settings(FakeTransport(FakeResponse(body={"source": 7})), BASE, {"source": "cloud"})
    assert caught.value.msg.startswith("PATCH %s" % URL)


@pytest.mark.parametrize("changes", [{}, {"allowedRoles": []}, {"state": "x"}])
def test_update_takes_only_the_module_names(changes):
    with pytest.raises(ValueError):
        update_photo_settings(FakeTransport(), BASE, changes)


# ----------------------------------------------------------------- against the emulator

@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorServer(str(tmp_path_factory.mktemp("photo-settings-emulator"))) as server:
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


@pytest.fixture
def control(emulator, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    emulator.state.reset()
    ctl = Control(emulator)
    ctl("POST", "/clients", {"client_id": POLICY_APP, "secret": POLICY_SECRET, "roles": ["PeopleSettings.ReadWrite.All"]})
    ctl("POST", "/clients", {"client_id": READER_APP, "secret": READER_SECRET, "roles": ["PeopleSettings.Read.All"]})
    yield ctl
    ctl.session.close()


def _client(emulator, client_id=POLICY_APP, secret=POLICY_SECRET):
    info = emulator.info
    return connect(dict(tenant_id=TENANT, client_id=client_id, client_secret=secret, authority_host=info["authority_host"],
                        api_url=info["graph_url"], ca_path=info["ca_path"], validate_certs=True, timeout=30.0))


def test_emulator_read_and_update(emulator, control):
    client = _client(emulator)
    base = client.dialect.api_base
    assert read_photo_settings(client.transport, base) == PhotoSettings("cloud", [])
    after = update_photo_settings(client.transport, base, {"source": "onPremises", "allowed_roles": [ROLE_A.upper()]})
    assert after == PhotoSettings("onPremises", [ROLE_A])
    assert control("GET", "/photo_policy") == {"source": "onPremises", "allowedRoles": [ROLE_A]}
    assert read_photo_settings(client.transport, base) == after
    paths = [(entry["method"], entry["path"]) for entry in control("GET", "/requests?since=0")["requests"] if entry["api"] != "entra"]
    assert paths == [("GET", "/beta/admin/people/photoUpdateSettings"), ("PATCH", "/beta/admin/people/photoUpdateSettings"),
                     ("GET", "/beta/admin/people/photoUpdateSettings")]


def test_emulator_403s_name_the_permissions(emulator, control):
    seeded = _client(emulator, "11111111-1111-4111-8111-111111111111", "emulator-secret-value")  # ProfilePhoto.ReadWrite.All only
    with pytest.raises(GraphError) as caught:
        read_photo_settings(seeded.transport, seeded.dialect.api_base)
    assert caught.value.status == 403 and "reading the tenant's photo policy needs PeopleSettings.Read.All" in caught.value.msg
    reader = _client(emulator, READER_APP, READER_SECRET)
    assert read_photo_settings(reader.transport, reader.dialect.api_base).source == "cloud"
    with pytest.raises(GraphError) as caught:
        update_photo_settings(reader.transport, reader.dialect.api_base, {"source": "onPremises"})
    assert caught.value.status == 403 and "needs PeopleSettings.ReadWrite.All" in caught.value.msg
    assert control("GET", "/photo_policy")["source"] == "cloud"


@pytest.mark.parametrize("raw, problem", [
    ('["cloud"]', "the body is a list where an object was expected"),
    ('{"source": 5, "allowedRoles": []}', "source is not a non-empty string"),
    ('{"source": "cloud", "allowedRoles": "all"}', "allowedRoles is not a list of strings"),
    ('{"source": "cloud", "allowedRoles": [', "not valid JSON"),
])
def test_emulator_malformed_answers(emulator, control, raw, problem):
    control("PUT", "/behaviours", {"faults": [{"method": "GET", "path_regex": "photoUpdateSettings$", "raw_body": raw}]})
    client = _client(emulator)
    with pytest.raises(MalformedAnswerError) as caught:
        read_photo_settings(client.transport, client.dialect.api_base)
    assert problem in caught.value.msg and "/beta/admin/people/photoUpdateSettings" in caught.value.msg
