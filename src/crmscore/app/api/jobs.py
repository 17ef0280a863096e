"""Jobs: imports and scoring runs with their progress. You see your own; admins and analysts see all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from crmscore.app.api._params import IdPath
from crmscore.app.deps import get_principal, state
from crmscore.app.permissions import Principal
from crmscore.app.state import AppState

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
