"""The `problems` command line: the main job from files, the sample, and the tools around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from problems.errors import InvalidEvent
from problems.events import Event, json_schemas, parse_event
from problems.files import count_lines, iter_lines
from problems.pipeline import Pipeline
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
    print(register.to_markdown(top=top))


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
) -> None:
    """The k past tickets most like a given one."""
    pipeline = _load(state)
    record = pipeline.tickets_.get(ticket_id)
    if record is None:
        raise typer.BadParameter(f"unknown ticket {ticket_id}")
    for other, score in pipeline.engine_.similar(record, k=k):
        print(f"{other}\t{score:.3f}\t{pipeline.tickets_[other].subject}")
