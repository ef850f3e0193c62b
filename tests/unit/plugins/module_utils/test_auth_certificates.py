# SPDX-License-Identifier: GPL-3.0-or-later
"""Client certificate files (auth/_certificates.py): PEM and PKCS#12, key kinds, passwords, key and certificate
matching, all checked before any request and named by option or environment variable."""
from __future__ import annotations

import datetime
import hashlib
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.o365.outlook.plugins.module_utils.auth._certificates import certificate_credential
from ansible_collections.o365.outlook.plugins.module_utils.auth._msal_tokens import AppTokenProvider
from ansible_collections.o365.outlook.plugins.module_utils.auth._selection import build_token_provider
from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError
# Shared fakes; clean_environment is an autouse fixture, fake_msal a fixture.
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_auth_tokens import (  # noqa: F401 pylint: disable=unused-import
    ENDPOINTS, clean_environment, fake_msal)


def make_certificate(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return key_pem, cert_pem, hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_pem_with_key_and_certificate(tmp_path):
    key_pem, cert_pem, thumbprint = make_certificate(tmp_path)
    path = tmp_path / "app.pem"
    path.write_bytes(cert_pem + key_pem)  # order does not matter
    credential = certificate_credential(str(path), None)
    assert credential["thumbprint"] == thumbprint
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "passphrase" not in credential


def test_pem_without_key_is_refused(tmp_path):
    cert_pem = make_certificate(tmp_path)[1]
    path = tmp_path / "cert-only.pem"
    path.write_bytes(cert_pem)
    with pytest.raises(ConfigurationError, match="found 0 key"):
        certificate_credential(str(path), None)


def test_pfx_is_left_to_msal(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pw"))
    assert certificate_credential(str(path), "pw") == {"private_key_pfx_path": str(path), "passphrase": "pw"}


def test_missing_certificate_file():
    with pytest.raises(ConfigurationError, match="does not exist"):
        certificate_credential("/nonexistent/app.pem", None)


def test_certificate_used_when_no_secret(fake_msal, tmp_path):
    key_pem, cert_pem = make_certificate(tmp_path)[:2]
    path = tmp_path / "app.pem"
    path.write_bytes(key_pem + cert_pem)
    fake = fake_msal()
    provider = build_token_provider(dict(tenant_id="t", client_id="c", client_certificate_path=str(path)), ENDPOINTS, None)
    assert isinstance(provider, AppTokenProvider)
    provider.token()
    assert "thumbprint" in fake.constructed[0]["client_credential"]


# ------------------------------------------------------------------------------------------ issue 8, defect 9

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_pem(tmp_path, key=None, password=None, cert_key=None, name="app.pem", traditional=False):
    """A PEM file with key (encrypted with password if given) and a certificate for cert_key (default: key)."""
    key = key or _RSA_KEY
    signer = cert_key or key
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(signer.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(signer, algorithm))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, key_format, encryption)
                     + cert.public_bytes(serialization.Encoding.PEM))
    return str(path), cert


def make_pfx(password, key=None):
    key = key or _RSA_KEY
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(8).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"app", key, cert, None, encryption)


def _cert_params(path, password=None):
    params = dict(tenant_id="t", client_id="c", client_certificate_path=path)
    if password is not None:
        params["client_certificate_password"] = password
    return params


def test_regression_password_for_an_unencrypted_pem(tmp_path):
    """issue 8 defect 9: a password for an unencrypted PEM key gave an uncaught TypeError inside msal."""
    path = make_pem(tmp_path)[0]
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(_cert_params(path, "needless-pw"), ENDPOINTS, None)
    assert "client_certificate_password is set, but the private key" in caught.value.msg
    assert "not encrypted: remove client_certificate_password" in caught.value.msg
    assert "needless-pw" not in caught.value.msg


@pytest.mark.parametrize("make_key, kind", [
    (lambda: ec.generate_private_key(ec.SECP256R1()), "EC"),
    (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
])
def test_regression_key_that_is_not_rsa(tmp_path, make_key, kind):
    """issue 8 defect 9: an EC key made msal raise a bare TypeError while signing the assertion."""
    path = make_pem(tmp_path, key=make_key())[0]
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(_cert_params(path), ENDPOINTS, None)
    assert "is an %s key" % kind in caught.value.msg
    assert "need an RSA key" in caught.value.msg


@pytest.mark.parametrize("traditional", [False, True])
def test_encrypted_pem_without_password(tmp_path, traditional):
    path = make_pem(tmp_path, password=b"right-pw", traditional=traditional)[0]
    with pytest.raises(ConfigurationError, match="is encrypted: set client_certificate_password"):
        build_token_provider(_cert_params(path), ENDPOINTS, None)


def test_encrypted_pem_with_a_wrong_password(tmp_path):
    path = make_pem(tmp_path, password=b"right-pw")[0]
    with pytest.raises(ConfigurationError, match="client_certificate_password does not decrypt the private key"):
        build_token_provider(_cert_params(path, "wrong-pw"), ENDPOINTS, None)


def test_encrypted_pem_with_the_right_password(tmp_path, fake_msal):
    fake_msal()
    path, cert = make_pem(tmp_path, password=b"right-pw")
    provider = build_token_provider(_cert_params(path, "right-pw"), ENDPOINTS, None)
    assert provider.credential["passphrase"] == "right-pw"
    assert provider.credential["thumbprint"] == hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_key_that_does_not_match_the_certificate(tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = make_pem(tmp_path, cert_key=other)[0]
    with pytest.raises(ConfigurationError, match="does not belong to its certificate"):
        build_token_provider(_cert_params(path), ENDPOINTS, None)


def test_the_certificate_of_the_key_is_picked_from_a_chain(tmp_path):
    # A file with an unrelated certificate first (a CA, say) and the key's own certificate second.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    own_path, own_cert = make_pem(tmp_path, name="own.pem")
    other_path = make_pem(tmp_path, key=other, name="other.pem")[0]
    with open(other_path, "rb") as handle:
        other_cert_pem = handle.read().split(b"-----END PRIVATE KEY-----\n")[1]
    with open(own_path, "rb") as handle:
        key_pem, own_cert_pem = handle.read().split(b"-----END PRIVATE KEY-----\n")
    path = tmp_path / "chain.pem"
    path.write_bytes(key_pem + b"-----END PRIVATE KEY-----\n" + other_cert_pem + own_cert_pem)
    credential = certificate_credential(str(path), None)
    assert credential["thumbprint"] == hashlib.sha1(own_cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_pfx_with_a_wrong_password(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pfx-pass"))
    with pytest.raises(ConfigurationError, match="client_certificate_password does not open the PKCS#12 file"):
        build_token_provider(_cert_params(str(path), "not-the-password"), ENDPOINTS, None)


def test_pfx_password_for_an_unprotected_file(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(None))
    with pytest.raises(ConfigurationError, match="has no password: remove client_certificate_password"):
        build_token_provider(_cert_params(str(path), "pw"), ENDPOINTS, None)


def test_protected_pfx_without_password(tmp_path):
    path = tmp_path / "app.pfx"
    path.write_bytes(make_pfx(b"pfx-pass"))
    with pytest.raises(ConfigurationError, match="set client_certificate_password if it has one"):
        build_token_provider(_cert_params(str(path)), ENDPOINTS, None)


def test_certificate_problems_name_the_environment_variables(tmp_path, monkeypatch):
    path = make_pem(tmp_path)[0]
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", path)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "stale-pw")
    with pytest.raises(ConfigurationError) as caught:
        build_token_provider(dict(tenant_id="t", client_id="c"), ENDPOINTS, None)
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD is set" in caught.value.msg
    assert "AZURE_CLIENT_CERTIFICATE_PATH %s" % path in caught.value.msg


def test_deep_checks_are_skipped_without_cryptography(tmp_path, monkeypatch):
    path = make_pem(tmp_path, password=b"pw")[0]
    for name in ("cryptography", "cryptography.hazmat.primitives.serialization"):
        monkeypatch.setitem(sys.modules, name, None)
    credential = certificate_credential(path, None)
    assert credential["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
