# SPDX-License-Identifier: GPL-3.0-or-later
"""msgraph-sdk (Microsoft Graph's Python SDK), unmodified, against the emulator: photo metadata, content, upload,
delete, and the no-photo 404 as the SDK's ODataError; group and Team photos; and, with msgraph-beta-sdk (module
msgraph_beta: same adapter set-up, base URL <origin>/beta), the tenant's photo policy (beta photoUpdateSettings).

What the SDK needs (tests/emulator/README.md, "Microsoft's own clients"): an httpx.AsyncClient with
base_url=<graph_url> and verify=<an ssl context with the CA>, given to GraphClientFactory and GraphRequestAdapter as
the SDK documents for a custom client; the authentication provider with scopes=["https://graph.microsoft.com/.default"]
(without them the SDK asks for "https://<host of the URL>/.default"); an azure-identity credential set up as in
test_azure_identity_client.py."""

from __future__ import annotations

import asyncio
import io
import json
import re
import ssl

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.profile_photo import ProfilePhoto
from msgraph_beta import GraphRequestAdapter as BetaGraphRequestAdapter
from msgraph_beta import GraphServiceClient as BetaGraphServiceClient
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError as BetaODataError
from msgraph_beta.generated.models.photo_update_settings import PhotoUpdateSettings
from msgraph_core import GraphClientFactory
from PIL import Image

from clients_support import (
    ADELE, ALEX, ALEX_ID, GRAPH_SCOPE, MARKETING_ID, RO_CLIENT, RO_SECRET, RW_CLIENT, RW_SECRET, SALES_ID, TENANT_ID, jpeg, png, sha256,
)

# The SDK's generated request builders warn about their own deprecated classes on every call.
pytestmark = [pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning")]


def _credential(emu, client_id=RW_CLIENT, secret=RW_SECRET, credential_class=ClientSecretCredential):
    return credential_class(TENANT_ID, client_id, secret, authority=emu.authority_host, disable_instance_discovery=True,
                            connection_verify=emu.ca_path)


def _run(emu, work, make_credential=None, scopes=(GRAPH_SCOPE,), sdk=(GraphServiceClient, GraphRequestAdapter), base_url=None):
    """Run `await work(graph)` with a GraphServiceClient pointed at the emulator, in a loop of its own (the credential
    is made inside it: an azure.identity.aio credential belongs to one loop). `sdk` and `base_url`: another SDK's
    client and adapter classes and its base URL (the beta SDK's: **_beta(emu))."""
    async def main():
        credential = make_credential() if make_credential else _credential(emu)
        verify = ssl.create_default_context(cafile=emu.ca_path)
        http_client = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(base_url=base_url or emu.info["graph_url"], verify=verify, timeout=30))
        auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes))
        service_client_class, adapter_class = sdk
        graph = service_client_class(request_adapter=adapter_class(auth, client=http_client))
        try:
            return await work(graph)
        finally:
            await http_client.aclose()
            if isinstance(credential, AsyncClientSecretCredential):
                await credential.close()
    return asyncio.run(main())


def _graph_calls(emu, since=0):
    return [e for e in emu.log(since) if e["api"] == "graph"]


@pytest.mark.parametrize("credential_class", [ClientSecretCredential, AsyncClientSecretCredential], ids=["sync", "aio"])
def test_photo_metadata(emu, credential_class):
    photo = _run(emu, lambda graph: graph.users.by_user_id(ALEX).photo.get(),
                 make_credential=lambda: _credential(emu, credential_class=credential_class))
    assert isinstance(photo, ProfilePhoto)
    assert (photo.id, photo.width, photo.height) == ("240x240", 240, 240)
    assert photo.additional_data["@odata.mediaContentType"] == "image/jpeg"
    assert photo.additional_data["@odata.mediaEtag"] == emu.user(ALEX)["photo"]["etag"]
    calls = _graph_calls(emu)
    assert [(c["method"], c["user"], c["client_id"], c["status"]) for c in calls] == [("GET", ALEX_ID, RW_CLIENT, 200)]
    assert calls[0]["path"].endswith("/users/alex.wilber%40contoso.onmicrosoft.com/photo")


def test_photo_content(emu):
    data = _run(emu, lambda graph: graph.users.by_user_id(ALEX).photo.content.get())
    assert sha256(data) == emu.user(ALEX)["photo"]["sha256"]
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", (240, 240))


def test_upload_sends_octet_stream_and_changes_the_photo(emu):
    emu.behave(propagation_delay_s=0)  # the reads below come straight after the write
    new = jpeg((120, 90))
    before = emu.user(ALEX)["photo"]["sha256"]

    async def work(graph):
        await graph.users.by_user_id(ALEX).photo.content.put(new)
        return await graph.users.by_user_id(ALEX).photo.get(), await graph.users.by_user_id(ALEX).photo.content.get()
    photo, data = _run(emu, work)

    puts = [c for c in _graph_calls(emu) if c["method"] == "PUT"]
    assert [(c["content_type"], c["body_sha256"], c["user"], c["client_id"], c["status"]) for c in puts] == [
        ("application/octet-stream", sha256(new), ALEX_ID, RW_CLIENT, 200)]
    assert puts[0]["path"].endswith("/users/alex.wilber%40contoso.onmicrosoft.com/photo/$value")
    view = emu.user(ALEX)["photo"]  # the true state; the bytes are the upload's, or its re-encode with `reencode` on
    assert view["sha256"] != before
    assert (view["content_type"], view["width"], view["height"]) == ("image/jpeg", 120, 90)
    assert (photo.id, photo.width, photo.height) == ("120x90", 120, 90)
    assert sha256(data) == view["sha256"]
    assert Image.open(io.BytesIO(data)).size == (120, 90)


def test_png_upload_is_refused_as_odata_error(emu):
    before = emu.user(ALEX)["photo"]["sha256"]
    with pytest.raises(ODataError) as caught:
        _run(emu, lambda graph: graph.users.by_user_id(ALEX).photo.content.put(png()))
    assert caught.value.response_status_code == 400
    assert caught.value.error.code == "BadRequest"
    assert emu.user(ALEX)["photo"]["sha256"] == before


def test_read_only_app_cannot_upload(emu):
    before = emu.user(ALEX)["photo"]["sha256"]
    with pytest.raises(ODataError) as caught:
        _run(emu, lambda graph: graph.users.by_user_id(ALEX).photo.content.put(jpeg()),
             make_credential=lambda: _credential(emu, RO_CLIENT, RO_SECRET))
    assert (caught.value.response_status_code, caught.value.error.code) == (403, "ErrorAccessDenied")
    assert caught.value.error.message == "Access is denied. Check credentials and try again."
    assert emu.user(ALEX)["photo"]["sha256"] == before


def test_delete_removes_the_photo(emu):
    emu.behave(propagation_delay_s=0)  # the read below comes straight after the delete

    async def work(graph):
        await graph.users.by_user_id(ALEX).photo.content.delete()
        try:
            await graph.users.by_user_id(ALEX).photo.get()
        except ODataError as error:
            return error
        return None
    error = _run(emu, work)
    assert emu.user(ALEX)["has_photo"] is False
    assert [(c["method"], c["status"]) for c in _graph_calls(emu)] == [("DELETE", 200), ("GET", 404)]
    assert error is not None and (error.response_status_code, error.error.code) == (404, "ImageNotFound")


@pytest.mark.parametrize("code, message", [
    ("ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."),
    ("ErrorItemNotFound", "The photo wasn't found."),
])
def test_no_photo_is_a_404_odata_error(emu, code, message):
    emu.behave(no_photo_code=code)

    async def work(graph):
        errors = []
        for call in (graph.users.by_user_id(ADELE).photo.get, graph.users.by_user_id(ADELE).photo.content.get):
            try:
                await call()
            except ODataError as error:
                errors.append(error)
        return errors
    errors = _run(emu, work)
    assert [(e.response_status_code, e.error.code, e.error.message) for e in errors] == [(404, code, message)] * 2
    assert all(e.error.inner_error.request_id for e in errors)


def test_without_scopes_the_sdk_asks_for_the_hosts_resource(emu):
    """The SDK's default scope is "<scheme>://<host of the request>/.default": the emulator, as Entra would, knows no
    such resource (AADSTS500011). Pass scopes=["https://graph.microsoft.com/.default"]."""
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011: The resource principal named https://127.0.0.1 "):
        _run(emu, lambda graph: graph.users.by_user_id(ALEX).photo.get(), scopes=())
    assert _graph_calls(emu) == []


# ----------------------------------------------------------------------------------------------- groups and Teams

GROUP_APP = "9c000000-0000-4000-8000-0000000000a1"
GROUP_SECRET = "Gq7-vR2x-grp-Wn4k"


def _group_app(emu, *roles):
    """Register GROUP_APP with these roles (consented in the default tenant) and answer its credential factory."""
    emu.register_app({"client_id": GROUP_APP, "secret": GROUP_SECRET, "roles": list(roles)})
    return lambda: _credential(emu, GROUP_APP, GROUP_SECRET)


def _path(call):
    """A logged call's path with the SDK's doubled slash after the version (`/v1.0//groups/...`) made single."""
    return re.sub("/+", "/", call["path"])


async def _error_of(call):
    """The ODataError `await call()` raises (a test fails if it raises none)."""
    try:
        result = await call()
    except (ODataError, BetaODataError) as error:
        return error
    raise AssertionError("no error, but %r" % (result,))


@pytest.mark.parametrize("role", ["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"])
def test_group_photo_set_read_and_remove(emu, role):
    """The Microsoft 365 group Marketing has no photo: the SDK uploads one, reads its metadata and bytes, removes it."""
    emu.behave(propagation_delay_s=0)  # each read comes straight after a write
    assert emu.group(MARKETING_ID)["has_photo"] is False
    new = jpeg((96, 96), color=(10, 160, 90))
    oracle = {}

    async def work(graph):
        photo = graph.groups.by_group_id(MARKETING_ID).photo
        await photo.content.put(new)
        oracle["after_put"] = emu.group(MARKETING_ID)["photo"]
        metadata, data = await photo.get(), await photo.content.get()
        await photo.content.delete()
        return metadata, data, await _error_of(photo.get)
    metadata, data, error = _run(emu, work, make_credential=_group_app(emu, role))

    stored = oracle["after_put"]
    assert (stored["content_type"], stored["width"], stored["height"], stored["uploaded_sha256"]) == ("image/jpeg", 96, 96, sha256(new))
    assert isinstance(metadata, ProfilePhoto)
    assert (metadata.id, metadata.width, metadata.height) == ("96x96", 96, 96)
    assert metadata.additional_data["@odata.mediaEtag"] == stored["etag"]
    assert sha256(data) == stored["sha256"] and Image.open(io.BytesIO(data)).size == (96, 96)
    assert (error.response_status_code, error.error.code) == (404, "ImageNotFound")
    assert emu.group(MARKETING_ID)["has_photo"] is False

    calls = _graph_calls(emu)
    assert [(c["method"], c["group"], c["client_id"], c["tenant"], c["status"]) for c in calls] == [
        (method, MARKETING_ID, GROUP_APP, TENANT_ID, status)
        for method, status in [("PUT", 200), ("GET", 200), ("GET", 200), ("DELETE", 200), ("GET", 404)]]
    assert [_path(c).split("/groups/")[1] for c in calls] == [
        MARKETING_ID + "/photo/$value", MARKETING_ID + "/photo", MARKETING_ID + "/photo/$value", MARKETING_ID + "/photo/$value",
        MARKETING_ID + "/photo"]
    assert calls[0]["content_type"] == "application/octet-stream" and calls[0]["body_sha256"] == sha256(new)


def test_group_read_permission_reads_but_cannot_write_a_group_photo(emu):
    sales = emu.group(SALES_ID)["photo"]

    async def work(graph):
        data = await graph.groups.by_group_id(SALES_ID).photo.content.get()
        return data, await _error_of(lambda: graph.groups.by_group_id(MARKETING_ID).photo.content.put(jpeg()))
    data, error = _run(emu, work, make_credential=_group_app(emu, "Group.Read.All"))
    assert sha256(data) == sales["sha256"]
    assert (error.response_status_code, error.error.code) == (403, "ErrorAccessDenied")
    assert emu.group(MARKETING_ID)["has_photo"] is False


def test_app_only_group_write_refused_when_the_switch_says_so(emu):
    """group_app_only_writes refuse: Graph's answer to app-only group writes before July 2024."""
    emu.behave(group_app_only_writes="refuse")
    error = _run(emu, lambda graph: _error_of(lambda: graph.groups.by_group_id(MARKETING_ID).photo.content.put(jpeg())),
                 make_credential=_group_app(emu, "Group.ReadWrite.All"))
    assert (error.response_status_code, error.error.code) == (403, "AppOnlyTokenNotSupportedForGroupUpdate")
    assert emu.group(MARKETING_ID)["has_photo"] is False


def test_team_photo_through_the_teams_request_builders(emu):
    """A Team's photo is its group's: Sales reads the same through /teams and /groups; Marketing is no Team (404); the
    SDK offers DELETE on a Team photo, which Graph refuses (405)."""
    emu.behave(propagation_delay_s=0)
    new = jpeg((64, 48))

    async def work(graph):
        team = graph.teams.by_team_id(SALES_ID).photo
        metadata, data = await team.get(), await team.content.get()
        group_data = await graph.groups.by_group_id(SALES_ID).photo.content.get()
        not_a_team = await _error_of(graph.teams.by_team_id(MARKETING_ID).photo.get)
        await team.content.put(new)
        return metadata, data, group_data, not_a_team, await team.get(), await _error_of(team.content.delete)
    metadata, data, group_data, not_a_team, after, refused = _run(
        emu, work, make_credential=_group_app(emu, "TeamSettings.ReadWrite.All", "Group.Read.All"))

    assert (metadata.id, metadata.width, metadata.height) == ("240x240", 240, 240)
    assert data == group_data
    assert (not_a_team.response_status_code, not_a_team.error.code) == (404, "NotFound")
    assert not_a_team.error.message == "No team found with Group Id %s" % MARKETING_ID
    assert (after.id, after.width, after.height) == ("64x48", 64, 48)
    assert emu.group(SALES_ID)["photo"]["uploaded_sha256"] == sha256(new)
    assert refused.response_status_code == 405
    assert refused.error.message == "Specified HTTP method is not allowed for the request target."
    assert emu.group(SALES_ID)["has_photo"] is True
    assert [(c["method"], _path(c).split("/v1.0")[1], c["status"]) for c in _graph_calls(emu)] == [
        ("GET", "/teams/%s/photo" % SALES_ID, 200), ("GET", "/teams/%s/photo/$value" % SALES_ID, 200),
        ("GET", "/groups/%s/photo/$value" % SALES_ID, 200), ("GET", "/teams/%s/photo" % MARKETING_ID, 404),
        ("PUT", "/teams/%s/photo/$value" % SALES_ID, 200), ("GET", "/teams/%s/photo" % SALES_ID, 200),
        ("DELETE", "/teams/%s/photo/$value" % SALES_ID, 405)]


# ----------------------------------------------------------------------------------------------- the photo policy (beta)

def _beta(emu):
    """The beta SDK (msgraph-beta-sdk, module msgraph_beta): its client and adapter, and the emulator's /beta base URL."""
    return {"sdk": (BetaGraphServiceClient, BetaGraphRequestAdapter), "base_url": emu.info["graph_url"][:-len("/v1.0")] + "/beta"}


def _source(settings):
    """photoUpdateSettings.source: msgraph-beta-sdk 1.66's model has no such property, so it lands in additional_data."""
    source = getattr(settings, "source", None)
    return getattr(source, "value", source) if source is not None else settings.additional_data.get("source")


GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"  # role template ids
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"


@pytest.mark.parametrize("role", ["PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"])
def test_beta_sdk_reads_the_photo_policy(emu, role):
    emu.photo_policy(source="onPremises", allowedRoles=[GLOBAL_ADMIN, USER_ADMIN])
    settings = _run(emu, lambda graph: graph.admin.people.photo_update_settings.get(), make_credential=_group_app(emu, role), **_beta(emu))
    assert isinstance(settings, PhotoUpdateSettings)
    assert settings.allowed_roles == [GLOBAL_ADMIN, USER_ADMIN]
    assert _source(settings) == "onPremises"
    assert [(c["method"], _path(c), c["client_id"], c["tenant"], c["status"]) for c in _graph_calls(emu)] == [
        ("GET", "/beta/admin/people/photoUpdateSettings", GROUP_APP, TENANT_ID, 200)]


def test_beta_sdk_policy_read_needs_people_settings(emu):
    error = _run(emu, lambda graph: _error_of(graph.admin.people.photo_update_settings.get),
                 make_credential=_group_app(emu, "ProfilePhoto.ReadWrite.All", "Group.ReadWrite.All"), **_beta(emu))
    assert isinstance(error, BetaODataError) and error.response_status_code == 403
    assert [(c["method"], c["status"]) for c in _graph_calls(emu)] == [("GET", 403)]


def test_v1_sdk_reaches_the_beta_policy_with_a_raw_request_information(emu):
    """Without msgraph-beta-sdk: the v1.0 SDK's request adapter sends a RequestInformation whose URL is the beta one.
    The same path under v1.0 answers 400: photoUpdateSettings is a beta API."""
    emu.photo_policy(allowedRoles=[USER_ADMIN])
    tail = "/admin/people/photoUpdateSettings"

    async def work(graph):
        def send(url):
            info = RequestInformation(Method.GET)
            info.url = url
            info.headers.try_add("Accept", "application/json")
            return graph.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
        body = await send(_beta(emu)["base_url"] + tail)
        return body, await _error_of(lambda: send(emu.info["graph_url"] + tail))
    body, error = _run(emu, work, make_credential=_group_app(emu, "PeopleSettings.Read.All"))
    settings = json.loads(body)
    assert (settings["source"], settings["allowedRoles"]) == ("cloud", [USER_ADMIN])
    assert settings["@odata.context"].endswith("/beta/$metadata#admin/people/photoUpdateSettings/$entity")
    assert error.response_status_code == 400
    assert [(_path(c), c["status"]) for c in _graph_calls(emu)] == [("/beta" + tail, 200), ("/v1.0" + tail, 400)]


def test_beta_sdk_patches_the_policy_and_user_photo_writes_are_refused(emu):
    """PATCH source onPremises through the beta SDK (additional_data: its model lacks `source`); then the v1.0 SDK's
    user photo upload gets the bare 403 that does not name the policy, and group photos stay writable (the default
    photo_policy_scope users). A Read.All app cannot PATCH."""
    emu.behave(propagation_delay_s=0)
    before = emu.user(ALEX)["photo"]["sha256"]
    refused = _run(emu, lambda graph: _error_of(lambda: graph.admin.people.photo_update_settings.patch(
        PhotoUpdateSettings(additional_data={"source": "onPremises"}))),
        make_credential=_group_app(emu, "PeopleSettings.Read.All"), **_beta(emu))
    assert refused.response_status_code == 403 and emu.photo_policy()["source"] == "cloud"

    patched = _run(emu, lambda graph: graph.admin.people.photo_update_settings.patch(
        PhotoUpdateSettings(additional_data={"source": "onPremises"}, allowed_roles=[GLOBAL_ADMIN])),
        make_credential=_group_app(emu, "PeopleSettings.ReadWrite.All"), **_beta(emu))
    assert (_source(patched), patched.allowed_roles) == ("onPremises", [GLOBAL_ADMIN])
    assert emu.photo_policy() == {"source": "onPremises", "allowedRoles": [GLOBAL_ADMIN]}

    async def writes(graph):
        user_error = await _error_of(lambda: graph.users.by_user_id(ALEX).photo.content.put(jpeg()))
        await graph.groups.by_group_id(MARKETING_ID).photo.content.put(jpeg())
        return user_error
    error = _run(emu, writes, make_credential=_group_app(emu, "ProfilePhoto.ReadWrite.All"))
    assert (error.response_status_code, error.error.code) == (403, "ErrorAccessDenied")
    assert error.error.message == "Access is denied. Check credentials and try again."
    assert emu.user(ALEX)["photo"]["sha256"] == before
    assert emu.group(MARKETING_ID)["has_photo"] is True
    assert [(c["method"], c["fault"], c["status"]) for c in _graph_calls(emu)][-2:] == [("PUT", "photo_policy", 403), ("PUT", None, 200)]
