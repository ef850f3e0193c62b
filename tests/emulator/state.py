# SPDX-License-Identifier: GPL-3.0-or-later
"""Tenant state of the emulator: users and photos, app registrations, managed identities, tokens, behaviours, request log.

Also holds the two small wire objects (Request, Response) that the API modules share, so that a $batch item can be
run through exactly the same handlers as a real HTTP request.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import copy
import dataclasses
import hashlib
import json
import random
import re
import secrets
import threading
import time
import uuid
import zlib
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import images
from .replica import check_etag, check_stale, quoted_etag

TENANT_ID = "00000000-0000-4000-8000-00000000c0de"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OUTLOOK_RESOURCES = ("https://outlook.office.com", "https://outlook.office365.com")
# The resource principals the emulated tenant has, whatever the audience behaviours say: a token request for any
# other resource (one not in graph_audiences or outlook_audiences either) gets AADSTS500011.
KNOWN_RESOURCES = (GRAPH_RESOURCE, GRAPH_APP_ID) + OUTLOOK_RESOURCES
STANDARD_SIZES = (48, 64, 96, 120, 240, 360, 432, 504, 648)
MAX_LOG_ENTRIES = 1_000_000

DEFAULT_CLIENTS = (
    {"client_id": "11111111-1111-4111-8111-111111111111", "secret": "emulator-secret-value", "roles": ["ProfilePhoto.ReadWrite.All"]},
    {"client_id": "22222222-2222-4222-8222-222222222222", "secret": "emulator-readonly-secret", "roles": ["ProfilePhoto.Read.All"]},
)
SYSTEM_IDENTITY_CLIENT_ID = "55555555-5555-4555-8555-555555555555"
USER_IDENTITY = {
    "client_id": "33333333-3333-4333-8333-333333333333",
    "object_id": "44444444-4444-4444-8444-444444444444",
    "resource_id": "/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/emulator/providers/"
                   "Microsoft.ManagedIdentity/userAssignedIdentities/emulator-identity",
}
DEFAULT_USERS = (
    ("ade1e000-0000-4000-8000-000000000001", "adele.vance@contoso.onmicrosoft.com", "Adele Vance", False),
    ("a1e80000-0000-4000-8000-000000000002", "alex.wilber@contoso.onmicrosoft.com", "Alex Wilber", True),
    ("3e6a0000-0000-4000-8000-000000000003", "megan.bowen@contoso.onmicrosoft.com", "Megan Bowen", False),
    ("70400000-0000-4000-8000-000000000004", "john_fabrikam.com#EXT#@contoso.onmicrosoft.com", "John (Fabrikam)", False),
    ("0b810000-0000-4000-8000-000000000005", "o'brien@contoso.onmicrosoft.com", "Siobhan O'Brien", False),
    ("20e00000-0000-4000-8000-000000000006", "zo\u00eb.m\u00fcller@contoso.onmicrosoft.com", "Zo\u00eb M\u00fcller", False),
    ("a0b0c0d0-0000-4000-8000-000000000007", "a+b%c/d?e@contoso.onmicrosoft.com", "A+B Tricky", False),
)
# Deterministic ids for generated users: uuid5 in a namespace of our own.
_GENERATED_NAMESPACE = uuid.UUID("6f1c8a52-3b7e-4c1d-9a0e-2d5b7c9e0f11")

DEFAULT_BEHAVIOURS = {
    "reencode": False,
    "png": "reject",
    "no_photo": "404",
    "no_photo_code": "ImageNotFound",
    "id_case": "lower",
    "write_status": 200,
    "latency_ms": 0,
    "jitter_ms": 0,
    "method_latency_ms": {},
    "jitter_ratio": 0,
    "propagation_delay_s": 0,
    "batch_order": "request",
    "batch_concurrency": 1,
    "throttle": None,
    "mailbox_concurrency": None,
    "write_rate_limit": None,
    "no_mailbox": "ErrorNonExistentMailbox",
    "value_etag": False,
    "throttle_headers": False,
    "faults": [],
    "graph_audiences": [GRAPH_RESOURCE, GRAPH_APP_ID],
    "outlook_audiences": list(OUTLOOK_RESOURCES),
}

# Profiles: whole sets of behaviours (tests/emulator/README.md, "Profiles"). `production` is what run.py start, the demo
# and the integration targets get: the service's documented or reported unkindnesses are on, so a client that compares
# uploaded with downloaded bytes, reads straight after a write or matches $batch answers by position fails here as it
# would on a tenant. `ideal` is every behaviour off (the emulator before issue 10); a test that picks it says why.
PRODUCTION_PROPAGATION_DELAY_S = 1.0
PROFILES = {
    "ideal": {},
    "production": {
        "reencode": True,  # fact: stored photos are re-encoded (graph-photo-api.md section 3)
        "propagation_delay_s": PRODUCTION_PROPAGATION_DELAY_S,  # assumption: reads lag a write for a short while
        "batch_order": "shuffled",  # fact: "responses may come back in any order" [BATCH]
        "batch_concurrency": 4,  # fact: Outlook-backed items run "up to four ... at a time" [THRO]
    },
}
DEFAULT_PROFILE = "production"
# Keys of method_latency_ms: HTTP methods of API requests, BATCH for a $batch envelope, TOKEN for the token endpoints.
LATENCY_KEYS = ("GET", "PUT", "PATCH", "POST", "DELETE", "BATCH", "TOKEN")
# throttle_headers (README, Behaviours): an app's use of its write_rate_limit is the writes it asked for (accepted or
# refused) in a sliding window divided by what the limit allows in that time (per_second x the window). The window is
# THROTTLE_WINDOW_S, longer for slow limits so that it holds at least THROTTLE_WINDOW_WRITES writes' worth of the limit.
# The headers are sent while the use is above THROTTLE_REPORT_FROM; the value is capped at THROTTLE_REPORT_CAP, as the
# Graph docs (identity and access limits) give the range 0.8 to 1.8.
THROTTLE_WINDOW_S = 1.0
THROTTLE_WINDOW_WRITES = 20
THROTTLE_REPORT_FROM = 0.8
THROTTLE_REPORT_CAP = 1.8


def profile_behaviours(name: str) -> dict:
    """The whole behaviour set of a profile: DEFAULT_BEHAVIOURS with the profile's changes."""
    if name not in PROFILES:
        raise ValueError("unknown profile %r (known: %s)" % (name, ", ".join(sorted(PROFILES))))
    behaviours = copy.deepcopy(DEFAULT_BEHAVIOURS)
    behaviours.update(copy.deepcopy(PROFILES[name]))
    return behaviours


# --------------------------------------------------------------------------- wire objects

class Request:
    """One API call as the handlers see it: a real HTTP request or one item of a $batch."""

    def __init__(self, method, path, query_string="", headers=None, body=b"", host="127.0.0.1", batch=False, body_size=None):
        self.method = method.upper()
        self.path = path  # raw, still percent-encoded
        self.query_string = query_string
        self.query = dict(parse_qsl(query_string, keep_blank_values=True))
        self.headers = headers or {}  # lower-case names
        self.body = body
        self.body_size = len(body) if body_size is None else body_size
        self.host = host
        self.batch = batch
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or self.request_id
        self.log = {}  # what the handlers learn on the way: api, user, client_id, token_kind, credential, fault
        self.after_fault = None  # an "after_apply" fault: it changes the answer once the request has been served
        self.stale = False  # a "stale" fault: photo reads answer with the user's previous photo (a lagging replica)
        self.handled = False  # a $batch item that went through the pipeline (else graph.py adds the envelope app's headers)

    @property
    def base_url(self):
        return "https://" + self.host


class Response:
    """What a handler answers; drop=True means: close the connection without answering. truncate_to=N: announce the
    whole body's Content-Length, send only its first N bytes, then close (a cut-off answer).

    The wire faults (server.py sends them): pad_to=N pads the body with spaces to N bytes, streamed, never held whole;
    chunked=True sends it with Transfer-Encoding: chunked and no Content-Length; trickle={"bytes", "every_ms",
    "headers"} sends it that many bytes at a time with that pause before each piece (the headers too when "headers").
    """

    def __init__(self, status, body=b"", content_type=None, headers=None, drop=False, truncate_to=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type
        self.drop = drop
        self.truncate_to = truncate_to
        self.pad_to = None
        self.chunked = False
        self.trickle = None

    @property
    def size(self):
        """Bytes of the body as sent: padding included."""
        return max(len(self.body), self.pad_to or 0)

    def take_wire(self, fault):
        """Takes the wire keys of a fault (or of another Response's wire); the tags for the log, e.g. "+pad+chunked"."""
        tags = ""
        if fault.get("pad_to") is not None:
            self.pad_to = fault["pad_to"]
            tags += "+pad"
        if fault.get("chunked"):
            self.chunked = True
            tags += "+chunked"
        if fault.get("trickle") is not None:
            self.trickle = fault["trickle"]
            tags += "+trickle"
        return tags

    def wire(self):
        """The wire keys set on this answer, as a fault holds them (empty when none)."""
        keys = {"pad_to": self.pad_to, "chunked": self.chunked, "trickle": self.trickle}
        return {name: value for name, value in keys.items() if value}

    @classmethod
    def json(cls, status, obj, headers=None):
        return cls(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

    @property
    def content_type(self):
        return self.headers.get("Content-Type", "")


# --------------------------------------------------------------------------- tenant objects

def etag_of(data: bytes) -> str:
    """The quoted 8-hex-digit etag Graph shows in @odata.mediaEtag; it changes whenever the bytes change."""
    return '"%08X"' % (zlib.crc32(data) & 0xFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    width: int
    height: int
    etag: str
    sha256: str
    resized: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)  # (w, h) -> JPEG bytes
    # SHA-256 of the bytes as the client sent them, before any re-encoding: only the oracle view shows it, so that
    # tests can tell which upload a re-encoded photo came from (the API never shows it; clients cannot rely on it).
    uploaded_sha256: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str | None = None, full_decode: bool = True,
                   uploaded_sha256: str | None = None, etag: str | None = None) -> Photo:
        """Raises images.ImageError when the bytes are not an image. etag: a forced etag (unquoted, replica.check_etag)
        in place of the CRC32 of the bytes, so that tests can give another picture an etag seen before."""
        detected, width, height = images.inspect(data, full=full_decode)
        sha256 = hashlib.sha256(data).hexdigest()
        return cls(data, content_type or detected, width, height, quoted_etag(etag) if etag else etag_of(data), sha256,
                   uploaded_sha256=uploaded_sha256 or sha256)

    def sizes(self):
        """(width, height) pairs Graph lists in /photos: the standard squares that fit, plus the stored size."""
        found = [(size, size) for size in STANDARD_SIZES if size <= min(self.width, self.height)]
        if (self.width, self.height) not in found:
            found.append((self.width, self.height))
        return found

    def view(self):
        return {"content_type": self.content_type, "width": self.width, "height": self.height,
                "sha256": self.sha256, "uploaded_sha256": self.uploaded_sha256, "size": len(self.data), "etag": self.etag}


@dataclasses.dataclass
class User:
    id: str
    upn: str
    display_name: str
    mail: str | None
    photo: Photo | None = None
    # What readers saw just before the last change (None: no photo, or no change yet). Propagation delay: until
    # stale_until (monotonic clock) every reader still sees it; a "stale" fault (a lagging replica) serves it at any time.
    stale_photo: Photo | None = None
    stale_until: float = 0.0
    declared_type: str | None = None  # "Member" or "Guest" as seeded; None: a guest when the UPN holds #EXT#
    mailbox_flag: bool | None = None  # as seeded; None: members have an Exchange Online mailbox, guests do not

    @property
    def user_type(self):
        if self.declared_type:
            return self.declared_type
        return "Guest" if "#ext#" in self.upn.lower() else "Member"

    @property
    def has_mailbox(self) -> bool:
        """Whether the user has an Exchange Online mailbox; the no_mailbox behaviour decides what the others get."""
        return self.user_type != "Guest" if self.mailbox_flag is None else self.mailbox_flag

    def visible_photo(self) -> Photo | None:
        """The photo API readers see now (lock-free: the writer sets stale_photo before stale_until)."""
        if time.monotonic() < self.stale_until:
            return self.stale_photo
        return self.photo

    def view(self):
        return {"id": self.id, "userPrincipalName": self.upn, "displayName": self.display_name, "mail": self.mail,
                "userType": self.user_type, "mailbox": self.has_mailbox, "has_photo": self.photo is not None,
                "photo": self.photo.view() if self.photo else None}


def _thumbprint(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclasses.dataclass
class Client:
    """An app registration."""
    client_id: str
    secret: str | None
    certificate: x509.Certificate | None
    roles: tuple
    expires_in: int

    @property
    def x5t(self):
        return _thumbprint(self.certificate.fingerprint(hashes.SHA1())) if self.certificate else None

    @property
    def x5t_s256(self):
        return _thumbprint(self.certificate.fingerprint(hashes.SHA256())) if self.certificate else None

    def view(self):
        return {"client_id": self.client_id, "has_secret": self.secret is not None, "has_certificate": self.certificate is not None,
                "x5t": self.x5t, "roles": list(self.roles), "expires_in": self.expires_in}


@dataclasses.dataclass
class ManagedIdentity:
    client_id: str
    roles: tuple
    system: bool
    object_id: str | None = None
    resource_id: str | None = None


@dataclasses.dataclass
class Token:
    kind: str  # "app" | "delegated"
    client_id: str | None
    tenant_id: str
    roles: frozenset  # lower-case app roles (kind app)
    scopes: frozenset  # lower-case delegated scopes (kind delegated)
    user_id: str | None
    resource: str  # normalised: no trailing slash, no /.default
    expires_at: float  # epoch seconds


def normalize_resource(value: str) -> str:
    """'https://graph.microsoft.com/.default' and 'https://graph.microsoft.com/' both become 'https://graph.microsoft.com'."""
    value = value.strip()
    if value.endswith("/.default"):
        value = value[:-len("/.default")]
    return value.rstrip("/")


# --------------------------------------------------------------------------- behaviour validation

def _check_bool(value):
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _check_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number >= 0")
    return value


def _check_positive_int_or_null(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be null or an integer >= 1")
    return value


def _choice(*options):
    def check(value):
        value = str(value)
        if value not in options:
            raise ValueError("must be one of %s" % ", ".join(options))
        return value
    return check


def _check_write_status(value):
    if value not in (200, 204, "200", "204"):
        raise ValueError("must be 200 or 204")
    return int(value)


def _check_retry_after(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("retry_after must be a string or a number")
    return str(value)


def _check_throttle(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('must be null, {"every": N, "retry_after": "2.128"} or {"ratio": 0.3, "retry_after": "0.05", "seed": 1}')
    unknown = sorted(set(value) - {"every", "ratio", "retry_after", "seed"})
    if unknown:
        raise ValueError("unknown key %r" % unknown[0])
    retry_after = _check_retry_after(value.get("retry_after", "2.128")) or "2.128"
    if ("every" in value) == ("ratio" in value):
        raise ValueError("give exactly one of every (every Nth request) and ratio (that share of requests, at random)")
    if "every" in value:
        every = _check_positive_int_or_null(value.get("every"))
        if every is None:
            raise ValueError("every must be an integer >= 1")
        return {"every": every, "retry_after": retry_after}
    ratio = value["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError("ratio must be a number from 0.0 to 1.0")
    seed = value.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer or null")
    return {"ratio": float(ratio), "retry_after": retry_after, "seed": seed}


def _check_write_rate_limit(value):
    """null, or a token bucket per app over photo writes: {"per_second": 40, "burst": 40, "retry_after": "1"}.

    burst (the bucket's size; default one second's worth, per_second rounded up) and retry_after (default null: the
    seconds until the bucket holds a token again, fractional, as Graph's "2.128") are optional.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('must be null or {"per_second": 40, "burst": 40, "retry_after": "1"} (burst and retry_after optional)')
    unknown = sorted(set(value) - {"per_second", "burst", "retry_after"})
    if unknown:
        raise ValueError("unknown key %r" % unknown[0])
    rate = value.get("per_second")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError("per_second must be a number > 0")
    burst = value.get("burst")
    if burst is None:
        burst = max(1, int(-(-rate // 1)))  # one second's worth, rounded up
    elif isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ValueError("burst must be an integer >= 1")
    return {"per_second": float(rate), "burst": burst, "retry_after": _check_retry_after(value.get("retry_after"))}


# What a fault's "mangle" does to the real $batch answer (hostile or broken gateways, as issue 8 found them).
BATCH_MANGLES = ("list", "non_dict_entries", "bad_base64", "string_status", "duplicate_ids", "missing_ids")
_FAULT_KEYS = {"method", "path_regex", "body_regex", "status", "count", "skip", "retry_after", "raw_body", "raw_body_b64",
               "content_type", "truncate_to", "after_apply", "mangle", "trickle", "pad_to", "chunked", "stale"}
_TRICKLE_KEYS = ("bytes", "every_ms", "headers")
MAX_TRICKLE_PAUSE_MS = 600_000  # a pause longer than any client's idle timeout proves nothing more


def _check_regex(fault, name, default):
    pattern = fault.get(name, default)
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ValueError("%s does not compile: %s" % (name, exc)) from exc
    return pattern


def _check_raw_body(fault):
    """The exact bytes a fault answers, or None."""
    if "raw_body" in fault and "raw_body_b64" in fault:
        raise ValueError("give raw_body or raw_body_b64, not both")
    if "raw_body" in fault:
        if not isinstance(fault["raw_body"], str):
            raise ValueError("raw_body must be a string (sent as UTF-8)")
        return fault["raw_body"].encode("utf-8")
    if "raw_body_b64" in fault:
        try:
            return base64.b64decode(fault["raw_body_b64"], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ValueError("raw_body_b64 is not base64") from exc
    return None


def _check_trickle(value):
    """null, or how an answer trickles: {"bytes": 1, "every_ms": 2000, "headers": false} (bytes and headers optional)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('trickle must be null or {"bytes": 1, "every_ms": 2000, "headers": false}')
    unknown = sorted(set(value) - set(_TRICKLE_KEYS))
    if unknown:
        raise ValueError("unknown trickle key %r (known: %s)" % (unknown[0], ", ".join(_TRICKLE_KEYS)))
    size = value.get("bytes", 1)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1 << 20:
        raise ValueError("trickle bytes must be an integer from 1 to 1048576")
    pause = value.get("every_ms")
    if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 < pause <= MAX_TRICKLE_PAUSE_MS:
        raise ValueError("trickle every_ms must be a number > 0 and <= %d" % MAX_TRICKLE_PAUSE_MS)
    headers = value.get("headers", False)
    if not isinstance(headers, bool):
        raise ValueError("trickle headers must be true or false")
    return {"bytes": size, "every_ms": pause, "headers": headers}


def _check_wire(fault):
    """The wire keys of a fault: how its answer is sent (trickle, pad_to, chunked), whatever the answer is."""
    pad_to = fault.get("pad_to")
    if pad_to is not None and (isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < 1):
        raise ValueError("pad_to must be an integer >= 1 (bytes of the body once padded)")
    chunked = fault.get("chunked", False)
    if not isinstance(chunked, bool):
        raise ValueError("chunked must be true or false")
    return {"trickle": _check_trickle(fault.get("trickle")), "pad_to": pad_to, "chunked": chunked}


def _check_fault(fault):
    if not isinstance(fault, dict):
        raise ValueError("each fault must be an object")
    unknown = sorted(set(fault) - _FAULT_KEYS)
    if unknown:
        raise ValueError("unknown fault key %r (known: %s)" % (unknown[0], ", ".join(sorted(_FAULT_KEYS))))
    stale = check_stale(fault)  # a lagging replica: the request is served, from the previous photo
    raw = _check_raw_body(fault)
    mangle = fault.get("mangle")
    if mangle is not None and mangle not in BATCH_MANGLES:
        raise ValueError("mangle must be one of %s" % ", ".join(BATCH_MANGLES))
    after_apply = fault.get("after_apply", False)
    if not isinstance(after_apply, bool):
        raise ValueError("after_apply must be true or false")
    status = fault.get("status")
    if status == "drop_after":
        status, after_apply = "drop", True  # the write is applied and logged, then the connection closes
    truncate_to = fault.get("truncate_to")
    if truncate_to is not None and (isinstance(truncate_to, bool) or not isinstance(truncate_to, int) or truncate_to < 0):
        raise ValueError("truncate_to must be an integer >= 0")
    wire = _check_wire(fault)
    if status == "drop":
        if raw is not None or mangle or truncate_to is not None or any(wire.values()):
            raise ValueError('a "drop" sends nothing: raw_body, mangle, truncate_to, trickle, pad_to and chunked do not go with it')
    elif status is None:
        if raw is None and not mangle and not after_apply and not stale:
            raise ValueError('status must be an HTTP error status (400-599), "drop" or "drop_after"'
                             " (it may be left out only with raw_body, mangle or after_apply)")
    elif isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError('status must be an HTTP status, "drop" or "drop_after"')
    elif raw is None and not mangle and not 400 <= status <= 599:
        raise ValueError("without raw_body a fault answers a Graph error: status must be 400-599")
    if mangle and raw is not None:
        raise ValueError("give mangle or a raw body, not both")
    after_apply = after_apply or bool(mangle)  # a mangle works on the real answer, so the request is served first
    content_type = fault.get("content_type", "application/json")
    if not isinstance(content_type, str):
        raise ValueError("content_type must be a string")
    skip = fault.get("skip", 0)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValueError("skip must be an integer >= 0")
    count = _check_positive_int_or_null(fault.get("count", 1))
    return {"method": str(fault.get("method", "*")).upper(), "path_regex": _check_regex(fault, "path_regex", ".*"),
            "body_regex": _check_regex(fault, "body_regex", None), "status": status, "count": count or 1, "skip": skip,
            "retry_after": _check_retry_after(fault.get("retry_after")),
            "raw_body_b64": base64.b64encode(raw).decode("ascii") if raw is not None else None,
            "content_type": content_type, "truncate_to": truncate_to, "after_apply": after_apply, "mangle": mangle,
            "stale": stale, **wire}


def _check_faults(value):
    if not isinstance(value, list):
        raise ValueError("must be a list")
    return [_check_fault(fault) for fault in value]


def _check_method_latency(value):
    if not isinstance(value, dict):
        raise ValueError("must be an object such as {\"GET\": 60, \"PUT\": 1000, \"BATCH\": 250}")
    checked = {}
    for key, milliseconds in value.items():
        name = str(key).upper()
        if name not in LATENCY_KEYS:
            raise ValueError("unknown key %r (known: %s)" % (key, ", ".join(LATENCY_KEYS)))
        checked[name] = _check_number(milliseconds)
    return checked


def _check_ratio(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0.0 to 1.0")
    return float(value)


def _check_positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be an integer >= 1")
    return value


def _check_audiences(value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of strings")
    return [normalize_resource(item) for item in value]


# What the photo API answers for a user without an Exchange Online mailbox (tests/emulator/README.md, "Mailboxes"):
# a 404 with one of the two error codes, "no_photo" (reads say no photo, writes are refused as ImageNotFound-style
# 404s), or "mailbox" (served as if the user had one: the emulator's answer before issue 10).
NO_MAILBOX_ANSWERS = ("ErrorNonExistentMailbox", "MailboxNotEnabledForRESTAPI", "no_photo", "mailbox")

_BEHAVIOUR_CHECKS = {
    "reencode": _check_bool,
    "png": _choice("reject", "accept"),
    "no_photo": _choice("404", "placeholder"),
    "no_photo_code": _choice("ImageNotFound", "ErrorItemNotFound"),
    "id_case": _choice("lower", "upper"),
    "write_status": _check_write_status,
    "latency_ms": _check_number,
    "jitter_ms": _check_number,
    "method_latency_ms": _check_method_latency,
    "jitter_ratio": _check_ratio,
    "propagation_delay_s": _check_number,
    "batch_order": _choice("request", "shuffled"),
    "batch_concurrency": _check_positive_int,
    "throttle": _check_throttle,
    "mailbox_concurrency": _check_positive_int_or_null,
    "write_rate_limit": _check_write_rate_limit,
    "no_mailbox": _choice(*NO_MAILBOX_ANSWERS),
    "value_etag": _check_bool,  # unconfirmed: whether Graph sends ETag on $value answers (README, Fidelity)
    "throttle_headers": _check_bool,  # unconfirmed: whether photo answers carry x-ms-throttle-* headers (README, Fidelity)
    "faults": _check_faults,
    "graph_audiences": _check_audiences,
    "outlook_audiences": _check_audiences,
}


# --------------------------------------------------------------------------- the state

class State:
    """Everything the emulator knows. One lock guards the tenant, another the request log; both are held briefly."""

    def __init__(self, profile: str = DEFAULT_PROFILE):
        # The profile reset() restores (POST /_emulator/reset too); PUT /behaviours {"profile": ...} switches the
        # behaviours for the moment, as any other behaviour change does.
        self.start_profile = profile
        profile_behaviours(profile)  # an unknown name fails here, before anything starts
        self.profile = profile
        self._journal = None  # a persist.Journal once attach_journal() ran: every change is written through
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self.identity_header = secrets.token_urlsafe(24)  # per run, survives reset (clients hold it in their env)
        self.tenant_id = TENANT_ID
        self.tenant_domain = TENANT_DOMAIN
        self._seq = 0
        self._log = []
        self._by_id = {}
        self._by_upn = {}
        self._order = None
        self._clients = {}
        self._identities = []
        self._tokens = {}
        self._inflight = {}
        self._graph_count = 0
        self._throttle_random = random.Random()
        # write_rate_limit: client id -> (tokens, clock time of the last refill); the clock is replaceable for tests.
        self._write_buckets = {}
        # throttle_headers: client id -> deque of the clock times of its writes (accepted or refused) in the window.
        self._write_history = {}
        self.clock = time.monotonic
        self.behaviours = profile_behaviours(profile)
        self.reset()

    # ----------------------------------------------------------------- reset and seed

    def reset(self):
        """Default seed, default behaviours, no tokens, empty request log."""
        with self._lock:
            self._by_id, self._by_upn, self._order = {}, {}, None
            self._clients = {}
            self._tokens = {}
            self._inflight = {}
            self._graph_count = 0
            self._write_buckets = {}
            self._write_history = {}
            self.profile = self.start_profile
            self.behaviours = profile_behaviours(self.start_profile)
            for user_id, upn, name, has_photo in DEFAULT_USERS:
                photo = Photo.from_bytes(images.make_jpeg(240, 240, 1)) if has_photo else None
                mail = "john@fabrikam.com" if "#EXT#" in upn else upn
                # Every seeded user has a mailbox, the guest John too: the seed serves the addressing tests
                # (#EXT# in a key); users without one are added through the control API ("mailbox": false).
                self._put_user_locked(User(user_id, upn, name, mail, photo, mailbox_flag=True))
            for spec in DEFAULT_CLIENTS:
                client = self._client_from_spec(spec)
                self._clients[client.client_id.lower()] = client
            self._identities = [
                ManagedIdentity(SYSTEM_IDENTITY_CLIENT_ID, ("ProfilePhoto.ReadWrite.All",), True),
                ManagedIdentity(USER_IDENTITY["client_id"], ("ProfilePhoto.ReadWrite.All",), False,
                                USER_IDENTITY["object_id"], USER_IDENTITY["resource_id"]),
            ]
            if self._journal is not None:
                self._journal.rewrite_tenant([self._meta_record()])
        self.clear_log()

    # ----------------------------------------------------------------- users

    def _remove_locked(self, user):
        self._by_id.pop(user.id.lower(), None)
        self._by_upn.pop(user.upn.lower(), None)
        self._order = None

    def _put_user_locked(self, user):
        for old in (self._by_id.get(user.id.lower()), self._by_upn.get(user.upn.lower())):
            if old is not None:
                self._remove_locked(old)
        self._by_id[user.id.lower()] = user
        self._by_upn[user.upn.lower()] = user
        self._order = None

    def find_user(self, key: str) -> User | None:
        """By object id or UPN, case-insensitive."""
        key = key.lower()
        return self._by_id.get(key) or self._by_upn.get(key)

    def all_users(self):
        with self._lock:
            return [self._by_upn[key] for key in self._ordered_keys_locked()]

    def _ordered_keys_locked(self):
        if self._order is None:
            self._order = sorted(self._by_upn)
        return self._order

    def users_page(self, after: str | None, top: int):
        """Users in a stable order (UPN, case-insensitive) after the key `after`; returns (users, key for the next page or None)."""
        with self._lock:
            order = self._ordered_keys_locked()
            start = bisect.bisect_right(order, after) if after else 0
            keys = order[start:start + top]
            users = [self._by_upn[key] for key in keys]
            more = start + top < len(order)
        return users, (keys[-1] if more and keys else None)

    def add_users(self, specs) -> list:
        """Create or replace users from control-API specs; validates everything before changing anything."""
        users = [self._user_from_spec(spec) for spec in specs]
        with self._lock:
            for user in users:
                existing = self._by_upn.get(user.upn.lower())
                if user.id is None:
                    user.id = existing.id if existing else str(uuid.uuid4())
                replaced = self._by_id.get(user.id.lower()) or existing
                if replaced is not None:  # a change through the control API: readers saw the replaced user's photo
                    user.stale_photo = replaced.visible_photo()
                self._put_user_locked(user)
            self._write_locked(_user_record(user) for user in users)
        return users

    @staticmethod
    def _user_from_spec(spec):
        if not isinstance(spec, dict) or not isinstance(spec.get("userPrincipalName"), str) or "@" not in spec["userPrincipalName"]:
            raise ValueError("each user needs a userPrincipalName like name@domain")
        upn = spec["userPrincipalName"]
        photo, etag = None, check_etag(spec.get("photo_etag"), "photo_etag of %s" % upn)
        if etag is not None and not spec.get("photo_b64"):
            raise ValueError("photo_etag of %s needs photo_b64" % upn)
        if spec.get("photo_b64"):
            try:
                data = base64.b64decode(spec["photo_b64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("photo_b64 of %s is not base64" % upn) from exc
            try:
                photo = Photo.from_bytes(data, full_decode=False, etag=etag)
            except images.ImageError as exc:
                raise ValueError("photo_b64 of %s is not an image: %s" % (upn, exc)) from exc
        user_id = spec.get("id")
        if user_id is not None and not isinstance(user_id, str):
            raise ValueError("id must be a string")
        user_type = spec.get("userType")
        if user_type is not None and user_type not in ("Member", "Guest"):
            raise ValueError("userType of %s must be Member or Guest" % upn)
        mailbox = spec.get("mailbox")
        if mailbox is not None and not isinstance(mailbox, bool):
            raise ValueError("mailbox of %s must be true or false" % upn)
        guest = user_type == "Guest" or (user_type is None and "#ext#" in upn.lower())
        mail = spec.get("mail", None if guest else upn)
        return User(user_id, upn, spec.get("displayName") or upn.split("@")[0], mail, photo,
                    declared_type=user_type, mailbox_flag=mailbox)

    def generate_users(self, count, domain=TENANT_DOMAIN, prefix="user", photo_ratio=0.0, photo_size=96):
        """prefix00001@domain ...: deterministic ids and photos; photo_ratio of them (evenly spread) get a tiny JPEG."""
        width = max(5, len(str(count)))
        users = []
        for index in range(1, count + 1):
            upn = "%s%0*d@%s" % (prefix, width, index, domain)
            # User i has a photo when floor(i * ratio) steps up: exactly round-down(count * ratio) photos, evenly spread.
            has_photo = int(index * photo_ratio) != int((index - 1) * photo_ratio)
            photo = Photo.from_bytes(images.make_jpeg(photo_size, photo_size, index, 75), full_decode=False) if has_photo else None
            users.append(User(str(uuid.uuid5(_GENERATED_NAMESPACE, upn.lower())), upn, "%s %0*d" % (prefix.title(), width, index), upn, photo))
        with self._lock:
            for user in users:
                self._put_user_locked(user)
            self._write_locked(_user_record(user) for user in users)
        return users

    def delete_user(self, key) -> bool:
        with self._lock:
            user = self.find_user(key)
            if user is None:
                return False
            self._remove_locked(user)
            self._write_locked([{"op": "delete_user", "id": user.id}])
            return True

    def set_photo(self, user: User, photo: Photo | None, propagate: bool = True):
        """Store (or clear, photo=None) a user's photo. What readers saw before is kept as the previous photo (one
        level, served by "stale" faults); with propagate and a propagation delay, every reader keeps seeing it until
        the delay has passed."""
        with self._lock:
            delay = self.behaviours["propagation_delay_s"] if propagate else 0
            user.stale_photo = user.visible_photo()
            user.stale_until = time.monotonic() + delay if delay > 0 else 0.0
            user.photo = photo
            self._write_locked([{"op": "photo", "id": user.id, "photo": _photo_record(photo)}])

    # ----------------------------------------------------------------- app registrations and managed identities

    @staticmethod
    def _client_from_spec(spec):
        if not isinstance(spec, dict) or not isinstance(spec.get("client_id"), str) or not spec["client_id"]:
            raise ValueError("client_id is required")
        certificate = None
        if spec.get("certificate_pem"):
            try:
                certificate = x509.load_pem_x509_certificate(spec["certificate_pem"].encode("ascii"))
            except (ValueError, TypeError, UnicodeEncodeError) as exc:
                raise ValueError("certificate_pem is not a PEM certificate") from exc
        roles = spec.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise ValueError("roles must be a list of strings")
        expires_in = spec.get("expires_in", 3599)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ValueError("expires_in must be an integer")
        secret = spec.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise ValueError("secret must be a string")
        return Client(spec["client_id"], secret, certificate, tuple(roles), expires_in)

    def register_client(self, spec) -> Client:
        client = self._client_from_spec(spec)
        with self._lock:
            self._clients[client.client_id.lower()] = client
            self._write_locked([_client_record(client)])
        return client

    def get_client(self, client_id) -> Client | None:
        return self._clients.get((client_id or "").lower())

    def find_identity(self, client_id=None, object_id=None, resource_id=None) -> ManagedIdentity | None:
        """No selector: the system-assigned identity; otherwise the user-assigned one that matches."""
        for identity in self._identities:
            if client_id is not None:
                if identity.client_id.lower() == client_id.lower() and not identity.system:
                    return identity
            elif object_id is not None:
                if (identity.object_id or "").lower() == object_id.lower():
                    return identity
            elif resource_id is not None:
                if (identity.resource_id or "").lower() == resource_id.lower():
                    return identity
            elif identity.system:
                return identity
        return None

    # ----------------------------------------------------------------- tokens

    def issue_token(self, kind, client_id, resource, ttl, roles=(), scopes=(), user_id=None):
        """Mint an opaque access token; returns (token string, Token)."""
        value = secrets.token_urlsafe(32)
        token = Token(kind, client_id, self.tenant_id, frozenset(r.lower() for r in roles), frozenset(s.lower() for s in scopes),
                      user_id, normalize_resource(resource), time.time() + ttl)
        with self._lock:
            self._tokens[value] = token
        return value, token

    def knows_resource(self, resource) -> bool:
        """Whether a token may be issued for this resource: one of KNOWN_RESOURCES, or one an audience behaviour names."""
        known = set(KNOWN_RESOURCES)
        with self._lock:
            known.update(self.behaviours["graph_audiences"])
            known.update(self.behaviours["outlook_audiences"])
        return normalize_resource(resource).lower() in {item.lower() for item in known}

    def lookup_token(self, value) -> Token | None:
        return self._tokens.get(value)

    def revoke_tokens(self) -> int:
        """Forget every token issued so far: they become unknown, as after a revocation or an emulator restart."""
        with self._lock:
            count, self._tokens = len(self._tokens), {}
            return count

    def expire_tokens(self) -> int:
        past = time.time() - 1
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, past)
            return len(self._tokens)

    # ----------------------------------------------------------------- behaviours

    def get_behaviours(self):
        """The behaviours in force, with the profile they started from under "profile"."""
        with self._lock:
            return dict(copy.deepcopy(self.behaviours), profile=self.profile)

    def update_behaviours(self, patch):
        """Validate and merge a partial behaviour object; unknown keys are an error.

        "profile" in the patch first replaces every behaviour with that profile's set; the other keys then change it.
        """
        if not isinstance(patch, dict):
            raise ValueError("behaviours must be a JSON object")
        patch = dict(patch)
        profile = patch.pop("profile", None)
        base = None
        if profile is not None:
            base = profile_behaviours(str(profile))
        checked = {}
        for key, value in patch.items():
            if key not in _BEHAVIOUR_CHECKS:
                raise ValueError("unknown behaviour %r (known: %s)" % (key, ", ".join(sorted(_BEHAVIOUR_CHECKS))))
            try:
                checked[key] = _BEHAVIOUR_CHECKS[key](value)
            except ValueError as exc:
                raise ValueError("%s: %s" % (key, exc)) from exc
        with self._lock:
            if base is not None:
                self.profile = str(profile)
                self.behaviours = base
                checked.setdefault("throttle", base["throttle"])  # counts and seeds start again
            self.behaviours.update(checked)
            if "throttle" in checked:
                self._graph_count = 0  # "every Nth" counts from the moment it is set
                seed = (checked["throttle"] or {}).get("seed")
                self._throttle_random = random.Random(seed)  # a seed makes the throttled sequence repeatable
            if base is not None or "write_rate_limit" in checked:
                self._write_buckets = {}  # every app starts again with a full bucket
                self._write_history = {}  # ... and with no use of it
            return dict(copy.deepcopy(self.behaviours), profile=self.profile)

    def latency_seconds(self, kind: str | None = None) -> float:
        """How long to hold an answer: method_latency_ms[kind] when set (kind: an HTTP method, BATCH or TOKEN), else
        latency_ms; then jitter_ms (+/- that many ms) and jitter_ratio (+/- that share of the latency), at random."""
        behaviours = self.behaviours
        latency = behaviours["method_latency_ms"].get(kind, behaviours["latency_ms"]) if kind else behaviours["latency_ms"]
        jitter = behaviours["jitter_ms"] + latency * behaviours["jitter_ratio"]
        if not latency and not jitter:
            return 0.0
        return max(0.0, latency + random.uniform(-jitter, jitter)) / 1000.0

    def count_graph_request(self) -> str | None:
        """Count one Graph request; returns the Retry-After value when this one is throttled (the Nth, or by chance)."""
        with self._lock:
            throttle = self.behaviours["throttle"]
            if not throttle:
                return None
            self._graph_count += 1
            if "ratio" in throttle:
                return throttle["retry_after"] if self._throttle_random.random() < throttle["ratio"] else None
            return throttle["retry_after"] if self._graph_count % throttle["every"] == 0 else None

    def take_write(self, client_id) -> str | None:
        """Take one write from the app's token bucket (write_rate_limit); returns the Retry-After value when the
        bucket is empty (the write must then be refused with 429), None when the write may go on."""
        with self._lock:
            limit = self.behaviours["write_rate_limit"]
            if not limit:
                return None
            now = self.clock()
            key = (client_id or "").lower()
            rate, burst = limit["per_second"], limit["burst"]
            self._remember_write_locked(key, now, limit)
            tokens, last = self._write_buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._write_buckets[key] = (tokens - 1.0, now)
                return None
            self._write_buckets[key] = (tokens, now)
            return limit["retry_after"] or "%.3f" % max(0.001, (1.0 - tokens) / rate)

    @staticmethod
    def _use_window(limit):
        """The seconds over which an app's use of its write_rate_limit is measured (throttle_headers)."""
        return max(THROTTLE_WINDOW_S, THROTTLE_WINDOW_WRITES / limit["per_second"])

    def _remember_write_locked(self, key, now, limit):
        history = self._write_history.get(key)
        if history is None:
            # Past the cap the reported value does not change: the oldest entries may go.
            cap = int(THROTTLE_REPORT_CAP * self._use_window(limit) * limit["per_second"]) + 2
            history = self._write_history[key] = collections.deque(maxlen=cap)
        history.append(now)

    def write_limit_use(self, client_id) -> float | None:
        """The app's use of its write_rate_limit (1.0: writing at the limit's rate), None without a limit.

        Writes asked for in the window (accepted or refused) / (per_second x the window); the window is
        max(THROTTLE_WINDOW_S, THROTTLE_WINDOW_WRITES / per_second) seconds. Exact up to 1.8; above, at least 1.8 (the
        history keeps only what the cap needs).
        """
        with self._lock:
            limit = self.behaviours["write_rate_limit"]
            if not limit:
                return None
            history = self._write_history.get((client_id or "").lower())
            if not history:
                return 0.0
            window = self._use_window(limit)
            since = self.clock() - window
            while history and history[0] <= since:
                history.popleft()
            return len(history) / (limit["per_second"] * window)

    def throttle_headers(self, client_id, refused=False) -> dict:
        """The x-ms-throttle-* headers of an answer to this app (behaviour throttle_headers; README, Behaviours).

        Empty unless throttle_headers is on, write_rate_limit is set and the app is known. While the app's use is
        above 0.8: x-ms-throttle-limit-percentage (the use, capped at 1.8, one or two decimals) and
        x-ms-throttle-scope. A write refused by the bucket (refused) carries the scope whatever the use.
        """
        if not client_id or not self.behaviours["throttle_headers"]:
            return {}
        use = self.write_limit_use(client_id)
        if use is None:
            return {}
        headers = {}
        if use > THROTTLE_REPORT_FROM:
            text = "%.2f" % min(use, THROTTLE_REPORT_CAP)
            headers["x-ms-throttle-limit-percentage"] = text[:-1] if text.endswith("0") else text
        if headers or refused:
            # The documented form <Scope>/<Limit>/<ApplicationId>/<TenantId>: the bucket is per app in this one
            # tenant (Tenant_Application) and counts writes only (Write).
            headers["x-ms-throttle-scope"] = "Tenant_Application/Write/%s/%s" % (client_id.lower(), self.tenant_id)
        return headers

    def take_fault(self, method, path, body=b"", photo_read=False):
        """The first configured fault matching this request, with one of its count consumed; None if none matches.

        A matching fault that still has `skip` left lets the request pass (and counts it down); later faults may
        still match, so bursts can be placed in the middle of a run. A "stale" fault matches photo reads only.
        """
        with self._lock:
            faults = self.behaviours["faults"]
            text = None
            for index, fault in enumerate(faults):
                if fault["method"] not in ("*", method) or not re.search(fault["path_regex"], path):
                    continue
                if fault["stale"] and not photo_read:
                    continue
                if fault["body_regex"] is not None:
                    if text is None:
                        text = body.decode("utf-8", errors="replace")
                    if not re.search(fault["body_regex"], text):
                        continue
                if fault["skip"] > 0:
                    fault["skip"] -= 1
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    del faults[index]
                return dict(fault)
        return None

    def enter_mailbox(self, user_id) -> bool:
        """Take one in-flight slot of a user's mailbox; False when mailbox_concurrency slots are already taken."""
        with self._lock:
            limit = self.behaviours["mailbox_concurrency"]
            current = self._inflight.get(user_id, 0)
            if limit is not None and current >= limit:
                return False
            self._inflight[user_id] = current + 1
            return True

    def leave_mailbox(self, user_id):
        with self._lock:
            current = self._inflight.get(user_id, 0) - 1
            if current > 0:
                self._inflight[user_id] = current
            else:
                self._inflight.pop(user_id, None)

    # ----------------------------------------------------------------- request log

    def record(self, req: Request, resp: Response):
        """Append one request-log entry. Never holds a token, secret or assertion: only facts about them."""
        api = req.log.get("api")
        is_write = api in ("graph", "outlook_v2") and req.method in ("PUT", "PATCH") and req.body
        entry = {
            "time": time.time(),
            "api": api,
            "method": req.method,
            "path": req.path,
            "query": req.query_string,
            "status": 0 if resp.drop else resp.status,
            "dropped": resp.drop,
            "user": req.log.get("user"),
            "client_id": req.log.get("client_id"),
            "token_kind": req.log.get("token_kind"),
            "credential": req.log.get("credential"),
            "content_type": req.headers.get("content-type"),
            "body_size": req.body_size,
            # Bytes of the answer's body, padding included (a batch item's: its own body, decoded; its wire faults
            # act on the envelope's answer).
            "response_size": 0 if resp.drop else (len(resp.body) if req.batch else resp.size),
            "body_sha256": hashlib.sha256(req.body).hexdigest() if is_write else None,
            "batch": req.batch,
            "retry_after": resp.headers.get("Retry-After"),
            "fault": req.log.get("fault"),
            "request_id": req.request_id,
            "client_request_id": req.client_request_id,
        }
        with self._log_lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log.append(entry)
            if self._journal is not None:
                self._journal.append_request(entry)
            if len(self._log) > MAX_LOG_ENTRIES:
                del self._log[:MAX_LOG_ENTRIES // 10]

    def requests_since(self, since=0):
        with self._log_lock:
            start = bisect.bisect_right(self._log, since, key=lambda entry: entry["seq"])
            return self._log[start:], self._seq

    def clear_log(self):
        with self._log_lock:
            self._log = []
            if self._journal is not None:
                self._journal.rewrite_requests([{"last_seq": self._seq}])  # sequence numbers keep growing

    # ----------------------------------------------------------------- persistence (run.py start --persist)

    def _write_locked(self, records):
        if self._journal is not None:
            self._journal.append_tenant(list(records))

    def _meta_record(self):
        return {"op": "meta", "identity_header": self.identity_header}

    def attach_journal(self, journal):
        """Load what `journal` holds (tenant and request log), compact it, then write every change through to it."""
        self._replay(journal.tenant_records())
        entries = journal.request_entries()
        with self._log_lock:
            self._log = [entry for entry in entries if isinstance(entry.get("seq"), int)]
            self._seq = max([entry.get("seq") or entry.get("last_seq") or 0 for entry in entries] + [self._seq])
        with self._lock:
            records = [self._meta_record()]
            records.extend(_client_record(client) for client in self._clients.values())
            records.extend(_user_record(user) for user in self._by_id.values())
            journal.rewrite_tenant(records)
            journal.open()
            self._journal = journal

    def detach_journal(self):
        with self._lock, self._log_lock:
            journal, self._journal = self._journal, None
        if journal is not None:
            journal.close()

    def _replay(self, records):
        """Apply journal records to the freshly reset state. Records that no longer load are skipped, not fatal."""
        with self._lock:
            for record in records:
                op = record.get("op")
                try:
                    if op == "meta" and isinstance(record.get("identity_header"), str):
                        self.identity_header = record["identity_header"]
                    elif op == "reset":
                        self._by_id, self._by_upn, self._order = {}, {}, None
                    elif op == "user":
                        self._put_user_locked(User(record["id"], record["upn"], record["name"], record.get("mail"),
                                                   _photo_from_record(record.get("photo")),
                                                   declared_type=record.get("user_type"), mailbox_flag=record.get("mailbox")))
                    elif op == "photo":
                        user = self._by_id.get(str(record["id"]).lower())
                        if user is not None:
                            user.photo = _photo_from_record(record.get("photo"))
                    elif op == "delete_user":
                        user = self._by_id.get(str(record["id"]).lower())
                        if user is not None:
                            self._remove_locked(user)
                    elif op == "client":
                        client = self._client_from_spec(record["spec"])
                        self._clients[client.client_id.lower()] = client
                except (KeyError, TypeError, ValueError, images.ImageError):
                    continue


def _photo_record(photo):
    if photo is None:
        return None
    return {"b64": base64.b64encode(photo.data).decode("ascii"), "content_type": photo.content_type,
            "uploaded_sha256": photo.uploaded_sha256, "etag": photo.etag.strip('"')}


def _photo_from_record(record):
    if not record:
        return None
    return Photo.from_bytes(base64.b64decode(record["b64"]), record.get("content_type"), full_decode=False,
                            uploaded_sha256=record.get("uploaded_sha256"), etag=check_etag(record.get("etag")))


def _user_record(user):
    return {"op": "user", "id": user.id, "upn": user.upn, "name": user.display_name, "mail": user.mail,
            "photo": _photo_record(user.photo), "user_type": user.declared_type, "mailbox": user.mailbox_flag}


def _client_record(client):
    spec = {"client_id": client.client_id, "secret": client.secret, "roles": list(client.roles), "expires_in": client.expires_in}
    if client.certificate is not None:
        spec["certificate_pem"] = client.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return {"op": "client", "spec": spec}
