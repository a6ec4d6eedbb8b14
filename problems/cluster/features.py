"""Ticket features: hashed word and character n-grams of subject and text, plus metadata.

A ticket becomes one sparse, L2-normalised row. The vocabulary is hashed, so the
featurizer holds no learned state: it works on an endless stream, gives the same vector
for the same ticket in any process, and never needs refitting.

Blocks, each normalised on its own and then weighted, so that a block's weight is its
share of the cosine between two tickets:

* subject words (1-2 grams) and subject characters (3-5 grams, within word boundaries,
  which forgive typos and split identifiers such as ``FSNamesystem``);
* text words (1-2 grams);
* metadata tokens: product, component, version family, tags, and the error signatures
  found in the text (exception class names, error codes, HTTP statuses). Their weight is
  kept small so that they sharpen a text match but never make one.

Examples
--------
>>> from types import SimpleNamespace
>>> a = SimpleNamespace(subject="NullPointerException in DataNode heartbeat", text="",
...     product="hdfs", component="datanode", version="2.7.1", tags=())
>>> b = SimpleNamespace(subject="DataNode heartbeat throws NullPointerException", text="",
...     product="hdfs", component="datanode", version="2.7.3", tags=())
>>> c = SimpleNamespace(subject="Web UI shows wrong capacity", text="",
...     product="hdfs", component="ui", version="3.1.0", tags=())
>>> rows = TicketFeaturizer().transform([a, b, c])
>>> bool((rows[0] @ rows[1].T).toarray()[0, 0] > (rows[0] @ rows[2].T).toarray()[0, 0])
True
>>> extract_signatures("java.lang.NullPointerException at x; got HTTP 503 and ORA-00942")
['exc:nullpointerexception', 'http:503', 'code:ora-00942']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from problems.cluster.hashing import span_columns, token_columns
from problems.text import strip_form_lines

__all__ = [
    "BLOCKS",
    "TicketFeaturizer",
    "TicketLike",
    "extract_signatures",
    "version_family",
]


class TicketLike(Protocol):
    """What the cluster package reads of a ticket (`problems.records.TicketRecord` fits)."""

    @property
    def ticket_id(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def product(self) -> str: ...

    @property
    def component(self) -> str | None: ...

    @property
    def version(self) -> str | None: ...

    @property
    def tags(self) -> tuple[str, ...]: ...

    @property
    def first_closed_at(self) -> datetime: ...


# Java/Python/.NET style: dotted package optional, class ends in Exception/Error/...
# One cheap scan finds candidate words that start upper-case and either have an
# upper-case second letter (error codes) or end in an exception suffix (before trailing
# dashes); Python then sorts them out. Python's regex engine pays per starting position,
# so one simple pattern and a few string tests on its (rare) hits beat several elaborate
# patterns over the whole text; ordinary capitalised words ("Hello") never reach Python.
# A hit runs to the end of its word, as ``[A-Z][A-Za-z0-9_$-]{3,}`` would.
_CANDIDATE = re.compile(
    r"[A-Z](?:[A-Z][A-Za-z0-9_$-]{2,}"
    r"|[A-Za-z0-9_$-]*?(?:Exception|Error|Fault|Failure|Panic)-*(?![A-Za-z0-9_$-]))"
)
_EXCEPTION = re.compile(r"[A-Z][A-Za-z0-9_$]*(?:Exception|Error|Fault|Failure|Panic)")
_ERROR_CODE = re.compile(
    r"[A-Z][A-Z0-9]{0,7}[-_]\d{2,6}"  # ORA-00942, ERR_1234, HDFS-1234
    r"|E[A-Z]{4,}"  # ECONNREFUSED
    r"|[A-Z][A-Z0-9]+(?:_[A-Z0-9]+){1,5}"  # ERR_CONNECTION_RESET, SQLITE_BUSY
)
_EXCEPTION_SUFFIXES = ("Exception", "Error", "Fault", "Failure", "Panic")
_STATUS_NUMBER = re.compile(r"[1-5]\d\d\b")
_HTTP_CODE_BEFORE = re.compile(
    r"(?:\bhttp(?:/\d(?:\.\d)?)?|\bstatus(?:\s+code)?|\bresponse)\s*[:=]?\s*$"
)
_HTTP_PHRASE_AFTER = re.compile(
    r"\s+(bad request|unauthorized|forbidden|not found|method not allowed|request timeout|"
    r"conflict|too many requests|internal server error|bad gateway|service unavailable|"
    r"gateway time-?out)\b"
)
_HTTP_PHRASE_CODE = {
    "bad request": "400",
    "unauthorized": "401",
    "forbidden": "403",
    "not found": "404",
    "method not allowed": "405",
    "request timeout": "408",
    "conflict": "409",
    "too many requests": "429",
    "internal server error": "500",
    "bad gateway": "502",
    "service unavailable": "503",
    "gateway timeout": "504",
    "gateway time-out": "504",
}
# Error-phrase words only count as an HTTP status when a code sits next to them or the
# phrase is unambiguous on its own ("not found" and "conflict" are ordinary English).
_UNAMBIGUOUS_PHRASES = frozenset(
    {
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "gateway time-out",
        "too many requests",
        "method not allowed",
    }
)
_VERSION_PARTS = re.compile(r"\d+")
_SIGNATURE_SCAN_CHARS = 20_000
_COLUMN_CACHE_SIZE = 1 << 20
"""Most tokens whose columns a featurizer caches (about 100 MB at most)."""
_TRANSFORM_CHUNK = 4_096
"""Tickets featurized together at most (their token keys are held at once)."""


def extract_signatures(text: str) -> list[str]:
    """Error signatures found in ``text``: exception classes, error codes, HTTP statuses.

    Each signature is a lower-case ``kind:value`` string (``exc:``, ``code:``, ``http:``),
    listed once, in order of first appearance.

    Parameters
    ----------
    text : str
        Ticket text, raw or masked (not normalised: case carries the signal).

    Returns
    -------
    list of str

    Examples
    --------
    >>> extract_signatures("Caused by: java.io.IOException: 503 Service Unavailable")
    ['exc:ioexception', 'http:503']
    >>> extract_signatures("ECONNREFUSED then ERR_CONNECTION_RESET")
    ['code:econnrefused', 'code:err_connection_reset']
    """
    text = text[:_SIGNATURE_SCAN_CHARS]
    found: list[tuple[int, str]] = []
    for match in _CANDIDATE.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] in "_$-"):
            continue
        word = match.group(0).rstrip("-")
        if word.endswith(_EXCEPTION_SUFFIXES) and _EXCEPTION.fullmatch(word):
            found.append((start, "exc:" + word.lower()))
        elif word[1].isupper() and _ERROR_CODE.fullmatch(word):
            found.append((start, "code:" + word.lower()))
    lower = text.lower()
    for match in _STATUS_NUMBER.finditer(lower):
        start = match.start()
        if start and (lower[start - 1].isalnum() or lower[start - 1] in "._-"):
            continue
        code = match.group(0)
        if _HTTP_CODE_BEFORE.search(lower[max(0, start - 20) : start]) or (
            _HTTP_PHRASE_AFTER.match(lower, match.end())
        ):
            found.append((start, "http:" + code))
    for phrase in _UNAMBIGUOUS_PHRASES:
        at = lower.find(phrase)
        if at >= 0:
            found.append((at, "http:" + _HTTP_PHRASE_CODE[phrase]))
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(signature for _, signature in found))


def version_family(version: str | None) -> str | None:
    """The major.minor family of a version name, e.g. ``"2.7.1" -> "2.7"``.

    >>> version_family("release 3.2.1-RC2"), version_family("2"), version_family(None)
    ('3.2', '2', None)
    """
    if not version:
        return None
    # Tickets name few versions: each is parsed once (the cache is bounded).
    family = _FAMILIES.get(version, "")
    if family == "":
        parts = _VERSION_PARTS.findall(version)
        family = ".".join(parts[:2]) if parts else version.strip().lower() or None
        if len(_FAMILIES) >= _FAMILY_CACHE_SIZE:
            _FAMILIES.clear()
        _FAMILIES[version] = family
    return family


_FAMILIES: dict[str, str | None] = {}
_FAMILY_CACHE_SIZE = 4_096


def _metadata_tokens(record: TicketLike, signatures: list[str]) -> list[str]:
    tokens: list[str] = []
    if record.product:
        tokens.append("product=" + record.product.lower())
    if record.component:
        tokens.append("component=" + record.component.lower())
    family = version_family(record.version)
    if family:
        tokens.append("version=" + family)
    tokens.extend("tag=" + tag.lower() for tag in record.tags)
    tokens.extend(signatures)
    return tokens


# Words keep their digits and inner dots: version numbers ("3.3.1"), CVE ids, ports and
# dotted class or config names ("dfs.namenode.name.dir") are what duplicates share most
# often; replacing them by placeholders (as `problems.text.normalize` does for display
# and signatures) loses that, and rare volatile values cost little under IDF weighting.
_WORD = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
# Stop words and every one-character word `_WORD` can match, so that one set lookup
# drops both.
_DROPPED_WORDS = frozenset(ENGLISH_STOP_WORDS) | frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _words(text: str) -> list[str]:
    """Lower-case words of ``text`` (stop words and single characters dropped)."""
    dropped = _DROPPED_WORDS
    return [word for word in _WORD.findall(text.lower()) if word not in dropped]


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    grams: list[str] = []
    for word in text.split():
        padded = " " + word + " "
        size = len(padded)
        for n in range(low, high + 1):
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


BLOCKS = ("words", "subject_chars", "subject_words", "metadata")
"""Names of the feature blocks, in column order."""


class TicketFeaturizer:
    """Stateless hashed features of tickets: subject, text and metadata in one row.

    Four blocks of ``n_features`` columns each, in `BLOCKS` order:

    * ``words``: word 1-2 grams of the subject (counted ``subject_repeat`` times, so the
      subject weighs more) and of the text, in one space so that a subject word also
      matches the same word in another ticket's text; the text is read without the lines
      a bug form puts in every report (`problems.text.strip_form_lines`);
    * ``subject_chars``: character 3-5 grams of the subject words (typos, inflections,
      identifiers split differently);
    * ``subject_words``: word 1-2 grams of the subject alone (two titles that agree);
    * ``metadata``: product, component, version family, tags and error signatures.

    Counts are damped (``log1p``), each block is L2-normalised and weighted, and the row
    is L2-normalised again. A block keeps its shape inside the row, so a consumer that
    learns document frequencies (`problems.cluster.similar.SimilarTickets`) can reweight
    each block by IDF without featurizing again (`block_slices`).

    Parameters
    ----------
    n_features : int
        Hash space size of each block (a power of two).
    words_weight, subject_chars_weight, subject_words_weight, metadata_weight : float
        Weight of each block, its share of the cosine between two tickets (before the
        final normalisation). Metadata is kept light: it sharpens, never decides.
    subject_repeat : int
        How many times the subject's words count in the ``words`` block.
    max_text_chars : int
        Only the first characters of the text are read: the opening says what matters and
        a bound keeps the featurizer fast on pasted logs.
    char_ngram_range : tuple of int
        Character n-gram sizes for the subject.
    char_text_chars : int
        Characters of the text's opening added to the subject's character n-grams.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> t = SimpleNamespace(subject="Upload times out", text="after 30 s", product="p",
    ...     component=None, version=None, tags=())
    >>> featurizer = TicketFeaturizer()
    >>> row = featurizer.transform_one(t)
    >>> row.shape == (1, featurizer.n_columns), round(float(row.multiply(row).sum()), 6)
    (True, 1.0)
    """

    def __init__(
        self,
        n_features: int = 2**19,
        words_weight: float = 1.0,
        subject_chars_weight: float = 0.5,
        subject_words_weight: float = 0.0,
        metadata_weight: float = 0.2,
        subject_repeat: int = 2,
        max_text_chars: int = 4_000,
        char_ngram_range: tuple[int, int] = (3, 5),
        char_text_chars: int = 0,
    ) -> None:
        self.n_features = n_features
        self.words_weight = words_weight
        self.subject_chars_weight = subject_chars_weight
        self.subject_words_weight = subject_words_weight
        self.metadata_weight = metadata_weight
        self.subject_repeat = subject_repeat
        self.max_text_chars = max_text_chars
        self.char_ngram_range = char_ngram_range
        self.char_text_chars = char_text_chars

    @property
    def n_columns(self) -> int:
        """Width of a feature row (all blocks side by side)."""
        return len(BLOCKS) * self.n_features

    @property
    def block_weights(self) -> tuple[float, ...]:
        """Weight of each block, in `BLOCKS` order."""
        return (
            self.words_weight,
            self.subject_chars_weight,
            self.subject_words_weight,
            self.metadata_weight,
        )

    def block_slices(self) -> dict[str, tuple[int, int]]:
        """Column range ``[start, stop)`` of each block.

        >>> TicketFeaturizer(n_features=8).block_slices()["subject_chars"]
        (8, 16)
        """
        size = self.n_features
        return {name: (n * size, (n + 1) * size) for n, name in enumerate(BLOCKS)}

    def _token_columns(self, tokens: list[str]) -> np.ndarray:
        """Column (within a block) of each token: the signed 32-bit MurmurHash3 (seed 0)
        of its UTF-8 bytes, absolute value modulo ``n_features``.

        That is the column scikit-learn's ``FeatureHasher`` gives (so rows, and all
        results, are those of the hasher this replaces), stable across processes and
        versions (Python's ``hash`` is salted per process). A dict caches the columns of
        tokens already seen: a column is then one dict lookup, in C, instead of a hasher
        call per token. The cache is cleared when full, which bounds memory and cannot
        change any row.
        """
        cache = self._columns_cache
        columns = np.fromiter(
            map(cache.get, tokens, itertools.repeat(-1)), dtype=np.int64, count=len(tokens)
        )
        missing = np.flatnonzero(columns < 0)
        if missing.size:
            columns[missing] = self._new_columns([tokens[at] for at in missing.tolist()])
        return columns

    def _new_columns(self, tokens: list[str]) -> np.ndarray:
        """The columns of ``tokens`` (not cached yet), hashed in one call and cached."""
        cache = self._columns_cache
        if len(cache) + len(tokens) > _COLUMN_CACHE_SIZE:
            cache.clear()
        columns = token_columns(tokens, self.n_features)
        cache.update(zip(tokens, columns.tolist(), strict=True))
        return columns

    def _word_gram_columns(self, documents: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Columns of the words of each document, then of its bigrams ``"a b"``, and the
        row (document) of each.

        Words are ASCII (`_WORD`), so the words of all documents joined by single spaces
        hold every word and every bigram as a slice of one byte string: they are hashed
        from there in one call, with no cache (a cache of every bigram seen grows to
        millions of entries, each lookup a trip to memory).
        """
        words = list(itertools.chain.from_iterable(documents))
        counts = np.fromiter(map(len, documents), dtype=np.int64, count=len(documents))
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        starts = np.zeros(len(words), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        stops = starts + lengths
        # A bigram joins a word to the next word of the same document.
        has_next = np.ones(len(words), dtype=bool)
        has_next[(np.cumsum(counts) - 1)[counts > 0]] = False
        firsts = np.flatnonzero(has_next)
        columns = span_columns(
            " ".join(words).encode("ascii"),
            np.concatenate([starts, starts[firsts]]),
            np.concatenate([stops, stops[firsts + 1]]),
            self.n_features,
        )
        document = np.arange(len(documents))
        return columns, np.concatenate(
            [np.repeat(document, counts), np.repeat(document, np.maximum(counts - 1, 0))]
        )

    def _char_columns(self, subject: str) -> list[int]:
        """Columns of the character n-grams of a lower-case subject, cached per word."""
        cache = self._char_cache
        words = subject.split()
        try:
            return list(itertools.chain.from_iterable(map(cache.__getitem__, words)))
        except KeyError:
            pass
        low, high = self.char_ngram_range
        if len(cache) > _COLUMN_CACHE_SIZE // 8:
            cache.clear()
        for word in set(words).difference(cache):
            cache[word] = self._token_columns(_char_ngrams(word, low, high)).tolist()
        return list(itertools.chain.from_iterable(map(cache.__getitem__, words)))

    @property
    def _columns_cache(self) -> dict[str, int]:
        if not hasattr(self, "_token_cache"):
            self._token_cache: dict[str, int] = {}
        return self._token_cache

    @property
    def _char_cache(self) -> dict[str, list[int]]:
        if not hasattr(self, "_word_cache"):
            self._word_cache: dict[str, list[int]] = {}
        return self._word_cache

    def signatures(self, record: TicketLike) -> list[str]:
        """The error signatures the metadata block of ``record`` holds."""
        return extract_signatures(record.subject + "\n" + record.text[: self.max_text_chars])

    def transform(
        self,
        records: Sequence[TicketLike],
        signatures: Sequence[list[str]] | None = None,
    ) -> sp.csr_matrix:
        """Feature rows of ``records``, one L2-normalised row each.

        Parameters
        ----------
        records : sequence of TicketLike
            Tickets (e.g. `problems.records.TicketRecord`); not modified.
        signatures : sequence of list of str, optional
            `signatures` of each record when the caller has them already.

        Returns
        -------
        scipy.sparse.csr_matrix
            Shape ``(len(records), n_columns)``, float32, sorted indices; an empty ticket
            gives a zero row.
        """
        n_rows = len(records)
        n_columns = self.n_columns
        if not n_rows:
            return _zero_rows(0, n_columns)
        if n_rows > _TRANSFORM_CHUNK:
            # The token keys of a batch are held at once: bound them on large batches.
            return sp.vstack(
                [
                    self.transform(
                        records[start : start + _TRANSFORM_CHUNK],
                        None
                        if signatures is None
                        else signatures[start : start + _TRANSFORM_CHUNK],
                    )
                    for start in range(0, n_rows, _TRANSFORM_CHUNK)
                ],
                format="csr",
            )
        weights = self.block_weights
        # Every token of the batch becomes one key ``row * n_columns + column``; one sort
        # then counts them and puts them in CSR order, whatever the number of blocks.
        keys: list[np.ndarray] = []
        row_starts = np.arange(n_rows, dtype=np.int64) * n_columns

        def word_grams(documents: list[list[str]]) -> np.ndarray:
            """Keys (block 0) of the word 1-2 grams of one document per row."""
            columns, rows = self._word_gram_columns(documents)
            return row_starts[rows] + columns

        def add(block: int, lengths: list[int], columns: np.ndarray) -> None:
            keys.append(np.repeat(row_starts, lengths) + columns + block * self.n_features)

        def add_tokens(block: int, documents: list[list[str]]) -> None:
            flat = list(itertools.chain.from_iterable(documents))
            add(block, list(map(len, documents)), self._token_columns(flat))

        if weights[0] or weights[2]:
            subject_grams = word_grams([_words(record.subject) for record in records])
        if weights[0]:
            max_chars = self.max_text_chars
            # The subject's words count ``subject_repeat`` times, the text's once.
            keys.extend([subject_grams] * self.subject_repeat)
            keys.append(
                word_grams(
                    [_words(strip_form_lines(record.text[:max_chars])) for record in records]
                )
            )
        if weights[1]:
            char_text = self.char_text_chars
            char_columns = [
                self._char_columns(
                    (record.subject + " " + record.text[:char_text]).lower()
                    if char_text
                    else record.subject.lower()
                )
                for record in records
            ]
            flat = list(itertools.chain.from_iterable(char_columns))
            add(1, list(map(len, char_columns)), np.array(flat, dtype=np.int64))
        if weights[2]:
            keys.append(subject_grams + 2 * self.n_features)
        if weights[3]:
            if signatures is None:
                signatures = [self.signatures(record) for record in records]
            add_tokens(
                3,
                [
                    _metadata_tokens(record, found)
                    for record, found in zip(records, signatures, strict=True)
                ],
            )
        if not keys:
            return _zero_rows(n_rows, n_columns)
        unique, counts = np.unique(np.concatenate(keys), return_counts=True)
        row_of = unique // n_columns
        column = unique - row_of * n_columns
        block_of = column // self.n_features
        # Sublinear term frequency: a word said ten times is not ten times the topic.
        data = np.log1p(counts.astype(np.float64))
        cell = row_of * len(BLOCKS) + block_of
        block_norms = np.sqrt(np.bincount(cell, weights=data**2, minlength=n_rows * len(BLOCKS)))
        scale = np.tile(np.asarray(weights, dtype=np.float64), n_rows)
        data *= scale[cell] / block_norms[cell]
        data /= _row_norms(row_of, data, n_rows)[row_of]
        keep = data != 0
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of[keep], minlength=n_rows), out=indptr[1:])
        index_dtype = np.int32 if n_columns < 2**31 else np.int64
        return sp.csr_matrix(
            (data[keep].astype(np.float32), column[keep].astype(index_dtype), indptr),
            shape=(n_rows, n_columns),
        )

    def transform_one(self, record: TicketLike) -> sp.csr_matrix:
        """The feature row of one ticket, shape ``(1, n_columns)``."""
        return self.transform([record])


def _zero_rows(n_rows: int, n_columns: int) -> sp.csr_matrix:
    return sp.csr_matrix((n_rows, n_columns), dtype=np.float32)


def _row_norms(row_of: np.ndarray, data: np.ndarray, n_rows: int) -> np.ndarray:
    squares = np.bincount(row_of, weights=data.astype(np.float64) ** 2, minlength=n_rows)
    norms = np.sqrt(squares)
    norms[norms == 0] = 1.0
    return norms
