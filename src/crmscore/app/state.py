"""Per-application state: the workspace, the job runner, the login limiter and warehouse readers.

DuckDB connections are not shared between concurrent requests: each request reads through a cursor of its own
on the workspace's database, taken from a pool (DuckDB runs those queries in parallel and each sees committed
data). With PostgreSQL each pooled reader is a connection of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import ibis

from crmscore.app.auth import LoginLimiter
from crmscore.app.customers import CustomerQuery, list_customers, serving_view
from crmscore.app.jobs import JobRunner
from crmscore.app.permissions import Principal
from crmscore.app.serving import ServingView
from crmscore.store.warehouse import Warehouse, connect_backend
from crmscore.workspace import Workspace

__all__ = ["PRINCIPAL_REFRESH_GRACE", "PRINCIPAL_TTL", "AppState"]

log = logging.getLogger("crmscore.app")

# Seconds a bearer token's principal is reused without asking the app database. Any unsafe request (a token
# revoked, a user disabled or changed) forgets every cached principal at once.
PRINCIPAL_TTL = 5.0
# When a cached principal expires, one request checks it again with the app database; for at most this many
# seconds the other requests with that token keep the expired entry meanwhile, instead of all of them asking
# the database at once (a stall of every concurrent client, every PRINCIPAL_TTL seconds, under load).
PRINCIPAL_REFRESH_GRACE = 2.0


class AppState:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.settings = ws.settings
        # Open (and migrate) both stores now, in one thread: lazy opening from concurrent requests would race.
        ws.app_engine  # noqa: B018
        ws.warehouse  # noqa: B018
        ws.session().close()
        # An address may fail this many logins per lockout window, across all accounts.
        self.limiter = LoginLimiter(max(20, ws.settings.login_max_attempts * 4), ws.settings.login_lockout_seconds)
        self.jobs = JobRunner(ws)
        self._readers: list[Warehouse] = []
        self._readers_of: Warehouse | None = None
        self._lock = threading.Lock()
        self._serving: ServingView | None = None
        self._serving_key: tuple[int, int] | None = None
        self._serving_lock = threading.Lock()
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._refreshing: set[str] = set()  # credentials whose expired principal one request is checking again

    # -- caches ------------------------------------------------------------------------------------------------
    def serving(self, wh: Warehouse) -> ServingView | None:
        """The serving view of the current data (DuckDB warehouses; None for PostgreSQL): built on first use
        after each change of the warehouse (a finished import or scoring job), then shared by every request."""
        if wh.dialect != "duckdb":
            return None
        key = (id(self.ws.warehouse), self.jobs.data_version)
        view = self._serving
        if view is not None and self._serving_key == key:
            return view
        with self._serving_lock:
            if self._serving is None or self._serving_key != key:
                self._serving, self._serving_key = serving_view(wh), key
            return self._serving

    def current_serving(self) -> ServingView | None:
        """The serving view if it is built for the current data (no query, no waiting), else None."""
        view = self._serving
        if view is not None and self._serving_key == (id(self.ws.warehouse), self.jobs.data_version):
            return view
        return None

    def warm(self) -> None:
        """Build the serving view now (server start), so that the first requests do not wait for it."""
        try:
            with self.reader() as wh:
                view = self.serving(wh)
                if view is not None:
                    view.prepare()
                    # the default order (score, best first) of the first page everybody opens
                    company = Principal(user_id=0, username="serving", role="admin", scope="company")
                    list_customers(wh, company, CustomerQuery(limit=1), serving=view)
        except Exception:  # an empty or unusual workspace must not stop the server: requests build it later
            log.exception("could not prepare the serving view")

    def cached_principal(self, credential: str, *, claim: bool = False) -> Principal | None:
        """The cached principal of ``credential``: while fresh, or expired (within the grace) while another
        request checks it again. ``claim``: when expired and nobody checks it yet, the caller will (None)."""
        hit = self._principals.get(credential)
        if hit is None:
            return None
        expires, principal = hit
        now = time.monotonic()
        if now < expires:
            return principal
        if now >= expires + PRINCIPAL_REFRESH_GRACE:
            return None
        with self._lock:
            if credential in self._refreshing:
                return principal
            if claim:
                self._refreshing.add(credential)
        return None

    def remember_principal(self, credential: str, principal: Principal) -> None:
        if len(self._principals) > 10_000:
            self._principals.clear()
        self._principals[credential] = (time.monotonic() + PRINCIPAL_TTL, principal)
        with self._lock:
            self._refreshing.discard(credential)

    def drop_principal(self, credential: str) -> None:
        """Forget one credential's principal (its check failed)."""
        self._principals.pop(credential, None)
        with self._lock:
            self._refreshing.discard(credential)

    def forget_principals(self) -> None:
        self._principals.clear()
        with self._lock:
            self._refreshing.clear()

    @contextmanager
    def reader(self) -> Iterator[Warehouse]:
        """A warehouse to read from in the current thread."""
        main = self.ws.warehouse
        # A pool of cursors, each used by one request at a time: FastAPI enters a dependency in one pool
        # thread and runs the endpoint in another, so cursors cannot be tied to threads. A request takes an
        # idle cursor or opens a new one (never waits: waiting on a cursor while holding a worker thread could
        # deadlock the pool), and gives it back when it ends.
        with self._lock:
            if self._readers_of is not main:
                self._readers, self._readers_of = [], main
            reader = self._readers.pop() if self._readers else None
        if reader is None:
            backend = ibis.duckdb.from_connection(main.con.con.cursor()) if main.dialect == "duckdb" \
                else connect_backend(main.url)  # PostgreSQL: a connection of its own, outside any write
            reader = Warehouse(backend, main.url)
        try:
            yield reader
        finally:
            with self._lock:
                if self._readers_of is main:
                    self._readers.append(reader)

    def close(self) -> None:
        self.jobs.shutdown()
        self._serving = None
        with self._lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            if reader.dialect != "duckdb":
                reader.close()
