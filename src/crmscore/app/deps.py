"""FastAPI dependencies: the app state, an app-database session, the authenticated principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy.orm import Session

from crmscore.app.auth import SAFE_METHODS, SESSION_COOKIE, authenticate, digest
from crmscore.app.permissions import Principal, require
from crmscore.app.state import AppState
from crmscore.store.warehouse import Warehouse

__all__ = ["db", "get_principal", "need", "reader", "state"]

# Declared for the OpenAPI document (docs and schemathesis); the checks happen in authenticate().
_bearer = HTTPBearer(auto_error=False, description="An API token: Authorization: Bearer crm_...")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="Browser session (unsafe methods also need the X-CSRF-Token header)")


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.crmscore
    return app_state


def db(request: Request) -> Iterator[Session]:
    with state(request).ws.session() as session:
        yield session


def reader(request: Request) -> Iterator[Warehouse]:
    with state(request).reader() as wh:
        yield wh


def get_principal(request: Request, _b: object = Depends(_bearer), _c: object = Depends(_cookie)) -> Principal:
    app_state = state(request)
    header = request.headers.get("authorization")
    safe = request.method in SAFE_METHODS
    credential = digest(header) if header else None
    if not safe:
        app_state.forget_principals()  # a token revoked or a user changed: nobody is served from the cache
    elif credential is not None:
        cached = app_state.cached_principal(credential)
        if cached is not None:
            request.state.principal = cached
            return cached
    # A short app-database session of its own: a long-running read does not hold a connection.
    with app_state.ws.session() as session:
        principal = authenticate(session, request)
    if safe and credential is not None and principal.via == "token":
        app_state.remember_principal(credential, principal)
    request.state.principal = principal
    return principal


def need(action: str) -> Callable[..., Principal]:
    """A dependency: the principal, if their role allows ``action`` (else 403)."""

    def _dependency(principal: Principal = Depends(get_principal)) -> Principal:
        require(principal, action)
        return principal

    _dependency.__name__ = f"need_{action}"
    return _dependency
