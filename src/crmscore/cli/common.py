"""Shared pieces of the CLI: the --workspace and --json options, output helpers, error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crmscore.workspace import Workspace

__all__ = ["JsonOption", "WorkspaceOption", "console", "emit_json", "err_console", "open_workspace"]

console = Console()
err_console = Console(stderr=True)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="CRMSCORE_WORKSPACE",
                 help="Workspace folder (default: $CRMSCORE_WORKSPACE or the current folder)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=_default, indent=2) + "\n")
    sys.stdout.flush()


@contextmanager
def open_workspace(path: Path | None) -> Iterator[Workspace]:
    ws = Workspace(path)
    try:
        yield ws
    finally:
        ws.close()
