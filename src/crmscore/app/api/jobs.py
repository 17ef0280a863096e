"""Jobs: imports and scoring runs with their progress. You see your own; admins and analysts see all."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from crmscore.app.api._params import IdPath
from crmscore.app.audit import record
from crmscore.app.auth import client_address
from crmscore.app.deps import db, get_principal, need, state
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.app.state import AppState
from crmscore.errors import CrmscoreError
from crmscore.schema import table_for_kind

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("", summary="Recent import and scoring jobs")
def jobs(kind: Annotated[str | None, Query(pattern=r"^(import|score|export)$")] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = 50,
         principal: Principal = Depends(get_principal),
         app_state: AppState = Depends(state)) -> list[dict[str, Any]]:
    return app_state.jobs.list(principal, kind, limit)


@router.get("/{job_id}", summary="One job with its status, progress, result or error")
def job(job_id: IdPath, principal: Principal = Depends(get_principal),
        app_state: AppState = Depends(state)) -> dict[str, Any]:
    return app_state.jobs.get(principal, job_id)


# -- imports and scoring runs (background jobs) -------------------------------------------------------------
imports_router = APIRouter(prefix="/api", tags=["jobs"])


class ScoringRequest(BaseModel):
    as_of: date | None = Field(None, description="Score as of this date (default: the latest order date)")
    scorecard: str | None = Field(None, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$",
                                  description="Scorecard NAME or NAME@VERSION (default: the default scorecard)")


def _safe_name(name: str | None) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name or "upload").name)[-100:].lstrip(".")
    return stem or "upload"


@imports_router.post("/imports", status_code=202, summary="Upload a file with an optional mapping; imports it "
                     "as a background job")
def start_import(
    request: Request,
    kind: Annotated[str, Form(description="customers, orders, order-lines, invoices, surveys, tickets ...")],
    file: Annotated[UploadFile, File(description="CSV, Excel, JSON Lines or Parquet file")],
    mapping: Annotated[UploadFile | None, File(description="Column mapping file (YAML)")] = None,
    dry_run: Annotated[bool, Form()] = False,
    allow_partial: Annotated[bool, Form()] = False,
    principal: Principal = Depends(need("import")),
    app_state: AppState = Depends(state),
    session: Session = Depends(db),
) -> dict[str, Any]:
    from crmscore.ingest import import_file

    try:
        table_for_kind(kind)
    except CrmscoreError as exc:
        raise FieldError([("kind", exc.message + (f"; {exc.hint}" if exc.hint else ""))]) from exc
    folder = app_state.ws.imports_dir / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / _safe_name(file.filename)
    with target.open("wb") as out:
        shutil.copyfileobj(file.file, out)
    mapping_path: Path | None = None
    if mapping is not None:
        mapping_path = folder / ("mapping-" + _safe_name(mapping.filename))
        with mapping_path.open("wb") as out:
            shutil.copyfileobj(mapping.file, out)
    params = {"kind": kind, "file": file.filename, "size": target.stat().st_size, "dry_run": dry_run,
              "allow_partial": allow_partial, "mapping": mapping.filename if mapping else None}
    ws = app_state.ws

    def work(_progress: Any) -> dict[str, Any]:
        report = import_file(ws, kind, target, mapping=mapping_path, dry_run=dry_run, allow_partial=allow_partial,
                             record_job=False)  # this queue records the job itself
        return report.model_dump(mode="json") if hasattr(report, "model_dump") else dict(report)

    job = app_state.jobs.submit("import", params, principal, work)
    record(session, "import", username=principal.username, target=f"{kind} {file.filename}",
           source=client_address(request), details=params | {"job_id": job["id"]})
    session.commit()
    return job


@imports_router.post("/scoring", status_code=202, summary="Start a scoring run as a background job")
def start_scoring(body: ScoringRequest, request: Request, principal: Principal = Depends(need("run_scoring")),
                  app_state: AppState = Depends(state), session: Session = Depends(db)) -> dict[str, Any]:
    from crmscore.services.pipeline import run_scoring

    ws = app_state.ws
    params = {"as_of": body.as_of.isoformat() if body.as_of else None, "scorecard": body.scorecard}

    def work(progress: Any) -> dict[str, Any]:
        info = run_scoring(ws, as_of=body.as_of, scorecard=body.scorecard, created_by=principal.username,
                           progress=progress, record_job=False)  # this queue records the job itself
        return {"snapshot": info.to_dict()}

    job = app_state.jobs.submit("score", params, principal, work)
    record(session, "score", username=principal.username, target=body.scorecard or "default",
           source=client_address(request), details=params | {"job_id": job["id"]})
    session.commit()
    return job
