# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""A text as a server may have meant it: its escapes decoded, each decoded character traced back to its span.

Servers echo what they were sent in their own encodings: a form's %xx escapes (in either case), HTML entities
in an error page, JSON's \\u escapes, hex and base64 dumps. Searching the decoded copy finds a secret in any of
them; the spans say which characters of the original to mask.
"""

from __future__ import annotations

import binascii
import bisect
import codecs
import html
import re

# The escapes of each kind: a run of %xx (decoded together, since one character can take several bytes), an
# HTML entity (with or without its ';', as browsers and html.unescape take it), a JSON escape.
_KINDS = {
    "%": r"(?:%[0-9A-Fa-f]{2})+",
    "&": r"&(?:#[xX][0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?",
    "\\": r"\\u[dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\[\\/\"bfnrt]",
}
_ALL = re.compile("|".join(_KINDS.values()))
_ESCAPES = {kind: re.compile(pattern) for kind, pattern in _KINDS.items()}
_JSON_SIMPLE = {"\\\\": "\\", "\\/": "/", '\\"': '"', "\\b": "\b", "\\f": "\f", "\\n": "\n", "\\r": "\r", "\\t": "\t"}


class DecodedText:
    """text with its escapes decoded; span() maps a span of the decoded text back to the original's.

    Pieces are kept, not characters, so a large text with few escapes costs little: each piece is
    (start in the decoded text, start and end in the original, whether it is plain, copied character by character).
    """

    def __init__(self, original: str, escape: re.Pattern = _ALL) -> None:
        self.original = original
        starts, pieces, out = [], [], []
        at = length = 0
        for match in escape.finditer(original):
            decoded = _decode(match.group())
            if decoded is None:
                continue
            if match.start() > at:
                starts.append(length)
                pieces.append((at, match.start(), True))
                out.append(original[at:match.start()])
                length += match.start() - at
            for text, begin, end in decoded:
                starts.append(length)
                pieces.append((match.start() + begin, match.start() + end, False))
                out.append(text)
                length += len(text)
            at = match.end()
        if at < len(original):
            starts.append(length)
            pieces.append((at, len(original), True))
            out.append(original[at:])
        self.text = "".join(out)
        self.changed = bool(pieces) and not (len(pieces) == 1 and pieces[0][2])
        self._starts = starts
        self._pieces = pieces

    def _origin(self, position: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, position) - 1
        begin, end, plain = self._pieces[index]
        if plain:
            begin += position - self._starts[index]
            return begin, begin + 1
        return begin, end

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original's span of text[start:end] (end > start), escapes included whole."""
        return self._origin(start)[0], self._origin(end - 1)[1]


def _decode(token: str) -> list[tuple[str, int, int]] | None:
    """[(decoded text, start, end in token)], or None where the token is not an escape after all."""
    if token[0] == "%":
        return _percent(token)
    if token[0] == "&":
        text = html.unescape(token)
        return None if text == token else [(text, 0, len(token))]
    if token in _JSON_SIMPLE:
        return [(_JSON_SIMPLE[token], 0, len(token))]
    if len(token) == 12:
        high, low = int(token[2:6], 16), int(token[8:12], 16)
        return [(chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), 0, 12)]
    return [(chr(int(token[2:], 16)), 0, len(token))]


def _percent(token: str) -> list[tuple[str, int, int]]:
    """%xx bytes as UTF-8: each character spans the escapes of its bytes (an invalid byte reads as U+FFFD)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    found, begin = [], 0
    for at in range(0, len(token), 3):
        text = decoder.decode(bytes((int(token[at + 1:at + 3], 16),)))
        if text:
            found.append((text, begin, at + 3))
            begin = at + 3
    text = decoder.decode(b"", final=True)
    if text:
        found.append((text, begin, len(token)))
    return found


def decoded_views(text: str) -> list:
    """The text itself; each kind of escape in it decoded alone (a secret may hold what looks like another
    kind: 'a<%00' as HTML is 'a&lt;%00'); all kinds decoded; and all decoded twice (%26amp%3B is &amp; is &)."""
    views = [_Plain(text)]
    kinds = [kind for kind in _KINDS if kind in text]
    if len(kinds) > 1:
        views += [view for view in (DecodedText(text, _ESCAPES[kind]) for kind in kinds) if view.changed]
    once = DecodedText(text) if kinds else None
    if once is not None and once.changed:
        views.append(once)
        if any(kind in once.text for kind in _KINDS):
            twice = DecodedText(once.text)
            if twice.changed:
                views.append(_Composed(twice, once))
    return views


class _Plain:
    """The text as it is (a secret may itself look like an escape)."""

    def __init__(self, text: str) -> None:
        self.text = text

    @staticmethod
    def span(start: int, end: int) -> tuple[int, int]:
        return start, end


class _Composed:
    """A decoding of a decoding: spans go back through both."""

    def __init__(self, outer: DecodedText, inner) -> None:
        self.text = outer.text
        self.changed = True
        self._outer = outer
        self._inner = inner

    def span(self, start: int, end: int) -> tuple[int, int]:
        start, end = self._outer.span(start, end)
        return self._inner.span(start, end)


# Hex and base64 runs long enough to hold 8 bytes: 16 and 11 characters.
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{11,}")


def byte_dumps(text: str):
    """(the bytes a hex or base64 run may stand for, as a latin-1 string; the function that maps a span of those
    bytes back to the span of text that encodes them) for every run, at each alignment it can have: a secret's
    dump may start in the middle of a longer run, or after other letters of the base64 alphabet."""
    for match in _HEX_RUN.finditer(text):
        for offset in (0, 1):
            start = match.start() + offset
            usable = (match.end() - start) // 2 * 2
            yield binascii.unhexlify(text[start:start + usable]).decode("latin-1"), _Groups(start, usable, match.end(), 2, 1)
    for match in _BASE64_RUN.finditer(text):
        run = match.group().replace("-", "+").replace("_", "/")
        for offset in range(4):
            usable = (len(run) - offset) // 4 * 4
            if usable:
                data = binascii.a2b_base64(run[offset:offset + usable]).decode("latin-1")
                yield data, _Groups(match.start() + offset, usable, match.end(), 4, 3)


class _Groups:
    """Maps bytes to the characters of their encoding: groups of `chars` characters for `size` bytes."""

    def __init__(self, start: int, usable: int, run_end: int, chars: int, size: int) -> None:
        self._start, self._usable, self._run_end, self._chars, self._size = start, usable, run_end, chars, size

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Whole groups; a span that reaches the last whole group takes the run's cut-off rest too."""
        begin = self._start + start // self._size * self._chars
        stop = self._start + -(-end // self._size) * self._chars
        return begin, self._run_end if stop >= self._start + self._usable else stop
