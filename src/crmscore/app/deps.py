"""FastAPI dependencies: the app state, an app-database session, the authenticated principal.

The cheap ones (state, warehouse reader, principal from the cache, permission check) are ``async``: FastAPI runs
a sync dependency in a worker thread, and the thread hops cost more than the work. Work that touches a database
(the app-database session, a principal not in the cache) runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from crmscore.app.auth import SAFE_METHODS, SESSION_COOKIE, authenticate, digest
from crmscore.app.permissions import Principal, require
from crmscore.app.state import AppState
from crmscore.store.warehouse import Warehouse

__all__ = ["db", "get_principal", "need", "reader", "state"]

# Declared for the OpenAPI document (docs and schemathesis); the checks happen in authenticate().
_bearer = HTTPBearer(auto_error=False, description="An API token: Authorization: Bearer crm_...")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="Browser session (unsafe methods also need the X-CSRF-Token header)")


async def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.crmscore
    return app_state


def db(request: Request) -> Iterator[Session]:
    with request.app.state.crmscore.ws.session() as session:
        yield session


async def reader(request: Request) -> AsyncIterator[Warehouse]:
    # taking a pooled cursor is a list pop under a lock (a new DuckDB cursor when the pool is empty)
    app_state: AppState = request.app.state.crmscore
    with app_state.reader() as wh:
        yield wh


def _authenticate(app_state: AppState, request: Request) -> Principal:
    # A short app-database session of its own: a long-running read does not hold a connection.
    with app_state.ws.session() as session:
        return authenticate(session, request)


async def get_principal(request: Request, _b: object = Depends(_bearer), _c: object = Depends(_cookie)) -> Principal:
    app_state: AppState = request.app.state.crmscore
    header = request.headers.get("authorization")
    safe = request.method in SAFE_METHODS
    credential = digest(header) if header else None
    if not safe:
        app_state.forget_principals()  # a token revoked or a user changed: nobody is served from the cache
    elif credential is not None:
        cached = app_state.cached_principal(credential, claim=True)
        if cached is not None:
            request.state.principal = cached
            return cached
    try:
        principal = await run_in_threadpool(_authenticate, app_state, request)
    except BaseException:
        if credential is not None:
            app_state.drop_principal(credential)  # e.g. revoked: nobody keeps using the expired entry
        raise
    if safe and credential is not None and principal.via == "token":
        app_state.remember_principal(credential, principal)
    request.state.principal = principal
    return principal


def need(action: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the principal, if their role allows ``action`` (else 403)."""

    async def _dependency(principal: Principal = Depends(get_principal)) -> Principal:
        require(principal, action)
        return principal

    _dependency.__name__ = f"need_{action}"
    return _dependency
