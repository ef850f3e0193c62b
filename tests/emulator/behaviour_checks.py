# SPDX-License-Identifier: GPL-3.0-or-later
"""How each behaviour's value is checked (PUT /_emulator/behaviours): every check returns the value to store or raises
ValueError saying what is wrong. tests/emulator/BEHAVIOURS.md, "Behaviours", says what each one does."""

from __future__ import annotations

import base64
import binascii
import re

from .apps import normalize_resource
from .replica import check_stale

# Keys of method_latency_ms: HTTP methods of API requests, BATCH for a $batch envelope, TOKEN for the token endpoints.
LATENCY_KEYS = ("GET", "PUT", "PATCH", "POST", "DELETE", "BATCH", "TOKEN")


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


def _check_min_side(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
        raise ValueError("must be null or an integer from 1 to 10000 (pixels)")
    return value


def _check_audiences(value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of strings")
    return [normalize_resource(item) for item in value]


# What the photo API answers for a user without an Exchange Online mailbox (tests/emulator/BEHAVIOURS.md, "Mailboxes"):
# "entra" (the default: the photo is kept in Entra ID, since MC678855 moved photo storage there in 2023; served like
# everyone's, except that a write over 100 KB gets a 404), a 404 with one of the two error codes (ErrorNonExistentMailbox:
# the historical answer of Graph's known-issues page), "no_photo" (reads say no photo, writes are refused as
# ImageNotFound-style 404s), or "mailbox" (served as if the user had one: the emulator's answer before issue 10).
NO_MAILBOX_ANSWERS = ("entra", "ErrorNonExistentMailbox", "MailboxNotEnabledForRESTAPI", "no_photo", "mailbox")

BEHAVIOUR_CHECKS = {
    "reencode": _check_bool,
    "reencode_orientation": _choice("ignore", "apply"),  # unconfirmed: whether the re-encode applies EXIF orientation
    "min_photo_side": _check_min_side,  # unconfirmed: the smallest width and height a photo write takes (null: none)
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
    "value_etag": _check_bool,  # unconfirmed: whether Graph sends ETag on $value answers (FIDELITY.md)
    "throttle_headers": _check_bool,  # unconfirmed: whether photo answers carry x-ms-throttle-* headers (FIDELITY.md)
    "faults": _check_faults,
    "graph_audiences": _check_audiences,
    "outlook_audiences": _check_audiences,
    # Groups, Teams and the tenant's photo policy (BEHAVIOURS.md, "Groups and Teams", "The photo policy").
    "group_app_only_writes": _choice("allow", "refuse"),  # refuse: AppOnlyTokenNotSupportedForGroupUpdate, as before July 2024
    "security_group_photos": _choice("refuse", "allow"),  # unconfirmed: the sources speak of Microsoft 365 groups only
    "photo_policy_scope": _choice("users", "users_and_groups"),  # unconfirmed: whether onPremises also blocks group writes
}
