# SPDX-License-Identifier: GPL-3.0-or-later
"""photo._content.ImageContent: an image given as base64 text (issue 22)."""
from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import SourceImageError
from ansible_collections.o365.outlook.plugins.module_utils.photo._content import ImageContent
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import MAX_SOURCE_BYTES
from ansible_collections.o365.outlook.plugins.module_utils.photo._source import load_source, source_problem, source_sha256


def noisy_jpeg(size=(64, 48)):
    """A real JPEG whose base64 uses '+' and '/' (so its URL-safe form differs)."""
    image = Image.frombytes("RGB", size, bytes((i * 7919) % 251 for i in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


JPEG = noisy_jpeg()
STANDARD = base64.b64encode(JPEG).decode("ascii")


def refused(text, **kwargs):
    with pytest.raises(SourceImageError) as caught:
        ImageContent(text, **kwargs).decoded()
    return caught.value.msg


def assert_text_not_in(message, text, window=12):
    """No run of window characters of the (white-space free) text appears in the message."""
    compact = "".join(text.split())
    leaked = [compact[i:i + window] for i in range(0, len(compact) - window + 1) if compact[i:i + window] in message]
    assert not leaked, "message %r holds part of the text: %r" % (message, leaked[:3])


def test_standard_alphabet():
    assert "+" in STANDARD and "/" in STANDARD
    assert ImageContent(STANDARD).decoded() == JPEG


def test_url_safe_alphabet():
    text = base64.urlsafe_b64encode(JPEG).decode("ascii")
    assert "-" in text and "_" in text and "+" not in text and "/" not in text
    assert ImageContent(text).decoded() == JPEG


@pytest.mark.parametrize("size", [10, 11, 12])  # two, one and no padding characters
def test_missing_padding_is_accepted(size):
    data = bytes(range(200, 200 + size))
    text = base64.b64encode(data).decode("ascii")
    assert text.count("=") == (3 - size % 3) % 3
    assert ImageContent(text.rstrip("=")).decoded() == data
    assert ImageContent(base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")).decoded() == data


def test_ldif_wrapped_lines_with_crlf_and_spaces():
    # LDIF folds lines at 76 characters: CRLF, then one space that continues the line.
    lines = [STANDARD[i:i + 76] for i in range(0, len(STANDARD), 76)]
    assert len(lines) > 3
    folded = "\r\n ".join(lines) + "\r\n"
    assert ImageContent(folded).decoded() == JPEG
    assert ImageContent("  \t" + "\n".join(lines) + "\n\n").decoded() == JPEG


@pytest.mark.parametrize("bad", ["!", "\u00e9", "\u0416", "*", "\x00", "\U0001F600"])
def test_a_foreign_character_is_refused_never_skipped(bad):
    text = STANDARD[:40] + bad + STANDARD[40:]
    message = refused(text)
    assert "content is not base64" in message and "outside the base64 alphabets" in message
    assert repr(bad) in message
    assert_text_not_in(message, text)


def test_misplaced_padding_is_refused():
    message = refused("QUJD==QUJD")
    assert "misplaced '='" in message
    assert "misplaced '='" in refused("QQ===")  # three '=' never end base64


@pytest.mark.parametrize("body", ["Q", "QUJDR", "QUJDRUZHS"])
def test_a_length_that_cannot_be_whole_bytes_is_refused(body):
    assert len(body) % 4 == 1
    message = refused(body)
    assert "cannot be whole bytes" in message and "cut off" in message
    assert "cannot be whole bytes" in refused(body + "==")  # padding does not make it whole


@pytest.mark.parametrize("text", ["", "   ", "\r\n \t"])
def test_empty_is_refused(text):
    assert "content is empty" in refused(text)


def test_not_text_is_refused():
    assert "must be base64 text, not bytes" in refused(STANDARD.encode("ascii"))


def test_the_label_names_the_source_in_messages():
    assert refused("", label="users[3].content").startswith("users[3].content is empty")


def test_no_message_ever_holds_the_text():
    # A long, distinctive text, refused in every way that can happen after the text is read.
    distinctive = base64.b64encode(b"Distinctive payload 7c1e5a " * 40).decode("ascii")
    unpadded = distinctive.rstrip("=")
    cut = unpadded[:len(unpadded) - (len(unpadded) - 1) % 4]
    assert len(cut) % 4 == 1 and len(cut) > 1000
    cases = [
        (distinctive[:333] + "!" + distinctive[333:], {}),  # foreign character
        (cut, {}),  # cut off: cannot be whole bytes
        (distinctive, dict(max_bytes=100)),  # too large
        (distinctive[:200] + "=" + distinctive[200:], {}),  # misplaced '='
    ]
    messages = [refused(text, **kwargs) for text, kwargs in cases]
    assert len(set(messages)) == len(cases)
    for (text, _kwargs), message in zip(cases, messages):
        assert_text_not_in(message, text)
    assert_text_not_in(repr(ImageContent(distinctive)), distinctive)
    assert repr(ImageContent(distinctive)) == "ImageContent(content, %d characters)" % len(distinctive)


def test_huge_text_is_refused_without_decoding(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("b64decode was called for a text too large to be a photo")
    monkeypatch.setattr(base64, "b64decode", never)
    message = refused("QUJD" * 100, max_bytes=200)  # 400 characters: 300 bytes
    assert "400 characters of base64, more than any photo can be (200 bytes): refused without decoding it" in message
    with pytest.raises(SourceImageError, match="refused without decoding it"):
        load_source(ImageContent("QUJD" * 100, max_bytes=200))
    # Judged on the text without its white space: a wrapped text of 296 characters is under the limit.
    with pytest.raises(AssertionError, match="b64decode was called"):
        ImageContent("\r\n ".join(["QUJD"] * 74), max_bytes=222).decoded()


def test_the_default_limit_is_the_largest_source_file():
    assert ImageContent("QUJD").max_bytes == MAX_SOURCE_BYTES


def test_exactly_max_bytes_with_padding_is_accepted():
    data = b"0123456789"  # 10 bytes: 16 characters with '=='
    assert ImageContent(base64.b64encode(data).decode("ascii"), max_bytes=10).decoded() == data


def test_over_max_bytes_without_padding_is_refused():
    data = b"0123456789abcd"  # 14 bytes: 19 characters without padding
    with pytest.raises(SourceImageError, match="refused without decoding"):
        ImageContent(base64.b64encode(data).decode("ascii").rstrip("="), max_bytes=12).decoded()


def test_decoded_each_time_and_not_kept():
    content = ImageContent(STANDARD)
    assert content.decoded() == content.decoded() == JPEG
    assert not any(isinstance(getattr(content, slot), (bytes, bytearray)) for slot in ImageContent.__slots__)


# ---- through load_source ----

def test_load_source_takes_content():
    source = load_source(ImageContent(STANDARD))
    assert source.data == JPEG  # a plain upright JPEG is sent as it is
    assert source.path is None and source.conversion is None and source.warning is None
    assert source.file_sha256 == hashlib.sha256(JPEG).hexdigest() == source_sha256(ImageContent(STANDARD))
    assert source_problem(ImageContent(STANDARD)) is None


def test_base64_of_text_that_is_not_an_image_is_refused():
    text = base64.b64encode(b"hello").decode("ascii")
    assert text == "aGVsbG8="
    with pytest.raises(SourceImageError) as caught:
        load_source(ImageContent(text))
    message = caught.value.msg
    assert message.startswith("content is not an image this module knows")
    assert text not in message and text.rstrip("=") not in message and "aGVs" not in message
    assert "src" not in caught.value.details  # no path, and never the text in its place
    problem = source_problem(ImageContent(text))
    assert problem is not None and problem.msg == message


def test_load_source_refuses_bad_base64_before_anything_else():
    text = STANDARD[:100] + "!" + STANDARD[100:]
    with pytest.raises(SourceImageError) as caught:
        load_source(ImageContent(text, label="users[0].content"))
    assert caught.value.msg.startswith("users[0].content is not base64")
    assert_text_not_in(caught.value.msg, text)
    assert source_sha256(ImageContent(text)) is None
    assert source_problem(ImageContent(text, label="users[0].content")).msg == caught.value.msg
