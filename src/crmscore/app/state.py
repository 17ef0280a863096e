"""Per-application state: the workspace, the job runner, the login limiter and warehouse readers.

DuckDB connections are not shared between threads: each request thread reads through its own cursor on the
workspace's database (DuckDB runs those queries in parallel and each sees committed data). Other warehouses
(PostgreSQL) are read under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import ibis

from crmscore.app.auth import LoginLimiter
from crmscore.app.jobs import JobRunner
from crmscore.store.warehouse import Warehouse
from crmscore.workspace import Workspace

__all__ = ["AppState"]


class AppState:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.settings = ws.settings
        # An address may fail this many logins per lockout window, across all accounts.
        self.limiter = LoginLimiter(max(20, ws.settings.login_max_attempts * 4), ws.settings.login_lockout_seconds)
        self.jobs = JobRunner(ws)
        self._local = threading.local()
        self._lock = threading.RLock()

    @contextmanager
    def reader(self) -> Iterator[Warehouse]:
        """A warehouse to read from in the current thread."""
        main = self.ws.warehouse
        if main.dialect != "duckdb":
            with self._lock:
                yield main
            return
        cached = getattr(self._local, "reader", None)
        if cached is None or cached[0] is not main:
            backend = ibis.duckdb.from_connection(main.con.con.cursor())
            cached = (main, Warehouse(backend, main.url), threading.Lock())
            self._local.reader = cached
        # FastAPI enters a sync dependency in one pool thread and runs the endpoint in another, so a thread's
        # cursor can be in use by an earlier request still: one request at a time per cursor (a plain Lock,
        # which the exit may release from another thread).
        with cached[2]:
            yield cached[1]

    def close(self) -> None:
        self.jobs.shutdown()
