"""Tests of the compiled loops of the clustering engine against plain numpy and scipy."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from problems.cluster.placement import top_per_row, upper_grams

GRID = 2.0**16


def _grid_rows(rng: np.random.Generator, n_rows: int, n_columns: int) -> sp.csr_matrix:
    rows = sp.random(n_rows, n_columns, density=0.2, format="csr", random_state=rng)
    rows.data = np.round(rows.data * GRID) / GRID
    rows.eliminate_zeros()
    return rows


def test_top_per_row_is_a_sort_by_value_then_column() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        matrix = sp.random(30, 12, density=0.4, format="csr", random_state=rng)
        matrix.data = rng.integers(1, 4, matrix.nnz).astype(np.float64)  # many ties
        sizes = rng.integers(1, 3, 12).astype(np.float64)
        top = top_per_row(matrix.indptr, matrix.indices, matrix.data, sizes, 4)
        for row in range(matrix.shape[0]):
            start, stop = matrix.indptr[row], matrix.indptr[row + 1]
            columns = matrix.indices[start:stop]
            values = matrix.data[start:stop] / sizes[columns]
            expected = columns[np.lexsort((columns, -values))][:4].tolist()
            assert top[row].tolist() == expected + [-1] * (4 - len(expected))


def test_upper_grams_equal_the_sparse_products() -> None:
    rng = np.random.default_rng(5)
    rows = _grid_rows(rng, 40, 25)
    common = np.zeros(25, dtype=bool)
    common[[1, 7, 8]] = True
    on_common = common[rows.indices]
    informative = rows.multiply(np.where(common, 0.0, 1.0)).tocsr()
    informative.eliminate_zeros()
    shared = rows.multiply(common.astype(np.float64)).tocsr()
    shared.eliminate_zeros()
    assert shared.nnz == on_common.sum()
    informative_t, shared_t = informative.T.tocsr(), shared.T.tocsr()
    overlaps, cosines = upper_grams(
        rows.shape[0],
        informative_t.indptr,
        informative_t.indices,
        informative_t.data,
        shared_t.indptr,
        shared_t.indices,
        shared_t.data,
    )
    upper = np.triu(np.ones((40, 40), dtype=bool), k=1)
    assert np.array_equal(overlaps[upper], (informative @ informative.T).toarray()[upper])
    assert np.array_equal(cosines[upper], (rows @ rows.T).toarray()[upper])
