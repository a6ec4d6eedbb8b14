"""The register's outputs: meeting agenda (Markdown), CSV, Parquet, a self-contained HTML page,
JSON, and the flat fields of a Redis stream entry.

Every output is a pure function of the register, so a frozen week gives byte-identical
files. All text in the HTML page is escaped, the page fetches nothing (no external script,
style, font or image) and its Content-Security-Policy allows only its own inline script
and style by hash; Markdown escapes HTML and Markdown syntax in ticket-derived text.

Examples
--------
>>> from problems.register.model import Impact, Register
>>> empty = Register(week="2026-W47", week_start="2026-11-16", week_end="2026-11-23",
...     rows=(), trend_weeks=("2026-W47",), weights={}, n_tickets=0, n_clustered_tickets=0)
>>> to_markdown(empty).splitlines()[0]
'# Problem register, week 2026-W47 (2026-11-16 to 2026-11-22)'
>>> payload = to_stream_payload(empty)
>>> payload["week"], payload["n_problems"], len(payload["digest"])
('2026-W47', '0', 64)
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from problems.register.impact import COMPONENTS
from problems.register.model import Mover, Movers, Register, RegisterRow
from problems.register.snapshot import register_to_dict

__all__ = [
    "FORMATS",
    "Format",
    "register_records",
    "render",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
    "to_parquet",
    "to_stream_payload",
]

Format = Literal["md", "csv", "parquet", "html", "json"]
FORMATS: tuple[Format, ...] = ("md", "csv", "parquet", "html", "json")

_STREAM_TOP = 20


def render(register: Register, fmt: Format, path: str | Path, *, top_n: int = 10) -> Path:
    """Write a register to ``path`` in one format and return the path.

    Parameters
    ----------
    register
        A week's register (`problems.register.snapshot.build_register`).
    fmt
        ``md`` (meeting agenda, top ``top_n``), ``csv`` and ``parquet`` (every row, every
        column), ``html`` (self-contained page) or ``json`` (the snapshot itself).
    path
        The file to write; its folder must exist.
    """
    target = Path(path)
    if fmt == "parquet":
        to_parquet(register, target)
        return target
    writers = {
        "md": lambda: to_markdown(register, top_n=top_n),
        "csv": lambda: to_csv(register),
        "html": lambda: to_html(register),
        "json": lambda: to_json(register),
    }
    if fmt not in writers:
        raise ValueError(f"unknown register format {fmt!r}; expected one of {FORMATS}")
    # newline="" keeps "\n" on every platform, so the bytes are the same everywhere.
    with target.open("w", encoding="utf-8", newline="") as handle:
        handle.write(writers[fmt]())
    return target


# ---------------------------------------------------------------- flat rows (CSV, Parquet)

_LIST_FIELDS = (
    "weekly_counts",
    "release_marks",
    "products",
    "components",
    "versions",
    "terms",
    "sample_ticket_ids",
)


def register_records(register: Register) -> list[dict[str, Any]]:
    """Every row as a flat dict of str, int, float and bool; lists are JSON text.

    Columns: ``week``, the row's fields, ``impact_score``, then ``points_<component>``
    and ``impact_<component>`` (weight times points) for each impact component.
    """
    records = []
    for row in register.rows:
        record: dict[str, Any] = {"week": register.week}
        for name in row.__dataclass_fields__:
            value = getattr(row, name)
            if name == "impact":
                record["impact_score"] = value.score
                for component in COMPONENTS:
                    record[f"points_{component}"] = value.points[component]
                for component in COMPONENTS:
                    record[f"impact_{component}"] = value.contributions[component]
            elif name in _LIST_FIELDS:
                record[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            else:
                record[name] = value
        records.append(record)
    return records


def _columns() -> list[tuple[str, str]]:
    """Column names and kinds (str, int, float, bool), in order, even for an empty register."""
    columns = [("week", "str")]
    for name, spec in RegisterRow.__dataclass_fields__.items():
        if name == "impact":
            columns.append(("impact_score", "float"))
            columns += [(f"points_{c}", "float") for c in COMPONENTS]
            columns += [(f"impact_{c}", "float") for c in COMPONENTS]
        elif name in _LIST_FIELDS:
            columns.append((name, "str"))
        else:
            kind = str(spec.type)
            columns.append((name, kind if kind in ("int", "float", "bool") else "str"))
    return columns


def to_csv(register: Register) -> str:
    """Every row and column as CSV (read it back with ``keep_default_na=False``)."""
    buffer = io.StringIO()
    names = [name for name, _ in _columns()]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for record in register_records(register):
        writer.writerow(record)
    return buffer.getvalue()


def to_parquet(register: Register, path: str | Path) -> None:
    """Every row and column as Parquet, with a fixed schema (same bytes for the same week)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    schema = pa.schema([pa.field(name, types[kind]) for name, kind in _columns()])
    table = pa.Table.from_pylist(register_records(register), schema=schema)
    pq.write_table(table, str(path), compression="zstd")


# ---------------------------------------------------------------- JSON and stream entry


def to_json(register: Register) -> str:
    """The register as canonical JSON (sorted keys), the form a snapshot is kept in."""
    return (
        json.dumps(register_to_dict(register), ensure_ascii=False, sort_keys=True, indent=1) + "\n"
    )


def to_stream_payload(register: Register) -> dict[str, str]:
    """Flat string fields for one Redis stream entry announcing a week's register.

    The entry is small whatever the register's size: counts, the top rows as compact
    JSON, and the SHA-256 ``digest`` of `to_json`, which the worker stores under the
    latest-snapshot key.
    """
    problems = register.problems
    top = [
        {
            "rank": row.rank,
            "cluster_id": row.cluster_id,
            "title": row.title,
            "status": row.status,
            "impact": row.impact.score,
            "action": row.action,
            "defect": row.defect_key or row.suggested_defect,
        }
        for row in problems[:_STREAM_TOP]
    ]
    movers = register.movers
    payload = {
        "schema_version": str(register_to_dict(register)["schema_version"]),
        "week": register.week,
        "week_start": register.week_start,
        "week_end": register.week_end,
        "n_problems": str(len(problems)),
        "n_noise": str(len(register.rows) - len(problems)),
        "n_tickets": str(register.n_tickets),
        "n_clustered_tickets": str(register.n_clustered_tickets),
        "n_regressed": str(sum(row.status == "regressed" for row in problems)),
        "n_rising": str(sum(row.status == "rising" for row in problems)),
        "n_new_entries": str(len(movers.new_entries) if movers else 0),
        "top": json.dumps(top, ensure_ascii=False, separators=(",", ":")),
        "digest": hashlib.sha256(to_json(register).encode("utf-8")).hexdigest(),
    }
    return dict(sorted(payload.items()))


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!~])")


def _md(text: str) -> str:
    """Ticket-derived text made inert in Markdown: one line, syntax and HTML escaped."""
    one_line = " ".join(str(text).split())
    entities = one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", entities)


def _mover_line(entry: Mover) -> str:
    before = f"#{entry.rank_before}" if entry.rank_before else "-"
    after = f"#{entry.rank_after}" if entry.rank_after else "-"
    change = entry.impact_change
    status = entry.status_after or entry.status_before
    return (
        f"- {_md(entry.title)} ({_md(entry.cluster_id)}): {before} -> {after}, "
        f"impact {change:+.1f}, {status}"
    )


def _movers_markdown(movers: Movers) -> list[str]:
    lines = [f"## What moved since {movers.previous_week}", ""]
    sections: Sequence[tuple[str, tuple[Mover, ...]]] = (
        ("New entries", movers.new_entries),
        ("Biggest movers", movers.biggest_movers),
        ("Regressions", movers.regressions),
        ("Resolved", movers.resolved),
        ("Gone (merged or no longer counted)", movers.gone),
    )
    for heading, entries in sections:
        lines.append(f"**{heading}** ({len(entries)})")
        lines.append("")
        lines.extend(_mover_line(entry) for entry in entries[:10])
        if len(entries) > 10:
            lines.append(f"- ... and {len(entries) - 10} more")
        if not entries:
            lines.append("- none")
        lines.append("")
    return lines


def _breakdown(row: RegisterRow) -> str:
    parts = [
        f"{name} {row.impact.contributions[name]:.1f}"
        for name in COMPONENTS
        if row.impact.contributions[name]
    ]
    return " + ".join(parts) or "0"


def _defect_line(row: RegisterRow) -> str:
    if row.defect_key:
        text = (
            f"{_md(row.defect_key)} ({_md(row.defect_status)}; {_md(row.link_status)} link, "
            f"confidence {row.link_confidence:.2f})"
        )
        if row.defect_summary:
            text += f": {_md(row.defect_summary)}"
        if row.fix_version or row.fix_date:
            text += f"; fix {_md(row.fix_version)} released {row.fix_date}".replace("  ", " ")
        if row.regression_tickets:
            text += f"; {row.regression_tickets} tickets on the fixed version or later"
        if row.link_evidence:
            text += f". Evidence: {_md(row.link_evidence)}"
        return text
    if row.suggested_defect:
        return f"none linked; tickets mention {_md(row.suggested_defect)}"
    return "none"


def _evidence_line(row: RegisterRow) -> str:
    parts = []
    if row.terms:
        parts.append("terms: " + ", ".join(_md(term) for term in row.terms[:6]))
    if row.representative_subject:
        parts.append(f'e.g. "{_md(row.representative_subject)}"')
    if row.sample_ticket_ids:
        parts.append("latest tickets " + ", ".join(_md(t) for t in row.sample_ticket_ids))
    if row.versions:
        parts.append("versions " + ", ".join(_md(v) for v in row.versions))
    if row.components:
        parts.append("components " + ", ".join(_md(c) for c in row.components))
    return "; ".join(parts) or "none"


def _action_line(row: RegisterRow) -> str:
    target = f" ({_md(row.suggested_defect)})" if row.suggested_defect else ""
    return f"**{row.action}**{target}"


def to_markdown(register: Register, *, top_n: int = 10) -> str:
    """The triage meeting's agenda: the top problems with evidence and actions, then movers."""
    end = date.fromisoformat(register.week_end) - timedelta(days=1)
    problems = register.problems
    lines = [
        f"# Problem register, week {register.week} ({register.week_start} to {end.isoformat()})",
        "",
        f"{len(problems)} problems from {register.n_clustered_tickets} clustered tickets "
        f"({register.n_tickets} tickets in all), ranked by impact. Weights: "
        + ", ".join(f"{name} {weight:g}" for name, weight in register.weights.items())
        + ".",
        "",
        f"## Top {min(top_n, len(problems))}",
        "",
    ]
    for row in problems[:top_n]:
        lines += [
            f"### {row.rank}. {_md(row.title)}: {row.status}, impact {row.impact.score:.1f}",
            "",
            f"- **Summary:** {_md(row.summary)}",
            f"- **Evidence:** {_evidence_line(row)}",
            f"- **Impact:** {_breakdown(row)}",
            f"- **Linked defect:** {_defect_line(row)}",
            f"- **Action:** {_action_line(row)}",
            "",
        ]
    if register.movers is not None:
        lines += _movers_markdown(register.movers)
    for note in register.notes:
        lines.append(f"> {_md(note)}")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------- HTML

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1f24}
h1{font-size:1.4rem;margin:0 0 .3rem}
p.meta{color:#57606a;margin:.2rem 0 1rem}
table.register{border-collapse:collapse;width:100%;font-size:.85rem}
table.register th,table.register td{border-bottom:1px solid #d0d7de;padding:.35rem .45rem;
vertical-align:top;text-align:left}
table.register th{background:#f6f8fa;position:sticky;top:0}
table.register th button{font:inherit;font-weight:600;background:none;border:0;padding:0;
cursor:pointer;color:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
table.register td.num{text-align:right;font-variant-numeric:tabular-nums}
table.register td.problem{min-width:18rem;max-width:34rem}
.summary{color:#57606a;font-size:.8rem}
.status{display:inline-block;border-radius:.6rem;padding:0 .45rem;background:#eaeef2}
.s-regressed,.s-rising{background:#ffd8d3}
.s-new{background:#ddf4ff}
.s-resolved{background:#dafbe1}
.s-fix-released{background:#fff8c5}
.s-noise{color:#8c959f}
details table{border-collapse:collapse;margin:.3rem 0}
details td,details th{padding:.1rem .4rem;font-size:.78rem}
section.movers{margin:1.2rem 0}
section.movers ul{margin:.2rem 0 .6rem}
.sr{font-size:.75rem;color:#57606a}
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("register");
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.querySelectorAll("th[data-type]"));
  function key(row, index, type) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-value");
    if (raw === null) { raw = cell.textContent; }
    return type === "num" ? parseFloat(raw) : raw.toLowerCase();
  }
  function sortBy(th) {
    var index = th.cellIndex;
    var type = th.getAttribute("data-type");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, index, type);
      var y = key(b, index, type);
      if (x < y) { return ascending ? -1 : 1; }
      if (x > y) { return ascending ? 1 : -1; }
      return Number(a.getAttribute("data-rank")) - Number(b.getAttribute("data-rank"));
    });
    headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }
  headers.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () { sortBy(th); });
  });
})();
"""

_COLOURS = {
    "customers": "#0969da",
    "volume": "#8250df",
    "severity": "#cf222e",
    "recency": "#bf8700",
    "trend": "#fb8500",
    "effort": "#1a7f37",
    "sla": "#9a6700",
    "csat": "#57606a",
}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _sparkline(row: RegisterRow, weeks: Sequence[str]) -> str:
    width, height, pad = 132, 30, 3
    counts = row.weekly_counts
    n = max(len(counts), 1)
    top = max(max(counts, default=0), 1)
    step = (width - 2 * pad) / max(n - 1, 1)

    def x(index: int) -> float:
        return round(pad + index * step, 1)

    def y(count: int) -> float:
        return round(height - pad - (height - 2 * pad) * count / top, 1)

    points = " ".join(f"{x(i)},{y(c)}" for i, c in enumerate(counts))
    label = ", ".join(f"{week}: {count}" for week, count in zip(weeks, counts, strict=False))
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e("weekly tickets " + label)}">',
        f"<title>{_e('weekly tickets: ' + label)}</title>",
    ]
    for index, name in row.release_marks:
        parts.append(
            f'<line x1="{x(index)}" x2="{x(index)}" y1="0" y2="{height}" stroke="#cf222e" '
            f'stroke-dasharray="2,2"><title>{_e("release " + name)}</title></line>'
        )
    parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{points}"/>')
    if counts:
        parts.append(f'<circle cx="{x(n - 1)}" cy="{y(counts[-1])}" r="2" fill="#0969da"/>')
    parts.append("</svg>")
    return "".join(parts)


def _impact_bar(row: RegisterRow, scale: float) -> str:
    width, height = 120, 10
    parts = [
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e("impact breakdown " + _breakdown(row))}">'
    ]
    offset = 0.0
    for name in COMPONENTS:
        value = row.impact.contributions[name]
        if value <= 0 or scale <= 0:
            continue
        span = round(width * value / scale, 2)
        parts.append(
            f'<rect x="{round(offset, 2)}" y="0" width="{span}" height="{height}" '
            f'fill="{_COLOURS[name]}"><title>{_e(f"{name}: {value:g}")}</title></rect>'
        )
        offset += span
    parts.append("</svg>")
    return "".join(parts)


def _breakdown_table(row: RegisterRow, weights: dict[str, float]) -> str:
    cells = "".join(
        f"<tr><td>{_e(name)}</td><td class=num>{row.impact.points[name]:g}</td>"
        f"<td class=num>&times;{weights.get(name, 0.0):g}</td>"
        f"<td class=num>{row.impact.contributions[name]:g}</td></tr>"
        for name in COMPONENTS
    )
    return (
        "<details><summary>breakdown</summary><table><thead><tr><th>component</th>"
        "<th>points</th><th>weight</th><th>impact</th></tr></thead><tbody>"
        f"{cells}</tbody></table></details>"
    )


def _html_row(
    row: RegisterRow, weeks: Sequence[str], scale: float, weights: dict[str, float]
) -> str:
    status_class = "s-" + row.status.replace(" ", "-")
    defect = row.defect_key or (f"({row.suggested_defect}?)" if row.suggested_defect else "")
    defect_title = row.defect_summary or row.link_evidence
    evidence = _e(", ".join(row.terms[:6]))
    return (
        f'<tr data-rank="{row.rank}" data-cluster="{_e(row.cluster_id)}">'
        f'<td class=num data-value="{row.rank}">{row.rank}</td>'
        f'<td class="problem" data-value="{_e(row.title)}">'
        f'<strong class="title">{_e(row.title)}</strong>'
        f'<div class="summary">{_e(row.summary)}</div>'
        f'<div class="sr">{evidence}</div></td>'
        f'<td data-value="{_e(row.status)}"><span class="status {status_class}">'
        f"{_e(row.status)}</span></td>"
        f'<td class=num data-value="{row.impact.score}">{row.impact.score:.1f}<br>'
        f"{_impact_bar(row, scale)}{_breakdown_table(row, weights)}</td>"
        f'<td class=num data-value="{row.n_customers}">{row.n_customers}</td>'
        f'<td class=num data-value="{row.n_tickets}">{row.n_tickets}</td>'
        f'<td class=num data-value="{row.tickets_this_week}">{row.tickets_this_week}</td>'
        f'<td data-value="{row.growth}">{_sparkline(row, weeks)}</td>'
        f'<td data-value="{_e(defect)}" title="{_e(defect_title)}">{_e(defect)}'
        f"{'<br><span class=sr>fix ' + _e(row.fix_version) + '</span>' if row.fix_version else ''}"
        "</td>"
        f'<td data-value="{_e(row.action)}">{_e(row.action)}</td>'
        "</tr>"
    )


def _html_movers(movers: Movers) -> str:
    def items(entries: Iterable[Mover]) -> str:
        shown = [
            f"<li>{_e(entry.title)} ({_e(entry.cluster_id)}): "
            f"{_e(entry.status_before or '-')} &rarr; {_e(entry.status_after or '-')}, "
            f"impact {entry.impact_change:+.1f}</li>"
            for entry in entries
        ]
        return "<ul>" + ("".join(shown[:10]) or "<li>none</li>") + "</ul>"

    return (
        f'<section class="movers"><h2>What moved since {_e(movers.previous_week)}</h2>'
        f"<h3>New entries</h3>{items(movers.new_entries)}"
        f"<h3>Biggest movers</h3>{items(movers.biggest_movers)}"
        f"<h3>Regressions</h3>{items(movers.regressions)}"
        f"<h3>Resolved</h3>{items(movers.resolved)}</section>"
    )


_HEADERS = (
    ("#", "num"),
    ("Problem", "text"),
    ("Status", "text"),
    ("Impact", "num"),
    ("Customers", "num"),
    ("Tickets", "num"),
    ("This week", "num"),
    ("Trend", "num"),
    ("Defect", "text"),
    ("Action", "text"),
)


def to_html(register: Register) -> str:
    """A self-contained page: sortable table, sparklines with release marks, breakdowns.

    Nothing is fetched from elsewhere; the Content-Security-Policy permits only this page's
    own script and style (by hash), so even text that slipped past escaping could not run.
    """
    scale = max((row.impact.score for row in register.rows), default=0.0)
    legend = " ".join(
        f'<svg width="10" height="10" role="img" aria-label="{_e(name)}">'
        f'<rect width="10" height="10" fill="{_COLOURS[name]}"/></svg> {_e(name)}'
        for name in COMPONENTS
    )
    headers = "".join(
        f'<th scope="col" data-type="{kind}"><button type="button">{_e(name)}</button></th>'
        for name, kind in _HEADERS
    )
    body = "".join(
        _html_row(row, register.trend_weeks, scale, register.weights) for row in register.rows
    )
    csp = (
        f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    movers = _html_movers(register.movers) if register.movers else ""
    end = date.fromisoformat(register.week_end) - timedelta(days=1)
    n_problems = len(register.problems)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>Problem register {_e(register.week)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Problem register, week {_e(register.week)}</h1>"
        f'<p class="meta">{_e(register.week_start)} to {_e(end.isoformat())}: '
        f"{n_problems} problems from {register.n_clustered_tickets} clustered tickets "
        f"({register.n_tickets} in all). Click a column header to sort. Impact: {legend}</p>"
        f'<table id="register" class="register"><thead><tr>{headers}</tr></thead>'
        f"<tbody>{body}</tbody></table>{movers}"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
