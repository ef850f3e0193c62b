# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Reading and checking a client certificate file (PEM key + certificate, or PKCS#12) into msal's client_credential.

With cryptography installed the file is opened here, so that every problem with the key, its password or its
certificate is a ConfigurationError that names the option (or the environment variable) before any request.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
from typing import Any, Dict, List, Optional

from ..common._errors import ConfigurationError

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)
_RSA_HINT = "Entra ID client assertions are signed with RS256 or PS256, which need an RSA key (openssl req -x509 -newkey rsa:2048 ...)"


def _import_cryptography() -> Optional[Dict[str, Any]]:
    """cryptography's modules, or None: without it (msal needs it for certificates anyway) the deep checks are skipped."""
    try:
        # pylint: disable=import-outside-toplevel
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:
        return None
    kinds = ((ec.EllipticCurvePrivateKey, "EC"), (ed25519.Ed25519PrivateKey, "Ed25519"), (ed448.Ed448PrivateKey, "Ed448"),
             (dsa.DSAPrivateKey, "DSA"))
    return dict(x509=x509, serialization=serialization, rsa=rsa, pkcs12=pkcs12, UnsupportedAlgorithm=UnsupportedAlgorithm,
                kinds=kinds)


def _key_kind(crypto: Dict[str, Any], key: Any) -> str:
    for cls, kind in crypto["kinds"]:
        if isinstance(key, cls):
            return kind
    return type(key).__name__


def _public_der(crypto: Dict[str, Any], public_key: Any) -> bytes:
    ser = crypto["serialization"]
    return public_key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)


class CertificateNames:
    """How the messages name the path and the password: the option, or the environment variable it came from."""

    def __init__(self, path: str = "client_certificate_path", password: str = "client_certificate_password") -> None:
        self.path = path
        self.password = password


def _check_rsa_and_match(crypto: Dict[str, Any], key: Any, certs: List[Any], where: str, names: CertificateNames) -> bytes:
    """The certificate (DER) that belongs to key, after checking that key is RSA."""
    if not isinstance(key, crypto["rsa"].RSAPrivateKey):
        raise ConfigurationError("The private key in %s %s is an %s key: %s." % (names.path, where, _key_kind(crypto, key), _RSA_HINT))
    wanted = _public_der(crypto, key.public_key())
    for cert in certs:
        if _public_der(crypto, cert.public_key()) == wanted:
            return cert.public_bytes(crypto["serialization"].Encoding.DER)
    raise ConfigurationError(
        "The private key in %s %s does not belong to its certificate (%s): put the key and the certificate of the "
        "same key pair in the file." % (names.path, where, cert_subject(certs[0]) if certs else "none"))


def cert_subject(cert: Any) -> str:
    """The certificate's subject as text, for messages."""
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "unreadable subject"


def _checked_pem(crypto: Dict[str, Any], path: str, key_pem: str, cert_pems: List[str], password: Optional[str],
                 names: CertificateNames) -> bytes:
    """DER of the certificate matching the key, with every key problem turned into a ConfigurationError."""
    ser = crypto["serialization"]
    secret = password.encode("utf-8") if password else None
    try:
        key = ser.load_pem_private_key(key_pem.encode("ascii", "replace"), password=secret)
    except TypeError:
        # cryptography raises TypeError both ways round; which one follows from whether a password was given.
        if secret is None:
            raise ConfigurationError("The private key in %s %s is encrypted: set %s." % (
                names.path, path, names.password)) from None
        raise ConfigurationError("%s is set, but the private key in %s %s is not encrypted: remove %s." % (
            names.password, names.path, path, names.password)) from None
    except ValueError:
        if secret is not None:
            raise ConfigurationError("%s does not decrypt the private key in %s %s: the password is wrong (or the key is "
                                     "damaged)." % (names.password, names.path, path)) from None
        raise ConfigurationError("The private key in %s %s cannot be read: it is damaged or in a format that is not "
                                 "supported (use an RSA key in PEM form)." % (names.path, path)) from None
    except crypto["UnsupportedAlgorithm"]:
        raise ConfigurationError("The private key in %s %s is of a type that cannot be used: %s." % (
            names.path, path, _RSA_HINT)) from None
    certs = []
    for pem in cert_pems:
        try:
            certs.append(crypto["x509"].load_pem_x509_certificate(pem.encode("ascii", "replace")))
        except ValueError:
            raise ConfigurationError("A certificate in %s %s cannot be read: it is damaged." % (names.path, path)) from None
    return _check_rsa_and_match(crypto, key, certs, path, names)


def _checked_pfx(crypto: Dict[str, Any], path: str, raw: bytes, password: Optional[str], names: CertificateNames) -> None:
    """Opens a PKCS#12 file as msal will, so that a wrong or needless password is a clear error now."""
    pkcs12 = crypto["pkcs12"]
    secret = password.encode("utf-8") if password else None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(raw, secret)
    except (ValueError, TypeError):
        unprotected = False
        if secret is not None:
            try:
                pkcs12.load_key_and_certificates(raw, None)
                unprotected = True
            except (ValueError, TypeError):
                pass
        if unprotected:
            raise ConfigurationError("%s is set, but the PKCS#12 file %s %s has no password: remove %s." % (
                names.password, names.path, path, names.password)) from None
        if secret is not None:
            raise ConfigurationError("%s does not open the PKCS#12 file %s %s: the password is wrong, or the file is not "
                                     "PKCS#12." % (names.password, names.path, path)) from None
        raise ConfigurationError("%s %s is neither PEM nor a PKCS#12 file that opens without a password: set %s if it has "
                                 "one." % (names.path, path, names.password)) from None
    if key is None or cert is None:
        raise ConfigurationError("The PKCS#12 file %s %s must hold the private key and its certificate (found %s)." % (
            names.path, path, "a certificate only" if key is None else "a key only"))
    _check_rsa_and_match(crypto, key, [cert] + list(extra or []), path, names)


def certificate_credential(path: str, password: Optional[str], names: Optional[CertificateNames] = None) -> Dict[str, str]:
    """msal's client_credential for a PEM (key + certificate) or PKCS#12 file.

    With cryptography installed the file is opened here, so that a missing, wrong or needless password, a key that
    is not RSA, or a key that does not belong to the certificate is a ConfigurationError before any request
    (msal would raise a bare TypeError for some of them).
    """
    names = names or CertificateNames()
    if not os.path.isfile(path):
        raise ConfigurationError("%s %s does not exist or is not a file." % (names.path, path))
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigurationError("Cannot read %s %s: %s" % (names.path, path, exc.strerror)) from None
    crypto = _import_cryptography()
    if b"-----BEGIN" not in raw:
        # PKCS#12: msal parses it and computes the thumbprint itself.
        if crypto is not None:
            _checked_pfx(crypto, path, raw, password, names)
        credential = {"private_key_pfx_path": path}
        if password:
            credential["passphrase"] = password
        return credential

    text = raw.decode("ascii", "replace")
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(text)]
    keys = [b for b in blocks if "PRIVATE KEY-----" in b.splitlines()[0]]
    certs = [b for b in blocks if b.startswith("-----BEGIN CERTIFICATE-----")]
    if not keys or not certs:
        raise ConfigurationError(
            "%s %s must hold both the private key and the certificate in PEM form "
            "(found %d key(s), %d certificate(s)); or give a .pfx file." % (names.path, path, len(keys), len(certs)))
    if crypto is not None:
        der = _checked_pem(crypto, path, keys[0], certs, password, names)
        cert_pem = ssl.DER_cert_to_PEM_cert(der)
    else:
        cert_pem = certs[0]
        der = ssl.PEM_cert_to_DER_cert(cert_pem)
    credential = {
        "private_key": keys[0],
        "public_certificate": cert_pem,
        # Entra matches the assertion's x5t against the registered certificate's SHA-1 thumbprint.
        "thumbprint": hashlib.sha1(der).hexdigest().upper(),  # nosec - a certificate fingerprint, not a security hash
    }
    if password:
        credential["passphrase"] = password
    return credential
