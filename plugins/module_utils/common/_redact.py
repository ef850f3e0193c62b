# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Keeps secrets out of every text the collection produces.

A secret can come back from a service in another form than the one we sent: URL-encoded in either case (a
token endpoint that echoes the form), as HTML entities (an error page), JSON-escaped, hex or base64 (a Basic
header, a dump), and often cut short. Texts are searched twice: for the exact forms (which also go to
Ansible's no_log masking, since it only knows exact values), and on decoded copies (common/_decoded_text.py)
for any run of 8 or more characters of a secret. Texts are redacted before they are cut short: a truncated
secret would match less.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Callable
from urllib.parse import quote, quote_plus

from ._decoded_text import byte_dumps, decoded_views

MASK = "********"
# A run of this many characters of a secret is masked wherever it shows; a shorter secret only whole.
RUN = 8
_GRAM = RUN // 2  # every run of RUN characters holds a whole _GRAM at a position that is a multiple of _GRAM


def _base64_forms(raw: bytes) -> set[str]:
    """The secret's base64 text alone, and at each of the three alignments it can have inside a longer value."""
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        if len(raw) < RUN:
            continue
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + raw).decode("ascii")
            # Only whole 3-byte groups encode the same whatever surrounds them: drop the characters that mix
            # in the bytes before the secret, and the last, incomplete group.
            start = (offset * 8 + 5) // 6
            stable = encoded[start:4 * ((offset + len(raw)) // 3)]
            if len(stable) >= RUN:
                forms.add(stable)
    return forms


def secret_forms(secret: object) -> set[str]:
    """Every exact form of secret that must never be shown (for Ansible's no_log masking too)."""
    if not secret:
        return set()
    secret = str(secret)
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    # The same escapes in lower case (%2f), as some clients and servers write them.
    forms |= {re.sub("%[0-9A-F]{2}", lambda escape: escape.group().lower(), form) for form in list(forms)}
    forms |= _base64_forms(secret.encode("utf-8"))
    return {form for form in forms if form}


# What is left of an escape that a server cut off right after a secret's masked part (%2, \\u00).
_CUT_ESCAPE = re.compile(r"(?:%[0-9A-Fa-f]?|\\u[0-9A-Fa-f]{0,3})(?![0-9A-Fa-f])")


def _canonical(text: str) -> str:
    """A form's '+' is a space: treating both as one masks a secret however a form encoded its spaces."""
    return text.replace("+", " ")


class _Runs:
    """Finds where runs of RUN or more characters of some secrets show in a text (or a whole short secret).

    A run is a stretch of text whose every RUN-character window is one of a secret's. Each such window holds a
    whole _GRAM at a position that is a multiple of _GRAM, so only those positions are looked up, in an index of
    the secrets' _GRAMs; at a hit, the RUN-windows around it are looked up. The cost is linear in the text, also
    when it repeats a secret, or a secret repeats itself.
    """

    def __init__(self, secrets: list[str]) -> None:
        self._short = [secret for secret in secrets if len(secret) < RUN]
        long_ones = [secret for secret in secrets if len(secret) >= RUN]
        self._grams = {secret[at:at + _GRAM] for secret in long_ones for at in range(len(secret) - _GRAM + 1)}
        self._windows = {secret[at:at + RUN] for secret in long_ones for at in range(len(secret) - RUN + 1)}

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = []
        for secret in self._short:
            at = text.find(secret)
            while at >= 0:
                found.append((at, at + len(secret)))
                at = text.find(secret, at + 1)
        grams, windows = self._grams, self._windows
        if not grams:
            return found
        start = end = -1
        for position in range(0, len(text) - _GRAM + 1, _GRAM):
            if text[position:position + _GRAM] not in grams:
                continue
            # Windows start in increasing order, so overlapping ones are merged as they come.
            for window in range(max(0, position + _GRAM - RUN), position + 1):
                if text[window:window + RUN] in windows:
                    if window > end:
                        if end > start:
                            found.append((start, end))
                        start = window
                    end = window + RUN
        if end > start:
            found.append((start, end))
        return found


class Redactor:
    """The secrets of one module run; thread-safe, since the bulk modules' workers share it.

    on_add(form) is called for every new exact form, so the module can hand it to Ansible's no_log masking too.
    """

    def __init__(self, on_add: Callable[[str], None] | None = None) -> None:
        self._forms = []
        self._secrets = []
        self._runs = None
        self._lock = threading.Lock()
        self._on_add = on_add

    def add(self, secret: object) -> None:
        if not secret:
            return
        new = []
        with self._lock:
            for form in secret_forms(secret):
                if form not in self._forms:
                    self._forms.append(form)
                    new.append(form)
            if str(secret) not in self._secrets:
                self._secrets.append(str(secret))
                self._runs = None
        if self._on_add:
            for form in new:
                self._on_add(form)

    def _finders(self) -> tuple[list[str], _Runs, _Runs]:
        with self._lock:
            if self._runs is None:
                # The white space around an option's value is no part of the secret that shows.
                secrets = [secret.strip() for secret in self._secrets if secret.strip()]
                texts = _Runs([_canonical(secret) for secret in secrets])
                dumps = _Runs([secret.encode("utf-8").decode("latin-1") for secret in secrets])
                self._runs = (list(self._forms), texts, dumps)
            return self._runs

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The spans of text that show a secret, merged where they overlap or touch."""
        forms, texts, dumps = self._finders()
        found = []
        for form in forms:
            at = text.find(form)
            while at >= 0:
                found.append((at, at + len(form)))
                at = text.find(form, at + 1)
        for view in decoded_views(text):
            found += [view.span(start, end) for start, end in texts.spans(_canonical(view.text))]
            for data, groups in byte_dumps(view.text):
                found += [view.span(*groups.span(start, end)) for start, end in dumps.spans(data)]
        merged = []
        for start, end in sorted(found):
            cut = _CUT_ESCAPE.match(text, end)
            end = cut.end() if cut else end
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def redact(self, text: object) -> str | None:
        """text with every span that shows a secret replaced by MASK (non-strings are turned into text first)."""
        if text is None:
            return None
        if not isinstance(text, str):
            text = str(text)
        if not self._secrets:
            return text
        out, at = [], 0
        for start, end in self.spans(text):
            out += [text[at:start], MASK]
            at = end
        out.append(text[at:])
        return "".join(out)

    def shorten(self, text: object, limit: int) -> str | None:
        """Redacts, then cuts to limit characters: never the other way round.

        Only as much of a long text is searched as can hold the encoded form of a secret that starts before the
        limit (12 characters per character: %F0%9F%98%80), so a server's megabytes of error page cost little.
        """
        if isinstance(text, str) and len(text) > limit:
            with self._lock:
                longest = max((len(secret) for secret in self._secrets), default=0)
            text = text[:limit + 12 * longest + RUN]
        text = self.redact(text)
        if text is not None and len(text) > limit:
            text = text[:limit] + "..."
        return text
