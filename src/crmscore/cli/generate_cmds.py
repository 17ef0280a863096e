"""`crmscore generate`: seeded synthetic data for every canonical table."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.table import Table

from crmscore import synth
from crmscore.cli.common import JsonOption, console, emit_json
from crmscore.errors import CrmscoreError

__all__ = ["generate", "register"]


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write <table>.csv (or .parquet) files into.")],
    customers: Annotated[int, typer.Option("--customers", "-n", help="Number of customers (1 .. millions).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives identical files.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    end: Annotated[str | None, typer.Option("--end", help="Last day of the history, YYYY-MM-DD.")] = None,
    years: Annotated[int, typer.Option("--years", help="Years of history before --end.")] = 3,
    json_out: JsonOption = False,
) -> None:
    """Write synthetic customers, orders, invoices, surveys, tickets ... (every table kind) to OUT_DIR."""
    if fmt not in synth.FORMATS:
        raise CrmscoreError(f"unknown format {fmt!r}", f"use one of: {', '.join(synth.FORMATS)}")
    try:
        end_day = date.fromisoformat(end) if end else synth.DEFAULT_END
    except ValueError:
        raise CrmscoreError(f"--end {end!r} is not a date", "write it as YYYY-MM-DD, e.g. 2024-12-31") from None
    if json_out:
        summary = synth.write(out_dir, customers, seed=seed, format=cast(Literal["csv", "parquet"], fmt),
                              end=end_day, years=years)
        emit_json(summary.to_dict())
        return
    with console.status(f"Generating {customers:,} customers ...") as status:
        def progress(done: int, total: int) -> None:
            status.update(f"Generating {customers:,} customers ... block {done}/{total}")

        summary = synth.write(out_dir, customers, seed=seed, format=cast(Literal["csv", "parquet"], fmt),
                              end=end_day, years=years, progress=progress)
    table = Table(title=f"Synthetic data in {out_dir} (seed {seed}, {summary.start} .. {summary.end})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}", Path(summary.files[name]).name)
    console.print(table)
    console.print(f"Done in {summary.seconds:.1f} s at {datetime.now():%H:%M:%S}.")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
