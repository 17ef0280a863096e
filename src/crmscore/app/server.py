"""The FastAPI application factory.

>>> import tempfile, pathlib
>>> from fastapi.testclient import TestClient
>>> from crmscore.workspace import Workspace
>>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> client = TestClient(create_app(ws))
>>> client.get("/api/health").json()["status"]
'ok'
>>> client.get("/api/customers").json()["code"]
'unauthenticated'
>>> ws.close()
"""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import crmscore
from crmscore.app.api import ROUTERS
from crmscore.app.errors import install_error_handlers
from crmscore.app.fastpath import answer, response_headers
from crmscore.app.schedule import start_scheduler
from crmscore.app.state import AppState
from crmscore.workspace import Workspace

__all__ = ["THREADS", "WEB_MODULE", "CrmscoreApp", "create_app"]

log = logging.getLogger("crmscore.app")

# The dashboard plugs in here: a module with ``router`` (an APIRouter serving /app/...), optionally
# ``mount(app)`` for static files. Absent: / shows a small placeholder page pointing at the API docs.
WEB_MODULE = "crmscore.app.web"
THREADS = 12

_PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>crmscore</title></head>
<body><h1>crmscore</h1><p>The REST API is running. Read the <a href="/docs">API reference</a>.</p></body></html>"""


class CrmscoreApp(FastAPI):
    """FastAPI with the hot routes' fast path (:mod:`crmscore.app.fastpath`) in front: a warm, simple
    ``GET /api/customers[/{id}]`` is answered without the framework; everything else goes through FastAPI."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self.user_middleware:
            app_state = getattr(self.state, "crmscore", None)
            body = answer(app_state, scope) if app_state is not None else None
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": response_headers(len(body))})
                await send({"type": "http.response.body", "body": body})
                return
        await super().__call__(scope, receive, send)


def _web_module() -> object | None:
    try:
        return importlib.import_module(WEB_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != WEB_MODULE:
            raise
        return None


def create_app(workspace: Workspace | str | Path, *, freeze_gc: bool = False) -> FastAPI:
    """The crmscore REST API (and dashboard, when installed) serving one workspace.

    Given a path, the app opens the workspace as the server and closes it on shutdown; given a
    :class:`Workspace`, the caller keeps ownership.

    ``freeze_gc`` (``crmscore serve``): once started (serving view warm), every object allocated so far is moved
    out of the cyclic garbage collector's reach (:func:`gc.freeze`). The server holds a few hundred thousand
    long-lived objects (modules, Ibis, pydantic and SQLAlchemy metadata); without this, each full collection
    walks them all and stalls every request for a few hundred milliseconds. Not for tests and embedding:
    frozen objects are never collected.
    """
    owned = not isinstance(workspace, Workspace)
    ws = Workspace(workspace, as_server=True) if not isinstance(workspace, Workspace) else workspace
    app_state = AppState(ws)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool; keep it within the app database's connection pool
        # (SQLAlchemy's default 5 + 10 overflow), so that a burst of requests waits instead of failing.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        await anyio.to_thread.run_sync(app_state.warm)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        scheduler = start_scheduler(app_state)
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            app_state.close()
            if owned:
                ws.close()

    app = CrmscoreApp(title="crmscore", version=crmscore.__version__, lifespan=lifespan,
                  description="Customer evaluation and scoring: customers, scores with explanations, snapshots, "
                              "scorecards, imports, exports. Log in with POST /api/auth/login (browser session, "
                              "CSRF token in X-CSRF-Token for changes) or send 'Authorization: Bearer <token>'.")
    app.state.crmscore = app_state
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    web = _web_module()
    if web is not None:
        mount = getattr(web, "mount", None)
        if callable(mount):
            mount(app)
        app.include_router(web.router)  # type: ignore[attr-defined]

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        if web is not None:
            return RedirectResponse("/app/")
        return HTMLResponse(_PLACEHOLDER)

    return app
