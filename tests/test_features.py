"""Tests of the ticket featurizer and error-signature extraction."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from problems.cluster.features import (
    BLOCKS,
    TicketFeaturizer,
    extract_signatures,
    version_family,
)


@dataclass(frozen=True)
class Ticket:
    subject: str
    text: str = ""
    product: str = "hdfs"
    component: str | None = "namenode"
    version: str | None = "3.3.1"
    tags: tuple[str, ...] = ()


def cosine(featurizer: TicketFeaturizer, first: Ticket, second: Ticket) -> float:
    rows = featurizer.transform([first, second])
    return float((rows[0] @ rows[1].T).toarray()[0, 0])


def test_rows_are_unit_length_and_sized() -> None:
    featurizer = TicketFeaturizer(n_features=2**12)
    tickets = [Ticket("Upload times out"), Ticket("x", text="y" * 50), Ticket("", text="")]
    rows = featurizer.transform(tickets)
    assert rows.shape == (3, featurizer.n_columns)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    assert norms[0] == pytest.approx(1.0, abs=1e-5)
    assert norms[1] == pytest.approx(1.0, abs=1e-5)


def test_empty_ticket_without_metadata_is_a_zero_row() -> None:
    empty = Ticket("", product="", component=None, version=None)
    assert TicketFeaturizer(n_features=2**10).transform([empty]).nnz == 0


def test_deterministic_and_stateless() -> None:
    tickets = [Ticket("NameNode crash on restart"), Ticket("Balancer hangs", text="jstack")]
    first = TicketFeaturizer().transform(tickets)
    second = TicketFeaturizer().transform(list(reversed(tickets)))
    assert (first[0] != second[1]).nnz == 0
    assert (first[1] != second[0]).nnz == 0


def test_transform_one_matches_batch() -> None:
    tickets = [Ticket("Checkout fails with HTTP 503"), Ticket("Invoice PDF blank")]
    featurizer = TicketFeaturizer()
    batch = featurizer.transform(tickets)
    for n, ticket in enumerate(tickets):
        assert (featurizer.transform_one(ticket) != batch[n]).nnz == 0


def test_input_is_not_mutated() -> None:
    ticket = Ticket("Upload fails", text="IOException at upload", tags=("a",))
    before = replace(ticket)
    TicketFeaturizer().transform([ticket])
    assert ticket == before


def test_paraphrase_scores_above_unrelated() -> None:
    featurizer = TicketFeaturizer()
    query = Ticket("DataNode heartbeat throws NullPointerException")
    paraphrase = Ticket("NullPointerException in Datanode heartbeats")
    unrelated = Ticket("Web UI shows wrong capacity")
    assert cosine(featurizer, query, paraphrase) > 2 * cosine(featurizer, query, unrelated)


def test_character_ngrams_forgive_typos() -> None:
    with_chars = TicketFeaturizer()
    without = TicketFeaturizer(subject_chars_weight=0.0)
    a, b = Ticket("Namenode replicaton fails"), Ticket("NameNode replication failed")
    assert cosine(with_chars, a, b) > cosine(without, a, b)


def test_metadata_sharpens_but_never_decides() -> None:
    featurizer = TicketFeaturizer()
    query = Ticket("Balancer ignores excluded nodes", component="balancer", version="3.3.1")
    same_text_other_meta = Ticket(
        "Balancer ignores excluded nodes", product="yarn", component="ui", version="2.7.0"
    )
    other_text_same_meta = Ticket(
        "Web UI shows wrong capacity", component="balancer", version="3.3.2"
    )
    assert cosine(featurizer, query, same_text_other_meta) > 0.8
    assert cosine(featurizer, query, other_text_same_meta) < 0.2


def test_bug_form_lines_make_no_likeness() -> None:
    # Reports filed through one web form share its labels and a browser's user agent;
    # that alone must not make two unrelated reports look alike.
    def form(body: str) -> str:
        return (
            "User Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:91.0) Gecko/20100101 "
            f"Firefox/91.0\n\nSteps to reproduce:\n\n{body}\n\nActual results:\n\n"
            "**Expected Behavior:**\n"
        )

    featurizer = TicketFeaturizer()
    bodies = ("Imported bookmarks from a file", "Opened a video page and pressed play")
    first = Ticket("Bookmarks lost", text=form(bodies[0]))
    second = Ticket("Video does not play", text=form(bodies[1]))
    plain = [replace(first, text=bodies[0]), replace(second, text=bodies[1])]
    # Only the shared metadata (product, component, version) is left in common.
    assert cosine(featurizer, first, second) == cosine(featurizer, *plain) < 0.05
    assert (featurizer.transform_one(first) != featurizer.transform_one(plain[0])).nnz == 0


def test_numbers_and_versions_count() -> None:
    # Dependency-upgrade reports differ only in the library and version they name.
    featurizer = TicketFeaturizer()
    query = Ticket("Upgrade jackson-databind to 2.13.4 for CVE-2022-42003")
    same = Ticket("Bump jackson-databind to 2.13.4 (CVE-2022-42003)")
    other = Ticket("Upgrade jackson-databind to 2.10.1 for CVE-2019-12086")
    assert cosine(featurizer, query, same) > cosine(featurizer, query, other)


def test_block_slices_cover_the_row() -> None:
    featurizer = TicketFeaturizer(n_features=16)
    slices = featurizer.block_slices()
    assert list(slices) == list(BLOCKS)
    assert slices[BLOCKS[0]][0] == 0
    assert slices[BLOCKS[-1]][1] == featurizer.n_columns
    for before, after in itertools.pairwise(BLOCKS):
        assert slices[before][1] == slices[after][0]


def test_zero_weight_blocks_stay_empty() -> None:
    featurizer = TicketFeaturizer(n_features=2**12, subject_chars_weight=0, metadata_weight=0)
    rows = featurizer.transform([Ticket("Disk full on datanode", text="ENOSPC")])
    slices = featurizer.block_slices()
    for name in ("subject_chars", "metadata"):
        start, stop = slices[name]
        assert rows[:, start:stop].nnz == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("java.lang.NullPointerException at Foo", ["exc:nullpointerexception"]),
        (
            "Caused by: java.io.IOException: 503 Service Unavailable",
            ["exc:ioexception", "http:503"],
        ),
        ("ORA-00942: table or view does not exist", ["code:ora-00942"]),
        ("connect failed ECONNREFUSED", ["code:econnrefused"]),
        ("net::ERR_CONNECTION_RESET in browser", ["code:err_connection_reset"]),
        ("HTTP/1.1 429 after retries", ["http:429"]),
        ("the server answered status: 502", ["http:502"]),
        ("500 Internal Server Error", ["http:500"]),
        ("Gateway Timeout from the proxy", ["http:504"]),
        ("copied 404 files, nothing found", []),
        ("an ordinary sentence with no error", []),
        ("OutOfMemoryError: Java heap space", ["exc:outofmemoryerror"]),
    ],
)
def test_extract_signatures(text: str, expected: list[str]) -> None:
    assert extract_signatures(text) == expected


def test_signatures_are_unique_and_in_order() -> None:
    text = "IOException then ECONNRESET then IOException again and HTTP 503"
    assert extract_signatures(text) == ["exc:ioexception", "code:econnreset", "http:503"]


@pytest.mark.parametrize(
    ("version", "family"),
    [("2.7.1", "2.7"), ("3", "3"), ("v4.2.0-rc1", "4.2"), ("", None), (None, None)],
)
def test_version_family(version: str | None, family: str | None) -> None:
    assert version_family(version) == family


def test_no_records_give_no_rows() -> None:
    featurizer = TicketFeaturizer(n_features=2**10)
    assert featurizer.transform([]).shape == (0, featurizer.n_columns)


def test_columns_are_those_of_scikit_learns_hasher() -> None:
    """Rows keep the columns of the FeatureHasher this featurizer replaced (stable
    MurmurHash3, never Python's salted ``hash``), so results do not move."""
    from sklearn.feature_extraction import FeatureHasher

    tokens = ["namenode", "heartbeat lost", " nu", "exc:ioexception", "version=3.3", "é", "x"]
    for n_features in (16, 2**10, 2**19):
        hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
        expected = hasher.transform([[token] for token in tokens]).indices.tolist()
        columns = TicketFeaturizer(n_features=n_features)._token_columns(tokens)
        assert columns.tolist() == expected


def test_clearing_the_column_cache_changes_no_row(monkeypatch: pytest.MonkeyPatch) -> None:
    tickets = [
        Ticket("NameNode crash on restart", text="java.io.IOException at startup"),
        Ticket("Balancer hangs", text="jstack attached; HTTP 503"),
    ]
    expected = TicketFeaturizer().transform(tickets)
    monkeypatch.setattr("problems.cluster.features._COLUMN_CACHE_SIZE", 8)
    small_cache = TicketFeaturizer()
    for _ in range(2):
        assert (small_cache.transform(tickets) != expected).nnz == 0


def _signature_words(pattern: re.Pattern[str], text: str) -> list[str]:
    """The words `extract_signatures` turns into signatures when it scans with
    ``pattern``."""
    from problems.cluster.features import _ERROR_CODE, _EXCEPTION

    found = []
    for match in pattern.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] in "_$-"):
            continue
        word = match.group(0).rstrip("-")
        if _EXCEPTION.fullmatch(word) or (word[1:2].isupper() and _ERROR_CODE.fullmatch(word)):
            found.append(word)
    return found


_PIECES = (
    "Exception Error Panic Failure Fault A AB Ab x é É - -- _ $ . : 1 503 ORA-00942 ECONN ERR_"
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*_PIECES.split(), " "]), max_size=14).map("".join))
def test_candidate_scan_finds_what_the_simple_scan_finds(text: str) -> None:
    """The scan skips ordinary capitalised words but none that make a signature."""
    from problems.cluster.features import _CANDIDATE

    simple = re.compile(r"[A-Z][A-Za-z0-9_$-]{3,}")
    assert _signature_words(_CANDIDATE, text) == _signature_words(simple, text)


def test_a_capital_followed_by_dashes_is_no_signature() -> None:
    # It used to raise IndexError (a one-letter word once the dashes are stripped).
    assert extract_signatures("see A--- here, B-- too") == []


def test_word_gram_columns_are_those_of_the_words_and_joined_pairs() -> None:
    documents = [["namenode", "heartbeat", "lost"], [], ["x"], ["dfs.name.dir", "x_1", "x"]]
    words = [word for document in documents for word in document]
    pairs = [" ".join(pair) for document in documents for pair in itertools.pairwise(document)]
    featurizer = TicketFeaturizer()
    columns, rows = featurizer._word_gram_columns(documents)
    assert columns.tolist() == featurizer._token_columns(words + pairs).tolist()
    assert rows.tolist() == [0, 0, 0, 2, 3, 3, 3, 0, 0, 3, 3]  # words, then pairs
    empty_columns, empty_rows = featurizer._word_gram_columns([[], []])
    assert empty_columns.size == empty_rows.size == 0


def test_version_family_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("problems.cluster.features._FAMILY_CACHE_SIZE", 2)
    assert [version_family(v) for v in ("1.2.3", "2.0", "x", "1.2.3", "")] == [
        "1.2",
        "2.0",
        "x",
        "1.2",
        None,
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=20), st.sampled_from([3, 16, 2**10, 2**19]))
def test_batch_hashing_gives_scikit_learns_columns(tokens: list[str], n_features: int) -> None:
    from sklearn.utils import murmurhash3_32

    from problems.cluster.hashing import token_columns

    tokens = [token for token in tokens if token.encode("utf-8", "ignore").decode() == token]
    expected = []
    for token in tokens:
        signed = murmurhash3_32(token, seed=0)
        expected.append(
            (2**31 - n_features) % n_features if signed == -(2**31) else abs(signed) % n_features
        )
    assert token_columns(tokens, n_features).tolist() == expected
