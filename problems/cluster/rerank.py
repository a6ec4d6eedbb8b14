"""Re-ranking of similar-ticket candidates with pairwise features and a small linear model.

`SimilarTickets` finds candidates fast with one cosine over hashed n-grams. Whether a
candidate is a *duplicate* of the query depends on more than that cosine: the summaries
say most (the same component named, the same exception, nearly the same words), code
identifiers and error signatures shared in the descriptions are strong evidence, and
duplicates are filed close in time. `Reranker` measures those for each (query,
candidate) pair and combines them with a logistic regression whose weights ship in
``problems/defaults/rerank.json`` (reproduced by ``python bench/fit_rerank.py``).

Pair features (`FEATURES`), each scale-free so that weights carry across trackers:

* ``bm25``: BM25F of the query's words in the candidate (summary and description as two
  fields, the summary weighted higher), divided by the query's score against itself;
* ``summary_cosine``: cosine of IDF-weighted summary words and word bigrams;
* ``summary_chars``: cosine of summary character 3-5 grams (typos, split identifiers);
* ``summary_fuzz``: `rapidfuzz.fuzz.token_set_ratio` of the summaries, in [0, 1];
* ``body_cosine``: cosine of IDF-weighted words of summary plus description;
* ``signatures``: Jaccard overlap of error signatures (exception classes, error codes);
* ``identifiers`` and ``shared_identifiers``: Jaccard overlap and ``log1p`` of the number
  of code identifiers both name (``FSNamesystem``, ``dfs.namenode.name.dir``, the class
  and method parts of a stack frame);
* ``summary_in_body``: BM25F of the query's summary words alone in the candidate;
* ``query_coverage`` and ``candidate_coverage``: the IDF share of one ticket's summary
  words found anywhere in the other ticket, both ways;
* ``log_days``, ``within_month``, ``within_year``: ``log1p`` of the days between the two
  creation times, ``exp(-days / 30)`` and ``exp(-days / 365)`` (0 when unknown);
* ``same_component``, ``same_version``, ``same_family``: 1 when both name the same
  component, version, or major.minor version family;
* ``back_rank``: ``log1p`` of how many tickets the candidate itself finds closer than the
  query (`SimilarTickets.neighbour_ranks`, capped at `BACK_RANK_CAP`): duplicates are
  mutual neighbours, while a generic ticket near many queries has many closer tickets.
  It needs the index, so the caller passes the counts (``back_ranks``).
* ``semantic``: the tickets' sentence-embedding similarity (`TicketEmbeddings`: the mean
  cosine of their summaries and summaries-plus-descriptions)
  (`problems.cluster.semantic`, optional and slow, so the caller passes the cosines).

The last two are `OPTIONAL_FEATURES`: only a caller can give them. Each purpose has a model
per combination that is used (`model_name`): ``rerank`` (with neighbour ranks),
``rerank_text`` (text only), ``rerank_semantic`` (with both), and the same for
``duplicate``; a caller that gives fewer features gets the richest model that reads only
what it gave.

Two linear models read them (``problems/defaults/rerank.toml``): ``rerank`` orders the
candidates of a query (fitted on pairwise preferences: a duplicate above a non-duplicate
of the same query), ``duplicate`` estimates whether a pair is a duplicate at all (a
logistic regression over each ticket's nearest earlier tickets), for
`problems.cluster.duplicates.DuplicateGrouper`, with the threshold and size penalty the
grouper takes by default. All are reproduced by
``python bench/fit_rerank.py``, which also reports how they transfer between data sets.

Words are lower-cased, stop words dropped, and plain words lose one inflection
("failures" -> "failure"); identifiers, numbers and dotted names are kept whole. The
summary and the description each gain the acronym of every CamelCase name they hold
(`_with_acronyms`: "NameNode" adds the word "nn"), so that "NN" meets "NameNode" and "NPE"
meets "NullPointerException". The candidate index (`SimilarTickets`) does not do this: its
rows are the clustering engine's, and on the generated sample the acronyms cost the
engine's clusters more than they gave.

The document frequencies behind IDF and BM25 are counted in ``n_buckets`` hashed buckets
(``zlib.crc32`` of the token, the same in every process), so the state stays bounded on an
endless stream and is saved as JSON like the other estimators.

Examples
--------
>>> from types import SimpleNamespace
>>> from datetime import datetime, UTC
>>> def ticket(n, subject, text="", day=1):
...     return SimpleNamespace(ticket_id=f"T-{n}", subject=subject, text=text,
...         product="hdfs", component="namenode", version="2.7.1", tags=(),
...         opened_at=datetime(2026, 3, day, tzinfo=UTC))
>>> past = [ticket(1, "Balancer ignores excluded datanodes", day=2),
...     ticket(2, "NameNode crashes on startup with NullPointerException in FSImage", day=3),
...     ticket(3, "Web UI shows wrong capacity", day=4)]
>>> reranker = Reranker()
>>> reranker.learn_many(past)
>>> query = ticket(4, "NPE in FSImage when the NameNode starts", day=5)
>>> [ticket_id for ticket_id, _ in reranker.rerank(query, past)][0]
'T-2'
>>> restored = Reranker.from_state(reranker.to_state())
>>> bool((restored.score(query, past) == reranker.score(query, past)).all())
True
"""

from __future__ import annotations

import base64
import itertools
import math
import re
import tomllib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from problems.cluster.features import extract_signatures, version_family

__all__ = [
    "BACK_RANK_CAP",
    "DEFAULT_WEIGHTS_FILE",
    "FEATURES",
    "OPTIONAL_FEATURES",
    "PURPOSES",
    "SCHEMA_VERSION",
    "PairModel",
    "Reranker",
    "RerankerSnapshotError",
    "load_default_models",
    "model_features",
    "model_name",
]

SCHEMA_VERSION = 1
DEFAULT_WEIGHTS_FILE = "rerank.toml"
"""File under ``problems/defaults/`` with the shipped weights, one table per purpose."""
PURPOSES = (
    "rerank",
    "duplicate",
    "rerank_text",
    "duplicate_text",
    "rerank_semantic",
    "duplicate_semantic",
)
"""Shipped models: a task (``rerank``, ``duplicate``) and which `OPTIONAL_FEATURES` it
reads (`model_name`)."""
OPTIONAL_FEATURES = ("back_rank", "semantic")
"""Features only a caller can give (neighbour ranks from the index, sentence-embedding
cosines); a model that reads one is used only when the caller gives it."""

FEATURES: tuple[str, ...] = (
    "bm25",
    "summary_cosine",
    "summary_chars",
    "summary_fuzz",
    "body_cosine",
    "signatures",
    "identifiers",
    "shared_identifiers",
    "summary_in_body",
    "query_coverage",
    "candidate_coverage",
    "log_days",
    "within_month",
    "within_year",
    "same_component",
    "same_version",
    "same_family",
    "back_rank",
    "semantic",
)
BACK_RANK_CAP = 20
"""Neighbour ranks above this count as this (``back_rank``): only the near top matters,
and a bounded value means the same on an index of any size."""

_SECONDS_PER_DAY = 86_400.0
_WORD = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
# Identifiers: CamelCase words with an inner capital, dotted names, snake_case names.
_IDENTIFIER = re.compile(
    r"\b(?:[A-Za-z_][A-Za-z0-9_]*[a-z0-9][A-Z][A-Za-z0-9_]*"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
    r"|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b"
)
_STOP_WORDS_TEXT = """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just me more most my no nor not now of off on once only or other our out over own same
she should so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who whom why
will with would you your
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def model_name(task: str, back_ranks: bool, semantic: bool) -> str:
    """The shipped model (`PURPOSES`) for a task given which optional features are known.

    The neighbour rank comes with every index query, so a model with ``semantic`` also
    reads ``back_rank``; cosines without ranks fall back to the text-only model.

    >>> model_name("rerank", back_ranks=True, semantic=False)
    'rerank'
    >>> model_name("duplicate", back_ranks=True, semantic=True)
    'duplicate_semantic'
    >>> model_name("rerank", back_ranks=False, semantic=True)
    'rerank_text'
    """
    if not back_ranks:
        return task + "_text"
    return task + "_semantic" if semantic else task


def model_features(back_ranks: bool, semantic: bool) -> tuple[str, ...]:
    """The features of the model `model_name` picks for the same optional features.

    >>> [f for f in model_features(True, False) if f in OPTIONAL_FEATURES]
    ['back_rank']
    >>> [f for f in model_features(False, True) if f in OPTIONAL_FEATURES]
    []
    """
    name = model_name("", back_ranks, semantic)
    known = {"back_rank": name != "_text", "semantic": name == "_semantic"}
    return tuple(f for f in FEATURES if f not in OPTIONAL_FEATURES or known[f])


class RerankerSnapshotError(ValueError):
    """A snapshot of `Reranker` that cannot be loaded (unknown version, damaged)."""


# A CamelCase name: capitalised parts ("NameNode", "S3AFileSystem"), at least two.
_CAMEL_CASE = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b")


def _with_acronyms(text: str) -> str:
    """``text`` followed by the acronym of each CamelCase name in it.

    Trackers write a name both ways ("NN" and "NameNode", "NPE" and
    "NullPointerException"), and duplicates often differ in just that. The acronym (the
    name's capitals) needs no dictionary of the tracker's names: a ticket that writes the
    short form meets one that writes the long form on the acronym's word.

    >>> _with_acronyms("NameNode throws NullPointerException on DataNode restart")
    'NameNode throws NullPointerException on DataNode restart NN NPE DN'
    >>> _with_acronyms("nothing to add")
    'nothing to add'
    """
    names = _CAMEL_CASE.findall(text)
    if not names:
        return text
    return text + " " + " ".join("".join(filter(str.isupper, name)) for name in names)


def _ticket_words(subject: str, text: str) -> tuple[str, list[str], list[str]]:
    """The summary as the features read it (with its acronyms), its words and the
    description's: one place, so that learning and querying count the same words."""
    summary = _with_acronyms(subject)
    return summary, _words(summary), _words(_with_acronyms(text))


def _words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP_WORDS]


_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def _stem(word: str) -> str:
    """Strip one inflection from a plain word ("failures" -> "failure", "crashed" ->
    "crash"); identifiers, numbers and dotted names stay as they are."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def _char_grams(text: str) -> list[str]:
    grams: list[str] = []
    for word in text.lower().split():
        padded = " " + word + " "
        for n in (3, 4, 5):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def _buckets(tokens: Iterable[str], mask: int) -> np.ndarray:
    return np.fromiter((zlib.crc32(t.encode()) & mask for t in tokens), dtype=np.int64)


def _counted(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, counts = np.unique(buckets, return_counts=True)
    return unique, counts.astype(np.float64)


def _ticket_days(record: Any) -> float:
    for name in ("opened_at", "created", "first_closed_at", "closed_at"):
        moment = getattr(record, name, None)
        if isinstance(moment, datetime):
            return moment.timestamp() / _SECONDS_PER_DAY
    return math.nan


def _lower_or_none(value: Any) -> str | None:
    return value.strip().lower() or None if isinstance(value, str) else None


@dataclass(frozen=True)
class _Doc:
    """What the pair features read of one ticket, computed once per ticket."""

    summary: str
    summary_words: tuple[np.ndarray, np.ndarray]
    summary_grams: tuple[np.ndarray, np.ndarray]
    summary_chars: tuple[np.ndarray, np.ndarray]
    body_words: tuple[np.ndarray, np.ndarray]
    words: tuple[np.ndarray, np.ndarray]
    all_words: np.ndarray
    signatures: frozenset[str]
    identifiers: frozenset[str]
    days: float
    component: str | None
    version: str | None
    family: str | None


def _identifiers(text: str) -> frozenset[str]:
    """Code identifiers: CamelCase and snake_case names, each part of a dotted name that is
    one, and dotted lower-case names whole (configuration keys)."""
    found: set[str] = set()
    for match in _IDENTIFIER.findall(text):
        if "." in match:
            parts = match.split(".")
            if match.islower():
                found.add(match.lower())
            found.update(p.lower() for p in parts if len(p) > 4 and _is_identifier(p))
        elif len(match) > 4:
            found.add(match.lower())
    return frozenset(found)


def _is_identifier(word: str) -> bool:
    return "_" in word.strip("_") or any(c.isupper() for c in word[1:])


def _jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


@dataclass(frozen=True)
class PairModel:
    """A linear model over standardised `FEATURES` values, as shipped in TOML.

    Attributes
    ----------
    features : tuple of str
        Names of the features read, in the order of the other arrays.
    mean, scale : tuple of float
        Standardisation applied before the linear model.
    coef : tuple of float
        One weight per feature.
    intercept : float
        Added to the linear score (0 for a ranking model: only differences matter).
    threshold : float or None
        Decision threshold on the linear score, when the model decides (``duplicate``).
    size_penalty : float or None
        For a deciding model: log-odds a link must add per unit of the log size of the
        group it joins (`problems.cluster.duplicates.DuplicateGrouper`).
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float = 0.0
    threshold: float | None = None
    size_penalty: float | None = None

    def decision(self, values: np.ndarray) -> np.ndarray:
        """Linear score of rows of `FEATURES` values (log-odds for a classifier).

        A NaN value (a feature not known for that pair) counts as the training mean, so
        it adds nothing to the score.
        """
        columns = [FEATURES.index(name) for name in self.features]
        standard = (values[:, columns] - np.asarray(self.mean)) / np.asarray(self.scale)
        standard = np.nan_to_num(standard, nan=0.0)
        return np.asarray(standard @ np.asarray(self.coef) + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        """A TOML-able table (the shape of each table of ``rerank.toml``)."""
        table: dict[str, Any] = {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }
        if self.threshold is not None:
            table["threshold"] = self.threshold
        if self.size_penalty is not None:
            table["size_penalty"] = self.size_penalty
        return table

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> PairModel:
        """Read `to_dict` output; unknown feature names and ragged arrays are refused."""
        try:
            features = tuple(str(name) for name in table["features"])
            arrays = [tuple(float(x) for x in table[key]) for key in ("mean", "scale", "coef")]
            intercept = float(table.get("intercept", 0.0))
            threshold = table.get("threshold")
            size_penalty = table.get("size_penalty")
            if size_penalty is not None:
                size_penalty = float(size_penalty)
        except (KeyError, TypeError, ValueError) as error:
            raise RerankerSnapshotError(f"damaged re-ranking weights: {error}") from error
        unknown = [name for name in features if name not in FEATURES]
        if unknown:
            raise RerankerSnapshotError(f"unknown re-ranking features {unknown}")
        if len({len(features), *(len(array) for array in arrays)}) != 1:
            raise RerankerSnapshotError("re-ranking weights: arrays of different lengths")
        mean, scale, coef = arrays
        return cls(
            features=features,
            mean=mean,
            scale=tuple(x if x > 0 else 1.0 for x in scale),
            coef=coef,
            intercept=intercept,
            threshold=None if threshold is None else float(threshold),
            size_penalty=size_penalty,
        )


def load_default_models() -> dict[str, PairModel]:
    """The shipped models by purpose (`PURPOSES`), from ``rerank.toml``."""
    text = (
        resources.files("problems")
        .joinpath("defaults", DEFAULT_WEIGHTS_FILE)
        .read_text(encoding="utf-8")
    )
    document = tomllib.loads(text)
    if document.get("schema_version") != SCHEMA_VERSION:
        raise RerankerSnapshotError(
            f"{DEFAULT_WEIGHTS_FILE} version {document.get('schema_version')!r} is not "
            f"{SCHEMA_VERSION}"
        )
    return {purpose: PairModel.from_dict(document[purpose]) for purpose in PURPOSES}


class Reranker:
    """Scores (query, candidate) ticket pairs as duplicates and re-orders candidates.

    Parameters
    ----------
    models : dict or None
        Per model name (`PURPOSES`: ``rerank``, ``duplicate`` and their variants),
        weights as `PairModel.to_dict` gives them; a purpose left out uses the shipped
        weights.
    n_buckets_log2 : int
        Hashed vocabulary of ``2 ** n_buckets_log2`` buckets for document frequencies.
    k1 : float
        BM25 term-frequency saturation.
    summary_weight : float
        BM25F weight of the summary field against the description's 1.
    summary_b, body_b : float
        BM25 length normalisation of the summary and the description.
    body_chars : int
        Characters of the description read (its beginning says what matters).
    cache_size : int
        Tickets whose tokenized form is kept between calls (candidates recur).

    Notes
    -----
    `learn_many` only counts document frequencies; a ticket learned twice (same id) is
    counted once. Scores of a query depend on the tickets learned, never on the order of
    earlier queries.
    """

    def __init__(
        self,
        models: dict[str, dict[str, Any]] | None = None,
        n_buckets_log2: int = 20,
        k1: float = 1.2,
        summary_weight: float = 3.0,
        summary_b: float = 0.3,
        body_b: float = 0.75,
        body_chars: int = 4_000,
        cache_size: int = 4_096,
    ) -> None:
        self.models = models
        self.n_buckets_log2 = n_buckets_log2
        self.k1 = k1
        self.summary_weight = summary_weight
        self.summary_b = summary_b
        self.body_b = body_b
        self.body_chars = body_chars
        self.cache_size = cache_size

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {
            "models": self.models,
            "n_buckets_log2": self.n_buckets_log2,
            "k1": self.k1,
            "summary_weight": self.summary_weight,
            "summary_b": self.summary_b,
            "body_b": self.body_b,
            "body_chars": self.body_chars,
            "cache_size": self.cache_size,
        }

    # -- state -----------------------------------------------------------------------------

    def _ensure(self) -> None:
        if hasattr(self, "df_"):
            return
        self.df_ = np.zeros(1 << self.n_buckets_log2, dtype=np.int32)
        self.n_docs_ = 0
        self.summary_tokens_ = 0
        self.body_tokens_ = 0
        self.seen_: set[str] = set()
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._mask = (1 << self.n_buckets_log2) - 1
        self._docs: dict[tuple[str, str, str], _Doc] = {}
        self._models: dict[str, PairModel] | None = None

    @property
    def models_(self) -> dict[str, PairModel]:
        """The pair models in use by purpose (the given weights, else the shipped ones)."""
        if self._models is None:
            given = {k: PairModel.from_dict(v) for k, v in (self.models or {}).items()}
            missing = [purpose for purpose in PURPOSES if purpose not in given]
            if missing:
                defaults = load_default_models()
                given.update({purpose: defaults[purpose] for purpose in missing})
            self._models = given
        return self._models

    def _doc(self, record: Any) -> _Doc:
        subject = str(getattr(record, "subject", "") or "")
        text = str(getattr(record, "text", "") or "")[: self.body_chars]
        key = (str(getattr(record, "ticket_id", "")), subject, text)
        cached = self._docs.get(key)
        if cached is not None:
            return cached
        mask = self._mask
        summary, summary_words, body_words = _ticket_words(subject, text)
        grams = summary_words + [a + " " + b for a, b in itertools.pairwise(summary_words)]
        doc = _Doc(
            summary=summary,
            summary_words=_counted(_buckets(summary_words, mask)),
            summary_grams=_counted(_buckets(grams, mask)),
            summary_chars=_counted(_buckets(_char_grams(summary), mask)),
            body_words=_counted(_buckets(body_words, mask)),
            words=_counted(_buckets(summary_words + body_words, mask)),
            all_words=np.unique(_buckets(summary_words + body_words, mask)),
            signatures=frozenset(extract_signatures(subject + "\n" + text)),
            identifiers=_identifiers(subject + "\n" + text),
            days=_ticket_days(record),
            component=_lower_or_none(getattr(record, "component", None)),
            version=_lower_or_none(getattr(record, "version", None)),
            family=version_family(getattr(record, "version", None)),
        )
        if len(self._docs) >= self.cache_size:
            # Drop the oldest entries (dicts keep insertion order).
            for stale in list(self._docs)[: max(1, self.cache_size // 4)]:
                del self._docs[stale]
        self._docs[key] = doc
        return doc

    def learn_one(self, record: Any) -> None:
        """Count one ticket's words (an id already learned changes nothing)."""
        self.learn_many([record])

    def learn_many(self, records: Iterable[Any]) -> None:
        """Count the words of tickets in document frequencies and field lengths."""
        self._ensure()
        for record in records:
            ticket_id = str(record.ticket_id)
            if ticket_id in self.seen_:
                continue
            self.seen_.add(ticket_id)
            summary_words, body_words, all_words = self._word_counts(record)
            self.df_[all_words] += 1
            self.n_docs_ += 1
            self.summary_tokens_ += summary_words
            self.body_tokens_ += body_words

    def _word_counts(self, record: Any) -> tuple[int, int, np.ndarray]:
        """Summary and description word counts and the distinct word buckets of a ticket.

        Read from the tokenized form when a query just built it, else with words alone
        (learning needs no character grams, signatures or identifiers).
        """
        subject = str(getattr(record, "subject", "") or "")
        text = str(getattr(record, "text", "") or "")[: self.body_chars]
        cached = self._docs.get((str(getattr(record, "ticket_id", "")), subject, text))
        if cached is not None:
            return (
                int(cached.summary_words[1].sum()),
                int(cached.body_words[1].sum()),
                cached.all_words,
            )
        _, summary_words, body_words = _ticket_words(subject, text)
        buckets = np.unique(_buckets(summary_words + body_words, self._mask))
        return len(summary_words), len(body_words), buckets

    @property
    def n_tickets_(self) -> int:
        """Number of tickets learned."""
        return self.n_docs_ if hasattr(self, "n_docs_") else 0

    # -- features --------------------------------------------------------------------------

    def _idf(self, buckets: np.ndarray) -> np.ndarray:
        n_docs = max(self.n_docs_, 1)
        df = self.df_[buckets].astype(np.float64)
        return np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))

    def _weighted(
        self, bags: Sequence[tuple[np.ndarray, np.ndarray]], idf: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated (row, bucket, L2-normalised weight) of several bags."""
        lengths = np.array([bag[0].size for bag in bags], dtype=np.int64)
        rows = np.repeat(np.arange(len(bags)), lengths)
        buckets = np.concatenate([bag[0] for bag in bags])
        weights = np.concatenate([bag[1] for bag in bags])
        if idf:
            weights = weights * self._idf(buckets)
        norms = np.sqrt(np.bincount(rows, weights=weights**2, minlength=len(bags)))
        weights = weights / np.where(norms > 0, norms, 1.0)[rows]
        return rows, buckets, weights

    def _cosines(
        self,
        query: tuple[np.ndarray, np.ndarray],
        others: Sequence[tuple[np.ndarray, np.ndarray]],
        idf: bool,
    ) -> np.ndarray:
        """Cosine of the query bag with each other bag (sorted unique buckets)."""
        _, query_buckets, query_weights = self._weighted([query], idf)
        if query_buckets.size == 0:
            return np.zeros(len(others))
        rows, buckets, weights = self._weighted(others, idf)
        where, hit = _lookup(query_buckets, buckets)
        return np.bincount(
            rows[hit], weights=weights[hit] * query_weights[where[hit]], minlength=len(others)
        )

    def _bm25(
        self, query: _Doc, candidates: Sequence[_Doc], summary_only: bool = False
    ) -> np.ndarray:
        """BM25F of the query's words in each candidate, over the query's self-score.

        With ``summary_only``, the query is its summary words alone (the candidate still
        has both fields): a short title matched against a long description.
        """
        n_docs = max(self.n_docs_, 1)
        terms = query.summary_words[0] if summary_only else query.all_words
        if terms.size == 0:
            return np.zeros(len(candidates))
        # Query term weights: summary words count summary_weight times, others once.
        in_summary = np.isin(terms, query.summary_words[0], assume_unique=True)
        weights = np.where(in_summary, self.summary_weight, 1.0) * self._idf(terms)
        docs = [query, *candidates]
        tf = np.zeros((len(docs), terms.size))
        for field, weight, b, total in (
            ("summary_words", self.summary_weight, self.summary_b, self.summary_tokens_),
            ("body_words", 1.0, self.body_b, self.body_tokens_),
        ):
            bags = [getattr(doc, field) for doc in docs]
            lengths = np.array([bag[0].size for bag in bags], dtype=np.int64)
            rows = np.repeat(np.arange(len(docs)), lengths)
            buckets = np.concatenate([bag[0] for bag in bags])
            counts = np.concatenate([bag[1] for bag in bags])
            sizes = np.array([bag[1].sum() for bag in bags])
            norm = 1.0 - b + b * sizes / max(total / n_docs, 1.0)
            where, hit = _lookup(terms, buckets)
            np.add.at(tf, (rows[hit], where[hit]), weight * counts[hit] / norm[rows[hit]])
        saturated = tf * (self.k1 + 1.0) / (tf + self.k1)
        totals = saturated @ weights
        if totals[0] <= 0:
            return np.zeros(len(candidates))
        return np.asarray(totals[1:] / totals[0])

    def _coverage(self, query: _Doc, candidates: Sequence[_Doc]) -> tuple[np.ndarray, np.ndarray]:
        """IDF share of one summary's words found anywhere in the other ticket, both ways."""
        n_candidates = len(candidates)
        forward = np.zeros(n_candidates)
        backward = np.zeros(n_candidates)
        mine = query.summary_words[0]
        if mine.size:
            idf = self._idf(mine)
            total = idf.sum()
            for n, doc in enumerate(candidates):
                _, hit = _lookup(doc.all_words, mine)
                forward[n] = idf[hit].sum() / total if total > 0 else 0.0
        lengths = np.array([doc.summary_words[0].size for doc in candidates], dtype=np.int64)
        if lengths.sum():
            rows = np.repeat(np.arange(n_candidates), lengths)
            buckets = np.concatenate([doc.summary_words[0] for doc in candidates])
            idf = self._idf(buckets)
            _, hit = _lookup(query.all_words, buckets)
            found = np.bincount(rows[hit], weights=idf[hit], minlength=n_candidates)
            totals = np.bincount(rows, weights=idf, minlength=n_candidates)
            backward = np.divide(found, totals, out=np.zeros(n_candidates), where=totals > 0)
        return forward, backward

    def features(
        self,
        query: Any,
        candidates: Sequence[Any],
        back_ranks: Sequence[float] | np.ndarray | None = None,
        semantic: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Pair features of ``query`` with each candidate, one row per candidate.

        Parameters
        ----------
        query : ticket
            Reads ``subject``, ``text``, ``component``, ``version`` and a creation time
            (``opened_at``, else ``first_closed_at``).
        candidates : sequence of tickets
            Typically the tickets `SimilarTickets.query` returned for ``query``.
        back_ranks : sequence of float, optional
            Per candidate, how many tickets it finds closer than the query
            (`SimilarTickets.neighbour_ranks`); without them ``back_rank`` is NaN
            (unknown, neutral in `PairModel.decision`).
        semantic : sequence of float, optional
            Per candidate, its sentence-embedding similarity with the
            query's (`problems.cluster.semantic.TicketEmbeddings.similarity`); NaN
            without them.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(candidates), len(FEATURES))``.
        """
        self._ensure()
        n_candidates = len(candidates)
        values = np.zeros((n_candidates, len(FEATURES)))
        if n_candidates == 0:
            return values
        back = FEATURES.index("back_rank")
        if back_ranks is None:
            values[:, back] = np.nan
        else:
            ranks = np.asarray(back_ranks, dtype=np.float64)
            if ranks.shape != (n_candidates,):
                raise ValueError("one back rank per candidate is needed")
            values[:, back] = np.log1p(np.clip(ranks, 0.0, BACK_RANK_CAP))
        cosines = np.full(n_candidates, np.nan) if semantic is None else np.asarray(semantic)
        if cosines.shape != (n_candidates,):
            raise ValueError("one semantic similarity per candidate is needed")
        values[:, FEATURES.index("semantic")] = cosines
        mine = self._doc(query)
        docs = [self._doc(candidate) for candidate in candidates]
        column = {name: n for n, name in enumerate(FEATURES)}
        values[:, column["bm25"]] = self._bm25(mine, docs)
        values[:, column["summary_cosine"]] = self._cosines(
            mine.summary_grams, [d.summary_grams for d in docs], idf=True
        )
        values[:, column["summary_chars"]] = self._cosines(
            mine.summary_chars, [d.summary_chars for d in docs], idf=False
        )
        values[:, column["summary_in_body"]] = self._bm25(mine, docs, summary_only=True)
        coverage = self._coverage(mine, docs)
        values[:, column["query_coverage"]] = coverage[0]
        values[:, column["candidate_coverage"]] = coverage[1]
        values[:, column["body_cosine"]] = self._cosines(
            mine.words, [d.words for d in docs], idf=True
        )
        for n, doc in enumerate(docs):
            values[n, column["summary_fuzz"]] = (
                fuzz.token_set_ratio(mine.summary.lower(), doc.summary.lower()) / 100.0
            )
            values[n, column["signatures"]] = _jaccard(mine.signatures, doc.signatures)
            values[n, column["identifiers"]] = _jaccard(mine.identifiers, doc.identifiers)
            values[n, column["shared_identifiers"]] = math.log1p(
                len(mine.identifiers & doc.identifiers)
            )
            gap = abs(mine.days - doc.days)
            if math.isfinite(gap):
                values[n, column["log_days"]] = math.log1p(gap)
                values[n, column["within_month"]] = math.exp(-gap / 30.0)
                values[n, column["within_year"]] = math.exp(-gap / 365.0)
            values[n, column["same_component"]] = float(
                mine.component is not None and mine.component == doc.component
            )
            values[n, column["same_version"]] = float(
                mine.version is not None and mine.version == doc.version
            )
            values[n, column["same_family"]] = float(
                mine.family is not None and mine.family == doc.family
            )
        return values

    def score(
        self,
        query: Any,
        candidates: Sequence[Any],
        purpose: str = "rerank",
        back_ranks: Sequence[float] | np.ndarray | None = None,
        semantic: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Linear score of each candidate for ``query`` for a task (``rerank``, ``duplicate``).

        ``rerank`` scores only order the candidates of one query; ``duplicate`` scores
        are log-odds of "duplicate", comparable to the ``threshold`` of the model used.
        ``back_ranks`` and ``semantic`` are as in `features`; the model read is the one
        for the features given (`model_name`), e.g. ``rerank_text`` without ranks.
        """
        self._ensure()
        name = model_name(purpose, back_ranks is not None, semantic is not None)
        return self.models_[name].decision(self.features(query, candidates, back_ranks, semantic))

    def rerank(
        self,
        query: Any,
        candidates: Sequence[Any],
        k: int | None = None,
        back_ranks: Sequence[float] | np.ndarray | None = None,
        semantic: Sequence[float] | np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """Candidates re-ordered by the ``rerank`` score, best first, as ``(id, score)``.

        Ties keep the candidates' given order (typically `SimilarTickets.query`'s).
        ``back_ranks`` (`SimilarTickets.neighbour_ranks` of the candidates) add the
        mutual-neighbour evidence, ``semantic`` the tickets' sentence-embedding similarities.
        """
        scores = self.score(query, candidates, back_ranks=back_ranks, semantic=semantic)
        order = np.lexsort((np.arange(len(candidates)), -scores))
        if k is not None:
            order = order[:k]
        return [(str(candidates[i].ticket_id), round(float(scores[i]), 6)) for i in order]

    # -- persistence -----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot (versioned; the frequency table zlib-compressed, base64)."""
        self._ensure()
        columns = np.flatnonzero(self.df_).astype("<i4")
        counts = self.df_[columns].astype("<i4")
        return {
            "schema_version": SCHEMA_VERSION,
            "params": self.get_params(),
            "n_docs": self.n_docs_,
            "summary_tokens": self.summary_tokens_,
            "body_tokens": self.body_tokens_,
            "seen": sorted(self.seen_),
            "df_columns": base64.b64encode(zlib.compress(columns.tobytes(), 6)).decode("ascii"),
            "df_counts": base64.b64encode(zlib.compress(counts.tobytes(), 6)).decode("ascii"),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Reranker:
        """Rebuild from `to_state` output.

        Raises
        ------
        RerankerSnapshotError
            When the snapshot's version is unknown or its content is damaged.
        """
        version = state.get("schema_version") if isinstance(state, dict) else None
        if version != SCHEMA_VERSION:
            raise RerankerSnapshotError(f"re-ranker snapshot version {version!r} is not 1")
        try:
            reranker = cls(**state["params"])
            reranker._ensure()
            columns = np.frombuffer(
                zlib.decompress(base64.b64decode(state["df_columns"])), dtype="<i4"
            )
            counts = np.frombuffer(
                zlib.decompress(base64.b64decode(state["df_counts"])), dtype="<i4"
            )
            reranker.df_[columns.astype(np.int64)] = counts
            reranker.n_docs_ = int(state["n_docs"])
            reranker.summary_tokens_ = int(state["summary_tokens"])
            reranker.body_tokens_ = int(state["body_tokens"])
            reranker.seen_ = {str(ticket_id) for ticket_id in state["seen"]}
        except (KeyError, TypeError, ValueError, IndexError, zlib.error) as error:
            raise RerankerSnapshotError(f"damaged re-ranker snapshot: {error}") from error
        return reranker


def _lookup(sorted_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in ``sorted_keys`` and whether it is there."""
    if sorted_keys.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    where = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return where, sorted_keys[where] == values
