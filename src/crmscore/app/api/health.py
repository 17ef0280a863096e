"""GET /api/health: liveness for load balancers and the CLI (no login needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

import crmscore
from crmscore.app.deps import state
from crmscore.app.state import AppState

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", summary="Server health")
def health(app_state: AppState = Depends(state)) -> dict[str, Any]:
    with app_state.reader() as wh:
        wh.con.list_tables()
    with app_state.ws.session() as s:
        s.connection()
    return {"status": "ok", "version": crmscore.__version__}
