"""Scheduled re-scoring inside the server: the cron schedule of ``CRMSCORE_SCORE_SCHEDULE`` drives scoring
jobs on the server's own job queue (one job at a time), so scheduled runs show up in ``GET /api/jobs``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from crmscore.app.permissions import Principal
from crmscore.app.state import AppState
from crmscore.services.scheduler import Scheduler
from crmscore.store.appdb import Job, utcnow

__all__ = ["SCHEDULER_PRINCIPAL", "start_scheduler"]

SCHEDULER_PRINCIPAL = Principal(user_id=0, username="scheduler", role="admin", scope="company", via="cli")


def start_scheduler(app_state: AppState) -> Scheduler | None:
    """Start the scheduler thread when a schedule is set; returns it (or None)."""
    expression = app_state.settings.score_schedule
    if not expression:
        return None
    ws = app_state.ws

    def last_run() -> datetime | None:
        with ws.session() as s:
            value = s.scalar(select(func.max(Job.started_at)).where(Job.kind == "score"))
            return value if isinstance(value, datetime) else None

    def busy() -> bool:
        with ws.session() as s:
            return bool(s.scalar(select(func.count()).select_from(Job).where(
                Job.kind == "score", Job.status.in_(("queued", "running")))))

    def submit() -> Any:
        from crmscore.services.pipeline import run_scoring

        def work(progress: Any) -> dict[str, Any]:
            info = run_scoring(ws, created_by=SCHEDULER_PRINCIPAL.username, progress=progress, record_job=False)
            return {"snapshot": info.to_dict()}

        return app_state.jobs.submit("score", {"scheduled": expression}, SCHEDULER_PRINCIPAL, work)

    # Job.started_at is naive UTC; compare in the same clock.
    scheduler = Scheduler(expression, submit=submit, last_run=last_run, busy=busy,
                          clock=utcnow)
    scheduler.start()
    return scheduler
