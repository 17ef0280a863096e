"""`crmscore snapshots list | diff A B`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crmscore.cli.common import JsonOption, WorkspaceOption, console, emit_json, open_workspace
from crmscore.services.migration import MIGRATION_DIMENSIONS, migration
from crmscore.services.snapshots import list_snapshots

snapshots_app = typer.Typer(help="List scoring snapshots and compare two of them.", no_args_is_help=True)


@snapshots_app.command("list")
def list_cmd(workspace: WorkspaceOption = None, json_out: JsonOption = False) -> None:
    """List complete snapshots, oldest first."""
    with open_workspace(workspace) as ws:
        snaps = list_snapshots(ws.warehouse)
    if json_out:
        emit_json([s.to_dict() for s in snaps])
        return
    if not snaps:
        console.print("No snapshots yet. Create one with: crmscore score")
        return
    table = Table("snapshot", "as of", "created", "by", "scorecard", "customers", "seconds")
    for s in snaps:
        card = f"{s.scorecard}@{s.scorecard_version}" if s.scorecard else "-"
        table.add_row(s.snapshot_id, str(s.as_of), str(s.created_at), s.created_by or "-", card,
                      f"{s.customer_count:,}", f"{sum(s.timings.values()):.1f}")
    console.print(table)


@snapshots_app.command("diff")
def diff_cmd(
    a: Annotated[str, typer.Argument(help="Earlier snapshot id.")],
    b: Annotated[str, typer.Argument(help="Later snapshot id.")],
    by: Annotated[str, typer.Option(help=f"Class to compare: {', '.join(MIGRATION_DIMENSIONS)}.")] = "grade",
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Migration matrix (counts and revenue) between two snapshots, movers and alerts."""
    with open_workspace(workspace) as ws:
        result = migration(ws.warehouse, a, b, by=by)
    if json_out:
        emit_json(result.to_dict())
        return
    table = Table(f"{by}: {a} \\ {b}", *[str(c) for c in result.counts.columns], "total")
    for label, row in result.counts.iterrows():
        table.add_row(str(label), *[f"{int(v):,}" for v in row], f"{int(row.sum()):,}")
    table.add_row("total", *[f"{int(v):,}" for v in result.counts.sum()], f"{int(result.counts.values.sum()):,}")
    console.print(table)
    kinds: dict[str, int] = {}
    for mover in result.movers:
        kinds[mover["kind"]] = kinds.get(mover["kind"], 0) + 1
    for kind, n in sorted(kinds.items()):
        console.print(f"movers {kind}: {n:,}")
    for alert in result.alerts:
        console.print(f"[yellow]alert:[/] {alert['message_en']}")


def register(app: typer.Typer) -> None:
    app.add_typer(snapshots_app, name="snapshots")
