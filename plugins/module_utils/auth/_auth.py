# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Token providers: a pre-issued token, an app registration (secret or certificate), or a managed identity.

Which method is used (auth_method, see select_credentials): an explicit auth_method uses only that method; with
auth_method=auto the credentials given in the task decide, and the environment is read only when the task gives
none. The credential options have no argspec fallback on purpose: a stale variable in the environment must never
beat what a task says.

msal (and cryptography) are imported only when needed: a task that brings its own access_token never pays for it.
Every token and every secret read from the environment is registered with the run's Redactor, and every error text
is redacted before it is cut short.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import threading
import traceback

from ..common._errors import AuthenticationError, ConfigurationError, MissingLibraryError
from ..common._redact import Redactor

AUTH_METHODS = ("auto", "access_token", "client_secret", "client_certificate", "managed_identity")
# With auth_method=auto, the first method with a credential wins (the documented order).
AUTO_ORDER = ("access_token", "managed_identity", "client_secret", "client_certificate")

# The environment variables of each method, as (option, variable). managed_identity has none: msal finds the
# identity endpoint itself, and IDENTITY_ENDPOINT & co. do not say that a task wants it.
ENV_VARIABLES = {
    "access_token": (("access_token", "O365_ACCESS_TOKEN"),),
    "client_secret": (("client_secret", "AZURE_CLIENT_SECRET"),),
    "client_certificate": (("client_certificate_path", "AZURE_CLIENT_CERTIFICATE_PATH"),
                           ("client_certificate_password", "AZURE_CLIENT_CERTIFICATE_PASSWORD")),
    "managed_identity": (),
}
# The option that, when set, means "this method" (the others only qualify it).
_MAIN_OPTION = {
    "access_token": "access_token",
    "managed_identity": "managed_identity",
    "client_secret": "client_secret",
    "client_certificate": "client_certificate_path",
}
SECRET_OPTIONS = ("access_token", "client_secret", "client_certificate_password")

# Hints for the Entra ID errors people actually hit, keyed by AADSTS code.
_AADSTS_HINTS = {
    7000215: "check client_secret (or AZURE_CLIENT_SECRET); secrets expire, and the value is needed, not the secret ID",
    7000222: "the client secret has expired: create a new one in the app registration",
    700016: "check client_id and tenant_id: the application was not found in that tenant",
    90002: "check tenant_id: the tenant was not found (or it is in another cloud: see the cloud option)",
    700027: "the certificate is not registered on the app registration, or the key does not match it",
    1002012: "the requested scope is not valid for this application",
    7000112: "the application is disabled",
}

# Longest piece of a service's text an error message shows (after redaction).
_TEXT_LIMIT = 300


def _import_msal():
    try:
        import msal  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingLibraryError("msal is needed to request a token from Entra ID (or pass access_token)",
                                  "msal", traceback.format_exc()) from None
    return msal


def _given(value):
    """A credential counts as given when it is set and not an empty string (the role passes omit for empty)."""
    return value is not None and value != "" and value is not False


def _first_line(text):
    text = text.strip() if isinstance(text, str) else ""
    return text.splitlines()[0] if text else ""


def _token_failure(what, result, redactor):
    """An AuthenticationError from an msal error dict: AADSTS code and first line of the description, never a secret.

    The answer comes from the network, so nothing in it is trusted: wrong types are ignored, and every text is
    redacted before it is cut (a token endpoint may echo the form, client_secret=<URL-encoded secret> included).
    """
    if not isinstance(result, dict):
        return AuthenticationError(redactor.redact("%s: the token endpoint answered with a JSON %s, not an object" % (
            what, type(result).__name__)))
    description = result.get("error_description")
    description = description if isinstance(description, str) else ""
    # Redact the whole description before taking a line of it and cutting it short.
    first_line = redactor.shorten(_first_line(redactor.redact(description)), _TEXT_LIMIT)
    error = result.get("error") if isinstance(result.get("error"), str) else None
    error = redactor.shorten(error, 100) if error else None
    raw_codes = result.get("error_codes")
    codes = [c for c in raw_codes if isinstance(c, int) and not isinstance(c, bool)] if isinstance(raw_codes, list) else []
    if not codes:
        found = re.match(r"AADSTS(\d+)", first_line)
        codes = [int(found.group(1))] if found else []
    msg = "%s: %s" % (what, first_line or error or "no access_token in the answer")
    hints = [_AADSTS_HINTS[c] for c in codes if c in _AADSTS_HINTS]
    if hints:
        msg += " (%s)" % "; ".join(hints)
    correlation_id = result.get("correlation_id")
    correlation_id = redactor.shorten(correlation_id, 100) if isinstance(correlation_id, str) else None
    return AuthenticationError(redactor.redact(msg), error=error, error_codes=codes or None, correlation_id=correlation_id)


def _request_failure(what, exc, redactor, hint=None):
    """An AuthenticationError for an exception raised while asking for a token: redacted, then shortened."""
    text = redactor.redact(str(exc)) or ""
    text = redactor.shorten(_first_line(text), _TEXT_LIMIT)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        hint = "set ca_path to the CA that signed the server certificate"
    elif "Unable to get authority configuration" in text:
        hint = _AADSTS_HINTS[90002] + "; also check authority_host"
    msg = "%s: %s: %s" % (what, type(exc).__name__, text)
    return AuthenticationError(redactor.redact(msg + (" (%s)" % hint if hint else "")))


def _token_from_answer(what, result, redactor):
    """The access token of a token answer, or an AuthenticationError that says what is wrong with the answer."""
    if not isinstance(result, dict) or "access_token" not in result:
        raise _token_failure(what, result, redactor)
    token = result["access_token"]
    problem = None
    if not isinstance(token, str):
        problem = "is a JSON %s, not a string" % type(token).__name__
    elif not token.strip():
        problem = "is empty"
    elif _bad_token_characters(token):
        # It would go into an HTTP header as is; never echo it.
        redactor.add(token)
        problem = "contains white space or control characters"
    if problem:
        raise AuthenticationError(redactor.redact("%s: the answer's access_token %s" % (what, problem)))
    return token


def _bad_token_characters(token):
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) > 126 for ch in token)


class StaticTokenProvider:
    """A token the user already has. It cannot be renewed."""

    can_refresh = False

    def __init__(self, token, redactor=None, source="access_token"):
        self._redactor = redactor or Redactor()
        self._redactor.add(token)
        token = token.strip() if isinstance(token, str) else token
        self._redactor.add(token)
        if not isinstance(token, str) or not token:
            raise ConfigurationError("%s is empty: give the bearer token itself." % source)
        if token[:7].lower() == "bearer ":
            raise ConfigurationError("%s starts with 'Bearer ': give the token alone, without the scheme." % source)
        if _bad_token_characters(token):
            raise ConfigurationError("%s contains white space or control characters: give the token alone, on one line." % source)
        self._token = token

    def token(self):
        return self._token

    def refresh(self):
        raise AuthenticationError("The API rejected access_token (HTTP 401): it has expired or is not valid for this API.")


class _CachedTokenProvider:
    """Fetches a token on first use and keeps it for the run; refresh() forces a new one.

    Thread-safe: the workers of a many-user task share one provider, and the first call of each of them may come
    at the same moment; the lock makes that one token request (and one msal application), not one per worker.
    A failure is kept and raised again, so the waiting workers do not each ask the token endpoint once more.
    """

    can_refresh = True

    def __init__(self, redactor=None):
        self._redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._token = None
        self._failure = None

    def token(self):
        with self._lock:
            if self._token is None:
                self._obtain(force=False)
            return self._token

    def refresh(self):
        with self._lock:
            self._token = None
            self._obtain(force=True)

    def _obtain(self, force):
        if self._failure is not None:
            raise self._failure
        try:
            token = self._fetch(force)
        except AuthenticationError as exc:
            self._failure = exc
            raise
        # Registered before anyone can see it, so that no output can show it.
        self._redactor.add(token)
        self._token = token

    def _fetch(self, force):
        raise NotImplementedError


# What msal and the HTTP client it drives can raise on a bad or hostile answer (requests' errors are OSErrors).
_FETCH_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError)


class AppTokenProvider(_CachedTokenProvider):
    """Client credentials flow of an app registration, with a client secret or a certificate."""

    def __init__(self, client_id, tenant_id, credential, endpoints, http_client, timeout, redactor=None):
        super().__init__(redactor)
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.credential = credential
        self.endpoints = endpoints
        self.http_client = http_client
        self.timeout = timeout
        self._app = None

    def _fetch(self, force):
        msal = _import_msal()
        what = "Could not get a token for client %s in tenant %s from %s" % (
            self.client_id, self.tenant_id, self.endpoints.authority_host)
        try:
            if self._app is None:
                # The constructor already fetches the OpenID configuration, so it sits inside the try.
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self.credential,
                    authority=self.endpoints.authority(self.tenant_id),
                    # Known Microsoft hosts skip discovery anyway; custom hosts (emulator, proxies) must not
                    # call login.microsoftonline.com.
                    instance_discovery=False,
                    azure_region=False,
                    http_client=self.http_client,
                    timeout=self.timeout,
                )
            if force:
                self._app.remove_tokens_for_client()
            result = self._app.acquire_token_for_client(scopes=[self.endpoints.scope])
        except _FETCH_ERRORS + (msal.exceptions.MsalError,) as exc:
            raise _request_failure(what, exc, self._redactor) from None
        return _token_from_answer(what, result, self._redactor)


class ManagedIdentityTokenProvider(_CachedTokenProvider):
    """Azure managed identity: msal finds the endpoint (App Service, IMDS, ...) from the environment."""

    def __init__(self, client_id, endpoints, http_client, redactor=None):
        super().__init__(redactor)
        self.client_id = client_id
        self.endpoints = endpoints
        self.http_client = http_client

    def _fetch(self, force):
        msal = _import_msal()
        if self.client_id:
            identity = msal.UserAssignedManagedIdentity(client_id=self.client_id)
            what = "Could not get a token for the user-assigned managed identity %s" % self.client_id
        else:
            identity = msal.SystemAssignedManagedIdentity()
            what = "Could not get a token for the system-assigned managed identity"
        try:
            # A fresh cache on refresh: the old token is the one the API just rejected.
            client = msal.ManagedIdentityClient(identity, http_client=self.http_client, token_cache=msal.TokenCache())
            result = client.acquire_token_for_client(resource=self.endpoints.resource)
        except _FETCH_ERRORS + (msal.exceptions.MsalError,) as exc:
            raise _request_failure(what, exc, self._redactor, hint=_MI_HINT) from None
        return _token_from_answer(what, result, self._redactor)


_MI_HINT = ("a managed identity only exists on Azure hosts (App Service, Functions, VMs and scale sets with IMDS, "
            "Azure ML, Service Fabric); elsewhere use a client secret or certificate")


# ----------------------------------------------------------------------------------------------- certificates

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)
_RSA_HINT = "Entra ID client assertions are signed with RS256 or PS256, which need an RSA key (openssl req -x509 -newkey rsa:2048 ...)"


def _import_cryptography():
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


def _key_kind(crypto, key):
    for cls, kind in crypto["kinds"]:
        if isinstance(key, cls):
            return kind
    return type(key).__name__


def _public_der(crypto, public_key):
    ser = crypto["serialization"]
    return public_key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)


class _CertificateNames:
    """How the messages name the path and the password: the option, or the environment variable it came from."""

    def __init__(self, path="client_certificate_path", password="client_certificate_password"):
        self.path = path
        self.password = password


def _check_rsa_and_match(crypto, key, certs, where, names):
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


def cert_subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "unreadable subject"


def _checked_pem(crypto, path, key_pem, cert_pems, password, names):
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


def _checked_pfx(crypto, path, raw, password, names):
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


def certificate_credential(path, password, names=None):
    """msal's client_credential for a PEM (key + certificate) or PKCS#12 file.

    With cryptography installed the file is opened here, so that a missing, wrong or needless password, a key that
    is not RSA, or a key that does not belong to the certificate is a ConfigurationError before any request
    (msal would raise a bare TypeError for some of them).
    """
    names = names or _CertificateNames()
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


# ----------------------------------------------------------------------------------------------- method choice

class Credentials:
    """The chosen method, its option values, and where each came from ("task" or the environment variable)."""

    def __init__(self, method, values, sources):
        self.method = method
        self.values = values
        self.sources = sources

    def name(self, option):
        """How a message names option: the option, or 'VARIABLE' when the environment supplied it."""
        source = self.sources.get(option)
        return source if source and source != "task" else option


def _task_methods(params):
    return [m for m in AUTO_ORDER if _given(params.get(_MAIN_OPTION[m])) and (m != "managed_identity" or params.get(m) is True)]


def _env_value(environ, variable, redactor):
    value = environ.get(variable)
    if not value:
        return None
    if variable in _SECRET_VARIABLES:
        # Masked everywhere from now on, whether or not it ends up used.
        redactor.add(value)
    return value


_SECRET_VARIABLES = frozenset(var for pairs in ENV_VARIABLES.values() for option, var in pairs if option in SECRET_OPTIONS)


def _method_label(method, env=False):
    if env:
        return "%s (%s)" % (ENV_VARIABLES[method][0][1], method)
    return "managed_identity=true" if method == "managed_identity" else _MAIN_OPTION[method]


def select_credentials(params, redactor=None, warn=None, environ=None):
    """Which method to use and with which values: see the module docs (auth_method) for the rules."""
    redactor = redactor if redactor is not None else Redactor()
    environ = os.environ if environ is None else environ
    requested = params.get("auth_method") or "auto"
    if requested not in AUTH_METHODS:
        raise ConfigurationError("auth_method must be one of %s, got %r." % (", ".join(AUTH_METHODS), requested))

    if requested != "auto":
        creds = _explicit_credentials(requested, params, environ, redactor)
    else:
        creds = _automatic_credentials(params, environ, redactor, warn)
    _check_orphans(params, creds)
    for option in SECRET_OPTIONS:
        if _given(creds.values.get(option)):
            redactor.add(creds.values[option])
    return creds


def _automatic_credentials(params, environ, redactor, warn):
    in_task = _task_methods(params)
    if in_task:
        method = in_task[0]
        if len(in_task) > 1 and warn:
            warn("Credentials for several authentication methods are set in the task (arguments or module_defaults): "
                 "using %s, ignoring %s. Set auth_method to choose one, or remove the others."
                 % (_method_label(method), ", ".join(_method_label(m) for m in in_task[1:])))
        values = {option: params.get(option) for option, _var in ENV_VARIABLES[method]}
        values[_MAIN_OPTION[method]] = params.get(_MAIN_OPTION[method])
        return Credentials(method, values, {option: "task" for option in values})

    # Nothing in the task: only now does the environment count.
    found = {}
    for method in AUTO_ORDER:
        pairs = ENV_VARIABLES[method]
        if pairs and _env_value(environ, pairs[0][1], redactor):
            found[method] = {option: _env_value(environ, var, redactor) for option, var in pairs}
    if not found:
        raise ConfigurationError(
            "No credentials: set access_token, managed_identity=true, client_secret or client_certificate_path in the "
            "task (or, with none of them in the task, the O365_ACCESS_TOKEN, AZURE_CLIENT_SECRET or "
            "AZURE_CLIENT_CERTIFICATE_PATH environment variable).")
    methods = [m for m in AUTO_ORDER if m in found]
    method = methods[0]
    if len(methods) > 1 and warn:
        warn("No credentials in the task, and the environment has them for several authentication methods: using %s, "
             "ignoring %s. Set auth_method to choose one, or unset the variables not wanted."
             % (_method_label(method, env=True), ", ".join(_method_label(m, env=True) for m in methods[1:])))
    values = found[method]
    sources = {option: var for option, var in ENV_VARIABLES[method] if values.get(option)}
    return Credentials(method, values, sources)


def _explicit_credentials(method, params, environ, redactor):
    """auth_method names the method: each of its options from the task, else from its environment variable."""
    values = {}
    sources = {}
    for option, variable in ENV_VARIABLES[method]:
        if _given(params.get(option)):
            values[option], sources[option] = params.get(option), "task"
        else:
            value = _env_value(environ, variable, redactor)
            if value:
                values[option], sources[option] = value, variable
    main = _MAIN_OPTION[method]
    if method != "managed_identity" and not values.get(main):
        raise ConfigurationError("auth_method=%s needs %s: set it in the task, or the %s environment variable." % (
            method, main, dict(ENV_VARIABLES[method])[main]))
    return Credentials(method, values, sources)


def _check_orphans(params, creds):
    """Options that only qualify a method, set while that method is not in the task at all: a misunderstanding."""
    if _given(params.get("managed_identity_client_id")) and creds.method != "managed_identity" and params.get("managed_identity") is not True:
        raise ConfigurationError(
            "managed_identity_client_id is only used with a managed identity, but the method is %s: set "
            "managed_identity=true (or auth_method=managed_identity), or remove managed_identity_client_id." % creds.method)
    if _given(params.get("client_certificate_password")) and creds.method != "client_certificate" \
            and not _given(params.get("client_certificate_path")):
        raise ConfigurationError(
            "client_certificate_password is only used with a client certificate, but the method is %s: set "
            "client_certificate_path (or auth_method=client_certificate), or remove client_certificate_password." % creds.method)


_IDENTIFIER_BAD = re.compile(r"[\s/?#\\]")


def _check_identifier(name, value, method):
    if not _given(value):
        raise ConfigurationError("%s is required with %s: set it in the task, or the %s environment variable." % (
            name, method, "AZURE_TENANT_ID" if name == "tenant_id" else "AZURE_CLIENT_ID"))
    if not isinstance(value, str) or _IDENTIFIER_BAD.search(value):
        raise ConfigurationError("%s %r is not valid: give the %s without spaces, slashes or URL parts." % (
            name, value, "tenant ID (a GUID) or a verified domain" if name == "tenant_id" else "application (client) ID"))


def build_token_provider(params, endpoints, http_client, redactor=None, warn=None):
    """The token provider for the method select_credentials() picks; checks its settings, sends no request."""
    redactor = redactor if redactor is not None else Redactor()
    creds = select_credentials(params, redactor=redactor, warn=warn)
    if creds.method == "access_token":
        return StaticTokenProvider(creds.values["access_token"], redactor, source=creds.name("access_token"))
    if creds.method == "managed_identity":
        return ManagedIdentityTokenProvider(params.get("managed_identity_client_id"), endpoints, http_client, redactor)

    label = "client_secret" if creds.method == "client_secret" else "client_certificate_path"
    missing = [name for name in ("tenant_id", "client_id") if not _given(params.get(name))]
    if len(missing) == 2:
        raise ConfigurationError("tenant_id and client_id are required with %s: set them in the task, or the "
                                 "AZURE_TENANT_ID and AZURE_CLIENT_ID environment variables." % label)
    for name in ("tenant_id", "client_id"):
        _check_identifier(name, params.get(name), label)
    if creds.method == "client_secret":
        credential = creds.values["client_secret"]
    else:
        names = _CertificateNames(creds.name("client_certificate_path"), creds.name("client_certificate_password"))
        credential = certificate_credential(creds.values["client_certificate_path"],
                                            creds.values.get("client_certificate_password"), names)
    return AppTokenProvider(params["client_id"], params["tenant_id"], credential, endpoints, http_client,
                            params.get("timeout"), redactor)
