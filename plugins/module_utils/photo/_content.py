# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""An image given as base64 text (the content option) instead of a file.

Photos from other systems arrive this way: an LDAP search's thumbnailPhoto (LDIF wraps its lines), an HR API's JSON
(often the URL-safe alphabet, sometimes without padding). White space is ignored and both alphabets are accepted, but
nothing else: a stray character is an error, never skipped. The text is decoded each time the bytes are needed and
the bytes are not kept, so that a sync of 10,000 photos holds each photo's bytes only while it works on it.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..common._errors import SourceImageError
from ._image import MAX_SOURCE_BYTES

_WHITE_SPACE = re.compile(r"[ \t\r\n\f\v]+")  # ASCII only: other characters are refused, never dropped
_ALPHABET = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_URL_SAFE = str.maketrans("-_", "+/")


class ImageContent:
    """Base64 text of an image; label is how messages name it (content, or a sync entry's content).

    The text itself never appears in a message, a result or a diff: only its label and its decoded size.
    """

    __slots__ = ("label", "_text", "max_bytes")

    def __init__(self, text: str, label: str = "content", max_bytes: int = MAX_SOURCE_BYTES) -> None:
        self.label = label
        self._text = text
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return "ImageContent(%s, %d characters)" % (self.label, len(self._text))

    def decoded(self) -> bytes:
        """The image's bytes; SourceImageError when the text is empty, not base64, or decodes to more than
        max_bytes (checked from the text's length, before decoding)."""
        if not isinstance(self._text, str):
            raise SourceImageError("%s must be base64 text, not %s." % (self.label, type(self._text).__name__))
        text = _WHITE_SPACE.sub("", self._text)
        if not text:
            raise SourceImageError("%s is empty: give the image as base64 text." % self.label)
        if len(text.rstrip("=")) * 3 // 4 > self.max_bytes:
            raise SourceImageError("%s is %d characters of base64, more than any photo can be (%d bytes): refused "
                                   "without decoding it." % (self.label, len(text), self.max_bytes))
        if not _ALPHABET.match(text):
            bad = sorted(set(_foreign_characters(text)))[:5]
            raise SourceImageError("%s is not base64: it holds characters outside the base64 alphabets (%s)."
                                   % (self.label, ", ".join(repr(c) for c in bad) or "misplaced '='"))
        body = text.rstrip("=").translate(_URL_SAFE)
        if len(body) % 4 == 1:
            raise SourceImageError("%s is not base64: its length (%d characters without padding) cannot be whole "
                                   "bytes; the text may be cut off." % (self.label, len(body)))
        try:
            return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SourceImageError("%s is not base64 (%s)." % (self.label, exc)) from None


def _foreign_characters(text: str) -> list:
    """The characters of text that no base64 alphabet has."""
    return [c for c in text if not (c.isascii() and (c.isalnum() or c in "+/_-="))]
