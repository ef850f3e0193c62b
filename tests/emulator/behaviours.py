# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant's behaviours: the switchable answers of the service (BEHAVIOURS.md, "Behaviours"), the profiles that set them
all at once, and the runtime counters that some of them need (limits.py)."""

from __future__ import annotations

import copy
import random
import threading

from .apps import GRAPH_APP_ID, GRAPH_RESOURCE, OUTLOOK_RESOURCES
from .behaviour_checks import BEHAVIOUR_CHECKS
from .limits import Limits

DEFAULT_BEHAVIOURS = {
    "reencode": False,
    "reencode_orientation": "ignore",
    "min_photo_side": None,
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
    # assumption: photos of users without a mailbox live in Entra ID since MC678855 (2023); the historical answer is
    # "ErrorNonExistentMailbox" (BEHAVIOURS.md, "Mailboxes")
    "no_mailbox": "entra",
    "value_etag": False,
    "throttle_headers": False,
    "faults": [],
    "graph_audiences": [GRAPH_RESOURCE, GRAPH_APP_ID],
    "outlook_audiences": list(OUTLOOK_RESOURCES),
    "group_app_only_writes": "allow",
    "security_group_photos": "refuse",
    "photo_policy_scope": "users",
}

# Profiles: whole sets of behaviours (tests/emulator/BEHAVIOURS.md, "Profiles"). `production` is what run.py start, the demo
# and the integration targets get: the service's documented or reported unkindnesses are on, so a client that compares
# uploaded with downloaded bytes, reads straight after a write or matches $batch answers by position fails here as it
# would on a tenant. `ideal` is every behaviour off (the emulator before issue 10); a test that picks it says why.
PRODUCTION_PROPAGATION_DELAY_S = 1.0
PROFILES = {
    "ideal": {},
    "production": {
        "reencode": True,  # fact: stored photos are re-encoded (graph-photo-api.md section 3)
        # reencode_orientation stays "ignore": whether the re-encode applies EXIF orientation is unconfirmed
        # assumption: 23x23 was refused (microsoft-graph-docs#17475), so 24 is the smallest minimum that report allows
        "min_photo_side": 24,
        "propagation_delay_s": PRODUCTION_PROPAGATION_DELAY_S,  # assumption: reads lag a write for a short while
        "batch_order": "shuffled",  # fact: "responses may come back in any order" [BATCH]
        "batch_concurrency": 4,  # fact: Outlook-backed items run "up to four ... at a time" [THRO]
    },
}
DEFAULT_PROFILE = "production"


def profile_behaviours(name: str) -> dict:
    """The whole behaviour set of a profile: DEFAULT_BEHAVIOURS with the profile's changes."""
    if name not in PROFILES:
        raise ValueError("unknown profile %r (known: %s)" % (name, ", ".join(sorted(PROFILES))))
    behaviours = copy.deepcopy(DEFAULT_BEHAVIOURS)
    behaviours.update(copy.deepcopy(PROFILES[name]))
    return behaviours


class Behaviours:
    """The behaviours in force in one tenant, the profile they started from, and the counters behind them (Limits).

    clock: a callable giving the monotonic time the limits measure with (State.clock, replaceable in tests).
    """

    def __init__(self, profile, clock):
        profile_behaviours(profile)  # an unknown name fails here, before anything starts
        self.start_profile = profile  # what reset() restores; PUT {"profile": ...} switches for the moment
        self.profile = profile
        self.values = profile_behaviours(profile)
        self._lock = threading.Lock()
        self.limits = Limits(self, clock)

    def __getitem__(self, key):
        return self.values[key]

    def reset(self):
        with self._lock:
            self.profile = self.start_profile
            self.values = profile_behaviours(self.start_profile)
            self.limits.restart(throttle=True, writes=True)

    def view(self):
        """The behaviours in force, with the profile they started from under "profile"."""
        with self._lock:
            return dict(copy.deepcopy(self.values), profile=self.profile)

    def update(self, patch):
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
            if key not in BEHAVIOUR_CHECKS:
                raise ValueError("unknown behaviour %r (known: %s)" % (key, ", ".join(sorted(BEHAVIOUR_CHECKS))))
            try:
                checked[key] = BEHAVIOUR_CHECKS[key](value)
            except ValueError as exc:
                raise ValueError("%s: %s" % (key, exc)) from exc
        with self._lock:
            if base is not None:
                self.profile = str(profile)
                self.values = base
                checked.setdefault("throttle", base["throttle"])  # counts and seeds start again
            self.values.update(checked)
            # "every Nth" counts from the moment it is set; a new limit (or profile) starts every app with a full
            # bucket and no use of it.
            self.limits.restart(throttle="throttle" in checked, writes=base is not None or "write_rate_limit" in checked)
            return dict(copy.deepcopy(self.values), profile=self.profile)

    def latency_seconds(self, kind: str | None = None) -> float:
        """How long to hold an answer: method_latency_ms[kind] when set (kind: an HTTP method, BATCH or TOKEN), else
        latency_ms; then jitter_ms (+/- that many ms) and jitter_ratio (+/- that share of the latency), at random."""
        values = self.values
        latency = values["method_latency_ms"].get(kind, values["latency_ms"]) if kind else values["latency_ms"]
        jitter = values["jitter_ms"] + latency * values["jitter_ratio"]
        if not latency and not jitter:
            return 0.0
        return max(0.0, latency + random.uniform(-jitter, jitter)) / 1000.0
