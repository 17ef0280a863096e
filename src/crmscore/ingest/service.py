"""Import a file (or a DataFrame) into a workspace: read, map, parse, validate, load, report.

>>> import tempfile, pathlib
>>> from crmscore.workspace import Workspace
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> ws = Workspace.init(root / "ws")
>>> f = root / "customers.csv"
>>> _ = f.write_text("客户编号,客户名称,行业\\nC1,华为,制造业\\nC2,小米,电子\\n", encoding="utf-8")
>>> report = import_file(ws, "customers", f)
>>> report.read, report.inserted, report.rejected
(2, 2, 0)
>>> import_file(ws, "customers", f).unchanged
2
>>> ws.close()
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import TypeAdapter

from crmscore.errors import CrmscoreError, ImportFailed, InputFileError, WarehouseError
from crmscore.ingest.inplace import load_in_place
from crmscore.ingest.load import insert_missing, same_connection, upsert
from crmscore.ingest.mapping import Mapping, auto_mapping, load_mapping, save_mapping, validate_mapping
from crmscore.ingest.parsing import quote_ident
from crmscore.ingest.readers import NotLazy, StagedFile, drop_relation, stage_file, stage_frame
from crmscore.ingest.report import ImportReport, Rejection, TableCounts
from crmscore.ingest.validate import Prepared, prepare
from crmscore.schema import table_for_kind
from crmscore.workspace import Workspace

__all__ = ["IN_PLACE", "MAX_LISTED_REJECTIONS", "UNKNOWN_CUSTOMER_POLICIES", "import_file", "import_frame"]

# Try loading a clean UTF-8 CSV in one pass (crmscore.ingest.inplace) before the general path. Tests switch it
# off to check that both give the same reports and warehouse contents.
IN_PLACE = True
MAX_LISTED_REJECTIONS = 1_000_000
_REJECTIONS = TypeAdapter(list[Rejection])
UNKNOWN_CUSTOMER_POLICIES = ("create", "reject")
Progress = Callable[[str], None]


class _DryRun(Exception):
    """Raised inside the load transaction of a dry run so that everything is rolled back."""


def _new_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def import_file(ws: Workspace, kind: str, path: str | Path, *, mapping: Mapping | str | Path | None = None,
                sheet: str | None = None, dry_run: bool = False, allow_partial: bool = False,
                unknown_customers: str = "create", day_first: bool | None = None, encoding: str | None = None,
                file_format: str | None = None, as_of: date | None = None,
                save_mapping_to: str | Path | None = None, write_files: bool = True,
                progress: Progress | None = None, record_job: bool = True,
                created_by: str | None = None) -> ImportReport:
    """Import one file of ``kind`` into the workspace's warehouse and return the report.

    All-or-nothing unless ``allow_partial``: if any row is rejected nothing is written and :class:`ImportFailed`
    is raised (its ``report`` attribute holds the report). Re-importing the same file changes nothing.
    The run is recorded in the app database's ``jobs`` table (kind ``import``; a failed import leaves a failed
    record) unless ``record_job`` is False (a caller that records the job itself, like the server's queue).
    """
    path = Path(path)
    params = {"kind": kind, "file": str(path), "mapping": str(mapping) if isinstance(mapping, str | Path) else None,
              "dry_run": dry_run, "allow_partial": allow_partial, "unknown_customers": unknown_customers}
    with _recorded(ws, params, record_job, created_by) as finish:
        return finish(_import_file(ws, kind, path, mapping, sheet, dry_run, allow_partial, unknown_customers,
                                   day_first, encoding, file_format, as_of, save_mapping_to, write_files, progress))


@contextlib.contextmanager
def _recorded(ws: Workspace, params: dict[str, Any], record_job: bool, created_by: str | None
              ) -> Iterator[Callable[[ImportReport], ImportReport]]:
    """Run an import inside :func:`crmscore.services.jobs.recorded_job`; ``finish`` stores the counts."""
    if not record_job:
        yield lambda report: report
        return
    from crmscore.services.jobs import recorded_job
    from crmscore.store.appdb import Job

    with recorded_job(ws, "import", params, created_by=created_by) as handle:
        def finish(report: ImportReport) -> ImportReport:
            with ws.session() as session:
                job = session.get(Job, handle.id)
                if job is not None:
                    job.result = report.model_dump(mode="json", include=_JOB_RESULT_FIELDS)
                    session.commit()
            return report

        yield finish


_JOB_RESULT_FIELDS = {"import_id", "table", "status", "read", "inserted", "updated", "unchanged", "rejected",
                      "stub_customers", "derived_orders", "report_path", "quarantine_path", "seconds"}


def _import_file(ws: Workspace, kind: str, path: Path, mapping: Mapping | str | Path | None, sheet: str | None,
                 dry_run: bool, allow_partial: bool, unknown_customers: str, day_first: bool | None,
                 encoding: str | None, file_format: str | None, as_of: date | None,
                 save_mapping_to: str | Path | None, write_files: bool, progress: Progress | None) -> ImportReport:
    loaded = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping

    def stage(con: duckdb.DuckDBPyConnection, prefix: str, lazy: bool) -> StagedFile:
        return stage_file(
            con, path, prefix=prefix, file_format=file_format or (loaded.format if loaded else None),
            sheet=sheet if sheet is not None else (loaded.sheet if loaded else None),
            header=loaded.header if loaded else True,
            delimiter=loaded.delimiter if loaded else None,
            encoding=encoding or (loaded.encoding if loaded else None), progress=progress, lazy=lazy)

    def run(lazy: bool) -> ImportReport:
        return _run(ws, kind, str(path), stage, loaded, dry_run, allow_partial, unknown_customers, day_first,
                    as_of, save_mapping_to, write_files, progress,
                    mapping_source=str(mapping) if isinstance(mapping, str | Path) else "mapping", lazy=lazy)

    if IN_PLACE and same_connection(ws.warehouse) is not None:
        with contextlib.suppress(NotLazy):
            return run(lazy=True)
    return run(lazy=False)


def import_frame(ws: Workspace, kind: str, frame: Any, *, mapping: Mapping | str | Path | None = None,
                 dry_run: bool = False, allow_partial: bool = False, unknown_customers: str = "create",
                 day_first: bool | None = None, as_of: date | None = None, write_files: bool = True,
                 name: str = "dataframe", record_job: bool = True, created_by: str | None = None) -> ImportReport:
    """Import a DataFrame (pandas or Polars) or an Arrow table like a file; rows are numbered from 1.

    >>> import tempfile, pathlib, pandas as pd
    >>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> df = pd.DataFrame({"order_id": ["A1", "A2"], "customer_id": ["C1", "C1"],
    ...                    "order_date": ["2024-03-05", "2024/3/6"], "amount": ["¥1,234.50", "(20)"]})
    >>> r = import_frame(ws, "orders", df)
    >>> r.inserted, r.stub_customers
    (2, 1)
    >>> ws.close()
    """
    loaded = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping
    params = {"kind": kind, "file": name, "dry_run": dry_run, "allow_partial": allow_partial,
              "unknown_customers": unknown_customers}
    with _recorded(ws, params, record_job, created_by) as finish:
        return finish(_run(ws, kind, name, lambda con, prefix, _lazy: stage_frame(con, frame, prefix=prefix), loaded,
                           dry_run, allow_partial, unknown_customers, day_first, as_of, None, write_files, None,
                           mapping_source="mapping"))


def _run(ws: Workspace, kind: str, file_label: str,
         stage: Callable[[duckdb.DuckDBPyConnection, str, bool], StagedFile],
         mapping: Mapping | None, dry_run: bool, allow_partial: bool, unknown_customers: str,
         day_first: bool | None, as_of: date | None, save_mapping_to: str | Path | None, write_files: bool,
         progress: Progress | None, mapping_source: str, lazy: bool = False) -> ImportReport:
    """One import; ``lazy`` tries :func:`~crmscore.ingest.inplace.load_in_place` and raises :class:`NotLazy`
    (with the warehouse as it was) whenever the file needs the general path."""
    spec = table_for_kind(kind)
    if unknown_customers not in UNKNOWN_CUSTOMER_POLICIES:
        raise CrmscoreError(f"unknown_customers must be 'create' or 'reject', not {unknown_customers!r}")
    started = time.perf_counter()
    now = datetime.now(UTC)
    as_of = as_of or now.date()
    wh = ws.warehouse
    shared = same_connection(wh)
    con = shared if shared is not None else duckdb.connect()
    prefix = f"_crmscore_imp_{secrets.token_hex(4)}"
    staged: StagedFile | None = None
    prep_tables: list[str] = []
    say = progress or (lambda _msg: None)
    try:
        staged = stage(con, prefix, lazy)
        if mapping is None:
            mapping = auto_mapping(kind, staged.headers)
        resolved = validate_mapping(mapping, kind, staged.headers, mapping_source)
        if save_mapping_to:
            saved = mapping.model_copy(update={"kind": kind})
            save_mapping(saved, save_mapping_to)
        known_sql = None
        if shared is None and unknown_customers == "reject":
            ids = wh.table("customers").select("customer_id").to_pyarrow()
            con.register(f"{prefix}_known", ids)
            known_sql = f"SELECT customer_id FROM {prefix}_known"
        say("checking and loading in one pass" if lazy else f"checking {staged.rows:,} rows")
        dfirst = day_first if day_first is not None else (
            mapping.day_first if mapping.day_first is not None else ws.settings.day_first)
        prep = prepare(con, staged, kind, mapping, resolved, day_first=dfirst, as_of=as_of,
                       unknown_customers=unknown_customers, known_customers_sql=known_sql, prefix=prefix,
                       lazy=lazy)
        prep_tables = prep.tables
        report = ImportReport(import_id=_new_id(now), kind=kind, table=spec.name, file=file_label,
                              format=staged.format, encoding=staged.encoding,
                              read=staged.rows + len(staged.malformed), dry_run=dry_run,
                              mapping=prep.sources, automatic_mapping=mapping.automatic)
        if lazy:
            try:
                with wh.transaction():
                    report.tables = load_in_place(con, prep, spec, unknown_customers)
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            report.read = report.tables[spec.name].inserted
            return _finish(ws, con, prep, staged, report, 0, dry_run, allow_partial, started, write_files)
        # Rows of the staging table are told apart by line; malformed lines (field NULL) count one each.
        rejected = int(con.execute(f"SELECT count(DISTINCT _line) FILTER (WHERE field IS NOT NULL) + "  # type: ignore[index]
                                   f"count(*) FILTER (WHERE field IS NULL) FROM {prep.issues}").fetchone()[0])
        report.rejected = rejected
        if rejected:
            _collect_rejections(con, prep.issues, staged, report)
        refuse = bool(rejected) and not allow_partial
        if not refuse:
            say("loading into the warehouse")
            try:
                with wh.transaction():
                    for table, source, cols, mode in prep.loads:
                        t_spec = table_for_kind(table.replace("_", "-"))
                        fn = insert_missing if mode == "insert_missing" else upsert
                        report.tables[table] = fn(wh, con, source, table, cols, list(t_spec.key))
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            except CrmscoreError:
                raise
            except Exception as exc:
                raise WarehouseError(f"loading into the warehouse failed, nothing was written: {exc}",
                                     "check the warehouse connection; the import can be repeated") from exc
        return _finish(ws, con, prep, staged, report, rejected, dry_run, allow_partial, started, write_files)
    except duckdb.Error as exc:
        if lazy:  # e.g. a malformed line met while sampling: the general path reports it
            raise NotLazy(str(exc).splitlines()[0]) from exc
        raise InputFileError(f"cannot import {file_label}: {str(exc).splitlines()[0]}",
                             "check the file format and the mapping") from exc
    finally:
        for table in prep_tables:
            _drop(con, table)
        if staged is not None:
            staged.cleanup()
        if shared is None:
            con.close()


def _finish(ws: Workspace, con: duckdb.DuckDBPyConnection, prep: Prepared, staged: StagedFile,
            report: ImportReport, rejected: int, dry_run: bool, allow_partial: bool, started: float,
            write_files: bool) -> ImportReport:
    """Totals and status of the report, its files; raises :class:`ImportFailed` when rows were refused."""
    refuse = bool(rejected) and not allow_partial
    main = report.tables.get(report.table, TableCounts())
    report.inserted, report.updated, report.unchanged = main.inserted, main.updated, main.unchanged
    if report.table == "order_lines" and "orders" in report.tables:
        o = report.tables["orders"]
        report.derived_orders = o.inserted + o.updated + o.unchanged
    if "customers" in report.tables and report.table != "customers":
        report.stub_customers = report.tables["customers"].inserted
    report.status = "failed" if refuse else "dry_run" if dry_run else "partial" if rejected else "ok"
    report.seconds = round(time.perf_counter() - started, 3)
    if write_files:
        _write_files(ws, con, prep.issues, staged, report)
    if refuse:
        raise ImportFailed(
            f"{rejected:,} of {report.read:,} rows rejected; nothing was imported",
            "fix the rows listed in the report (or the quarantine file) and import again, "
            "or pass --allow-partial to load the valid rows", report=report)
    return report


def _drop(con: duckdb.DuckDBPyConnection, table: str) -> None:
    drop_relation(con, table)


def _collect_rejections(con: duckdb.DuckDBPyConnection, issues: str, staged: StagedFile,
                        report: ImportReport) -> None:
    rows = con.execute(f"SELECT _line, field, value, reason FROM {issues} ORDER BY _line, field NULLS FIRST "
                       f"LIMIT {MAX_LISTED_REJECTIONS}").fetchall()
    mapping = report.mapping
    report.rejections = _REJECTIONS.validate_python(
        [{"line": line, "column": fld, "source_column": mapping.get(fld) if fld else None, "value": value,
          "reason": reason} for line, fld, value, reason in rows])
    report.rejections_listed = len(report.rejections)


def _write_files(ws: Workspace, con: duckdb.DuckDBPyConnection, issues: str, staged: StagedFile,
                 report: ImportReport) -> None:
    folder = ws.imports_dir
    stem = f"{report.import_id}-{report.table}"
    report_path = folder / f"{stem}.report.json"
    if report.rejected:
        quarantine = folder / f"{stem}.rejected.csv"
        seen: set[str] = set()
        src_cols = []
        for i, header in enumerate(staged.headers):
            name = header
            while name in seen or name in ("line", "column", "value", "reason"):
                name += "_"
            seen.add(name)
            src_cols.append(f"s.c{i} AS {quote_ident(name)}")
        select = ", ".join(["i._line AS line", "i.field AS \"column\"", "i.value", "i.reason", *src_cols])
        con.execute(f"COPY (SELECT {select} FROM {issues} i LEFT JOIN {staged.table} s USING (_line) "
                    f"ORDER BY i._line, i.field NULLS FIRST) TO '{quarantine}' (HEADER true, DELIMITER ',')")
        report.quarantine_path = str(quarantine)
    report.report_path = str(report_path)
    report_path.write_bytes(report.model_dump_json(indent=1).encode("utf-8"))
