"""The compiled loops of `ClusterEngine`'s segments (numba).

Tickets of a segment are placed one after the other: where a ticket goes changes the
scores of the tickets after it. `ClusterEngine` prepares the products of the segment
with sparse matrices; here are the loops that are slow in numpy: the short loop per
ticket over a few candidate groups (`place_segment`), the few best groups per ticket
(`top_per_row`) and the segment's gram matrices (`upper_grams`). ``cache=True``: the
machine code is kept beside this module, so only the first run on a machine pays the
compile time.

The loops do plain float64 arithmetic on values that are exact on the engine's grid
(every sum is exact, in any order), so their results are those of the numpy code they
replace, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["place_segment", "top_per_row", "upper_grams"]


@njit(cache=True, nogil=True, error_model="numpy")
def place_segment(
    top_base: np.ndarray,
    forced: np.ndarray,
    raw: np.ndarray,
    retrieval: np.ndarray,
    cosines: np.ndarray,
    overlaps: np.ndarray,
    base_full: np.ndarray,
    base_pos: np.ndarray,
    base_local: np.ndarray,
    local_of: np.ndarray,
    affected: np.ndarray,
    n_affected: int,
    sizes: np.ndarray,
    n_groups: int,
    threshold: float,
    top_delta: int,
    n_place: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Place the first ``n_place`` tickets of a segment in order.

    Parameters
    ----------
    top_base : int64 (n_rows, k)
        Per ticket, the base groups retrieval chose (group ids, -1 for none).
    forced : int64 (n_rows,)
        Per ticket, the group a must-link forces, or -1.
    raw, retrieval : float64 (n_rows, width)
        Each ticket's dot and informative overlap with every touched group, by local
        index; updated as tickets are placed.
    cosines, overlaps : float64 (n_rows, n_rows)
        The segment's gram matrices (all features, informative features).
    base_full : float64 (n_rows, n_base_rows)
        Each ticket's dot with the base sums it may be scored against.
    base_pos : int64
        Group id -> row of the base sums, or -1 (room for the groups this may create).
    base_local : int64
        Row of the base sums -> column of ``base_full``, or -1.
    local_of, affected : int64
        Group id -> local index, and back, of the groups touched since the rebuild;
        updated, with ``n_affected`` the number of touched groups.
    sizes : float64
        Members per group id (room for new groups); updated.
    n_groups : int
        Groups before the segment: a new group takes the next id.
    threshold : float
        Least score to join a group.
    top_delta : int
        Touched groups scored per ticket (those with the highest mean overlap).
    n_place : int
        Tickets to place (1 to predict one without learning it).

    Returns
    -------
    gids, scores, is_new, local, n_affected
        Per ticket: the group it joins, its score there (-inf when it had no
        candidate), whether that group is new, its local index; then the number of
        touched groups after the segment.
    """
    n_rows = top_base.shape[0]
    gids = np.full(n_rows, -1, dtype=np.int64)
    scores = np.full(n_rows, -np.inf)
    is_new = np.zeros(n_rows, dtype=np.bool_)
    local = np.zeros(n_rows, dtype=np.int64)
    candidates = np.empty(top_base.shape[1] + top_delta + 1, dtype=np.int64)
    top_local = np.empty(top_delta, dtype=np.int64)
    top_mean = np.empty(top_delta)
    for i in range(n_place):
        n_candidates = 0
        for j in range(top_base.shape[1]):
            if top_base[i, j] >= 0:
                candidates[n_candidates] = top_base[i, j]
                n_candidates += 1
        # The touched groups with the highest mean overlap, ties to the lower local index.
        n_top = 0
        for k in range(n_affected):
            value = retrieval[i, k]
            if value == 0.0:
                continue
            mean = value / sizes[affected[k]]
            if n_top < top_delta:
                slot = n_top
                n_top += 1
            elif mean > top_mean[top_delta - 1]:
                slot = top_delta - 1
            else:
                continue
            while slot > 0 and top_mean[slot - 1] < mean:
                top_mean[slot] = top_mean[slot - 1]
                top_local[slot] = top_local[slot - 1]
                slot -= 1
            top_mean[slot] = mean
            top_local[slot] = k
        target = forced[i]
        for t in range(n_top + 1):
            gid = affected[top_local[t]] if t < n_top else target
            if gid < 0:
                continue
            seen = False
            for c in range(n_candidates):
                if candidates[c] == gid:
                    seen = True
                    break
            if not seen:
                candidates[n_candidates] = gid
                n_candidates += 1
        # Highest score wins, ties to the lower group id; a must-link target wins.
        best, best_score = -1, -np.inf
        for c in range(n_candidates):
            gid = candidates[c]
            touched = local_of[gid]
            if touched >= 0:
                dot = raw[i, touched]
            elif base_pos[gid] >= 0:
                dot = base_full[i, base_local[base_pos[gid]]]
            else:
                dot = 0.0
            score = dot / max(sizes[gid], 1.0)
            if gid == target:
                best, best_score = gid, score
                break
            if score > best_score or (score == best_score and gid < best):
                best, best_score = gid, score
        if target < 0 and best_score < threshold:
            best = -1
        if best < 0:
            best = n_groups
            n_groups += 1
            is_new[i] = True
        sizes[best] += 1.0
        joined = local_of[best]
        if joined < 0:
            joined = n_affected
            n_affected += 1
            local_of[best] = joined
            affected[joined] = best
            if not is_new[i] and base_pos[best] >= 0:
                raw[:, joined] = base_full[:, base_local[base_pos[best]]]
        # Only later tickets read these; gram matrices are symmetric.
        for k in range(i + 1, n_rows):
            raw[k, joined] += cosines[i, k]
            retrieval[k, joined] += overlaps[i, k]
        gids[i] = best
        scores[i] = best_score
        local[i] = joined
    return gids, scores, is_new, local, n_affected


@njit(cache=True, nogil=True, error_model="numpy")
def top_per_row(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, sizes: np.ndarray, k: int
) -> np.ndarray:
    """Per row of a CSR matrix, the ``k`` columns with the highest ``data / sizes[column]``
    (ties to the lower column), best first; -1 where a row has fewer entries."""
    n_rows = indptr.size - 1
    top = np.full((n_rows, k), -1, dtype=np.int64)
    best = np.empty(k)
    for row in range(n_rows):
        n_top = 0
        for entry in range(indptr[row], indptr[row + 1]):
            column = indices[entry]
            value = data[entry] / sizes[column]
            if n_top < k:
                slot = n_top
                n_top += 1
            elif value > best[k - 1] or (value == best[k - 1] and column < top[row, k - 1]):
                slot = k - 1
            else:
                continue
            while slot > 0 and (
                best[slot - 1] < value or (best[slot - 1] == value and top[row, slot - 1] > column)
            ):
                best[slot] = best[slot - 1]
                top[row, slot] = top[row, slot - 1]
                slot -= 1
            best[slot] = value
            top[row, slot] = column
    return top


@njit(cache=True, nogil=True)
def _add_upper_products(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, out: np.ndarray
) -> None:
    """Add to ``out``'s upper triangle the products of each pair of tickets that share a
    feature (``indptr``/``indices``/``data``: one CSR row per feature)."""
    for column in range(indptr.size - 1):
        stop = indptr[column + 1]
        for p in range(indptr[column], stop):
            a, value = indices[p], data[p]
            for q in range(p + 1, stop):
                b = indices[q]
                if a < b:
                    out[a, b] += value * data[q]
                else:
                    out[b, a] += value * data[q]


@njit(cache=True, nogil=True)
def upper_grams(
    n_rows: int,
    informative_indptr: np.ndarray,
    informative_indices: np.ndarray,
    informative_data: np.ndarray,
    common_indptr: np.ndarray,
    common_indices: np.ndarray,
    common_data: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The upper triangles (row < column) of the gram matrices of a segment's rows, on
    the informative features (``overlaps``) and on all of them (``cosines``).

    Each input is the segment's rows transposed (one CSR row per feature, listing the
    tickets that have it); a feature adds the products of each pair of its tickets.
    Values on the engine's grid make every sum exact, so the order does not matter.
    """
    overlaps = np.zeros((n_rows, n_rows))
    _add_upper_products(informative_indptr, informative_indices, informative_data, overlaps)
    cosines = overlaps.copy()
    _add_upper_products(common_indptr, common_indices, common_data, cosines)
    return overlaps, cosines
