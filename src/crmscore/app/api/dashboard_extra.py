"""Routes the web dashboard needs beyond the core API: reading an uploaded file's columns and its automatic
mapping, downloading an import's quarantined rows, period KPIs of the caller's customers, and the scorecard
draft workflow (current spec, validate, preview on current data, publish).

Each route only wires request to service: the file reader and mapping come from :mod:`crmscore.ingest`, period
KPIs from :func:`crmscore.engine.kpis.period_kpis` on the caller's scoped tables, validation from
:mod:`crmscore.scorecards.validate` and the preview from :func:`crmscore.scorecards.compile.score` on the latest snapshot.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import ibis
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmscore.app.api._params import IdPath
from crmscore.app.audit import record
from crmscore.app.auth import client_address
from crmscore.app.customers import clean_records, customer_view
from crmscore.app.deps import db, need, reader, state
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.app.state import AppState
from crmscore.errors import CrmscoreError, NotFound
from crmscore.schema import table_for_kind
from crmscore.store.appdb import ScorecardVersion, utcnow
from crmscore.store.warehouse import Warehouse

router = APIRouter(prefix="/api", tags=["dashboard"])

_SAMPLE_ROWS = 5
_PERIOD_TABLES = ("orders", "surveys", "tickets")


# -- imports: read a file's columns and the automatic mapping; the quarantine of an import job ------------------
@router.post("/imports/preview", summary="Read an uploaded file's columns, a few rows and the automatic mapping")
def import_preview(
    kind: Annotated[str, Form(description="customers, orders, order-lines, invoices, surveys, tickets ...")],
    file: Annotated[UploadFile, File(description="CSV, Excel, JSON Lines or Parquet file")],
    _p: Principal = Depends(need("import")),
) -> dict[str, Any]:
    from crmscore.ingest import auto_mapping
    from crmscore.ingest.mapping import target_fields
    from crmscore.ingest.readers import stage_file

    try:
        spec = table_for_kind(kind)
    except CrmscoreError as exc:
        raise FieldError([("kind", exc.message)], exc.hint) from exc
    folder = Path(tempfile.mkdtemp(prefix="crmscore-preview-"))
    try:
        target = folder / Path(file.filename or "upload").name.lstrip(".") if file.filename else folder / "upload"
        with target.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        con = duckdb.connect()
        try:
            staged = stage_file(con, target)
            try:
                headers = list(staged.headers)
                names = [r[0] for r in con.execute(f"DESCRIBE {staged.table}").fetchall()]
                data_cols = [n for n in names if not n.startswith("_")][:len(headers)]  # _line: bookkeeping
                select_list = ", ".join('"' + n.replace('"', '""') + '"' for n in data_cols)
                rows = con.execute(f"SELECT {select_list} FROM {staged.table} LIMIT {_SAMPLE_ROWS}").fetchall()
                sample = [[None if v is None else str(v) for v in row] for row in rows]
                info = {"format": staged.format, "encoding": staged.encoding, "rows": staged.rows}
            finally:
                staged.cleanup()
        finally:
            con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mapping = auto_mapping(kind, headers)
    fields = [{"name": f, "required": f in spec.required, "key": f in spec.key} for f in target_fields(kind)]
    return {"kind": kind, "table": spec.name, "headers": headers, "sample": sample, **info,
            "mapping": {k: str(v) for k, v in mapping.columns.items()}, "fields": fields}


@router.get("/imports/{job_id}/quarantine", summary="The rejected rows of an import job (CSV)")
def import_quarantine(job_id: IdPath,
                      principal: Principal = Depends(need("import")),
                      app_state: AppState = Depends(state)) -> FileResponse:
    job = app_state.jobs.get(principal, job_id)
    result = job.get("result") or {}
    report = result.get("report", result) if isinstance(result, dict) else {}
    raw = report.get("quarantine_path") if isinstance(report, dict) else None
    if job["kind"] != "import" or not raw:
        raise NotFound(f"import job {job_id} has no quarantined rows", "only imports that rejected rows have one")
    path = Path(raw).resolve()
    root = app_state.ws.path.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"the quarantine file of import job {job_id} is gone", "run the import again")
    return FileResponse(path, media_type="text/csv", filename=f"quarantine-job{job_id}{path.suffix or '.csv'}")


# -- period KPIs on the caller's customers ----------------------------------------------------------------------
@router.get("/kpis/periods", summary="Active customers, churn rate, revenue growth, CSAT and NPS per period")
def kpi_periods(freq: Annotated[Literal["month", "quarter", "year"], Query()] = "quarter",
                periods: Annotated[int, Query(ge=1, le=60)] = 8,
                principal: Principal = Depends(need("view_customers")),
                wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    from crmscore.engine.kpis import period_kpis
    from crmscore.services.pipeline import data_as_of

    view, _snap = customer_view(wh, principal)
    ids = view.select("customer_id")
    tables: dict[str, Any] = {"customers": wh.table("customers").semi_join(ids, "customer_id")}
    for name in _PERIOD_TABLES:
        if wh.has_table(name):
            table = wh.table(name)
            tables[name] = table.semi_join(ids, "customer_id")
    try:
        end = data_as_of(wh)
    except CrmscoreError:
        return {"freq": freq, "items": []}
    months = {"month": 1, "quarter": 3, "year": 12}[freq] * periods
    start = (end.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    result = period_kpis(tables, start, end, freq=freq).order_by("period")
    return {"freq": freq, "start": start, "end": end, "items": clean_records(result.to_pyarrow())}


# -- scorecard drafts: the current spec, validation, preview on current data -----------------------------------
class DraftBody(BaseModel):
    spec: dict[str, Any] | None = Field(None, description="The scorecard as a JSON object")
    spec_yaml: str | None = Field(None, max_length=500_000, description="... or as YAML text")


def _document(body: DraftBody) -> dict[str, Any]:
    import yaml

    from crmscore.errors import ConfigError, ConfigIssue

    if body.spec is not None:
        return body.spec
    if body.spec_yaml is None:
        raise FieldError([("spec", "send the scorecard as 'spec' (JSON) or 'spec_yaml' (YAML text)")])
    try:
        doc = yaml.safe_load(body.spec_yaml)
    except yaml.YAMLError as exc:
        raise ConfigError("scorecard", [ConfigIssue("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(doc, dict):
        raise ConfigError("scorecard", [ConfigIssue("", "a scorecard is a YAML mapping starting with 'name:'")])
    return doc


def _spec_json(card: Any) -> dict[str, Any]:
    data: dict[str, Any] = card.model_dump(mode="json", exclude_none=True)
    return data


def _published_default(session: Session) -> ScorecardVersion | None:
    return session.scalars(select(ScorecardVersion).where(ScorecardVersion.status == "published")
                           .order_by(ScorecardVersion.is_default.desc(), ScorecardVersion.published_at.desc(),
                                     ScorecardVersion.id.desc()).limit(1)).first()


@router.get("/scorecards/current", summary="The current scorecard (the default published version, else the "
            "built-in default) as JSON and YAML, with the metric names")
def scorecard_current(_p: Principal = Depends(need("view_scorecards")), session: Session = Depends(db),
                      app_state: AppState = Depends(state)) -> dict[str, Any]:
    import yaml

    from crmscore.scorecards.catalog import resolve_catalog
    from crmscore.scorecards.validate import load_scorecard
    from crmscore.scorecards.versions import resolve

    row = _published_default(session)
    version: int | None
    digest: str | None
    if row is not None:
        card, version, digest = load_scorecard(row.spec_yaml, source=f"{row.name} v{row.version}"), row.version, \
            row.content_hash
    else:
        card, version, digest = resolve(app_state.ws, None)
    spec = _spec_json(card)
    catalog = resolve_catalog(None)
    metrics = sorted(catalog) if isinstance(catalog, dict) else []
    return {"name": card.name, "version": version, "content_hash": digest, "spec": spec,
            "spec_yaml": yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), "metrics": metrics}


@router.post("/scorecards/publish", status_code=201, summary="Publish a scorecard draft as the new default "
             "version of its name (needs the configure-scoring permission; audited)")
def scorecard_publish(body: DraftBody, request: Request, principal: Principal = Depends(need("configure_scoring")),
                      session: Session = Depends(db)) -> dict[str, Any]:
    import hashlib

    import yaml

    from crmscore.app.api.scorecards import version_dict
    from crmscore.scorecards.validate import validate_scorecard

    card = validate_scorecard(_document(body))
    text = yaml.safe_dump(_spec_json(card), allow_unicode=True, sort_keys=False)
    last = session.scalar(select(func.max(ScorecardVersion.version)).where(ScorecardVersion.name == card.name))
    for other in session.scalars(select(ScorecardVersion).where(ScorecardVersion.is_default)).all():
        other.is_default = False
    row = ScorecardVersion(name=card.name, version=(last or 0) + 1, spec_yaml=text, status="published",
                           content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(), is_default=True,
                           published_by=principal.username, published_at=utcnow())
    session.add(row)
    session.flush()
    record(session, "scorecard_publish", username=principal.username, target=f"{row.name} v{row.version}",
           source=client_address(request), details={"content_hash": row.content_hash})
    session.commit()
    return version_dict(row)


@router.post("/scorecards/validate", summary="Validate a scorecard draft: every problem at once")
def scorecard_validate(body: DraftBody, _p: Principal = Depends(need("draft_scorecards"))) -> dict[str, Any]:
    from crmscore.scorecards.validate import validate_scorecard

    card = validate_scorecard(_document(body))
    return {"valid": True, "name": card.name, "dimensions": len(card.dimensions),
            "criteria": sum(len(d.criteria) for d in card.dimensions)}


@router.post("/scorecards/preview", summary="Score the current data with a draft (nothing is written)")
def scorecard_preview(body: DraftBody, principal: Principal = Depends(need("draft_scorecards")),
                      wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    from crmscore.engine import build_customer_table
    from crmscore.schema import TABLES
    from crmscore.scorecards.compile import required_columns, score
    from crmscore.scorecards.validate import validate_scorecard
    from crmscore.services.snapshots import customers_table

    card = validate_scorecard(_document(body))
    view, snap = customer_view(wh, principal)
    if snap is None or "grade" not in view.columns:
        raise CrmscoreError("no scored snapshot to compare with", "run scoring first")
    # The snapshot holds every metric (models included) as of its date: score the draft on exactly that. A
    # snapshot written without some metric the draft needs falls back to the engine's features at that date.
    metrics = customers_table(wh, snap.snapshot_id)
    if any(c not in metrics.columns for c in required_columns(card)):
        metrics, _rfm = build_customer_table({name: wh.table(name) for name in TABLES}, snap.as_of)
    customers = score(metrics, card).customers
    mine = customers.semi_join(view.select("customer_id"), "customer_id")
    draft = mine.select("customer_id", new_score=mine.score, new_grade=mine.grade)
    now = view.select("customer_id", old_score=view.score, old_grade=view.grade)
    both = now.join(draft, "customer_id", how="outer")
    both = both.mutate(customer_id=both.customer_id.coalesce(both.customer_id_right)).drop("customer_id_right")
    summary = both.aggregate(
        customers=both.count(), changed=(both.old_grade.fill_null("") != both.new_grade.fill_null("")).sum(),
        old_mean=both.old_score.cast("float64").mean(), new_mean=both.new_score.cast("float64").mean())
    matrix = both.group_by(old=both.old_grade.fill_null("(none)"), new=both.new_grade.fill_null("(none)")) \
        .aggregate(count=both.count()).order_by(["old", "new"])
    delta = (both.new_score - both.old_score).abs()
    movers = both.filter(both.old_grade.fill_null("") != both.new_grade.fill_null("")) \
        .order_by([ibis.desc(delta), "customer_id"]).limit(20)
    totals = clean_records(summary.to_pyarrow())[0]
    return {"snapshot_id": snap.snapshot_id, "as_of": snap.as_of, "name": card.name,
            "customers": int(totals["customers"] or 0), "changed": int(totals["changed"] or 0),
            "mean_score_now": totals["old_mean"], "mean_score_after": totals["new_mean"],
            "grades": clean_records(matrix.to_pyarrow()), "movers": clean_records(movers.to_pyarrow())}
