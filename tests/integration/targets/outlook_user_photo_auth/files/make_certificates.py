# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes app registration certificates for the integration tests into the folder given as argument:
app.pem (key + certificate), app.pfx (password "pfx-pass"), app-cert.pem (certificate only, to register),
other.pem (an unrelated key + certificate)."""

from __future__ import annotations

import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def make(common_name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    return key, cert


def pem(key, cert):
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    key, cert = make("o365-outlook-integration")
    write(os.path.join(folder, "app.pem"), pem(key, cert))
    write(os.path.join(folder, "app-cert.pem"), cert.public_bytes(serialization.Encoding.PEM))
    write(os.path.join(folder, "app.pfx"), pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None, serialization.BestAvailableEncryption(b"pfx-pass")))
    other_key, other_cert = make("someone-else")
    write(os.path.join(folder, "other.pem"), pem(other_key, other_cert))


if __name__ == "__main__":
    main(sys.argv[1])
