"""Sentence vectors kept on disk between bench runs, so a data set is encoded once.

Encoding is the slow part of every ``--semantic`` figure (minutes per data set, see
`problems.cluster.semantic`), and the vector of a text never changes for one model. The
benches wrap their `SentenceEncoder` in `CachedEncoder`, which looks each text up in an
``.npz`` file of the model, keyed by the word pieces read and the text itself, and encodes
only what is missing. Delete the directory (``bench/.embeddings``) to encode again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from problems.cluster.semantic import SentenceEncoder, TicketEmbeddings, bundled_model_dir

__all__ = ["DEFAULT_CACHE_DIR", "CachedEncoder", "cached_embeddings"]

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent / ".embeddings"


class CachedEncoder:
    """`SentenceEncoder.encode` with a file of the vectors already computed.

    Parameters
    ----------
    encoder : SentenceEncoder
        Computes what the file does not hold.
    cache_dir : Path
        Holds one file per model.
    """

    def __init__(self, encoder: SentenceEncoder, cache_dir: Path = DEFAULT_CACHE_DIR) -> None:
        self.encoder = encoder
        model = Path(encoder.model_dir or bundled_model_dir() or "model")
        digest = hashlib.sha1(str(model.resolve()).encode()).hexdigest()[:10]
        self.path = cache_dir / f"{model.name}-{digest}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as stored:
                self.vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        self.n_encoded = 0

    @staticmethod
    def _key(text: str, max_tokens: int) -> str:
        return hashlib.sha1(f"{max_tokens}\0{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """Unit rows like `SentenceEncoder.encode`; new vectors are written to the file."""
        tokens = max_tokens or self.encoder.max_tokens
        keys = [self._key(str(text), tokens) for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            encoded = self.encoder.encode([text_of[k] for k in missing], tokens)
            self.vectors.update(zip(missing, encoded, strict=True))
            self.n_encoded += len(missing)
            self._save()
        if not keys:
            return np.zeros((0, self.encoder.dimension_), dtype=np.float32)
        return np.vstack([self.vectors[k] for k in keys])

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial.npz")
        np.savez(
            partial,
            keys=np.array(list(self.vectors), dtype="U40"),
            vectors=np.vstack(list(self.vectors.values())),
        )
        partial.replace(self.path)


def cached_embeddings(cache_dir: Path = DEFAULT_CACHE_DIR) -> TicketEmbeddings:
    """The product's `TicketEmbeddings` over the bundled model, with vectors kept on disk
    (its ``encoder.n_encoded`` counts the texts encoded afresh)."""
    return TicketEmbeddings(CachedEncoder(SentenceEncoder(), cache_dir))
