"""`crmscore scorecard validate|preview|publish FILE` and `crmscore scorecard list`.

FILE is a scorecard YAML file or the name of a built-in template (``b2b-default``, ``b2c-retail``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crmscore.cli.common import JsonOption, WorkspaceOption, console, emit_json, open_workspace
from crmscore.errors import ConfigError

__all__ = ["register"]

scorecard_app = typer.Typer(name="scorecard", help="Validate, preview, publish and list scorecards.",
                            no_args_is_help=True)

FileArg = Annotated[str, typer.Argument(help="Scorecard YAML file, or a built-in template name (b2b-default).")]


def _read(file: str) -> tuple[object, str | None]:
    from crmscore.scorecards.validate import read_scorecard

    spec = read_scorecard(file)
    path = Path(file)
    return spec, path.read_text(encoding="utf-8") if path.is_file() else None


@scorecard_app.command("validate")
def validate(file: FileArg, workspace: WorkspaceOption = None, json_out: JsonOption = False) -> None:
    """Check a scorecard file: every problem is listed with its path and a suggestion."""
    from crmscore.scorecards.validate import read_scorecard

    try:
        spec = read_scorecard(file)
    except ConfigError as exc:
        if not json_out:
            raise
        emit_json({"valid": False, "source": exc.source,
                   "errors": [{"path": i.path, "message": i.message, "suggestion": i.suggestion}
                              for i in exc.issues]})
        raise typer.Exit(1) from None
    criteria = sum(len(d.criteria) for d in spec.dimensions)
    if json_out:
        emit_json({"valid": True, "name": spec.name, "content_hash": spec.content_hash,
                   "dimensions": [d.name for d in spec.dimensions], "criteria": criteria, "errors": []})
    else:
        console.print(f"[green]OK[/] {spec.name}: {len(spec.dimensions)} dimensions, {criteria} criteria, "
                      f"grades {'/'.join(g.grade for g in spec.grade_bands())}, hash {spec.content_hash[:12]}")


@scorecard_app.command("preview")
def preview(
    file: FileArg,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date to score at (default: latest order).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Grade changes to list.")] = 20,
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score current data with FILE: grade distribution and customers whose grade would change."""
    from crmscore.scorecards import versions
    from crmscore.scorecards.validate import read_scorecard

    spec = read_scorecard(file)
    day = dt.date.fromisoformat(as_of) if as_of else None
    with open_workspace(workspace) as ws:
        result = versions.preview(ws, spec, as_of=day, limit=limit)
    if json_out:
        emit_json(result.to_dict())
        return
    console.print(f"Preview of [bold]{result.scorecard}[/] on {result.customers} customers, as of {result.as_of}")
    table = Table("grade", "customers", *(["published"] if result.published_grades is not None else []))
    for grade, n in result.grades.items():
        row = [grade, str(n)]
        if result.published_grades is not None:
            row.append(str(result.published_grades.get(grade, 0)))
        table.add_row(*row)
    console.print(table)
    if result.published_version is None:
        console.print("Not published yet: nothing to compare with.")
        return
    note = " (identical to the published version)" if result.already_published else ""
    console.print(f"Compared with version {result.published_version}{note}: "
                  f"{result.changed} customer(s) would change grade.")
    if result.changes:
        moves = Table("customer_id", "from", "to", "score before", "score after")
        for c in result.changes:
            moves.add_row(c["customer_id"], c["from_grade"], c["to_grade"], f"{c['from_score']:.1f}",
                          f"{c['to_score']:.1f}")
        console.print(moves)


@scorecard_app.command("publish")
def publish(
    file: FileArg,
    by: Annotated[str | None, typer.Option("--by", help="Who publishes (recorded in the audit log).")] = None,
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Publish FILE as the next immutable version of its name (identical content: no new version)."""
    from crmscore.scorecards import versions
    from crmscore.scorecards.spec import Scorecard

    spec, text = _read(file)
    assert isinstance(spec, Scorecard)
    with open_workspace(workspace) as ws:
        record = versions.publish(ws, spec, text, published_by=by)
    if json_out:
        emit_json(record.to_dict())
    elif record.created:
        console.print(f"Published [bold]{record.name}@{record.version}[/] (hash {record.content_hash[:12]})")
    else:
        console.print(f"Unchanged: identical to {record.name}@{record.version} (hash {record.content_hash[:12]})")


@scorecard_app.command("list")
def list_(workspace: WorkspaceOption = None, json_out: JsonOption = False) -> None:
    """Published scorecard versions, and the built-in templates."""
    from crmscore.scorecards import versions
    from crmscore.scorecards.templates import TEMPLATES

    with open_workspace(workspace) as ws:
        records = versions.list_versions(ws)
    if json_out:
        emit_json({"versions": [r.to_dict() for r in records], "templates": sorted(TEMPLATES)})
        return
    table = Table("name", "version", "default", "hash", "published at", "by")
    for r in records:
        table.add_row(r.name, str(r.version), "yes" if r.is_default else "", r.content_hash[:12],
                      r.published_at.isoformat(timespec="seconds"), r.published_by or "")
    console.print(table if records else "No published scorecards yet.")
    console.print(f"Built-in templates: {', '.join(sorted(TEMPLATES))}")


def register(app: typer.Typer) -> None:
    app.add_typer(scorecard_app)
