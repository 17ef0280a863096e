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
    app.command("demo")(demo)


def demo(
    path: Annotated[Path, typer.Option("--path", help="Where to build the demo workspace.")] = Path(
        "demo-workspace"),
    customers: Annotated[int, typer.Option(min=100, help="Synthetic customers to generate.")] = 2000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    json_out: JsonOption = False,
) -> None:
    """Build a demo workspace from the bundled generator (offline), score it, and serve the dashboard."""
    from crmscore.services.demo import DEMO_USERS, build_demo

    say = (lambda _m: None) if json_out else (lambda m: console.print(f"[dim]{m}[/]"))
    result = build_demo(path, customers=customers, progress=say)
    info = {"workspace": str(result.workspace), "created": result.created, "imported": result.imported,
            "snapshot": result.snapshot.snapshot_id if result.snapshot else None,
            "url": f"http://{host}:{port}/", "users": [{"username": u[0], "password": u[1], "role": u[2]}
                                                         for u in DEMO_USERS]}
    if json_out:
        emit_json(info)
    else:
        state = "built" if result.created else "already there"
        console.print(f"Demo workspace {state}: [bold]{result.workspace}[/] (snapshot {info['snapshot']})")
        console.print("Log in with: " + ", ".join(f"{u[0]} / {u[1]}" for u in DEMO_USERS))
    if serve:
        from crmscore.cli.server_cmds import serve_workspace

        console.print(f"Open [bold]http://{host}:{port}/[/] (Ctrl+C stops the server)")
        serve_workspace(result.workspace, host, port)
