"""Quality metrics: retrieval (Recall@k, MRR), clustering (pair recall, BCubed, ARI).

Plain functions over plain values so that tests can check them on tiny hand-made inputs.

Examples
--------
>>> retrieval_scores([1, 3, None], ks=(1, 5))
{'R@1': 0.333333, 'R@5': 0.666667, 'MRR': 0.444444, 'queries': 3}
>>> pair_recall({"a": 1, "b": 1, "c": 2}, [("a", "b"), ("a", "c")])
0.5
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from math import comb
from typing import TypeVar

__all__ = [
    "adjusted_rand_index",
    "bcubed",
    "first_relevant_rank",
    "pair_recall",
    "predicted_pairs",
    "retrieval_scores",
]


Item = TypeVar("Item", bound=Hashable)
Label = TypeVar("Label", bound=Hashable)
Truth = TypeVar("Truth", bound=Hashable)


def first_relevant_rank(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> int | None:
    """1-based rank of the first relevant item in ``ranked``, or None when absent.

    >>> first_relevant_rank(["x", "b", "a"], {"a", "b"})
    2
    >>> first_relevant_rank(["x"], {"a"}) is None
    True
    """
    wanted = set(relevant)
    for position, item in enumerate(ranked, start=1):
        if item in wanted:
            return position
    return None


def retrieval_scores(
    ranks: Sequence[int | None], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float | int]:
    """Recall@k (share of queries with a relevant item in the top k) and MRR.

    Parameters
    ----------
    ranks : sequence of int or None
        Per query, the 1-based rank of its first relevant item (None: not retrieved).
    ks : sequence of int
        Cut-offs.

    Returns
    -------
    dict
        ``R@k`` per cut-off, ``MRR`` and ``queries``, rounded to six decimals.
    """
    n_queries = len(ranks)
    scores: dict[str, float | int] = {}
    for k in ks:
        hits = sum(1 for rank in ranks if rank is not None and rank <= k)
        scores[f"R@{k}"] = round(hits / n_queries, 6) if n_queries else 0.0
    reciprocal = sum(1.0 / rank for rank in ranks if rank is not None)
    scores["MRR"] = round(reciprocal / n_queries, 6) if n_queries else 0.0
    scores["queries"] = n_queries
    return scores


def pair_recall(labels: Mapping[Item, Label | None], links: Sequence[tuple[Item, Item]]) -> float:
    """Share of ``links`` whose two items carry the same (non-None) cluster label.

    Items missing from ``labels`` or labelled None (noise, singletons) never pair.

    >>> pair_recall({"a": 1, "b": None, "c": None}, [("a", "b"), ("b", "c")])
    0.0
    """
    if not links:
        return 0.0
    together = 0
    for first, second in links:
        label = labels.get(first)
        if label is not None and label == labels.get(second):
            together += 1
    return together / len(links)


def predicted_pairs(labels: Mapping[Item, Label | None]) -> int:
    """Number of item pairs placed in the same cluster (the cost of false merges).

    >>> predicted_pairs({"a": 1, "b": 1, "c": 1, "d": 2, "e": None, "f": None})
    3
    """
    sizes = Counter(label for label in labels.values() if label is not None)
    return sum(comb(size, 2) for size in sizes.values())


def bcubed(predicted: Mapping[Item, Label], truth: Mapping[Item, Truth]) -> dict[str, float]:
    """BCubed precision, recall and F1 over the items in ``truth``.

    Every item needs a label in both: give singletons or noise a label of their own.

    Examples
    --------
    >>> bcubed({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "x", "c": "x"})
    {'precision': 1.0, 'recall': 0.555556, 'f1': 0.714286}
    """
    by_predicted: dict[Label, list[Item]] = defaultdict(list)
    by_truth: dict[Truth, list[Item]] = defaultdict(list)
    for item in truth:
        by_predicted[predicted[item]].append(item)
        by_truth[truth[item]].append(item)
    # Counts of (predicted, true) combinations give each item's shared-cluster size.
    joint = Counter((predicted[item], truth[item]) for item in truth)
    precision = recall = 0.0
    for item in truth:
        shared = joint[(predicted[item], truth[item])]
        precision += shared / len(by_predicted[predicted[item]])
        recall += shared / len(by_truth[truth[item]])
    n_items = len(truth)
    if not n_items:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision /= n_items
    recall /= n_items
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6)}


def adjusted_rand_index(predicted: Mapping[Item, Label], truth: Mapping[Item, Truth]) -> float:
    """Adjusted Rand index of two labelings over the items in ``truth`` (Hubert-Arabie).

    >>> adjusted_rand_index({"a": 1, "b": 1, "c": 2, "d": 2}, {"a": 5, "b": 5, "c": 6, "d": 6})
    1.0
    """
    items = list(truth)
    n_items = len(items)
    joint = Counter((predicted[item], truth[item]) for item in items)
    sum_joint = sum(comb(count, 2) for count in joint.values())
    sum_predicted = sum(comb(c, 2) for c in Counter(predicted[i] for i in items).values())
    sum_truth = sum(comb(c, 2) for c in Counter(truth[i] for i in items).values())
    total = comb(n_items, 2)
    if total == 0:
        return 1.0
    expected = sum_predicted * sum_truth / total
    maximum = (sum_predicted + sum_truth) / 2
    if maximum == expected:
        # Both labelings trivial (all one cluster or all singletons): sklearn gives 1.0.
        return 1.0
    return (sum_joint - expected) / (maximum - expected)
