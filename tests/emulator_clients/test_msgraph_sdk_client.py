# SPDX-License-Identifier: GPL-3.0-or-later
"""msgraph-sdk (Microsoft Graph's Python SDK), unmodified, against the emulator: photo metadata, content, upload,
delete, and the no-photo 404 as the SDK's ODataError.

What the SDK needs (tests/emulator/README.md, "Microsoft's own clients"): an httpx.AsyncClient with
base_url=<graph_url> and verify=<an ssl context with the CA>, given to GraphClientFactory and GraphRequestAdapter as
the SDK documents for a custom client; the authentication provider with scopes=["https://graph.microsoft.com/.default"]
(without them the SDK asks for "https://<host of the URL>/.default"); an azure-identity credential set up as in
test_azure_identity_client.py."""

from __future__ import annotations

import asyncio
import io
import ssl

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.profile_photo import ProfilePhoto
from msgraph_core import GraphClientFactory
from PIL import Image

from clients_support import ADELE, ALEX, ALEX_ID, GRAPH_SCOPE, RO_CLIENT, RO_SECRET, RW_CLIENT, RW_SECRET, TENANT_ID, jpeg, png, sha256

# The SDK's generated request builders warn about their own deprecated classes on every call.
pytestmark = [pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning")]


def _credential(emu, client_id=RW_CLIENT, secret=RW_SECRET, credential_class=ClientSecretCredential):
    return credential_class(TENANT_ID, client_id, secret, authority=emu.authority_host, disable_instance_discovery=True,
                            connection_verify=emu.ca_path)


def _run(emu, work, make_credential=None, scopes=(GRAPH_SCOPE,)):
    """Run `await work(graph)` with a GraphServiceClient pointed at the emulator, in a loop of its own (the credential
    is made inside it: an azure.identity.aio credential belongs to one loop)."""
    async def main():
        credential = make_credential() if make_credential else _credential(emu)
        verify = ssl.create_default_context(cafile=emu.ca_path)
        http_client = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(base_url=emu.info["graph_url"], verify=verify, timeout=30))
        auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes))
        graph = GraphServiceClient(request_adapter=GraphRequestAdapter(auth, client=http_client))
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
