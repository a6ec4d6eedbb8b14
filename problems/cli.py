"""The `problems` command line: the main job from files, the sample, and the tools around them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from problems.errors import InvalidEvent
from problems.events import Event, json_schemas, parse_event
from problems.files import count_lines, iter_lines
from problems.pipeline import REGISTER_FORMATS, Pipeline
from problems.register import Register, render, to_markdown
from problems.store import FileStore

__all__ = ["app"]

app = typer.Typer(
    help="Find recurring problems in closed support tickets.",
    no_args_is_help=True,
    add_completion=False,
)
cluster_app = typer.Typer(help="Look at clusters and correct them (changes the state file).")
app.add_typer(cluster_app, name="cluster")

console = Console(stderr=True)

BATCH = 1_000
"""Events handed to the pipeline at once: large enough for vectorised clustering."""

StateOption = Annotated[
    Path, typer.Option("--state", help="state snapshot file (JSON) to read and update")
]


def _load(state: Path) -> Pipeline:
    data = FileStore(state).load_state()
    if data is None:
        message = f"no state at {state}; run `problems run` first"
        raise typer.BadParameter(message, param_hint="--state")
    return Pipeline.load(data)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
def run(
    files: Annotated[list[Path], typer.Argument(help="JSONL event files (.jsonl or .jsonl.gz)")],
    out: Annotated[Path, typer.Option("--out", help="directory for the register and state")],
    state: Annotated[
        Path | None, typer.Option("--state", help="snapshot to start from; default OUT/state.json")
    ] = None,
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week, e.g. 2026-W20; default: latest")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="rows of the register to show")] = 10,
) -> None:
    """Feed events from files through the pipeline and write the register to OUT."""
    out.mkdir(parents=True, exist_ok=True)
    store = FileStore(state or out / "state.json")
    saved = store.load_state()
    pipeline = Pipeline.load(saved) if saved is not None else Pipeline()
    rejected_path = out / "rejected.jsonl"
    n_rejected = 0
    batch: list[Event] = []
    with rejected_path.open("w", encoding="utf-8") as rejected, _progress() as progress:
        task = progress.add_task("events", total=count_lines(files))
        for line in iter_lines(files):
            try:
                batch.append(parse_event(line.raw))
            except InvalidEvent as error:
                n_rejected += 1
                console.print(f"[yellow]rejected[/] {line.path}:{line.number}: {error}")
                rejected.write(
                    json.dumps(
                        {
                            "file": line.path,
                            "line": line.number,
                            "reason": str(error),
                            "errors": [{"field": f, "reason": r} for f, r in error.errors],
                            "payload": line.raw.decode("utf-8", errors="replace"),
                        }
                    )
                    + "\n"
                )
            if len(batch) >= BATCH:
                pipeline.apply_many(batch)
                progress.advance(task, len(batch))
                batch.clear()
        pipeline.apply_many(batch)
    store.save_state(pipeline.save())
    register = pipeline.write_register(out, week=week)
    console.print(
        f"applied {pipeline.n_applied_} events, rejected {n_rejected} (see {rejected_path}); "
        f"{pipeline.stats()['clusters']} problem clusters; register in {out}"
    )
    print(to_markdown(register, top_n=top))


@app.command()
def register(
    state: StateOption = Path("out/state.json"),
    week: Annotated[str | None, typer.Option("--week", help="ISO week, e.g. 2026-W47")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, csv, parquet, html or json")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="file to write; default stdout")] = None,
    top: Annotated[int, typer.Option("--top", help="rows in the Markdown agenda")] = 10,
) -> None:
    """Build the register of an ISO week from a state (frozen: same week, same file)."""
    if fmt not in REGISTER_FORMATS:
        choices = ", ".join(REGISTER_FORMATS)
        raise typer.BadParameter(f"choose one of {choices}", param_hint="--format")
    built = _load(state).register(week)
    if out is None:
        if fmt in {"parquet"}:
            raise typer.BadParameter("parquet needs --out", param_hint="--out")
        print(to_markdown(built, top_n=top) if fmt == "md" else _text_format(built, fmt))
        return
    render(built, fmt, out, top_n=top)
    console.print(f"wrote {out}")


def _text_format(built: Register, fmt: str) -> str:
    from problems.register import to_csv, to_html, to_json

    return {"csv": to_csv, "html": to_html, "json": to_json}[fmt](built)


link_app = typer.Typer(help="Confirm or reject cluster-to-defect links (changes the state file).")
app.add_typer(link_app, name="link")


@link_app.command("list")
def link_list(state: StateOption = Path("out/state.json")) -> None:
    """Every link with its confidence and evidence."""
    pipeline = _load(state)
    for link in sorted(pipeline.links(), key=lambda item: (item.cluster_id, -item.confidence)):
        print(f"{link.cluster_id}\t{link.defect_key}\t{link.status}\t{link.confidence:.2f}")


@link_app.command("confirm")
def link_confirm(
    cluster_id: str, defect_key: str, state: StateOption = Path("out/state.json")
) -> None:
    """Confirm that a cluster is caused by a defect; later scoring cannot undo it."""
    _decide(state, cluster_id, defect_key, "confirmed")


@link_app.command("reject")
def link_reject(
    cluster_id: str, defect_key: str, state: StateOption = Path("out/state.json")
) -> None:
    """Reject a proposed link; it is not proposed again."""
    _decide(state, cluster_id, defect_key, "rejected")


def _decide(
    state: Path, cluster_id: str, defect_key: str, decision: Literal["confirmed", "rejected"]
) -> None:
    pipeline = _load(state)
    pipeline.decide_link(cluster_id, defect_key, decision, datetime.now(UTC))
    FileStore(state).save_state(pipeline.save())


@app.command("graph")
def graph_export(
    out: Annotated[Path, typer.Option("--out", help="file: .graphml or .json (node-link)")],
    state: StateOption = Path("out/state.json"),
    tickets: Annotated[bool, typer.Option("--tickets", help="add ticket nodes")] = False,
) -> None:
    """Export the problem graph (masked text only) for Gephi or notebooks."""
    from problems.graph import to_graphml, to_node_link_json

    built = _load(state).graph(include_tickets=tickets)
    (to_graphml if out.suffix == ".graphml" else to_node_link_json)(built, out)
    console.print(f"wrote {out}: {built.number_of_nodes()} nodes, {built.number_of_edges()} edges")


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="directory to write events.jsonl into")],
    seed: Annotated[int, typer.Option("--seed")] = 7,
    tickets: Annotated[int, typer.Option("--tickets", help="closed tickets to generate")] = 3000,
) -> None:
    """Generate a realistic sample stream with its ground truth (same seed, same bytes)."""
    from problems.sample import write_sample

    path = write_sample(out, seed=seed, n_tickets=tickets)
    console.print(f"wrote {path}")


@app.command()
def schemas(
    out: Annotated[Path, typer.Option("--out", help="directory for the JSON Schema files")] = Path(
        "schemas"
    ),
) -> None:
    """Export the JSON Schema of every event."""
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        console.print(f"wrote {out / name}")


@cluster_app.command("list")
def cluster_list(state: StateOption = Path("out/state.json")) -> None:
    """List problem clusters with size and terms."""
    pipeline = _load(state)
    for summary in sorted(pipeline.engine_.clusters(), key=lambda c: -c.size):
        noise = " (noise)" if summary.is_noise else ""
        terms = ", ".join(summary.terms[:6])
        print(f"{summary.id}\t{summary.size}\t{summary.title}{noise}\t{terms}")


@cluster_app.command("merge")
def cluster_merge(
    cluster_ids: Annotated[list[str], typer.Argument(help="clusters to merge (two or more)")],
    title: Annotated[str | None, typer.Option("--title")] = None,
    state: StateOption = Path("out/state.json"),
) -> None:
    """Merge clusters into one; later look-alikes follow the merge."""
    pipeline = _load(state)
    merged = pipeline.engine_.merge(cluster_ids, title=title)
    FileStore(state).save_state(pipeline.save())
    print(merged)


@cluster_app.command("split")
def cluster_split(
    cluster_id: str,
    ticket_ids: Annotated[list[str], typer.Argument(help="tickets that form the new cluster")],
    state: StateOption = Path("out/state.json"),
) -> None:
    """Split the listed tickets out of a cluster into a new one; they stay apart later."""
    pipeline = _load(state)
    new_id = pipeline.engine_.split(cluster_id, ticket_ids)
    FileStore(state).save_state(pipeline.save())
    print(new_id)


@cluster_app.command("move")
def cluster_move(
    ticket_id: str, cluster_id: str, state: StateOption = Path("out/state.json")
) -> None:
    """Move one ticket into another cluster."""
    pipeline = _load(state)
    pipeline.engine_.move(ticket_id, cluster_id)
    FileStore(state).save_state(pipeline.save())


@cluster_app.command("title")
def cluster_title(cluster_id: str, title: str, state: StateOption = Path("out/state.json")) -> None:
    """Give a cluster a title that consolidation keeps."""
    pipeline = _load(state)
    pipeline.engine_.set_title(cluster_id, title)
    FileStore(state).save_state(pipeline.save())


@cluster_app.command("noise")
def cluster_noise(
    cluster_id: str,
    undo: Annotated[bool, typer.Option("--undo", help="mark as a problem again")] = False,
    state: StateOption = Path("out/state.json"),
) -> None:
    """Mark a cluster as noise: it leaves the register and its look-alikes stay out."""
    pipeline = _load(state)
    pipeline.engine_.mark_noise(cluster_id, noise=not undo)
    FileStore(state).save_state(pipeline.save())


@cluster_app.command("explain")
def cluster_explain(ticket_id: str, state: StateOption = Path("out/state.json")) -> None:
    """Why a ticket is in its cluster."""
    print(json.dumps(_load(state).engine_.explain_ticket(ticket_id), indent=2, default=str))


@app.command()
def similar(
    ticket_id: str,
    k: Annotated[int, typer.Option("-k", help="how many")] = 10,
    state: StateOption = Path("out/state.json"),
    semantic: Annotated[
        bool, typer.Option("--semantic", help="also compare the tickets' sentence embeddings")
    ] = False,
) -> None:
    """The k past tickets most like a given one."""
    from problems.cluster.semantic import SemanticModelError, TicketEmbeddings

    pipeline = _load(state)
    record = pipeline.tickets_.get(ticket_id)
    if record is None:
        raise typer.BadParameter(f"unknown ticket {ticket_id}")
    if semantic:
        pipeline.semantic = TicketEmbeddings()
    try:
        found = pipeline.similar(record, k=k)
    except SemanticModelError as error:
        console.print(f"[red]--semantic[/]: {error}")
        raise typer.Exit(2) from error
    for other, score in found:
        print(f"{other}\t{score:.3f}\t{pipeline.tickets_[other].subject}")


jira_app = typer.Typer(help="Pull defects and releases from Jira's REST API.")
app.add_typer(jira_app, name="jira")


@jira_app.command("sync")
def jira_sync(
    url: Annotated[str, typer.Option("--url", help="Jira base URL")],
    jql: Annotated[str, typer.Option("--jql", help="which issues, e.g. 'project = CHK'")],
    state: StateOption = Path("out/state.json"),
    project: Annotated[
        list[str] | None, typer.Option("--project", help="also read this project's versions")
    ] = None,
) -> None:
    """Read issues updated since the last sync, and their projects' versions, into the state.

    Credentials come from JIRA_PAT, or JIRA_USER and JIRA_TOKEN.
    """
    from problems.linker import LinkerError
    from problems.linker.jira_sync import sync

    store = FileStore(state)
    saved = store.load_state()
    pipeline = Pipeline.load(saved) if saved is not None else Pipeline()
    try:
        result = sync(url, jql, since=pipeline.jira_synced_until_, projects=project or ())
    except LinkerError as error:
        console.print(f"[red]jira sync failed[/]: {error}")
        raise typer.Exit(1) from None
    changed = pipeline.apply_many(result.events())
    pipeline.jira_synced_until_ = result.max_updated
    store.save_state(pipeline.save())
    for key, reason in result.rejected:
        console.print(f"[yellow]rejected[/] {key}: {reason}")
    console.print(
        f"read {len(result.defects)} issues and {len(result.releases)} versions in "
        f"{result.n_pages} pages; {changed} changed the state; next sync from {result.max_updated}"
    )


RedisUrlOption = Annotated[
    str, typer.Option("--redis-url", envvar="REDIS_URL", help="Redis of the worker's streams")
]


@app.command()
def backfill(
    files: Annotated[list[Path], typer.Argument(help="JSONL event files (.jsonl or .jsonl.gz)")],
    redis_url: RedisUrlOption = "redis://127.0.0.1:6379/0",
) -> None:
    """Push historical events onto the worker's input streams, pipelined."""
    import redis

    from problems.backfill import backfill as push

    client = redis.Redis.from_url(redis_url)
    result = push(client, files)
    for stream, count in sorted(result.per_stream.items()):
        console.print(f"{stream}: {count} events")
    console.print(f"sent {result.sent}; skipped {result.invalid} invalid lines")


@app.command()
def publish(
    week: Annotated[str | None, typer.Option("--week", help="ISO week; default latest")] = None,
    redis_url: RedisUrlOption = "redis://127.0.0.1:6379/0",
) -> None:
    """Ask the running worker to publish the register now."""
    import redis

    from problems.backfill import request_publish

    entry = request_publish(redis.Redis.from_url(redis_url), week=week)
    console.print(f"publish requested ({entry})")
