"""Hashed columns of many tokens at once: MurmurHash3 (x86, 32 bits) compiled with numba.

The featurizer caches the column of every token it has seen; the tokens it meets for the
first time (a few per ticket: new words, new pairs of words) are hashed here in one call
instead of one Python call each. The column of a token is the one scikit-learn's
``FeatureHasher`` gives it: the signed MurmurHash3 (seed 0) of its UTF-8 bytes, absolute
value modulo the number of columns.

Examples
--------
>>> from sklearn.utils import murmurhash3_32
>>> token_columns(["namenode", "é"], 2**20).tolist() == [
...     abs(murmurhash3_32("namenode", seed=0)) % 2**20, abs(murmurhash3_32("é", seed=0)) % 2**20]
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

__all__ = ["span_columns", "token_columns"]

_MASK = 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


@njit(cache=True, nogil=True)
def _murmur_columns(
    data: np.ndarray, starts: np.ndarray, stops: np.ndarray, n_columns: int
) -> np.ndarray:
    """Column of each token ``data[starts[i]:stops[i]]`` (int64 arithmetic, kept to 32
    bits after every step; the low 32 bits of a product do not depend on overflow)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    n_tokens = starts.size
    columns = np.empty(n_tokens, dtype=np.int64)
    for token in range(n_tokens):
        start, stop = starts[token], stops[token]
        length = stop - start
        h1 = 0
        end = start + (length // 4) * 4
        for at in range(start, end, 4):
            k1 = (
                int(data[at])
                | (int(data[at + 1]) << 8)
                | (int(data[at + 2]) << 16)
                | (int(data[at + 3]) << 24)
            )
            k1 = (k1 * c1) & _MASK
            k1 = _rotate(k1, 15)
            k1 = (k1 * c2) & _MASK
            h1 ^= k1
            h1 = _rotate(h1, 13)
            h1 = (h1 * 5 + 0xE6546B64) & _MASK
        rest = length & 3
        if rest:
            k1 = 0
            if rest == 3:
                k1 ^= int(data[end + 2]) << 16
            if rest >= 2:
                k1 ^= int(data[end + 1]) << 8
            k1 ^= int(data[end])
            k1 = (k1 * c1) & _MASK
            k1 = _rotate(k1, 15)
            k1 = (k1 * c2) & _MASK
            h1 ^= k1
        h1 ^= length & _MASK
        h1 ^= h1 >> 16
        h1 = (h1 * 0x85EBCA6B) & _MASK
        h1 ^= h1 >> 13
        h1 = (h1 * 0xC2B2AE35) & _MASK
        h1 ^= h1 >> 16
        signed = h1 - (1 << 32) if h1 >= (1 << 31) else h1
        # abs(-2**31) overflows an int32 in scikit-learn's hasher; it defines the column
        # as below, and so do we.
        if signed == -(1 << 31):
            columns[token] = ((1 << 31) - n_columns) % n_columns
        else:
            columns[token] = abs(signed) % n_columns
    return columns


def token_columns(tokens: Sequence[str], n_columns: int) -> np.ndarray:
    """The column of each token among ``n_columns``, as int64."""
    encoded = [token.encode("utf-8") for token in tokens]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return span_columns(b"".join(encoded), offsets[:-1], offsets[1:], n_columns)


def span_columns(data: bytes, starts: np.ndarray, stops: np.ndarray, n_columns: int) -> np.ndarray:
    """The column of each token ``data[starts[i]:stops[i]]`` (UTF-8 bytes), as int64."""
    columns: np.ndarray = _murmur_columns(
        np.frombuffer(data, dtype=np.uint8), starts, stops, n_columns
    )
    return columns
