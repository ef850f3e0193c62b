# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Keeps secrets out of every text the collection produces.

A secret can come back from a service in another form than the one we sent: URL-encoded (a token endpoint
that echoes the form), JSON-escaped (an error body), or base64 (a Basic header, a JWT-like echo). Ansible's
no_log masking only knows the exact value, so every form is registered, and texts are redacted before they
are cut short (a truncated secret would no longer match anything).
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Callable
from urllib.parse import quote, quote_plus

MASK = "********"
# Partial base64 forms (a secret inside a longer encoded value) are only derived for secrets this long:
# for shorter ones the fragments are so short that they would mask ordinary words.
_MIN_FRAGMENT_SECRET = 8


def _base64_forms(raw: bytes) -> set[str]:
    """The secret's base64 text alone, and at each of the three alignments it can have inside a longer value."""
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        if len(raw) < _MIN_FRAGMENT_SECRET:
            continue
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + raw).decode("ascii")
            # Only whole 3-byte groups encode the same whatever surrounds them: drop the characters that mix
            # in the bytes before the secret, and the last, incomplete group.
            start = (offset * 8 + 5) // 6
            stable = encoded[start:4 * ((offset + len(raw)) // 3)]
            if len(stable) >= _MIN_FRAGMENT_SECRET:
                forms.add(stable)
    return forms


def secret_forms(secret: object) -> set[str]:
    """Every form of secret that must never be shown (the secret itself first)."""
    if not secret:
        return set()
    secret = str(secret)
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= _base64_forms(secret.encode("utf-8"))
    return {form for form in forms if form}


class Redactor:
    """The secrets of one module run; thread-safe, since the bulk modules' workers share it.

    on_add(form) is called for every new form, so the module can hand it to Ansible's no_log masking too.
    """

    def __init__(self, on_add: Callable[[str], None] | None = None) -> None:
        self._forms = []
        self._lock = threading.Lock()
        self._on_add = on_add

    def add(self, secret: object) -> None:
        new = []
        with self._lock:
            for form in secret_forms(secret):
                if form not in self._forms:
                    self._forms.append(form)
                    new.append(form)
            # Longest first: a secret's base64 must go before a shorter secret that happens to be inside it.
            self._forms.sort(key=len, reverse=True)
        if self._on_add:
            for form in new:
                self._on_add(form)

    def redact(self, text: object) -> str | None:
        """text with every known secret form replaced by MASK (non-strings are turned into text first)."""
        if text is None:
            return None
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            forms = list(self._forms)
        for form in forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def shorten(self, text: object, limit: int) -> str | None:
        """Redacts, then cuts to limit characters: never the other way round."""
        text = self.redact(text)
        if text is not None and len(text) > limit:
            text = text[:limit] + "..."
        return text
