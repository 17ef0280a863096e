"""`crmscore init` and `crmscore demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmscore.cli.common import JsonOption, console, emit_json
from crmscore.workspace import Workspace


def init(
    path: Annotated[Path | None, typer.Argument(help="Folder to create (default: the current folder).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Create a workspace: settings file, warehouse (DuckDB) and app database (SQLite)."""
    with Workspace.init(path) as ws:
        info = {"workspace": str(ws.path), "warehouse": ws.warehouse_url, "database": ws.database_url}
    if json_out:
        emit_json(info)
    else:
        console.print(f"Workspace ready at [bold]{info['workspace']}[/]")
        console.print(f"  warehouse: {info['warehouse']}\n  app database: {info['database']}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
