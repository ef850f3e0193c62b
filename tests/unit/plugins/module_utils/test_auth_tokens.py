# SPDX-License-Identifier: GPL-3.0-or-later
"""Token providers (auth/_tokens.py, auth/_msal_tokens.py): msal's arguments, one token per run at any
parallelism, AADSTS hints, checks of the token answer, and no form of a secret in any error. The fakes here
(FakeMsal, fake_msal, clean_environment, ENDPOINTS, APP) are shared by the other test_auth_* files."""
from __future__ import annotations

import json
import sys
import time
import types
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.auth._msal_tokens import ManagedIdentityTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.auth._selection import build_token_provider
from ansible_collections.o365.outlook.plugins.module_utils.graph._endpoints import resolve_endpoints
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import AuthenticationError, MissingLibraryError
from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor
from ansible_collections.o365.outlook.tests.unit.utils.threads import run_together

SECRET = "s3cr3t-value-never-shown"
CREDENTIAL_VARIABLES = ("O365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                        "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The build machine's own variables must not decide these tests."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class FakeMsal:
    """Stands in for the msal package: records constructor arguments and answers from a script."""

    def __init__(self, answers=None, raise_in_constructor=None, delay=0.0):
        self.answers = list(answers or [{"access_token": "tok-1", "expires_in": 3599}])
        self.raise_in_constructor = raise_in_constructor
        # A slow token endpoint widens the window in which unsynchronised callers would each fetch.
        self.delay = delay
        self.constructed = []
        self.acquired = []
        self.removed = 0
        fake = self

        class MsalError(Exception):
            pass

        class App:
            def __init__(self, client_id, **kwargs):
                if fake.raise_in_constructor:
                    raise fake.raise_in_constructor
                time.sleep(fake.delay)
                fake.constructed.append(dict(client_id=client_id, **kwargs))

            def acquire_token_for_client(self, scopes=None, resource=None):
                fake.acquired.append(dict(scopes=scopes, resource=resource))
                time.sleep(fake.delay)
                return fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]

            def remove_tokens_for_client(self):
                fake.removed += 1

        class ManagedIdentityClient(App):
            def __init__(self, identity, **kwargs):  # pylint: disable=super-init-not-called
                fake.constructed.append(dict(identity=identity, **kwargs))

        self.module = types.SimpleNamespace(
            ConfidentialClientApplication=App,
            ManagedIdentityClient=ManagedIdentityClient,
            SystemAssignedManagedIdentity=lambda: ("system",),
            UserAssignedManagedIdentity=lambda client_id: ("user", client_id),
            TokenCache=lambda: "fresh-cache",
            exceptions=types.SimpleNamespace(MsalError=MsalError),
        )


@pytest.fixture
def fake_msal(monkeypatch):
    def install(**kwargs):
        fake = FakeMsal(**kwargs)
        monkeypatch.setitem(sys.modules, "msal", fake.module)
        return fake
    return install


ENDPOINTS = resolve_endpoints(dict(cloud="usgov", authority_host="https://127.0.0.1:9999"))
APP = dict(tenant_id="contoso", client_id="app-id", client_secret=SECRET, timeout=12.0)


def test_secret_flow_arguments_and_single_fetch(fake_msal):
    fake = fake_msal()
    redactor = Redactor()
    provider = build_token_provider(APP, ENDPOINTS, "http-client", redactor=redactor)
    assert provider.token() == "tok-1"
    assert provider.token() == "tok-1"  # cached for the run
    (ctor,) = fake.constructed
    assert ctor["client_credential"] == SECRET
    assert ctor["authority"] == "https://127.0.0.1:9999/contoso"
    assert ctor["instance_discovery"] is False and ctor["azure_region"] is False
    assert ctor["http_client"] == "http-client" and ctor["timeout"] == 12.0
    assert fake.acquired == [dict(scopes=["https://graph.microsoft.us/.default"], resource=None)]
    # The token and the task's secret are masked in any text from now on.
    assert redactor.redact("got tok-1 with %s" % SECRET) == "got %s with %s" % (MASK, MASK)


def test_refresh_drops_cached_token(fake_msal):
    fake = fake_msal(answers=[{"access_token": "tok-1"}, {"access_token": "tok-2"}])
    provider = build_token_provider(APP, ENDPOINTS, None)
    provider.token()
    provider.refresh()
    assert provider.token() == "tok-2" and fake.removed == 1


def test_aadsts_error_is_explained_without_the_secret(fake_msal):
    fake_msal(answers=[{"error": "invalid_client", "error_codes": [7000215], "correlation_id": "corr-9",
                        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x\r\nCorrelation ID: corr-9"}])
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    error = caught.value
    assert "AADSTS7000215: Invalid client secret provided." in error.msg
    assert "check client_secret" in error.msg
    assert "Trace ID" not in error.msg
    assert SECRET not in str(error.fail_kwargs())
    assert error.fail_kwargs()["auth_error_codes"] == [7000215]
    assert error.fail_kwargs()["correlation_id"] == "corr-9"


def test_connection_failure_in_constructor(fake_msal):
    fake_msal(raise_in_constructor=OSError("Connection refused"))
    with pytest.raises(AuthenticationError, match="OSError: Connection refused"):
        build_token_provider(APP, ENDPOINTS, None).token()


def test_missing_msal_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "msal", None)
    with pytest.raises(MissingLibraryError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert caught.value.library == "msal"


def test_managed_identity_system_and_user_assigned(fake_msal):
    fake = fake_msal(answers=[{"access_token": "mi-1"}, {"access_token": "mi-2"}])
    system = build_token_provider(dict(managed_identity=True, client_secret=SECRET), ENDPOINTS, "hc")
    assert isinstance(system, ManagedIdentityTokenProvider) and system.token() == "mi-1"
    user = build_token_provider(dict(managed_identity=True, managed_identity_client_id="uami"), ENDPOINTS, "hc")
    assert user.token() == "mi-2"
    assert [c["identity"] for c in fake.constructed] == [("system",), ("user", "uami")]
    assert fake.acquired[0]["resource"] == "https://graph.microsoft.us"


@pytest.mark.parametrize("error, hint", [
    (ValueError("Unable to get authority configuration for https://login.example/nosuchtenant"), "check tenant_id"),
    (OSError("HTTPSConnectionPool: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "set ca_path"),
])
def test_constructor_failures_get_hints(fake_msal, error, hint):
    fake_msal(raise_in_constructor=error)
    with pytest.raises(AuthenticationError, match=hint):
        build_token_provider(APP, ENDPOINTS, None).token()


def test_managed_identity_off_azure_says_where_it_works(fake_msal):
    fake = fake_msal()

    def off_azure(*args, **kwargs):
        raise ValueError("Expecting value: line 1 column 1 (char 0)")
    fake.module.ManagedIdentityClient = off_azure
    with pytest.raises(AuthenticationError, match="only exists on Azure hosts"):
        build_token_provider(dict(managed_identity=True), ENDPOINTS, None).token()


# ------------------------------------------------------------------------------------------ issue 8, defect 7

def test_regression_concurrent_first_calls_fetch_one_token(fake_msal):
    """issue 8 defect 7: sixteen workers starting together made several token requests and several msal apps."""
    fake = fake_msal(answers=[{"access_token": "tok-%d" % i} for i in range(1, 20)], delay=0.05)
    provider = build_token_provider(APP, ENDPOINTS, None)
    results = run_together(16, lambda index: provider.token())
    assert results == ["tok-1"] * 16
    assert len(fake.constructed) == 1
    assert len(fake.acquired) == 1


def test_concurrent_refreshes_are_serialised(fake_msal):
    fake = fake_msal(answers=[{"access_token": "tok-%d" % i} for i in range(1, 20)], delay=0.02)
    provider = build_token_provider(APP, ENDPOINTS, None)
    provider.token()
    # Each refresh() is a forced fetch; the lock keeps them one at a time, so token() never sees None.
    results = run_together(4, lambda index: (provider.refresh(), provider.token())[1])
    assert all(isinstance(r, str) and r.startswith("tok-") for r in results)
    assert len(fake.constructed) == 1 and len(fake.acquired) == 5 and fake.removed == 4


def test_a_failed_fetch_is_not_repeated_by_every_worker(fake_msal):
    fake = fake_msal(answers=[{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}],
                     delay=0.02)
    provider = build_token_provider(APP, ENDPOINTS, None)
    results = run_together(8, lambda index: provider.token())
    assert all(isinstance(r, AuthenticationError) and "AADSTS7000215" in r.msg for r in results)
    assert len(fake.acquired) == 1


# ------------------------------------------------------------------------------------------ issue 8, defect 10

def _discovery(authority):
    return {"token_endpoint": authority + "/oauth2/v2.0/token", "issuer": authority + "/v2.0",
            "authorization_endpoint": authority + "/oauth2/v2.0/authorize"}


class EchoingTokenEndpoint:
    """An msal http_client whose token endpoint echoes the whole form (and the Basic header) in error_description,
    padded so that the secret straddles a 300-character cut."""

    def __init__(self, pad=260):
        self.pad = pad
        self.forms = []

    @staticmethod
    def _answer(status, body):
        return types.SimpleNamespace(status_code=status, text=json.dumps(body), headers={},
                                     raise_for_status=lambda: None)

    def get(self, url, **kwargs):
        return self._answer(200, _discovery(url.split("/v2.0/.well-known")[0]))

    def post(self, url, data=None, headers=None, **kwargs):
        self.forms.append(data)
        echo = "x" * self.pad + " " + urlencode(data) + " auth=" + (headers or {}).get("Authorization", "")
        return self._answer(401, {"error": "invalid_client", "error_codes": [7000215],
                                  "error_description": "AADSTS7000215: bad form " + echo + "\r\nTrace ID: t"})


HOSTILE_SECRET = "Zq8~s3cr3t+with/special=chars&more"


@pytest.mark.parametrize("pad", [0, 260, 283])
def test_regression_token_endpoint_echo_shows_no_form_of_the_secret(pad):
    """issue 8 defect 10: a token endpoint that echoes the form showed the URL-encoded secret (and a 300-character
    cut could leave its first characters)."""
    echo = EchoingTokenEndpoint(pad)
    provider = build_token_provider(dict(APP, client_secret=HOSTILE_SECRET), ENDPOINTS, echo)
    with pytest.raises(AuthenticationError) as caught:
        provider.token()
    assert echo.forms and echo.forms[0]["client_secret"] == HOSTILE_SECRET  # real msal really sent it
    shown = json.dumps(caught.value.fail_kwargs()) + caught.value.msg
    for form in (HOSTILE_SECRET, quote(HOSTILE_SECRET, safe=""), quote_plus(HOSTILE_SECRET), HOSTILE_SECRET[:8],
                 quote_plus(HOSTILE_SECRET)[:8]):
        assert form not in shown
    assert "AADSTS7000215" in caught.value.msg


def test_secret_from_the_environment_is_masked_in_errors(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", HOSTILE_SECRET)
    provider = build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, EchoingTokenEndpoint(0))
    with pytest.raises(AuthenticationError) as caught:
        provider.token()
    assert quote_plus(HOSTILE_SECRET) not in caught.value.msg and HOSTILE_SECRET not in caught.value.msg
    assert MASK in caught.value.msg


def test_request_failure_is_redacted_before_it_is_cut(fake_msal):
    fake_msal(raise_in_constructor=OSError("y" * 290 + quote_plus(SECRET)))
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert quote_plus(SECRET)[:6] not in caught.value.msg and MASK in caught.value.msg


# ------------------------------------------------------------------------------------------ token answers

@pytest.mark.parametrize("answer, message", [
    ({"access_token": None}, "access_token is a JSON NoneType, not a string"),
    ({"access_token": 42}, "access_token is a JSON int, not a string"),
    ({"access_token": ["a"]}, "access_token is a JSON list"),
    ({"access_token": ""}, "access_token is empty"),
    ({"access_token": "a b"}, "white space or control characters"),
    ({"token_type": "Bearer"}, "no access_token in the answer"),
    ({"error": 5, "error_codes": "7000215", "error_description": {"x": 1}, "correlation_id": []}, "no access_token"),
    ({"error_codes": [[1], {"a": 1}, True, 700016]}, "check client_id and tenant_id"),
    (["not", "an", "object"], "not an object"),
])
def test_malformed_token_answers_are_authentication_errors(fake_msal, answer, message):
    fake_msal(answers=[answer])
    with pytest.raises(AuthenticationError, match=message) as caught:
        build_token_provider(APP, ENDPOINTS, None).token()
    assert json.dumps(caught.value.fail_kwargs())  # plain data only


def test_managed_identity_answer_without_token(fake_msal):
    fake_msal(answers=[{"access_token": ""}])
    with pytest.raises(AuthenticationError, match="managed identity: the answer's access_token is empty"):
        build_token_provider(dict(managed_identity=True), ENDPOINTS, None).token()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
                     max_leaves=12)
_ANSWER_KEYS = st.sampled_from(["access_token", "error", "error_description", "error_codes", "correlation_id", "x"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_JSON | st.dictionaries(_ANSWER_KEYS, _JSON, max_size=5))
def test_property_any_token_answer_gives_a_token_or_an_authentication_error(fake_msal, answer):
    fake_msal(answers=[answer])
    try:
        token = build_token_provider(APP, ENDPOINTS, None).token()
    except AuthenticationError as exc:
        assert isinstance(exc.msg, str)
        json.dumps(exc.fail_kwargs())
    else:
        assert isinstance(token, str) and token.strip()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.text(max_size=400), after=st.text(max_size=50),
       encode=st.sampled_from([lambda v: v, quote_plus, lambda v: quote(v, safe=""), lambda v: json.dumps(v)[1:-1]]))
def test_property_an_echoed_secret_never_shows(fake_msal, before, after, encode):
    fake_msal(answers=[{"error": "invalid_client", "error_description": before + encode(HOSTILE_SECRET) + after}])
    with pytest.raises(AuthenticationError) as caught:
        build_token_provider(dict(APP, client_secret=HOSTILE_SECRET), ENDPOINTS, None).token()
    shown = caught.value.msg + json.dumps(caught.value.fail_kwargs())
    assert HOSTILE_SECRET not in shown and quote_plus(HOSTILE_SECRET) not in shown
