"""Background jobs (imports, scoring runs) recorded in the ``jobs`` table with their progress.

Jobs run one at a time in a worker thread (the warehouse has one writer). A job that fails keeps its record
with the error; an unexpected exception is logged and reported without internals.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import select

from crmscore.app.customers import json_safe
from crmscore.app.permissions import Principal, allowed
from crmscore.errors import CrmscoreError, NotFound
from crmscore.store.appdb import Job, utcnow
from crmscore.workspace import Workspace

__all__ = ["JobRunner", "ProgressFn", "job_dict", "progress_value"]

log = logging.getLogger("crmscore.app.jobs")

ProgressFn = Callable[..., None]


def job_dict(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress,
            "params": job.params, "result": job.result, "error": job.error, "created_by": job.created_by,
            "started_at": job.started_at, "finished_at": job.finished_at}


def progress_value(*args: Any, **kwargs: Any) -> tuple[float | None, str | None]:
    """Read (fraction, message) from whatever a service passes to its progress callback.

    >>> progress_value(0.5, "scoring"), progress_value(3, 4), progress_value(done=1, total=4)
    ((0.5, 'scoring'), (0.75, None), (0.25, None))
    """
    message = next((a for a in args if isinstance(a, str)), kwargs.get("message"))
    numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
    done = kwargs.get("done", kwargs.get("completed"))
    total = kwargs.get("total")
    if done is None and len(numbers) >= 2:
        done, total = numbers[0], numbers[1]
    elif done is None and numbers:
        done, total = numbers[0], 1.0 if numbers[0] <= 1 else None
    if "fraction" in kwargs:
        done, total = kwargs["fraction"], 1.0
    if done is None or not total:
        return None, message
    return max(0.0, min(1.0, float(done) / float(total))), message


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (dates as ISO strings, NaN as null): what the JSON column can store."""
    return json.loads(json.dumps(json_safe(jsonable_encoder(value)), default=str))


class JobRunner:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmscore-job")
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        # Bumped when a job's work ends (before its status says so): caches of warehouse reads key on it.
        self.data_version = 0

    def submit(self, kind: str, params: dict[str, Any], principal: Principal,
               work: Callable[[ProgressFn], dict[str, Any]]) -> dict[str, Any]:
        """Record a queued job and start ``work(progress)`` in the background; returns the job record."""
        with self.ws.session() as s:
            job = Job(kind=kind, status="queued", progress=0.0, params=_jsonable(params),
                      created_by=principal.username, started_at=utcnow())
            s.add(job)
            s.commit()
            record = job_dict(job)
        future = self._executor.submit(self._run, record["id"], work)
        with self._lock:
            self._futures[record["id"]] = future
        return record

    def _update(self, job_id: int, **values: Any) -> None:
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            for key, value in values.items():
                setattr(job, key, value)
            s.commit()

    def _run(self, job_id: int, work: Callable[[ProgressFn], dict[str, Any]]) -> None:
        self._update(job_id, status="running")

        def progress(*args: Any, **kwargs: Any) -> None:
            fraction, _message = progress_value(*args, **kwargs)
            if fraction is not None:
                self._update(job_id, progress=fraction)

        try:
            try:
                try:
                    result = work(progress)
                finally:
                    with self._lock:
                        self.data_version += 1
            except CrmscoreError as exc:
                body = exc.to_dict()
                report = getattr(exc, "report", None)
                if report is not None:
                    body["report"] = report.model_dump(mode="json") if hasattr(report, "model_dump") else str(report)
                self._update(job_id, status="failed", error=str(exc), result=_jsonable(body), finished_at=utcnow())
            else:
                self._update(job_id, status="succeeded", progress=1.0, result=_jsonable(result),
                             finished_at=utcnow())
        except Exception:
            log.exception("job %s failed unexpectedly", job_id)
            self._update(job_id, status="failed", finished_at=utcnow(),
                         error="an unexpected error occurred; see the server log")

    def wait(self, timeout: float | None = None) -> None:
        """Block until every submitted job has finished (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures.values())
        wait(futures, timeout=timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)

    def get(self, principal: Principal, job_id: int) -> dict[str, Any]:
        """A job the caller may see (their own, or any with view_jobs); others are 'not found'."""
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            if job is None or (job.created_by != principal.username and not allowed(principal, "view_jobs")):
                raise NotFound(f"no job {job_id}", "list your jobs with GET /api/jobs")
            return job_dict(job)

    def list(self, principal: Principal, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.ws.session() as s:
            query = select(Job)
            if not allowed(principal, "view_jobs"):
                query = query.where(Job.created_by == principal.username)
            if kind:
                query = query.where(Job.kind == kind)
            return [job_dict(j) for j in s.scalars(query.order_by(Job.id.desc()).limit(limit)).all()]
