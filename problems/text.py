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


_DIGITS = "0123456789"
_IPV6_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_WORDS = ("pass", "pwd", "secret", "key", "token")
# Every key `_KNOWN_KEYS` matches holds one of these.
_KEY_PARTS = ("_live_", "_test_", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza")
_RUN_32 = re.compile(r"[A-Za-z0-9+/_]{32}")


def _n_digits(text: str) -> int:
    """Digits ``\\d`` can match: exact for ASCII text, an upper bound otherwise."""
    if text.isascii():
        return sum(text.count(digit) for digit in _DIGITS)
    return len(text)  # \d also matches other scripts' digits: never skip on non-ASCII text


def _may_hold_secret_word(text: str, words: tuple[str, ...]) -> bool:
    # IGNORECASE also folds a few non-ASCII letters onto ASCII ones (U+017F onto s,
    # U+212A onto k), so the cheap lower-case test is exact only for ASCII text.
    if not text.isascii():
        return True
    lower = text.lower()
    return any(word in lower for word in words)


def _has_long_run(text: str) -> bool:
    # A run of 32 key characters holds no white space, so it lies inside one word.
    return any(len(word) >= 32 and _RUN_32.search(word) for word in text.split())


# Each step: the pattern, its replacement, and a cheap test that is true whenever the
# pattern can replace anything in the text (a necessary condition, never a heuristic):
# most ticket text holds no personal data, and scanning it with ten regular expressions
# was most of the cost of keeping a ticket. Steps run in this order on the text left by
# the previous step, exactly as without the tests.
_Step = tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]", "Callable[[str], bool]"]
_STEPS: tuple[_Step, ...] = (
    (_EMAIL, "[email]", lambda text: "@" in text),
    (_JWT, "[token]", lambda text: "eyJ" in text),
    (_KNOWN_KEYS, "[token]", lambda text: any(part in text for part in _KEY_PARTS)),
    (
        _BEARER,
        lambda m: f"{m.group(1)}{m.group(2)}[token]",
        lambda text: _may_hold_secret_word(text, ("bearer", "basic", "token")),
    ),
    (
        _SECRET_PAIR,
        lambda m: m.group(0) if m.group(3) in PLACEHOLDERS else f"{m.group(1)}{m.group(2)}[secret]",
        lambda text: ("=" in text or ":" in text) and _may_hold_secret_word(text, _SECRET_WORDS),
    ),
    (_LONG_TOKEN, "[token]", _has_long_run),
    (_IPV6, _mask_ipv6, lambda text: ":" in text and _IPV6_HINT.search(text) is not None),
    (_IPV4, _mask_ipv4, lambda text: text.count(".") >= 3 and _n_digits(text) >= 4),
    (_CARD, _mask_card, lambda text: _n_digits(text) >= 13),
    (_PHONE, _mask_phone, lambda text: _n_digits(text) >= 9),
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
    for pattern, replacement, may_match in _STEPS:
        if may_match(text):
            text = pattern.sub(replacement, text)
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
        # A sign-off near the end starts the signature; earlier it may be prose.
        if _SIGN_OFF.match(stripped) and index >= len(lines) - 8 and kept:
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
