# SPDX-License-Identifier: GPL-3.0-or-later
"""common/_redact.py: a secret is masked in every encoding a server may echo it in, and when it is cut short
(issue 17 part 6). The other files test the wiring (test_auth_*, test_connection, test_transport_errors)."""

from __future__ import annotations

import base64
import html
import json
import string
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.common._redact import MASK, Redactor, secret_forms

SECRET = "Qx7vR2mLp9TzW4kB"  # 16 characters, none that an encoding changes
# Characters that percent-encoding, HTML and JSON all change, and a non-ASCII one (two UTF-8 bytes).
AWKWARD = 'p&ss<w>rd "q" +/=%é'


def redactor(*secrets):
    masking = Redactor()
    for secret in secrets:
        masking.add(secret)
    return masking


def every_char_percent(text, case=str.upper):
    """Every byte as %XX, as some clients send a form: not what quote() gives, so no exact form matches."""
    return "".join(case("%%%02X" % byte) for byte in text.encode("utf-8"))


def lower_escapes(text):
    """quote()'s text with its escapes in lower case (%2f), the letters of the secret as they are."""
    out, at = [], 0
    while at < len(text):
        if text[at] == "%":
            out.append(text[at:at + 3].lower())
            at += 3
        else:
            out.append(text[at])
            at += 1
    return "".join(out)


@pytest.mark.parametrize("secret, encoded", [
    (AWKWARD, lower_escapes(quote(AWKWARD, safe=""))),
    (AWKWARD, lower_escapes(quote_plus(AWKWARD))),
    (AWKWARD, every_char_percent(AWKWARD, str.lower)),
    (AWKWARD, every_char_percent(AWKWARD, str.upper)),
    (SECRET, every_char_percent(SECRET, str.lower)),
], ids=["quote-lower", "quote_plus-lower", "every-char-lower", "every-char-upper", "plain-secret-every-char-lower"])
def test_percent_encoded_in_either_case(secret, encoded):
    text = "POST /token?client_secret=%s&grant_type=client_credentials" % encoded
    assert redactor(secret).redact(text) == "POST /token?client_secret=%s&grant_type=client_credentials" % MASK


@pytest.mark.parametrize("secret, encoded", [
    (SECRET, "".join("&#x%x;" % ord(char) for char in SECRET)),
    (SECRET, "".join("&#X%X;" % ord(char) for char in SECRET)),
    (SECRET, "".join("&#%d;" % ord(char) for char in SECRET)),
    (SECRET, "".join("&#%d" % ord(char) for char in SECRET)),  # no semicolons: html.unescape takes it too
    (AWKWARD, html.escape(AWKWARD)),
    (AWKWARD, html.escape(AWKWARD).replace("&amp;", "&#38;").replace("&lt;", "&#x3C;")),
], ids=["hex", "hex-upper", "decimal", "decimal-no-semicolon", "named", "mixed"])
def test_html_entities(secret, encoded):
    assert html.unescape(encoded) == secret
    text = "<html><body><p>Invalid client secret: %s.</p></body></html>" % encoded
    assert redactor(secret).redact(text) == "<html><body><p>Invalid client secret: %s.</p></body></html>" % MASK


@pytest.mark.parametrize("secret", [SECRET, AWKWARD])
@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_hex_of_the_secrets_bytes(secret, case):
    encoded = case(secret.encode("utf-8").hex())
    assert redactor(secret).redact("dump: %s (%d bytes)" % (encoded, len(secret))) == "dump: %s (%d bytes)" % (MASK, len(secret))


@pytest.mark.parametrize("piece", [
    SECRET[:8],  # the server cut the secret off after 8 characters
    SECRET[:13],
    SECRET[-8:],  # or echoed only its end
    SECRET[-11:],
    SECRET[4:12],  # or a run from its middle
    SECRET[3:15],
], ids=["prefix-8", "prefix-13", "suffix-8", "suffix-11", "middle-8", "middle-12"])
def test_a_run_of_8_or_more_characters_is_masked(piece):
    text = "error: the value '%s...' is not valid" % piece
    assert redactor(SECRET).redact(text) == "error: the value '%s...' is not valid" % MASK


@pytest.mark.parametrize("piece", [SECRET[:8], SECRET[5:16], SECRET])
def test_a_run_in_an_encoding_is_masked(piece):
    masking = redactor(SECRET)
    for encoded in (every_char_percent(piece, str.lower), "".join("&#x%x;" % ord(char) for char in piece),
                    piece.encode().hex(), piece.encode().hex().upper()):
        assert masking.redact("<%s>" % encoded) == "<%s>" % MASK, encoded


def test_a_run_that_starts_plain_and_ends_encoded_is_masked_with_its_escapes():
    text = "x=" + AWKWARD[:3] + quote(AWKWARD[3:9], safe="").lower() + "&y=1"
    assert redactor(AWKWARD).redact(text) == "x=%s&y=1" % MASK


def test_a_secret_with_characters_that_encode_in_each_form():
    masking = redactor(AWKWARD)
    for form in (lower_escapes(quote(AWKWARD, safe="")), html.escape(AWKWARD, quote=True),
                 "".join("&#%d;" % ord(char) for char in AWKWARD), json.dumps(AWKWARD)[1:-1],
                 json.dumps(AWKWARD, ensure_ascii=False)[1:-1], AWKWARD.encode().hex().upper(),
                 # a cut-off prefix of its percent-encoding, escapes in lower case
                 lower_escapes(quote(AWKWARD, safe=""))[:20]):
        assert masking.redact("[%s]" % form) == "[%s]" % MASK, form


def test_a_secret_shorter_than_8_is_masked_whole_in_any_encoding_but_not_its_pieces():
    short = "pw/é!7"
    masking = redactor(short)
    for form in (short, lower_escapes(quote(short, safe="")), every_char_percent(short, str.lower),
                 "".join("&#x%x;" % ord(char) for char in short)):
        assert masking.redact("pass=%s;" % form) == "pass=%s;" % MASK, form
    # Its pieces are ordinary text: they stay.
    assert masking.redact("a pw/é row") == "a pw/é row"
    assert masking.redact("%70%77 is 'pw'") == "%70%77 is 'pw'"


def test_the_mask_does_not_show_the_length_nor_leave_pieces_around_it():
    long_secret = SECRET * 3
    masking = redactor(SECRET, long_secret)
    assert masking.redact("a %s b" % SECRET) == masking.redact("a %s b" % long_secret) == "a %s b" % MASK
    # Two overlapping echoes, one cut, one from the middle: one mask, nothing of the secret beside it.
    text = "echo %s%s end" % (SECRET[:12], SECRET[3:16])
    assert redactor(SECRET).redact(text) == "echo %s end" % MASK
    # The cut-off prefix of a plain secret and its encoded rest, next to each other.
    text = "v=" + SECRET[:9] + every_char_percent(SECRET[9:], str.lower) + "."
    assert redactor(SECRET).redact(text) == "v=%s." % MASK


def test_the_text_around_a_decoded_match_is_kept_exactly():
    text = "%41&amp;&#x42; ok " + every_char_percent(SECRET, str.lower) + " &lt;tail&gt; %zz %4"
    assert redactor(SECRET).redact(text) == "%41&amp;&#x42; ok " + MASK + " &lt;tail&gt; %zz %4"


def test_forms_keep_the_encodings_of_before():
    forms = secret_forms(AWKWARD)
    for form in (AWKWARD, quote(AWKWARD, safe=""), quote_plus(AWKWARD), json.dumps(AWKWARD)[1:-1],
                 base64.b64encode(AWKWARD.encode()).decode(), base64.urlsafe_b64encode(AWKWARD.encode()).decode().rstrip("=")):
        assert form in forms
        assert redactor(AWKWARD).redact("<%s>" % form) == "<%s>" % MASK


def test_a_cut_off_base64_echo_is_masked_from_the_group_that_holds_the_secret():
    encoded = base64.b64encode(b"user:" + SECRET.encode()).decode()  # a Basic header, cut by the server
    # 'dXNl' is 'use': nothing of the secret, so it stays; the group after it holds 'r:' and the secret's start.
    assert encoded[:4] == "dXNl"
    for cut in (20, 21, 22, 23):  # also with the rest of an incomplete group
        assert redactor(SECRET).redact("Authorization: Basic %s..." % encoded[:cut]) == "Authorization: Basic dXNl%s..." % MASK


@pytest.mark.parametrize("before", ["x" * 190, "ab", "abc", "Zm9v"])
def test_base64_after_other_letters_of_its_alphabet_is_masked_and_the_letters_stay(before):
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(SECRET.encode()).decode().rstrip("=")
        assert redactor(SECRET).redact("%s%s end" % (before, encoded)) == "%s%s end" % (before, MASK)


def test_a_large_text_without_secret_is_returned_unchanged_and_one_cut_at_its_end_is_masked():
    """About 2 MB of near misses: 7-character pieces of the secret (one short of a run), in plain, percent-encoded,
    HTML and hex, between escapes that decode to nothing of the secret. The algorithm is linear in the text (every
    4th position is looked up, each run measured once), so this is quick; it is not timed here."""
    near = " ".join((SECRET[:7], SECRET[9:16], every_char_percent(SECRET[2:9], str.lower),
                     "".join("&#x%x;" % ord(char) for char in SECRET[5:12]), SECRET[:7].encode().hex(),
                     "%41%42 &amp; &lt;p&gt; 0123456789abcdef", ""))
    text = near * (2_000_000 // len(near))
    assert len(text) > 1_900_000
    masking = redactor(SECRET, AWKWARD, "short1")
    assert masking.redact(text) == text
    assert masking.redact(text + SECRET[:8]) == text + MASK


ALPHABET_SECRET = string.ascii_letters[:6] + string.digits + "+/=&<>\"' %é_-"
ALPHABET_TEXT = "ghijklmnopqrstuvwxyz.,:()[]"  # shares no character with a secret (which could go on in it), nor with any encoding's digits


def _encode(secret, how):
    if how == "percent-lower":
        return every_char_percent(secret, str.lower)
    if how == "percent-upper":
        return every_char_percent(secret, str.upper)
    if how == "quote-lower":
        return lower_escapes(quote(secret, safe=""))
    if how == "html-hex":
        return "".join("&#x%x;" % ord(char) for char in secret)
    if how == "html-decimal":
        return "".join("&#%d;" % ord(char) for char in secret)
    if how == "html-named":
        return html.escape(secret)
    if how == "hex-lower":
        return secret.encode("utf-8").hex()
    if how == "hex-upper":
        return secret.encode("utf-8").hex().upper()
    return secret


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=st.text(alphabet=ALPHABET_SECRET, min_size=8, max_size=60).map(str.strip).filter(lambda text: len(text) >= 8),
       cut=st.tuples(st.integers(min_value=0, max_value=60), st.integers(min_value=8, max_value=60)),
       how=st.sampled_from(["plain", "percent-lower", "percent-upper", "quote-lower", "html-hex", "html-decimal",
                            "html-named", "hex-lower", "hex-upper"]),
       before=st.text(alphabet=ALPHABET_TEXT, max_size=40), after=st.text(alphabet=ALPHABET_TEXT, max_size=40))
def test_any_run_of_8_in_any_encoding_inside_plain_text_is_one_mask(secret, cut, how, before, after):
    start = min(cut[0], len(secret) - 8)
    piece = secret[start:start + cut[1]]
    if how in ("hex-lower", "hex-upper") and len(piece.encode("utf-8")) < 8:
        piece = secret  # hex runs are masked from 8 bytes of the secret
    assert redactor(secret).redact(before + _encode(piece, how) + after) == before + MASK + after


def test_shorten_searches_enough_of_a_long_text_to_mask_a_secret_across_the_limit():
    masking = redactor(AWKWARD)
    encoded = every_char_percent(AWKWARD, str.lower)  # 12 characters for the é
    text = "x" * 95 + encoded + "y" * 5_000_000
    assert masking.shorten(text, 100) == "x" * 95 + MASK[:5] + "..."
    assert masking.shorten("tail " + AWKWARD, 100) == "tail " + MASK


@pytest.mark.parametrize("secret, text", [
    ("a" * 40, "a" * 100_000),  # a secret that repeats itself, in a text that repeats it
    (SECRET, SECRET * 20_000),
])
def test_a_text_that_repeats_a_secret_is_one_mask(secret, text):
    assert redactor(secret).redact("<%s>" % text) == "<%s>" % MASK


def test_a_secret_that_looks_like_an_escape_is_masked_as_it_is():
    for secret in ("ab%41cd&amp;ef", "%2F%2f%2F%2f", "&#x41;&#x42;", "0123456789abcdef"):
        assert redactor(secret).redact("[%s]" % secret) == "[%s]" % MASK, secret
        assert redactor(secret).redact("[%s]" % secret[:9]) == "[%s]" % MASK, secret


def test_runs_of_7_and_the_pieces_around_a_secret_stay():
    masking = redactor(SECRET)
    text = "%s %s %s" % (SECRET[:7], SECRET[7:14], SECRET[14:] + SECRET[:5])
    assert masking.redact(text) == text
