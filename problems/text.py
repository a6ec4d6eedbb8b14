"""Text hygiene shared by every stage: mask personal data, drop quoted replies, normalize.

Two different jobs live here and must not be confused:

* `mask_pii` removes personal data (emails, phone numbers, IP addresses, card numbers,
  API keys, bearer tokens, ``password=...`` pairs). It runs on every ticket text before
  the text is kept in state, so nothing downstream (register, graph export, logs) can
  leak it. Masking is idempotent: masking masked text changes nothing.
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

import ipaddress
import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "PLACEHOLDERS",
    "clean_ticket_text",
    "mask_pii",
    "normalize",
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


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
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
    digits = re.sub(r"\D", "", text)
    if not 9 <= len(digits) <= 15:
        return text
    # Dates and times have the same shape as short phone numbers; leave them be.
    if re.fullmatch(r"\d{4}[-./]\d{2}[-./]\d{2}.*|\d{2}[-./]\d{2}[-./]\d{4}", text):
        return text
    return "[phone]"


_DIGIT_BYTES = b"0123456789"
_IPV6_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_WORDS = ("pass", "pwd", "secret", "key", "token")
# Every key `_KNOWN_KEYS` matches holds one of these; all but the last three hold "_".
_KEY_PARTS_UNDERSCORE = ("_live_", "_test_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")
_KEY_PARTS_OTHER = ("AKIA", "xox", "AIza")
_KEY_PARTS = _KEY_PARTS_UNDERSCORE + _KEY_PARTS_OTHER
_RUN_32 = re.compile(r"[A-Za-z0-9+/_]{32}")
# Hints: a part that every match of a pattern contains, without the pattern's leading
# look-behind or word boundary. A pattern that starts with a character class lets the
# regex engine skip ahead to candidate characters; one that starts with a look-behind is
# tried at every position, which made the full patterns costly on long texts that only
# looked promising (digits, dots, colons). Same flags as the full pattern, so the hint
# matches wherever the pattern does, on any text.
_SECRET_HINT = re.compile(r"(?i)(?:word|wd|pass|secret|key|token)\s*[:=]")
# The same hint without IGNORECASE, for the lower-cased form of ASCII text: a
# case-insensitive alternation was six times slower than the case-sensitive one.
_SECRET_HINT_LOWER = re.compile(r"(?:word|wd|pass|secret|key|token)\s*[:=]")
_BEARER_HINT = re.compile(r"(?i)(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8}")
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_CARD_HINT = re.compile(r"\d(?:[ -]?\d){12}")
_PHONE_HINT = re.compile(r"\d{3}[\s.-]?\d{3}")


class _Facts:
    """What the cheap tests read about one text, computed once per text rather than once
    per test: the tests ran before every step and were half of `mask_pii`'s cost."""

    __slots__ = ("ascii", "digits", "lower", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        # \d also matches other scripts' digits, and IGNORECASE folds a few non-ASCII
        # letters onto ASCII ones (U+017F onto s, U+212A onto k): on non-ASCII text the
        # counts and the lower-case form would not be exact, so the tests that use them
        # say "may match" there (digits = len(text) is an upper bound; see below).
        # Deleting the digits from the ASCII bytes counts them in one pass in C.
        self.digits = (
            len(text) - len(text.encode("ascii").translate(None, _DIGIT_BYTES))
            if self.ascii
            else len(text)
        )
        self.lower = text.lower() if self.ascii else ""

    def may_hold(self, words: tuple[str, ...]) -> bool:
        """True unless ``text`` surely holds none of ``words``, case folded."""
        if not self.ascii:
            return True
        # map() over the bound method: a generator cost more than these few tests.
        return any(map(self.lower.__contains__, words))


def _may_hold_known_key(facts: _Facts) -> bool:
    text = facts.text
    parts = _KEY_PARTS if "_" in text else _KEY_PARTS_OTHER
    return any(map(text.__contains__, parts))


def _may_hold_secret_pair(facts: _Facts) -> bool:
    text = facts.text
    if not ("=" in text or ":" in text) or not facts.may_hold(_SECRET_WORDS):
        return False
    if facts.ascii:
        return _SECRET_HINT_LOWER.search(facts.lower) is not None
    return _SECRET_HINT.search(text) is not None


def _has_long_run(facts: _Facts) -> bool:
    text = facts.text
    if len(text) < 32:
        return False
    # A run of 32 key characters holds no white space, so it lies inside one word of at
    # least 32 characters; most texts have none, found by one pass in C.
    words = text.split()
    if max(map(len, words), default=0) < 32:
        return False
    return any(len(word) >= 32 and _RUN_32.search(word) for word in words)


# Each step: the pattern, its replacement, and a cheap test that is true whenever the
# pattern can replace anything in the text (a necessary condition, never a heuristic):
# most ticket text holds no personal data, and scanning it with ten regular expressions
# was most of the cost of keeping a ticket. Steps run in this order on the text left by
# the previous step, exactly as without the tests.
_Step = tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]", "Callable[[_Facts], bool]"]
_STEPS: tuple[_Step, ...] = (
    (_EMAIL, "[email]", lambda f: "@" in f.text),
    (_JWT, "[token]", lambda f: "eyJ" in f.text),
    (_KNOWN_KEYS, "[token]", _may_hold_known_key),
    (
        _BEARER,
        lambda m: f"{m.group(1)}{m.group(2)}[token]",
        lambda f: (
            f.may_hold(("bearer", "basic", "token")) and _BEARER_HINT.search(f.text) is not None
        ),
    ),
    (
        _SECRET_PAIR,
        lambda m: m.group(0) if m.group(3) in PLACEHOLDERS else f"{m.group(1)}{m.group(2)}[secret]",
        _may_hold_secret_pair,
    ),
    (_LONG_TOKEN, "[token]", _has_long_run),
    (
        _IPV6,
        _mask_ipv6,
        # The first form has seven colons, the other two hold "::".
        lambda f: (
            ("::" in f.text or f.text.count(":") >= 7) and _IPV6_HINT.search(f.text) is not None
        ),
    ),
    (
        _IPV4,
        _mask_ipv4,
        lambda f: (
            f.digits >= 4 and f.text.count(".") >= 3 and _IPV4_HINT.search(f.text) is not None
        ),
    ),
    (_CARD, _mask_card, lambda f: f.digits >= 13 and _CARD_HINT.search(f.text) is not None),
    (_PHONE, _mask_phone, lambda f: f.digits >= 9 and _PHONE_HINT.search(f.text) is not None),
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
    for pattern, replacement, may_match in _STEPS:
        if may_match(facts):
            masked = pattern.sub(replacement, text)
            # A step that replaced something may add words ("[token]") or drop digits:
            # the facts are taken again from the new text.
            if masked != text:
                text = masked
                facts = _Facts(text)
    return text


def _mask_pii_every_step(text: str) -> str:
    """`mask_pii` without the cheap tests: the reference the tests compare it with."""
    for pattern, replacement, _ in _STEPS:
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
    kept: list[str] = []
    lines = text.splitlines()
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


def clean_ticket_text(text: str) -> str:
    """What is kept of a ticket's text: quoted replies dropped, personal data masked."""
    return mask_pii(strip_quoted(unicodedata.normalize("NFKC", text)))


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
