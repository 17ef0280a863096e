"""Scorecards: published versions (read), and — when the scorecard service is present — validate, preview,
publish (publish needs the configure-scoring permission and is audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmscore.app.api._params import IdPath
from crmscore.app.deps import db, need
from crmscore.app.permissions import Principal
from crmscore.errors import NotFound
from crmscore.store.appdb import ScorecardVersion

router = APIRouter(prefix="/api/scorecards", tags=["scorecards"])


def version_dict(row: ScorecardVersion, spec: bool = False) -> dict[str, Any]:
    body = {"id": row.id, "name": row.name, "version": row.version, "content_hash": row.content_hash,
            "status": row.status, "is_default": row.is_default, "published_by": row.published_by,
            "published_at": row.published_at}
    if spec:
        body["spec_yaml"] = row.spec_yaml
    return body


@router.get("", summary="Scorecard versions, newest first")
def scorecards(_p: Principal = Depends(need("view_scorecards")),
               session: Session = Depends(db)) -> list[dict[str, Any]]:
    rows = session.scalars(select(ScorecardVersion).order_by(ScorecardVersion.name,
                                                             ScorecardVersion.version.desc())).all()
    return [version_dict(r) for r in rows]


@router.get("/versions/{version_id}", summary="One scorecard version with its YAML")
def scorecard_version(version_id: IdPath, _p: Principal = Depends(need("view_scorecards")),
                      session: Session = Depends(db)) -> dict[str, Any]:
    row = session.get(ScorecardVersion, version_id)
    if row is None:
        raise NotFound(f"no scorecard version {version_id}", "list versions with GET /api/scorecards")
    return version_dict(row, spec=True)
