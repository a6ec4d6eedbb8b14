"""bench/quality.py end to end on small files of both formats of ../shared/data.

The issue asks the bench to work on any file of those formats, not only the shipped ones:
these files use what the shipped ones leave out (no Affects Version/s column, a duplicate
cell listing several ids, links to reports absent from the file, a Jira description that
is null, a duplicate link across projects, an issue written twice).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import quality
from bench.datasets import parse_time

# Each topic is reported two or three times in other words: one duplicate group each.
TOPICS = [
    (
        "NameNode crashes on startup with NullPointerException in FSImage loader",
        "NullPointerException in FSImage loader crashes the NameNode at startup",
        "NameNode startup fails: NullPointerException while loading FSImage",
    ),
    (
        "Balancer ignores the bandwidth limit set in dfs.datanode.balance.bandwidthPerSec",
        "dfs.datanode.balance.bandwidthPerSec bandwidth limit is ignored by the Balancer",
    ),
    (
        "ResourceManager web UI shows negative running containers after the job finishes",
        "Negative running containers on the ResourceManager web UI once the job finishes",
    ),
    (
        "DistCp fails to copy files with spaces in the path",
        "Files whose path has spaces fail to copy with DistCp",
    ),
    (
        "FairScheduler preemption kills the ApplicationMaster container",
        "ApplicationMaster container is killed by FairScheduler preemption",
    ),
]
# Reports of nothing else: the distractors every query must rank its duplicate above.
OTHERS = [
    "Typo in the javadoc of Configuration.getInt",
    "Upgrade jetty to fix a security advisory",
    "TestHardLink fails on Mac OS X",
    "Add a metric for the number of open files in the DataNode",
    "JobHistoryServer leaks file descriptors on log aggregation",
    "hadoop fs -stat prints null for a glob that matches nothing",
    "Capacity scheduler queue ACLs are not checked for the root queue",
    "Snappy codec copies the buffer twice in the inner loop",
    "Secondary NameNode does not download a new image after a checkpoint",
    "KMS client retries forever when the server is down",
    "Native build fails on FreeBSD because setnetgrent returns void",
    "S3A does not close the input stream on seek",
]


# Jira's REST form, then other ISO 8601 forms an export may write.
TIME_ZONES = (".000+0000", "Z", "+0000", ".5+02:00")


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    report = quality.main(argv)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == json.loads(json.dumps(report))  # the JSON line is last
    return report


def _check_figures(
    figures: dict[str, Any], n_links: int, n_in_groups: int, n_findable: int
) -> None:
    """``n_findable``: queries with a duplicate in their own scope (the protocol ranks only
    those); no method may find more, as a query is never a candidate of its own."""
    assert figures["links"] == n_links
    assert figures["reports_in_groups"] == n_in_groups
    findable = round(n_findable / n_in_groups, 6)
    for method in ("tfidf", "ours", "rerank"):
        scores = figures["retrieval"][method]
        assert scores["queries"] == n_in_groups
        assert 0.0 <= scores["R@1"] <= scores["R@5"] <= scores["R@10"] <= findable
        assert 0.0 <= scores["MRR"] <= findable
    # Paraphrases among a few unrelated reports: the re-ranked list finds every one.
    assert figures["retrieval"]["rerank"]["R@5"] == findable
    clustering = figures["clustering"]
    for method in ("drain3", "duplicates", "tfidf_agglomerative", "ours_groups"):
        assert clustering[method]["links"] == n_links
        assert 0 <= clustering[method]["links_together"] <= n_links
        assert clustering[method]["pairs"] >= 0
    assert clustering["duplicates"]["links_together"] > 0
    # The same groups at equal cost: within Drain3's pairs, and no worse than at the
    # shipped threshold when that is within them too.
    equal_cost = clustering["duplicates_at_drain3_pairs"]
    assert equal_cost["pairs"] <= clustering["drain3"]["pairs"]
    if clustering["duplicates"]["pairs"] <= clustering["drain3"]["pairs"]:
        assert equal_cost["links_together"] >= clustering["duplicates"]["links_together"]


def _write_gitbugs(
    tmp_path: Path, encoding: str = "utf-8"
) -> tuple[Path, Path, list[dict[str, str]], list[list[str]]]:
    """A GitBugs pair of files of `TOPICS` and `OTHERS`: reports, duplicates, rows, groups."""
    reports = tmp_path / "bugs" / "reports.csv"
    reports.parent.mkdir()
    rows: list[dict[str, str]] = []
    groups: list[list[str]] = []
    day = 1
    for topic in TOPICS:
        ids = []
        for summary in topic:
            ticket_id = str(1000 + len(rows))
            ids.append(ticket_id)
            rows.append(
                {
                    "Summary": summary,
                    "Issue id": ticket_id,
                    "Status": "Resolved",
                    "Priority": "Major",
                    "Resolution": "Fixed",
                    "Created": f"{day:02d}/Mar/22 10:00",
                    "Resolved": f"{day:02d}/Apr/22 10:00",
                    "Description": f"Seen on our cluster. {summary}.",
                }
            )
            day += 1
        groups.append(ids)
    for summary in OTHERS:
        rows.append(
            {
                "Summary": summary,
                "Issue id": str(1000 + len(rows)),
                "Status": "Open",
                "Priority": "Minor",
                "Resolution": "",
                "Created": "15/May/22 09:30",
                "Resolved": "",
                "Description": "",
            }
        )
    with reports.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))  # no Affects Version/s
        writer.writeheader()
        writer.writerows(rows)
    duplicates = tmp_path / "bugs" / "duplicates.csv"
    with duplicates.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(["Issue id", "Duplicate id"])
        for first, *rest in groups:
            writer.writerow([first, ", ".join([*rest, "99999"])])  # 99999 is not a report
    return reports, duplicates, rows, groups


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])  # with a byte-order mark
def test_gitbugs_format_without_versions_with_multi_id_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    reports, duplicates, rows, groups = _write_gitbugs(tmp_path, encoding)
    n_links = sum(len(ids) - 1 for ids in groups)
    n_in_groups = sum(len(ids) for ids in groups)

    report = _run(capsys, ["--reports", str(reports), "--duplicates", str(duplicates)])

    figures = report["gitbugs"]
    assert figures["reports"] == len(rows)
    assert figures["groups"] == len(groups)
    _check_figures(figures, n_links, n_in_groups, n_in_groups)


def test_a_scope_too_large_for_the_agglomerative_baseline_skips_it_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its distances grow with the square of a scope: past the limit the run goes on
    without it (a larger file would otherwise run out of memory and print nothing)."""
    reports, duplicates, rows, _ = _write_gitbugs(tmp_path)
    monkeypatch.setattr(quality, "MAX_AGGLOMERATIVE_SCOPE", len(rows) - 1)

    report = _run(capsys, ["--reports", str(reports), "--duplicates", str(duplicates)])

    clustering = report["gitbugs"]["clustering"]
    assert clustering["tfidf_agglomerative"] == {
        "skipped": f"a scope of {len(rows)} reports is over {len(rows) - 1}: "
        "its distances would not fit in memory"
    }
    assert "tfidf_agglomerative" not in report["gitbugs"]["clustering_no_identical"]
    assert clustering["duplicates"]["links_together"] > 0
    assert clustering["drain3"]["pairs"] >= 0


def test_condensed_distances_match_scipy_across_blocks() -> None:
    from scipy.sparse import csr_matrix
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(3)
    dense = rng.random((23, 7)) * (rng.random((23, 7)) < 0.5)
    dense[4] = dense[3]  # a distance of 0
    dense[:, 0] += 1e-3  # no empty row
    unit = dense / np.linalg.norm(dense, axis=1, keepdims=True)
    built = quality._condensed_cosine_distances(csr_matrix(unit), block=5)
    assert built.shape == (23 * 22 // 2,)
    assert np.allclose(built, pdist(unit, metric="cosine"), atol=1e-12)


def test_jira_format_two_projects_null_description_cross_project_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issues: list[dict[str, Any]] = []
    links: list[tuple[str, str]] = []
    counters = {"HDFS": 0, "YARN": 0}

    def add(project: str, summary: str, description: str | None, day: int) -> str:
        counters[project] += 1
        key = f"{project}-{counters[project]}"
        fields: dict[str, Any] = {
            "summary": summary,
            "description": description,
            "issuetype": {"name": "Bug"},
            "priority": {"name": "Major"},
            "components": [{"name": "namenode"}] if project == "HDFS" else [],
            "versions": [{"name": "2.7.1", "released": True, "releaseDate": "2015-07-06"}],
            "fixVersions": [],
            "created": f"2015-{1 + day // 28:02d}-{1 + day % 28:02d}T10:00:00"
            + TIME_ZONES[day % len(TIME_ZONES)],
            "issuelinks": [],
        }
        issues.append({"key": key, "id": str(10_000 + len(issues)), "fields": fields})
        return key

    day = 0
    for n, topic in enumerate(TOPICS):
        keys = []
        for m, summary in enumerate(topic):
            # The first topic's last report is filed in the other project.
            project = "YARN" if (n == 0 and m == len(topic) - 1) or n % 2 else "HDFS"
            keys.append(add(project, summary, None if m == 0 else f"{summary}.", day))
            day += 1
        links.extend((keys[0], other) for other in keys[1:])
    for m, summary in enumerate(OTHERS):
        add("HDFS" if m % 2 else "YARN", summary, "Steps to reproduce are attached.", day)
        day += 1
    by_key = {issue["key"]: issue for issue in issues}
    for inward, outward in links:
        by_key[inward]["fields"]["issuelinks"].append(
            {"type": {"name": "Duplicate"}, "outwardIssue": {"key": outward}}
        )
    # Two issues written twice, as concatenated exports do: an unlinked one, and a linked
    # one whose second copy has lost its links.
    repeats = [issues[-1], {**by_key[links[0][0]], "fields": {**by_key[links[0][0]]["fields"]}}]
    repeats[1]["fields"]["issuelinks"] = []
    path = tmp_path / "issues.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for issue in [*issues, *repeats]:
            handle.write(json.dumps(issue) + "\n")

    report = _run(capsys, ["--jira", str(path)])

    figures = report["jira"]
    assert figures["reports"] == len(issues)
    assert figures["groups"] == len(TOPICS)
    n_in_groups = sum(len(topic) for topic in TOPICS)
    # The first topic's report filed in YARN has its duplicates in HDFS only.
    _check_figures(figures, len(links), n_in_groups, n_in_groups - 1)
    assert figures["clustering"]["duplicates"]["links_together"] == len(links)  # across too


def test_parse_time_reads_each_form_in_utc() -> None:
    expected = datetime(2021, 9, 30, 17, 20, tzinfo=UTC)
    for text in (
        "2021-09-30T17:20:00.000+0000",
        "2021-09-30T19:20:00+02:00",
        "2021-09-30T17:20:00Z",
        "2021-09-30 17:20:00",
        "30/Sep/21 17:20",
        "30/Sep/2021 17:20",
    ):
        parsed = parse_time(text)
        assert parsed == expected and parsed.tzinfo == UTC, text
    assert parse_time("") is None and parse_time(None) is None
    assert parse_time("last Tuesday") is None
