"""Cluster-to-defect links: evidence, confidence, people's decisions, determinism, scale."""

from __future__ import annotations

import copy
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from problems.book import RecordBook
from problems.events import parse_event
from problems.linker import (
    Evidence,
    LinkDecision,
    cluster_profiles,
    confidence,
    problem_groups,
    propose_links,
)
from problems.linker.errors import LinkerError
from problems.records import (
    DefectRecord,
    TicketRecord,
)

START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)

TOPICS = {
    "P-coupon": (
        "Checkout crashes with NullPointerException when applying coupon code",
        "CouponService.apply throws NullPointerException for expired coupon codes at checkout",
        "checkout",
        "7.5.0",
    ),
    "P-pdf": (
        "Invoice PDF download times out with ERR_PDF_RENDER_TIMEOUT",
        "PDF renderer worker pool exhausted, invoice PDF render timeout after 30 seconds",
        "invoices",
        "4.2.0",
    ),
    "P-sso": (
        "SAML login fails with clock skew error, assertion not yet valid",
        "SAML assertion rejected because NotBefore is in the future: clock skew tolerance zero",
        "sso",
        "2.18.0",
    ),
}


def ticket(
    ticket_id: str,
    subject: str,
    *,
    days: float = 0.0,
    component: str | None = None,
    version: str | None = None,
    keys: tuple[str, ...] = (),
    text: str = "",
) -> TicketRecord:
    opened = START + timedelta(days=days)
    return TicketRecord(
        ticket_id=ticket_id,
        event_ids=(f"e-{ticket_id}",),
        opened_at=opened,
        first_closed_at=opened,
        closed_at=opened,
        subject=subject,
        text=text,
        customer_id=f"c{int(days) % 5}",
        product="shop",
        component=component,
        version=version,
        jira_keys=keys,
    )


def defect(key: str, summary: str, description: str = "", **fields: object) -> DefectRecord:
    values: dict[str, object] = {
        "key": key,
        "project": key.rsplit("-", 1)[0],
        "summary": summary,
        "description": description,
        "created": START + timedelta(days=2),
    }
    values.update(fields)
    return DefectRecord(**values)  # type: ignore[arg-type]


def scenario() -> tuple[dict[str, TicketRecord], dict[str, DefectRecord], dict[str, str]]:
    """Three clusters; two have a defect, one does not; plus two distractor defects."""
    rng = random.Random(5)
    tickets: dict[str, TicketRecord] = {}
    memberships: dict[str, str] = {}
    phrasings = ("{}", "Urgent: {}", "{} again today", "customer reports: {}", "{} (prod)")
    for cluster_id, (subject, _, component, version) in TOPICS.items():
        for i in range(12):
            ticket_id = f"{cluster_id}-{i}"
            words = subject.split()
            rng.shuffle(words)
            text = " ".join(words[: len(words) // 2]) + f" order ORD-{rng.randrange(10_000)}"
            keys = ("CHK-7",) if cluster_id == "P-coupon" and i < 2 else ()
            tickets[ticket_id] = ticket(
                ticket_id,
                rng.choice(phrasings).format(subject),
                days=i * 1.5,
                component=component,
                version=version,
                keys=keys,
                text=text,
            )
            memberships[ticket_id] = cluster_id
    defects = {
        "CHK-7": defect(
            "CHK-7",
            "NullPointerException in CouponService.apply for expired coupons",
            TOPICS["P-coupon"][1],
            components=("Checkout",),
            affected_versions=("7.5.0",),
        ),
        "BIL-3": defect(
            "BIL-3",
            "Invoice PDF render timeout: renderer pool exhausted",
            TOPICS["P-pdf"][1],
            components=("Invoices",),
            affected_versions=("4.2.0", "4.2.1"),
        ),
        "BIL-9": defect("BIL-9", "Upgrade jackson-databind in billing service", "Dependency bump"),
        "CHK-8": defect(
            "CHK-8", "Coupon admin list sorts by creation date", "Cosmetic admin issue"
        ),
    }
    return tickets, defects, memberships


def test_links_each_cluster_to_its_defect_and_leaves_the_other_alone() -> None:
    tickets, defects, memberships = scenario()
    links = propose_links(tickets, defects, memberships)
    assert [(link.cluster_id, link.defect_key, link.status) for link in links] == [
        ("P-coupon", "CHK-7", "proposed"),
        ("P-pdf", "BIL-3", "proposed"),
    ]
    coupon = links[0].evidence
    assert coupon.explicit_count == 2
    assert coupon.explicit_share == pytest.approx(2 / 12)
    assert coupon.version_share == 1.0 and coupon.component_share == 1.0
    assert coupon.days_from_defect == pytest.approx(-2.0)
    assert coupon.cosine > 0.05 and coupon.defect_share == 1.0 and coupon.cosine_margin > 0.5
    assert 0 < coupon.fuzzy <= 100
    assert links[0].confidence > 0.9
    pdf = links[1].evidence
    assert pdf.explicit_count == 0 and pdf.version_share == 1.0


def test_mentions_in_text_count_as_explicit_evidence() -> None:
    tickets, defects, memberships = scenario()
    changed = dict(tickets)
    for i in range(4):
        key = f"P-pdf-{i}"
        changed[key] = tickets[key].model_copy(
            update={"text": "Looks like BIL-3 again; see BIL-99"}
        )
    links = propose_links(changed, defects, memberships)
    pdf = next(link for link in links if link.cluster_id == "P-pdf")
    assert pdf.evidence.explicit_count == 4  # BIL-99 is no known defect: ignored


def test_confirmation_persists_and_rejection_wins_over_scoring() -> None:
    tickets, defects, memberships = scenario()
    at = START + timedelta(days=30)
    decisions = [
        LinkDecision(cluster_id="P-coupon", defect_key="CHK-7", decision="rejected", at=at),
        LinkDecision(cluster_id="P-sso", defect_key="BIL-9", decision="confirmed", at=at),
        # A later decision replaces an earlier one on the same pair.
        LinkDecision(cluster_id="P-pdf", defect_key="BIL-3", decision="rejected", at=at),
        LinkDecision(
            cluster_id="P-pdf", defect_key="BIL-3", decision="confirmed", at=at + timedelta(1)
        ),
        LinkDecision(cluster_id="P-gone", defect_key="BIL-3", decision="confirmed", at=at),
    ]
    links = propose_links(tickets, defects, memberships, decisions=decisions)
    status = {(link.cluster_id, link.defect_key): link.status for link in links}
    assert status[("P-coupon", "CHK-7")] == "rejected"
    assert status[("P-sso", "BIL-9")] == "confirmed"  # low score, still confirmed
    assert status[("P-pdf", "BIL-3")] == "confirmed"
    assert not any(cluster_id == "P-gone" for cluster_id, _ in status)
    assert not any(
        cluster_id == "P-coupon" and state == "proposed"
        for (cluster_id, _), state in status.items()
    )
    # Later scoring (more tickets) does not undo them.
    more = dict(tickets)
    for i in range(12, 30):
        more[f"P-coupon-{i}"] = ticket(f"P-coupon-{i}", TOPICS["P-coupon"][0], keys=("CHK-7",))
    more_memberships = {**memberships, **{f"P-coupon-{i}": "P-coupon" for i in range(12, 30)}}
    again = propose_links(more, defects, more_memberships, decisions=decisions)
    assert {(link.cluster_id, link.defect_key): link.status for link in again} == status


def test_deterministic_and_inputs_untouched() -> None:
    tickets, defects, memberships = scenario()
    before = (copy.deepcopy(tickets), copy.deepcopy(defects), dict(memberships))
    first = propose_links(tickets, defects, memberships)
    second = propose_links(dict(reversed(list(tickets.items()))), defects, memberships)
    assert first == second
    assert (tickets, defects, memberships) == before


def test_empty_inputs_and_bad_arguments() -> None:
    tickets, defects, memberships = scenario()
    assert propose_links({}, defects, {}) == []
    assert propose_links(tickets, {}, memberships) == []
    blank = {
        key: value.model_copy(update={"subject": "", "text": ""}) for key, value in tickets.items()
    }
    empty_defects = {
        key: value.model_copy(update={"summary": "", "description": ""})
        for key, value in defects.items()
    }
    assert isinstance(propose_links(blank, empty_defects, memberships), list)
    with pytest.raises(LinkerError):
        propose_links(tickets, defects, memberships, n_candidates=0)


def test_confidence_rises_with_each_kind_of_evidence() -> None:
    base = Evidence(cosine=0.2, cosine_margin=0.5, defect_share=0.8, fuzzy=50.0)
    assert confidence(base.model_copy(update={"explicit_share": 0.3, "explicit_count": 3})) > (
        confidence(base)
    )
    assert confidence(base.model_copy(update={"cosine": 0.4})) > confidence(base)
    assert confidence(base.model_copy(update={"component_share": 1.0})) > confidence(
        base.model_copy(update={"component_share": 0.0})
    )
    assert confidence(base.model_copy(update={"days_from_defect": 1.0})) > confidence(
        base.model_copy(update={"days_from_defect": 300.0})
    )
    assert 0.0 < confidence(Evidence()) < 0.01


def test_profiles_and_problem_groups() -> None:
    tickets, defects, memberships = scenario()
    profiles = cluster_profiles(tickets, memberships, set(defects), {"P-sso": "SSO clock skew"})
    assert profiles["P-coupon"].n_tickets == 12
    assert profiles["P-coupon"].mentions == {"CHK-7": 2}
    assert profiles["P-sso"].signature.startswith("SSO clock skew")
    assert profiles["P-pdf"].first_seen == START
    links = propose_links(tickets, defects, memberships)
    groups = problem_groups(memberships, links)
    assert groups["P-coupon-0"] == "defect:CHK-7" and groups["P-sso-0"] == "P-sso"


def test_generated_sample_links_with_ground_truth_clusters() -> None:
    from problems.sample import generate_sample

    sample = generate_sample(seed=11, n_tickets=800, weeks=16)
    book = RecordBook.from_events(parse_event(raw) for raw in sample.events)
    tickets, defects = book.tickets, book.defects
    truth = sample.ground_truth
    memberships = {t: cause for t, cause in truth["tickets"].items() if cause != "noise"}
    links = propose_links(tickets, defects, memberships)
    expected = {
        (cause, key) for cause, key in truth["links"].items() if cause in set(memberships.values())
    }
    proposed = {(link.cluster_id, link.defect_key) for link in links}
    assert len(proposed & expected) / len(proposed) >= 0.95
    assert len(proposed & expected) / len(expected) >= 0.9


@pytest.mark.slow
def test_refresh_of_a_large_state_is_fast() -> None:
    rng = random.Random(1)
    vocabulary = [f"term{i}" for i in range(3_000)]
    topics = [rng.sample(vocabulary, 10) for _ in range(200)]
    tickets = {}
    memberships = {}
    for i in range(50_000):
        cluster = i % 200
        tickets[f"T{i}"] = TicketRecord.model_construct(
            ticket_id=f"T{i}", event_ids=(), opened_at=START, first_closed_at=START,
            closed_at=START, subject=" ".join(rng.choices(topics[cluster], k=5)),
            text=" ".join(rng.choices(topics[cluster], k=20)), customer_id="c", product="p",
            component=None, version=None, jira_keys=(),
        )  # fmt: skip
        memberships[f"T{i}"] = f"P{cluster}"
    defects = {
        f"D-{d + 1}": defect(f"D-{d + 1}", " ".join(topics[d][:6]), " ".join(topics[d]))
        for d in range(150)
    }
    started = time.perf_counter()
    links = propose_links(tickets, defects, memberships)
    assert time.perf_counter() - started < 60
    right = sum(1 for link in links if link.defect_key == f"D-{int(link.cluster_id[1:]) + 1}")
    assert right >= 140 and right / len(links) >= 0.98
