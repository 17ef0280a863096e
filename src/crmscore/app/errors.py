"""The one error shape of the REST API, produced in one place.

Every failure — a :class:`~crmscore.errors.CrmscoreError`, an HTTP error (404 route, 405 method), a request
that fails validation, or an unexpected exception — is answered with::

    {"status": 422, "code": "invalid_request", "message": "...", "hint": "...",
     "errors": [{"field": "limit", "message": "..."}]}

Unexpected exceptions become a 500 whose message reveals nothing about the internals; the traceback goes to
the server log only.

>>> error_body(404, "not_found", "no customer 'c9'")
{'status': 404, 'code': 'not_found', 'message': "no customer 'c9'", 'hint': None, 'errors': []}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmscore.errors import CrmscoreError

__all__ = ["FieldError", "error_body", "install_error_handlers"]

log = logging.getLogger("crmscore.app")

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "too_many_requests"}


class FieldError(CrmscoreError):
    """A request with invalid fields (422): each error names its field."""

    status_code = 422
    code = "invalid_request"

    def __init__(self, errors: list[tuple[str, str]], hint: str | None = None) -> None:
        self.errors = errors
        first = "; ".join(f"{f}: {m}" for f, m in errors[:3])
        super().__init__(f"invalid request: {first}", hint)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["errors"] = [{"field": f, "message": m} for f, m in self.errors]
        return body


def error_body(status: int, code: str, message: str, hint: str | None = None,
               errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"status": status, "code": code, "message": message, "hint": hint, "errors": errors or []}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or "request"


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), headers=headers)


async def _crmscore_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CrmscoreError)
    body = exc.to_dict()
    status = int(body.get("status") or exc.status_code)
    if status >= 500:
        log.error("server-side error: %s", exc, exc_info=exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _json(body, headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    hint = "see the API reference at /docs" if exc.status_code in (404, 405) else None
    return _json(error_body(exc.status_code, code, detail, hint), dict(exc.headers or {}) or None)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid value"))}
              for e in exc.errors()]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    return _json(error_body(422, "invalid_request", f"invalid request: {first['field']}: {first['message']}",
                            "fix the listed fields and try again", errors))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(error_body(500, "internal_error", "an unexpected error occurred on the server",
                            "try again; if it keeps happening, report it to your administrator with the time"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every failure the one error shape."""
    app.add_exception_handler(CrmscoreError, _crmscore_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
