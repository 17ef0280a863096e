"""GET /api/audit: the audit log, newest first (admins only; there are no routes to change it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from crmscore.app.api._params import clean_text
from crmscore.app.audit import list_events
from crmscore.app.deps import db, need
from crmscore.app.permissions import Principal

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", summary="Audit events: who did what, when, from where")
def audit(action: Annotated[str | None, Query(description="Only this action (login, export ...)")] = None,
          username: Annotated[str | None, Query(description="Only this user's events")] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
          offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
          _p: Principal = Depends(need("view_audit")), session: Session = Depends(db)) -> dict[str, Any]:
    total, events = list_events(session, action=clean_text("action", action),
                                username=clean_text("username", username), limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": events}
