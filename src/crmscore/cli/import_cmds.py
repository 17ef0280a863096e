"""``crmscore import KIND FILE``: load a CRM/ERP export into the workspace, losing nothing."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crmscore.cli.common import JsonOption, WorkspaceOption, console, err_console, open_workspace
from crmscore.errors import ImportFailed
from crmscore.ingest.report import ImportReport
from crmscore.ingest.service import import_file
from crmscore.schema import KINDS

__all__ = ["register"]

_MAX_SHOWN = 20


def _print_report(report: ImportReport) -> None:
    out = err_console
    if report.mapping:
        table = Table(title=("automatic" if report.automatic_mapping else "column") + " mapping", show_lines=False)
        table.add_column("field")
        table.add_column("source column")
        for field, source in report.mapping.items():
            table.add_row(field, source)
        out.print(table)
    out.print(report.summary(), highlight=False)
    for name, counts in report.tables.items():
        if name != report.table:
            out.print(f"  {name}: inserted {counts.inserted:,}, updated {counts.updated:,}, "
                      f"unchanged {counts.unchanged:,}", highlight=False)
    if report.rejections:
        shown = report.rejections[:_MAX_SHOWN]
        table = Table(title=f"rejected rows ({report.rejected:,}; first problems shown)")
        for col in ("line", "column", "value", "reason"):
            table.add_column(col)
        for r in shown:
            table.add_row(str(r.line), r.source_column or r.column or "", (r.value or "")[:40], r.reason)
        out.print(table)
    if report.quarantine_path:
        out.print(f"quarantine: {report.quarantine_path}", highlight=False)
    if report.report_path:
        out.print(f"report: {report.report_path}", highlight=False)


def _emit(report: ImportReport) -> None:
    sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_cmd(
        kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.")],
        file: Annotated[Path, typer.Argument(help="CSV/TSV, XLSX, Parquet or JSON Lines file.")],
        mapping: Annotated[Path | None, typer.Option("--mapping", help="YAML mapping file (default: automatic "
                                                     "from the header).")] = None,
        sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX sheet name (default: the first).")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count, write nothing.")] = False,
        allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Load the valid rows even if some are "
                                                    "rejected (default: all or nothing).")] = False,
        unknown_customers: Annotated[str, typer.Option(
            "--unknown-customers", help="Rows naming a customer the warehouse does not know: 'create' a flagged "
            "stub customer or 'reject' the row.")] = "create",
        day_first: Annotated[bool | None, typer.Option("--day-first/--month-first", help="Read 3/5/2024 as "
                                                       "5 March (default: the day_first setting).")] = None,
        encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding (default: detected).")] = None,
        save_mapping: Annotated[Path | None, typer.Option("--save-mapping", help="Write the mapping used to this "
                                                          "YAML file, to edit and reuse.")] = None,
        workspace: WorkspaceOption = None,
        json_out: JsonOption = False,
    ) -> None:
        """Import a file of KIND into the warehouse and report what was read, written and rejected."""
        with open_workspace(workspace) as ws:
            status = None if json_out else err_console.status(f"importing {file.name} ...")
            progress = None
            if status is not None:
                status.start()

                def progress(message: str) -> None:
                    status.update(f"{file.name}: {message} ...")

            try:
                report = import_file(ws, kind, file, mapping=mapping, sheet=sheet, dry_run=dry_run,
                                     allow_partial=allow_partial, unknown_customers=unknown_customers,
                                     day_first=day_first, encoding=encoding, save_mapping_to=save_mapping,
                                     progress=progress, created_by=f"cli:{getpass.getuser()}")
            except ImportFailed as exc:
                if status is not None:
                    status.stop()
                failed: ImportReport = exc.report
                if json_out:
                    _emit(failed)
                else:
                    _print_report(failed)
                raise
            finally:
                if status is not None:
                    status.stop()
        if json_out:
            _emit(report)
        else:
            _print_report(report)
            if save_mapping:
                console.print(f"mapping saved to {save_mapping}", highlight=False)
