# SPDX-License-Identifier: GPL-3.0-or-later
"""azure-identity, unmodified, against the emulator: ClientSecretCredential, CertificateCredential and
ManagedIdentityCredential (system-assigned, and user-assigned by client_id or identity_config).

What azure-identity needs (tests/emulator/README.md, "Microsoft's own clients"): authority=<authority_host> (or
AZURE_AUTHORITY_HOST), disable_instance_discovery=True, and connection_verify=<ca_path> (azure-core hands it to
requests on every call, so it wins over REQUESTS_CA_BUNDLE). Managed identity reads the same environment variables as
msal: IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service) or AZURE_POD_IDENTITY_AUTHORITY_HOST (IMDS)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential, CredentialUnavailableError, ManagedIdentityCredential

from clients_support import (
    GRAPH, GRAPH_SCOPE, RW_CLIENT, RW_SECRET, SYSTEM_IDENTITY, TENANT_DOMAIN, TENANT_ID, USER_IDENTITY, USER_IDENTITY_OBJECT_ID,
)

CERT_CLIENT = "88888888-8888-4888-8888-888888888888"


def _entra_kwargs(emu):
    return {"authority": emu.authority_host, "disable_instance_discovery": True, "connection_verify": emu.ca_path}


def _token_posts(emu):
    return [(e["client_id"], e["credential"], e["status"]) for e in emu.log() if e["api"] == "entra" and e["method"] == "POST"]


@pytest.mark.parametrize("tenant", [TENANT_ID, TENANT_DOMAIN])
def test_client_secret_credential_gets_a_graph_token(emu, tenant):
    credential = ClientSecretCredential(tenant, RW_CLIENT, RW_SECRET, **_entra_kwargs(emu))
    token = credential.get_token(GRAPH_SCOPE)
    record = emu.token_record(token.token)
    assert (record.kind, record.client_id, record.resource) == ("app", RW_CLIENT, GRAPH)
    assert record.roles == {"profilephoto.readwrite.all"}
    assert abs(token.expires_on - record.expires_at) < 5
    assert _token_posts(emu) == [(RW_CLIENT, "secret", 200)]
    emu.assert_token_works_on_graph(token.token)
    assert credential.get_token(GRAPH_SCOPE).token == token.token  # from its cache
    assert len(_token_posts(emu)) == 1


def test_authority_host_from_the_environment(emu, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", emu.authority_host)
    credential = ClientSecretCredential(TENANT_ID, RW_CLIENT, RW_SECRET, disable_instance_discovery=True,
                                        connection_verify=emu.ca_path)
    emu.assert_token_works_on_graph(credential.get_token(GRAPH_SCOPE).token)


def test_wrong_secret_raises_with_aadsts7000215(emu):
    credential = ClientSecretCredential(TENANT_ID, RW_CLIENT, "not-the-secret", **_entra_kwargs(emu))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(GRAPH_SCOPE)
    assert _token_posts(emu) == [(RW_CLIENT, "secret", 401)]


def test_another_cloud_graph_raises_with_aadsts500011(emu):
    credential = ClientSecretCredential(TENANT_ID, RW_CLIENT, RW_SECRET, **_entra_kwargs(emu))
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011"):
        credential.get_token("https://graph.microsoft.us/.default")


@pytest.mark.parametrize("source", ["certificate_data", "certificate_path"])
def test_certificate_credential_gets_a_graph_token(emu, client_certificate, tmp_path, source):
    emu.register_client(CERT_CLIENT, certificate_pem=client_certificate.cert_pem, roles=["ProfilePhoto.ReadWrite.All"])
    pem = (client_certificate.key_pem + client_certificate.cert_pem).encode("ascii")
    if source == "certificate_data":
        credential = CertificateCredential(TENANT_ID, CERT_CLIENT, certificate_data=pem, **_entra_kwargs(emu))
    else:
        path = tmp_path / "client.pem"
        path.write_bytes(pem)
        credential = CertificateCredential(TENANT_ID, CERT_CLIENT, certificate_path=str(path), **_entra_kwargs(emu))
    token = credential.get_token(GRAPH_SCOPE)
    record = emu.token_record(token.token)
    assert (record.client_id, record.resource, record.roles) == (CERT_CLIENT, GRAPH, {"profilephoto.readwrite.all"})
    assert _token_posts(emu) == [(CERT_CLIENT, "certificate", 200)]
    emu.assert_token_works_on_graph(token.token)


def test_certificate_the_app_does_not_have_raises_with_aadsts700027(emu, client_certificate, other_certificate):
    emu.register_client(CERT_CLIENT, certificate_pem=client_certificate.cert_pem)
    pem = (other_certificate.key_pem + other_certificate.cert_pem).encode("ascii")
    credential = CertificateCredential(TENANT_ID, CERT_CLIENT, certificate_data=pem, **_entra_kwargs(emu))
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        credential.get_token(GRAPH_SCOPE)
    assert _token_posts(emu) == [(CERT_CLIENT, "certificate", 401)]


# ----------------------------------------------------------------------------------------------- managed identity

def _app_service(emu, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.info["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", emu.info["identity_header"])
    return "/msi/token"


def _imds(emu, monkeypatch):
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.info["imds_host"])
    return "/metadata/identity/oauth2/token"


IDENTITIES = [
    pytest.param({}, SYSTEM_IDENTITY, id="system"),
    pytest.param({"client_id": USER_IDENTITY}, USER_IDENTITY, id="user-client_id"),
    pytest.param({"identity_config": {"object_id": USER_IDENTITY_OBJECT_ID}}, USER_IDENTITY, id="user-object_id"),
]


@pytest.mark.parametrize("flavour", [_app_service, _imds], ids=["app_service", "imds"])
@pytest.mark.parametrize("selection, expected_client", IDENTITIES)
def test_managed_identity_credential_gets_a_graph_token(emu, monkeypatch, flavour, selection, expected_client):
    path = flavour(emu, monkeypatch)
    credential = ManagedIdentityCredential(connection_verify=emu.ca_path, **selection)
    token = credential.get_token(GRAPH_SCOPE)
    record = emu.token_record(token.token)
    assert (record.client_id, record.resource, record.roles) == (expected_client, GRAPH, {"profilephoto.readwrite.all"})
    assert [(e["api"], e["path"], e["client_id"], e["status"]) for e in emu.log()] == [
        ("managed_identity", path, expected_client, 200)]
    emu.assert_token_works_on_graph(token.token)


def test_unknown_user_assigned_identity_is_unavailable(emu, monkeypatch):
    _app_service(emu, monkeypatch)
    credential = ManagedIdentityCredential(client_id="77777777-7777-4777-8777-777777777777", connection_verify=emu.ca_path)
    with pytest.raises(CredentialUnavailableError, match="400, Unable to load the proper Managed Identity"):
        credential.get_token(GRAPH_SCOPE)
    assert [(e["api"], e["status"]) for e in emu.log()] == [("managed_identity", 400)]
