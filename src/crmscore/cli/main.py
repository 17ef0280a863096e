"""Entry point of the ``crmscore`` command: builds the Typer app from the command modules."""

from __future__ import annotations

import importlib
import sys

import typer

from crmscore.cli.common import err_console
from crmscore.errors import CrmscoreError

__all__ = ["app", "run"]

app = typer.Typer(name="crmscore", help="Customer evaluation and scoring: classes, scorecards, CLV, churn risk.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)



@app.callback()
def _main() -> None:
    """crmscore: customer evaluation and scoring. Every command takes --workspace PATH."""


# Each module defines register(app). One module per group of commands, so that each can grow on its own.
COMMAND_MODULES = [
    "crmscore.cli.workspace_cmds",
    "crmscore.cli.import_cmds",
    "crmscore.cli.generate_cmds",
    "crmscore.cli.score_cmds",
    "crmscore.cli.scorecard_cmds",
    "crmscore.cli.snapshot_cmds",
    "crmscore.cli.server_cmds",
]

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a command group not written yet
        if _exc.name != _name:
            raise
        continue
    _module.register(app)


def run(argv: list[str] | None = None) -> None:
    """Run the CLI: user mistakes print ``Error: ...`` with a hint and exit 1, never a traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except CrmscoreError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.message}", highlight=False, markup=True)
        if exc.hint:
            err_console.print(f"Hint: {exc.hint}", highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    run()
