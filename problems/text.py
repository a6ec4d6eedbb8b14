"""Text hygiene shared by every stage: mask personal data, drop quoted replies, normalize.

Two different jobs live here and must not be confused:

* `mask_pii` removes personal data (emails, phone numbers, IP addresses, card numbers,
  API keys, bearer tokens, ``password=...`` pairs). It runs on every ticket text before
  the text is kept in state, so nothing downstream (register, graph export, logs) can
  leak it. Masking is idempotent: masking masked text changes nothing.
* `strip_form_lines` drops what a bug form writes into every report (its section labels,
  the browser's user agent), so that features see what the reporter wrote.
* `normalize` prepares masked text for features: unicode and case folding, and volatile
  tokens (numbers, hex, UUIDs, timestamps, paths, URLs, order and ticket ids) become
  placeholders so that "timeout after 3012 ms" and "timeout after 45 ms" read the same.

Examples
--------
>>> mask_pii("mail jane.doe@example.com from 10.0.0.12, Authorization: Bearer abcDEF123456789")
'mail [email] from [ip], Authorization: Bearer [token]'
>>> normalize("Timeout after 3012 ms on order ORD-88812")
'timeout after <num> ms on order <id>'
>>> normalize("Timeout after 45 ms on order ORD-1")
'timeout after <num> ms on order <id>'
"""

from __future__ import annotations

import functools
import ipaddress
import re
import string
import unicodedata
from collections.abc import Callable

__all__ = [
    "PLACEHOLDERS",
    "clean_ticket_text",
    "forget_short_texts",
    "mask_pii",
    "normalize",
    "strip_form_lines",
    "strip_quoted",
]

PLACEHOLDERS = ("[email]", "[phone]", "[ip]", "[card]", "[token]", "[secret]")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|pass|secret|client[_-]?secret|api[_-]?key|apikey|"
    r"access[_-]?key|secret[_-]?key|auth[_-]?token|access[_-]?token|token)"
    r"(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
)
_KNOWN_KEYS = re.compile(
    r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16}|"
    r"gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,})"
)
# A long run of letters and digits mixed is a key or a hash; either way not for people.
_LONG_TOKEN = re.compile(
    r"(?<![\w/.-])(?=[A-Za-z0-9+/_]*\d)(?=[A-Za-z0-9+/_]*[A-Za-z])"
    r"[A-Za-z0-9+/_]{32,}={0,2}(?![\w/.-])"
)
# A sentence may end right after an address ("from 10.0.0.1."), so a trailing dot is
# allowed; a fifth number group ("1.2.3.4.5") is not an address.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{0,4}(?![\w:])"
    r"|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}(?![\w:])"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Compiled once: the module-level `re` functions look each pattern up in a cache on
# every call, a noticeable part of a replacement's cost.
_NON_DIGIT = re.compile(r"\D")
_DATE_OR_TIME = re.compile(r"\d{4}[-./]\d{2}[-./]\d{2}.*|\d{2}[-./]\d{2}[-./]\d{4}")


def _mask_card(match: re.Match[str]) -> str:
    digits = _NON_DIGIT.sub("", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _mask_ipv4(match: re.Match[str]) -> str:
    address = match.group(0).split(":")[0]
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return match.group(0)
    return "[ip]"


def _mask_ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[ip]"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = _NON_DIGIT.sub("", text)
    if not 9 <= len(digits) <= 15:
        return text
    # Dates and times have the same shape as short phone numbers; leave them be.
    if _DATE_OR_TIME.fullmatch(text):
        return text
    return "[phone]"


# Every key `_KNOWN_KEYS` matches holds one of these three, or "_" and a match of one of
# the two patterns after them (each starts with a literal: one quick pass each).
_KEY_PARTS_OTHER = ("AKIA", "xox", "AIza")
_KEY_PARTS_LIVE_TEST = re.compile(r"_(?:live|test)_")
_KEY_PARTS_GITHUB = re.compile(r"gh[pousr]_")
_RUN_32 = re.compile(r"[A-Za-z0-9+/_]{32}")
# The same run after a character outside it: the class in front lets the regex engine
# skip to candidates, where `_RUN_32.search` tried every position of every word.
_RUN_32_INSIDE = re.compile(r"[^A-Za-z0-9+/_][A-Za-z0-9+/_]{32}")

# Hints: a part that every match of a pattern contains, without the pattern's leading
# look-behind or word boundary, written so that it starts with a literal character: the
# regex engine skips to a literal quickly, tests a character class at every position at
# about a tenth of that speed, and tries a pattern that starts with a look-behind at
# every position, which made the full patterns costly on long texts that only looked
# promising (digits, dots, colons). Same flags as the full pattern, so the hint matches
# wherever the pattern does, on any text.
_SECRET_HINT = re.compile(r"(?i)(?:word|wd|pass|secret|key|token)\s*[:=]")
# The same hint without IGNORECASE, for the lower-cased form of ASCII text: a
# case-insensitive alternation was six times slower than the case-sensitive one.
_SECRET_HINT_LOWER = re.compile(r"(?:word|wd|pass|secret|key|token)\s*[:=]")
# And split into patterns that start with a literal, a quick pass each, to test for one.
_SECRET_HINT_WORD = re.compile(r"w(?:or)?d\s*[:=]")
_SECRET_HINT_PASS = re.compile(r"pass\s*[:=]")
_SECRET_HINT_SECRET = re.compile(r"secret\s*[:=]")
_SECRET_HINT_KEY = re.compile(r"key\s*[:=]")
_SECRET_HINT_TOKEN = re.compile(r"token\s*[:=]")
_BEARER_HINT = re.compile(r"(?i)(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8}")
# The same for the lower-cased form of ASCII text (as `_SECRET_HINT_LOWER`), as two
# patterns that start with a literal.
_BEARER_HINT_LOWER_B = re.compile(r"b(?:earer|asic)\s+[a-z0-9._~+/=-]{8}")
_BEARER_HINT_LOWER_TOKEN = re.compile(r"token\s+[a-z0-9._~+/=-]{8}")
# [0-9A-Fa-f]:[0-9A-Fa-f:]|:: from the colon, with the hex digit before it checked there.
_IPV6_HINT = re.compile(r":(?:(?<=[0-9A-Fa-f]:)[0-9A-Fa-f:]|:)")
# \d\.\d{1,3}\.\d{1,3}\.\d with the first dot in front and the digit before it checked
# from there.
_IPV4_HINT = re.compile(r"\.(?<=\d\.)\d{1,3}\.\d{1,3}\.\d")
_CARD_HINT = re.compile(r"\d(?:[ -]?\d){12}")
_PHONE_HINT = re.compile(r"\d{3}[\s.-]?\d{3}")

# The digit hints read on the shape of ASCII text instead: its bytes with every digit
# made "0" (`bytes.translate`, one pass in C), where a digit is a literal. On ASCII text
# \d is [0-9] and \s is the bytes below that `str.isspace` accepts; positions are the
# text's, one byte a character.
_SHAPE = bytes.maketrans(b"0123456789", b"0000000000")
_SPACE_BYTES = re.escape(bytes(c for c in range(128) if chr(c).isspace()))
_IPV4_HINT_SHAPE = re.compile(rb"0\.0{1,3}\.0{1,3}\.0")
_CARD_HINT_SHAPE = re.compile(rb"0(?:[ -]?0){12}")
_PHONE_HINT_SHAPE = re.compile(rb"000[" + _SPACE_BYTES + rb".-]?000")
# And the key-run test: every character of `_RUN_32`'s class becomes "0", every other
# one "x", and a run of 32 is a plain substring test.
_RUN_OF_32 = b"0" * 32
_KEY_RUN_CHARS = bytes.maketrans(
    bytes(range(128)),
    bytes(ord("0") if chr(c).isalnum() or chr(c) in "+/_" else ord("x") for c in range(128)),
)


class _Facts:
    """What the cheap tests read about one text, computed once per text rather than once
    per test (the tests ran before every step and were half of `mask_pii`'s cost), and
    only when a test asks: most tests stop at a plain substring test.

    Digits (\\d) include other scripts' digits, and IGNORECASE folds a few non-ASCII letters
    onto ASCII ones (U+017F onto s, U+212A onto k): on non-ASCII text the counts, the
    lower-case form and the shape would not be exact, so the tests that use them say "may
    match" there or use the patterns on the text itself.
    """

    __slots__ = ("_digits", "_lower", "_shape", "ascii", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        self._lower: str | None = None
        self._shape: bytes | None = None
        self._digits = -1

    @property
    def lower(self) -> str:
        """The lower-case form of ASCII text (empty otherwise)."""
        if self._lower is None:
            self._lower = self.text.lower() if self.ascii else ""
        return self._lower

    @property
    def shape(self) -> bytes:
        """The bytes of ASCII text with every digit made "0" (empty otherwise)."""
        if self._shape is None:
            self._shape = self.text.encode("ascii").translate(_SHAPE) if self.ascii else b""
        return self._shape

    @property
    def digits(self) -> int:
        """How many digits the text holds; on non-ASCII text, an upper bound."""
        if self._digits < 0:
            self._digits = self.shape.count(b"0") if self.ascii else len(self.text)
        return self._digits

    def hint(self, on_text: re.Pattern[str], on_shape: re.Pattern[bytes]) -> bool:
        """Whether a digit hint matches: ``on_shape`` on the shape of ASCII text (the
        same pattern with every digit "0"), ``on_text`` on other text."""
        if self.ascii:
            return on_shape.search(self.shape) is not None
        return on_text.search(self.text) is not None


def _may_hold_known_key(facts: _Facts) -> bool:
    text = facts.text
    if any(map(text.__contains__, _KEY_PARTS_OTHER)):
        return True
    return "_" in text and (
        _KEY_PARTS_LIVE_TEST.search(text) is not None or _KEY_PARTS_GITHUB.search(text) is not None
    )


def _may_hold_secret_pair(facts: _Facts) -> bool:
    text = facts.text
    if not ("=" in text or ":" in text):
        return False
    if not facts.ascii:
        return _SECRET_HINT.search(text) is not None
    lower = facts.lower
    return bool(
        _SECRET_HINT_WORD.search(lower)
        or _SECRET_HINT_PASS.search(lower)
        or _SECRET_HINT_SECRET.search(lower)
        or _SECRET_HINT_KEY.search(lower)
        or _SECRET_HINT_TOKEN.search(lower)
    )


def _may_hold_bearer(facts: _Facts) -> bool:
    if not facts.ascii:
        return _BEARER_HINT.search(facts.text) is not None
    lower = facts.lower
    return (
        _BEARER_HINT_LOWER_B.search(lower) is not None
        or _BEARER_HINT_LOWER_TOKEN.search(lower) is not None
    )


def _has_long_run(facts: _Facts) -> bool:
    text = facts.text
    if len(text) < 32:
        return False
    if facts.ascii:
        return _RUN_OF_32 in facts.shape.translate(_KEY_RUN_CHARS)
    # A run either starts the text or follows a character outside it.
    return _RUN_32.match(text) is not None or _RUN_32_INSIDE.search(text) is not None


# Characters of an email's local part, for `str.rstrip`.
_EMAIL_LOCAL = string.ascii_letters + string.digits + "._%+-"


def _sub_emails(facts: _Facts) -> str:
    """`_EMAIL.sub("[email]", text)`, with the pattern tried only where a match can start.

    The regex engine tried every letter and digit and ran over the rest of its word each
    time. A match is a run of local-part characters, "@", and a domain; the local part is
    the whole run before the "@" back to the previous match or a character outside the
    run, and whether the domain matches does not depend on where the run starts. So the
    only start to try for each "@" is the start of that run, scanning left to right as
    `re.sub` does.
    """
    text = facts.text
    at = text.find("@")
    kept: list[str] = []
    done = 0  # end of the last match: text before it is already in ``kept``
    low = 0  # no match starts before this
    while at >= 0:
        start = low + len(text[low:at].rstrip(_EMAIL_LOCAL))
        match = _EMAIL.match(text, start) if start < at else None
        if match is None:
            # The "@" is not in the local-part class: no later match starts before it.
            low = at + 1
        else:
            kept += (text[done:start], "[email]")
            done = low = match.end()
        at = text.find("@", low)
    if not kept:
        return text
    kept.append(text[done:])
    return "".join(kept)


_HEX_OR_COLON = "0123456789abcdefABCDEF:"
_WORD_OR_COLON = re.compile(r"[\w:]")
_WORD_OR_COLON_RUN = re.compile(r"[\w:]*")


def _sub_ipv6(facts: _Facts) -> str:
    """`_IPV6.sub(_mask_ipv6, text)`, with the pattern tried only where a match can start.

    Each alternative of `_IPV6` starts after no word character or colon, ends before none,
    and holds only hex digits and colons with at least one colon: a match is a whole run
    of word characters and colons, all of them hex digits or colons, holding a colon. So
    the only start to try is the start of each such run around a colon, left to right.
    The regex engine tried every position, the pattern's costliest part on long texts.
    """
    text = facts.text
    colon = text.find(":")
    kept: list[str] = []
    done = 0
    low = 0  # every run before this has been tried; text[low] is not a word character
    while colon >= 0:
        start = low + len(text[low:colon].rstrip(_HEX_OR_COLON))
        run_end = _WORD_OR_COLON_RUN.match(text, colon).end()  # type: ignore[union-attr]
        # A word character before the hex digits: the run holds a non-hex character.
        match = (
            None
            if start > 0 and _WORD_OR_COLON.match(text, start - 1)
            else _IPV6.match(text, start)
        )
        if match is None:
            low = run_end
        else:
            kept += (text[done:start], _mask_ipv6(match))
            done = low = match.end()
        colon = text.find(":", low)
    if not kept:
        return text
    kept.append(text[done:])
    return "".join(kept)


# `_IPV4` and `_PHONE` with the first character taken before the look-behind, which then
# checks the character before it: the same matches, but a pattern that starts with a
# character (class) lets the regex engine skip to candidates instead of trying every
# position. The originals stay the reference (`_mask_pii_every_step`, tests).
_IPV4_FAST = re.compile(r"\d(?<![\w.].)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?::\d{1,5})?(?!\w|\.\d)")
_PHONE_FAST = re.compile(
    r"(?:\+(?<![\w+].)\d{1,3}[\s.-]?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])"
    r"|\((?<![\w+].)\d{2,4}\)[\s.-]?"
    r"|\d(?<![\w+].)\d{1,3}[\s.-])"
    r"\d{3,4}[\s.-]?\d{3,4}(?!\w)"
)


def _sub_near_hints(
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
    next_hint: Callable[[_Facts, int], int],
    before: int,
    reach: int | None,
) -> Callable[[_Facts], str]:
    """``pattern.sub(replace, text)``, with the pattern tried only near its hints.

    For a pattern whose every match, starting at s, holds a hint starting at most
    ``before`` characters after s (``next_hint(facts, pos)``: where the first hint at or
    after ``pos`` starts, or -1). The next match after ``pos`` then starts no earlier than
    the next hint less ``before``, and the search starts there: the regex engine no longer
    runs over the text before it. If every try of the pattern at s reads no character
    past s + ``reach`` (bounded repeats only; look-aheads count), the text is also cut
    ``reach`` characters past the hint, which tries every start up to the hint exactly as
    on the whole text; a match found there that starts past the hint is not trusted (the
    cut may have made it) and the next hint decides. So the engine does not run over the
    text between hints either.
    """

    def sub(facts: _Facts) -> str:
        text = facts.text
        kept: list[str] = []
        done = pos = 0
        while (at := next_hint(facts, pos)) >= 0:
            start = max(pos, at - before)
            if reach is None:
                match = pattern.search(text, start)
                if match is None:
                    break
            else:
                match = pattern.search(text, start, at + reach)
                if match is None or match.start() > at:
                    pos = at + 1
                    continue
            kept += (text[done : match.start()], replace(match))
            done = pos = match.end()
        if not kept:
            return text
        kept.append(text[done:])
        return "".join(kept)

    return sub


def _hint_finder(
    on_text: re.Pattern[str], on_ascii: re.Pattern[bytes] | re.Pattern[str], form: str
) -> Callable[[_Facts, int], int]:
    """``next_hint`` for `_sub_near_hints`: ``on_ascii`` on the ``form`` ("shape" or
    "lower") of ASCII text, ``on_text`` on other text."""

    def next_hint(facts: _Facts, pos: int) -> int:
        if facts.ascii:
            found = on_ascii.search(getattr(facts, form), pos)
        else:
            found = on_text.search(facts.text, pos)
        return -1 if found is None else found.start()

    return next_hint


def _sub_with(
    pattern: re.Pattern[str], replacement: str | Callable[[re.Match[str]], str]
) -> Callable[[_Facts], str]:
    def sub(facts: _Facts) -> str:
        return pattern.sub(replacement, facts.text)

    return sub


def _replace_bearer(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}[token]"


def _replace_secret(match: re.Match[str]) -> str:
    if match.group(3) in PLACEHOLDERS:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}[secret]"


# Each step: the pattern and its replacement (the reference: `_mask_pii_every_step`), a
# cheap test that is true whenever the pattern can replace anything in the text (a
# necessary condition, never a heuristic), and the function that replaces, the same as
# ``pattern.sub(replacement, text)`` on every text, faster where it says so: most ticket
# text holds no personal data, and scanning it with ten regular expressions was most of
# the cost of keeping a ticket. Steps run in this order on the text left by the previous
# step, exactly as without the tests.
_Step = tuple[
    re.Pattern[str],
    "str | Callable[[re.Match[str]], str]",
    "Callable[[_Facts], bool]",
    "Callable[[_Facts], str]",
]
_STEPS: tuple[_Step, ...] = (
    (_EMAIL, "[email]", lambda f: "@" in f.text, _sub_emails),
    (_JWT, "[token]", lambda f: "eyJ" in f.text, _sub_with(_JWT, "[token]")),
    (_KNOWN_KEYS, "[token]", _may_hold_known_key, _sub_with(_KNOWN_KEYS, "[token]")),
    (_BEARER, _replace_bearer, _may_hold_bearer, _sub_with(_BEARER, _replace_bearer)),
    (
        _SECRET_PAIR,
        _replace_secret,
        _may_hold_secret_pair,
        # The hint is the end of the name and the separator; the longest name in front of
        # it is "client_", "access_" or "secret_" (7). The value has no bound.
        _sub_near_hints(
            _SECRET_PAIR,
            _replace_secret,
            _hint_finder(_SECRET_HINT, _SECRET_HINT_LOWER, "lower"),
            before=7,
            reach=None,
        ),
    ),
    (_LONG_TOKEN, "[token]", _has_long_run, _sub_with(_LONG_TOKEN, "[token]")),
    (
        _IPV6,
        _mask_ipv6,
        # The first form has seven colons, the other two hold "::".
        lambda f: (
            ("::" in f.text or f.text.count(":") >= 7) and _IPV6_HINT.search(f.text) is not None
        ),
        _sub_ipv6,
    ),
    (
        _IPV4,
        _mask_ipv4,
        lambda f: f.digits >= 4 and f.text.count(".") >= 3 and f.hint(_IPV4_HINT, _IPV4_HINT_SHAPE),
        # A match: up to 3 digits and a dot four times less the last dot, a colon and 5
        # digits (21 characters), and a look-ahead of 2: 23 read. The hint starts at the
        # first dot (on the text) or the digit before it (on the shape), 3 in at most.
        _sub_near_hints(
            _IPV4_FAST,
            _mask_ipv4,
            _hint_finder(_IPV4_HINT, _IPV4_HINT_SHAPE, "shape"),
            before=3,
            reach=23,
        ),
    ),
    (
        _CARD,
        _mask_card,
        lambda f: f.digits >= 13 and f.hint(_CARD_HINT, _CARD_HINT_SHAPE),
        _sub_with(_CARD, _mask_card),
    ),
    (
        _PHONE,
        _mask_phone,
        # The replacing function looks for the hint first.
        lambda f: f.digits >= 9,
        # A match: "+", 3 digits, a separator, "(", 4 digits, ")", a separator (12
        # characters at most), then 4 digits, a separator, 4 digits (the hint is in
        # these, starting 1 in at most: 13), and the look-ahead: 22 characters read.
        _sub_near_hints(
            _PHONE_FAST,
            _mask_phone,
            _hint_finder(_PHONE_HINT, _PHONE_HINT_SHAPE, "shape"),
            before=13,
            reach=22,
        ),
    ),
)


def mask_pii(text: str) -> str:
    """Replace personal data and secrets in ``text`` by bracketed placeholders.

    >>> mask_pii("call +1 (415) 555-0134 or 020 7946 0958; password=hunter2")
    'call [phone] or [phone]; password=[secret]'
    >>> mask_pii("card 4111 1111 1111 1111, host fe80::1ff:fe23:4567:890a")
    'card [card], host [ip]'
    >>> mask_pii("Requests come from 94.200.129.210.")
    'Requests come from [ip].'
    >>> mask_pii("token=abc sk_live_0123456789abcdef")
    'token=[secret] [token]'
    >>> mask_pii(mask_pii("token=abc sk_live_0123456789abcdef"))
    'token=[secret] [token]'
    """
    facts = _Facts(text)
    for _, _, may_match, replace in _STEPS:
        if may_match(facts):
            masked = replace(facts)
            # A step that replaced something may add words ("[token]") or drop digits:
            # the facts are taken again from the new text.
            if masked != text:
                text = masked
                facts = _Facts(text)
    return text


def _mask_pii_every_step(text: str) -> str:
    """`mask_pii` without the cheap tests and with the original patterns: the reference
    the tests compare it with."""
    for pattern, replacement, _, _ in _STEPS:
        text = pattern.sub(replacement, text)
    return text


_REPLY_HEADER = re.compile(
    r"^(?:On .{5,200}wrote:|-{2,}\s*Original Message\s*-{2,}|From: .+|Sent from my \w+.*)\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^(?:--\s*|best regards,?|kind regards,?|regards,?|thanks,?|thank you,?|cheers,?)\s*$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """Drop quoted email replies and a trailing signature, where recognizable.

    >>> strip_quoted("Export fails.\\nThanks,\\nAnn\\n\\nOn Mon, 3 May 2026, Bob wrote:\\n> old")
    'Export fails.'
    """
    lines = text.splitlines()
    if len(lines) == 1:
        # One line: nothing is kept before it, so it cannot be a sign-off.
        stripped = lines[0].strip()
        if stripped.startswith(">") or _REPLY_HEADER.match(stripped):
            return ""
        return stripped
    # IGNORECASE folds a few non-ASCII letters onto ASCII ones (U+017F onto s): only on
    # ASCII text is the lower-case form exact for the word tests below.
    if ">" not in text and text.isascii():
        lower = text.lower()
        if not any(map(lower.__contains__, _REPLY_WORDS)):
            # No quoted line and no reply header: every line is kept up to a sign-off
            # among the last eight lines (not the first: nothing is kept before it).
            if any(map(lower.__contains__, _SIGN_OFF_WORDS)):
                lower_lines = lower.splitlines()
                for index in range(max(1, len(lines) - 8), len(lines)):
                    if lower_lines[index].strip() in _SIGN_OFFS:
                        return "\n".join(lines[:index]).strip()
            return "\n".join(lines).strip()
    return _strip_quoted_lines(lines)


def _strip_quoted_lines(lines: list[str]) -> str:
    """`strip_quoted` of the text of ``lines``, line by line: the reference the tests
    compare `strip_quoted` with."""
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _REPLY_HEADER.match(stripped):
            break
        # A sign-off near the end starts the signature; earlier it may be prose. (The
        # cheap conditions first: the pattern need not run on the other lines.)
        if index >= len(lines) - 8 and kept and _SIGN_OFF.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


# Every line `_REPLY_HEADER` matches holds one of these, case folded.
_REPLY_WORDS = ("wrote:", "original message", "from: ", "sent from my ")
# Every line `_SIGN_OFF` matches holds one of these, case folded.
_SIGN_OFF_WORDS = ("--", "regards", "thank", "cheers")
# What `_SIGN_OFF` matches, as a stripped line of ASCII text lower-cased: the line holds
# no white space at either end, so the pattern's trailing white space is empty.
_SIGN_OFFS = frozenset(
    f"{word}{comma}"
    for word in ("best regards", "kind regards", "regards", "thanks", "thank you", "cheers")
    for comma in ("", ",")
) | {"--"}


def clean_ticket_text(text: str) -> str:
    """What is kept of a ticket's text: quoted replies dropped, personal data masked."""
    if len(text) <= _SHORT_TEXT_CHARS:
        return _clean_short_text(text)
    return mask_pii(strip_quoted(unicodedata.normalize("NFKC", text)))


# A line that is only a bug form's section label: ending in a colon or decorated as a
# Markdown heading ("Actual results:", "**Expected behavior:**", "### Steps to Reproduce").
# The words are the labels of the common trackers' forms (Bugzilla, GitHub issue
# templates, help-desk forms): every report filed through the form holds them, so they
# say nothing about its problem. A label a reporter wrote ("Stack trace:", "Found one
# Java-level deadlock:") is kept.
_FORM_LABEL = re.compile(
    r"[ \t#*_>-]*(?:steps? to reproduce|reproduction steps|steps|str|actual results?|"
    r"expected results?|actual behaviou?r|expected behaviou?r|actual|expected|"
    r"environment|notes?|additional (?:info|information|context|details)|"
    r"preconditions?|description|summary|reproducible|build ?id|user ?agent|"
    r"regression range|workaround)[ \t]*:?[ \t*_\r]*",
    re.IGNORECASE,
)
# A browser's user-agent string, which web forms paste into every report ("User Agent:
# Mozilla/5.0 (X11; Linux x86_64; rv:60.0) Gecko/20100101 Firefox/60.0"): its platform
# comments and product/version tokens. What a reporter wrote around it is kept.
_USER_AGENT = re.compile(
    r"(?i:user[ -]?agent:?[ \t]*)?Mozilla/\d+(?:\.\d+)?"
    r"(?:[ \t]+(?:\([^()\n]*\)|[\w.-]+/[\w.+-]+))*"
)
_LABEL_CHARS = 48
"""Longest line that can be a form label (with its decoration)."""
# Every text holding a line `strip_form_lines` drops holds one of these or ends in a colon
# (a label ends its line in a colon, maybe decorated; a heading starts with "#" or "*"):
# most texts are passed over after a few substring scans, without splitting lines.
_FORM_LINE_HINTS = (":\n", ":\r", ":*", ":_", ":\t", "#", "*", "Mozilla/")
# A colon and a space end a label only when nothing else follows on the line (prose holds
# ": " everywhere); the literal start makes the search a fast scan.
_COLON_SPACE_AT_END = re.compile(r": [ \t*_\r]*(?:\n|\Z)")


def strip_form_lines(text: str) -> str:
    """Drop what a bug form writes into every report: its section labels, and the
    reporter's browser user agent.

    Report forms (Bugzilla's, GitHub's issue templates, help desks') give every report
    the same labels; on trackers where most reports come through one, those lines alone
    made unrelated reports look alike. Only features read the result: the kept text of a
    ticket is unchanged.

    >>> strip_form_lines("User Agent: Mozilla/5.0 (X11; Linux) Gecko/20100101\\n\\n"
    ...     "Steps to reproduce:\\nOpen a tab\\n**Expected Behavior:**\\nIt loads\\n"
    ...     "Stack trace:\\nat X")
    '\\n\\nOpen a tab\\nIt loads\\nStack trace:\\nat X'
    >>> strip_form_lines("Only with Mozilla/5.0 (Windows NT 10.0; Win64) on Windows 10")
    'Only with  on Windows 10'
    >>> strip_form_lines("### Steps to Reproduce\\r\\nClick save\\r\\nExpected\\r\\n")
    'Click save\\r\\nExpected\\r\\n'
    >>> strip_form_lines("Timeout after 30 s: export fails")
    'Timeout after 30 s: export fails'
    """
    if not (
        any(map(text.__contains__, _FORM_LINE_HINTS))
        or text.endswith(":")
        or _COLON_SPACE_AT_END.search(text)
    ):
        return text
    return _strip_form_lines_every_line(text)


def _strip_form_lines_every_line(text: str) -> str:
    """`strip_form_lines` looking at every line: the reference the tests compare
    `strip_form_lines` with."""
    while "Mozilla/" in text:
        # Again until none is left: removing one may join the halves of another.
        without = _USER_AGENT.sub("", text)
        if without == text:
            break
        text = without
    lines = text.split("\n")
    kept = [
        line
        for line in lines
        if not (
            len(line) <= _LABEL_CHARS
            and (line.rstrip(" \t*_\r").endswith(":") or line.lstrip().startswith(("#", "*")))
            and _FORM_LABEL.fullmatch(line)
        )
    ]
    return text if len(kept) == len(lines) else "\n".join(kept)


_SHORT_TEXT_CHARS = 200
"""Short texts (customer names, subjects) come back again and again, an account's name
on each of its tickets: their cleaned form is remembered, the `_SHORT_TEXTS_KEPT` last
used (a few megabytes)."""
_SHORT_TEXTS_KEPT = 8_192


@functools.lru_cache(maxsize=_SHORT_TEXTS_KEPT)
def _clean_short_text(text: str) -> str:
    return mask_pii(strip_quoted(unicodedata.normalize("NFKC", text)))


def forget_short_texts() -> None:
    """Forget the cleaned short texts (for benchmarks: each round starts afresh)."""
    _clean_short_text.cache_clear()


_URL = re.compile(r"\b(?:https?|ftp|file|hdfs|s3a?|jdbc:\w+)://\S+", re.IGNORECASE)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
)
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b")
_PATH = re.compile(r"(?<![\w<])(?:[a-z]:\\|/)(?:[\w.@-]+[/\\]){2,}[\w.@-]*")
_ENTITY_ID = re.compile(r"#\d{3,}\b|\b[a-z]{2,5}-\d+\b|\b[a-z]{2,5}_\d{4,}\b")
_NUMBER = re.compile(r"(?<![<\w])[-+]?\d+(?:[.,]\d+)*(?![\w>])|\b\d+(?=[a-z]{1,3}\b)")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold case and unicode; turn volatile tokens into placeholders; squeeze spaces.

    >>> normalize("GET https://api.x.io/v1/o?id=7 failed at 2026-03-01 10:22:03, id 9f8e7d6c5b")
    'get <url> failed at <ts>, id <hex>'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" <url> ", text)
    text = _UUID.sub(" <uuid> ", text)
    text = _TIMESTAMP.sub(" <ts> ", text)
    text = _HEX.sub(" <hex> ", text)
    text = _PATH.sub(" <path> ", text)
    text = _ENTITY_ID.sub(" <id> ", text)
    text = _NUMBER.sub(" <num> ", text)
    text = _SPACES.sub(" ", text).strip()
    return re.sub(r" ([,.;:)])", r"\1", text)
