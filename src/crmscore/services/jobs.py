"""Run records for imports and scoring runs in the app database.

A run is recorded as ``running`` before it starts and finished as ``succeeded`` or ``failed``. A run whose
process died (killed, crashed) is found by its pid and marked ``failed`` the next time anyone looks, so a killed
run leaves exactly one trace: a failed-run record.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from crmscore.store.appdb import Job, utcnow
from crmscore.workspace import Workspace, pid_alive

__all__ = ["JobHandle", "list_jobs", "reap_dead_jobs", "recorded_job"]


def reap_dead_jobs(ws: Workspace) -> int:
    """Mark running jobs of dead processes on this host as failed; returns how many."""
    host = socket.gethostname()
    reaped = 0
    with ws.session() as session:
        for job in session.scalars(select(Job).where(Job.status == "running")):
            params = job.params or {}
            if params.get("_host") == host and not pid_alive(int(params.get("_pid", 0))):
                job.status, job.finished_at = "failed", utcnow()
                job.error = "the process running this job ended before finishing (killed or crashed)"
                reaped += 1
        session.commit()
    return reaped


class JobHandle:
    def __init__(self, ws: Workspace, job_id: int) -> None:
        self.ws, self.id = ws, job_id

    def progress(self, fraction: float, stage: str | None = None) -> None:
        with self.ws.session() as session:
            job = session.get(Job, self.id)
            if job is not None:
                job.progress = max(0.0, min(1.0, fraction))
                if stage:
                    job.result = dict(job.result or {}) | {"stage": stage}
                session.commit()


@contextmanager
def recorded_job(ws: Workspace, kind: str, params: dict[str, Any], created_by: str | None = None
                 ) -> Iterator[JobHandle]:
    """Record a run: running → succeeded, or failed with the error message (then re-raise)."""
    reap_dead_jobs(ws)
    with ws.session() as session:
        record = Job(kind=kind, status="running",
                     params=params | {"_pid": os.getpid(), "_host": socket.gethostname()}, created_by=created_by)
        session.add(record)
        session.commit()
        job_id = record.id
    handle = JobHandle(ws, job_id)
    try:
        yield handle
    except BaseException as exc:
        with ws.session() as session:
            job = session.get(Job, job_id)
            if job is not None:
                job.status, job.finished_at = "failed", utcnow()
                job.error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                session.commit()
        raise
    with ws.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.progress, job.finished_at = "succeeded", 1.0, utcnow()
            session.commit()


def list_jobs(ws: Workspace, kind: str | None = None, limit: int = 50) -> list[Job]:
    reap_dead_jobs(ws)
    with ws.session() as session:
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if kind:
            query = query.where(Job.kind == kind)
        return list(session.scalars(query))
