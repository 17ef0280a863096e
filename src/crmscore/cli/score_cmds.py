"""`crmscore score | customers | show | export`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import ibis
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmscore.cli.common import JsonOption, WorkspaceOption, console, emit_json, err_console, open_workspace
from crmscore.errors import CrmscoreError
from crmscore.services.customers import (
    EXPORT_FORMATS,
    customer_360,
    export_customers,
    resolve_snapshot,
    result_table,
)
from crmscore.services.pipeline import run_backfill, run_scoring

DateOption = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="As-of date (YYYY-MM-DD).")]


def _month_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    days, year, month = [], start.year, start.month
    while True:
        first_next = dt.date(year + month // 12, month % 12 + 1, 1)
        last = first_next - dt.timedelta(days=1)
        if last > end:
            break
        if last >= start:
            days.append(last)
        year, month = first_next.year, first_next.month
    return days


def score(
    as_of: DateOption = None,
    scorecard: Annotated[str | None, typer.Option(help="Scorecard NAME or NAME@VERSION (default: the "
                                                       "workspace default).")] = None,
    from_: Annotated[dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"],
                                                      help="Backfill: first as-of date.")] = None,
    to: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Backfill: last as-of date.")] = None,
    every: Annotated[str, typer.Option(help="Backfill step: month (as-of = each month end).")] = "month",
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run features → classes → models → scorecard and write one immutable snapshot (or a backfill)."""
    if (from_ is None) != (to is None):
        raise typer.BadParameter("--from and --to go together")
    if every != "month":
        raise typer.BadParameter("only --every month is supported")
    dates: list[dt.date | None] = [as_of.date() if as_of else None]
    if from_ is not None and to is not None:
        dates = list(_month_ends(from_.date(), to.date()))
        if not dates:
            raise CrmscoreError("no month end between --from and --to", "widen the range")
    infos: list[Any] = []
    with open_workspace(workspace) as ws, Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console,
            disable=json_out, transient=True) as bar:
        task = bar.add_task("scoring", total=len(dates))
        if len(dates) > 1:
            done: dict[int, float] = {}  # dates are scored several at a time: each one's own fraction

            def backfill_progress(i: int, day: dt.date, stage: str, fraction: float) -> None:
                done[i] = fraction
                bar.update(task, completed=sum(done.values()), description=f"{day}: {stage}")
            infos = run_backfill(ws, [d for d in dates if d is not None], scorecard=scorecard, created_by="cli",
                                 progress=backfill_progress)
        else:
            def progress(stage: str, fraction: float, day: dt.date | None = dates[0]) -> None:
                bar.update(task, completed=fraction, description=f"{day or 'latest'}: {stage}")
            infos.append(run_scoring(ws, as_of=dates[0], scorecard=scorecard, created_by="cli", progress=progress))
    if json_out:
        emit_json([i.to_dict() for i in infos] if len(infos) > 1 else infos[0].to_dict())
        return
    for info in infos:
        total = sum(info.timings.values())
        card = f"{info.scorecard}@{info.scorecard_version or 'draft'}" if info.scorecard else "no scorecard"
        console.print(f"Snapshot [bold]{info.snapshot_id}[/] as of {info.as_of}: {info.customer_count:,} "
                      f"customers, {card}, {total:.1f} s")
        for notice in info.params.get("notices", []):
            console.print(f"[yellow]notice:[/] {notice}")


_LIST_COLUMNS = ("customer_id", "name", "score", "grade", "rfm_segment", "lifecycle_stage", "abc_class",
                 "clv", "churn_risk", "owner_id")


def customers(
    grade: Annotated[str | None, typer.Option(help="Only this grade.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only this RFM segment.")] = None,
    lifecycle: Annotated[str | None, typer.Option(help="Only this lifecycle stage.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner (rep) id.")] = None,
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: latest).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """List scored customers, best first."""
    with open_workspace(workspace) as ws:
        info = resolve_snapshot(ws.warehouse, snapshot)
        t = result_table(ws.warehouse, info.snapshot_id)
        for column, value in (("grade", grade), ("rfm_segment", segment), ("lifecycle_stage", lifecycle),
                              ("owner_id", owner)):
            if value is not None and column in t.columns:
                t = t.filter(t[column] == value)
        order = [ibis.desc("score")] if "score" in t.columns else []
        cols = [c for c in _LIST_COLUMNS if c in t.columns]
        total = int(t.count().execute())
        rows = t.order_by([*order, "customer_id"]).select(*cols).limit(limit).to_pandas()
    records: list[dict[str, Any]] = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    if json_out:
        emit_json({"snapshot_id": info.snapshot_id, "total": total, "customers": records})
        return
    table = Table(*cols, title=f"{total:,} customers (snapshot {info.snapshot_id}, as of {info.as_of})")
    for rec in records:
        table.add_row(*[_fmt(rec[c]) for c in cols])
    console.print(table)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def show(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: latest).")] = None,
    lang: Annotated[str, typer.Option(help="Explanation language: en or zh.")] = "en",
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """The 360 view of one customer with the explanation of its score."""
    with open_workspace(workspace) as ws:
        view = customer_360(ws.warehouse, customer_id, snapshot)
    if json_out:
        emit_json(view)
        return
    profile = view["profile"]
    console.print(f"[bold]{customer_id}[/] {profile.get('name') or ''}  "
                  f"{profile.get('type') or ''} {profile.get('industry') or ''} {profile.get('region') or ''}  "
                  f"owner {profile.get('owner_id') or '-'} ({profile.get('department') or '-'})")
    results = view.get("results") or {}
    if not results:
        console.print("Not scored yet: run crmscore score")
        return
    console.print(f"score {_fmt(results.get('score'))}  grade {results.get('grade') or '-'}  "
                  f"RFM {results.get('rfm_code') or '-'} {results.get('rfm_segment') or '-'}  "
                  f"lifecycle {results.get('lifecycle_stage') or '-'}  ABC {results.get('abc_class') or '-'}  "
                  f"P(alive) {_fmt(results.get('p_alive'))}  CLV {_fmt(results.get('clv'))}")
    points = view.get("points") or []
    if points:
        table = Table("dimension", "criterion", "value", "points", "explanation",
                      title=f"Score breakdown (scorecard {view['snapshot'].get('scorecard')})")
        key = "explanation_zh" if lang == "zh" else "explanation_en"
        for p in sorted(points, key=lambda p: (str(p.get("dimension")), -(p.get("points") or 0))):
            table.add_row(str(p.get("dimension")), str(p.get("criterion")), _fmt(p.get("value")),
                          _fmt(p.get("points")), str(p.get(key) or ""))
        console.print(table)
        console.print(f"sum of points = {sum(p.get('points') or 0 for p in points):.1f}")
    history = view.get("history") or []
    if len(history) > 1:
        console.print("history: " + ", ".join(f"{h['as_of']} {_fmt(h.get('score'))} {h.get('grade') or ''}"
                                              for h in history))


def export(
    out: Annotated[Path, typer.Argument(help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(EXPORT_FORMATS)}.")] = "csv",
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: latest).")] = None,
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Export one row per customer with every metric, class, score, grade, CLV and risk (customer_id first)."""
    with open_workspace(workspace) as ws:
        n = export_customers(ws.warehouse, out, fmt, snapshot)
    if json_out:
        emit_json({"rows": n, "path": str(out), "format": fmt})
    else:
        console.print(f"Wrote {n:,} customers to {out}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("customers")(customers)
    app.command("show")(show)
    app.command("export")(export)
