"""The ASGI fast path of the two hot routes, in front of FastAPI: ``GET /api/customers`` and
``GET /api/customers/{customer_id}``.

Under load most of a warm list or detail request's cost is the framework around it (routing, dependency
solving, parameter validation, middleware, response objects), not the answer, which the serving view computes in
a fraction of a millisecond. :func:`answer` computes the response body directly from the ASGI scope when, and
only when, everything is simple and warm:

- a ``GET`` with a bearer token whose principal is in the server's 5-second principal cache and whose role
  may view customers (sessions, cookies, unknown or expired tokens: FastAPI);
- only known query parameters, each value in the plain form FastAPI would accept the same way (digits for
  ``limit``/``offset`` within their bounds, ``0``-``1`` decimals for the risk bounds, clean short texts; a
  repeated scalar parameter, an unknown parameter or anything else: FastAPI);
- the serving view of the current data is built and has every set, order and index the request needs
  (:meth:`~crmscore.app.serving.ServingView.cached_only`), and the answer is a success (any error: FastAPI).

Anything else returns None and the request goes through FastAPI unchanged, where the route itself has the
same cached-only path plus the worker-thread fallback. The fast path therefore only ever sends ``200``
answers that FastAPI would have sent byte for byte (``tests/test_api_fastpath.py`` compares status, headers and
body of both for many requests). It is disabled when the app has user middleware, which it would bypass.

>>> parse_int("50", 1, 500), parse_int("050", 1, 500), parse_int("501", 1, 500), parse_int("", 0, 9)
(50, None, None, None)
>>> parse_fraction("0.8"), parse_fraction("1"), parse_fraction("1.5"), parse_fraction("nan")
(0.8, 1.0, None, None)
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic_core import to_jsonable_python

from crmscore.app.api._params import clean_text, clean_texts
from crmscore.app.auth import digest
from crmscore.app.customers import CustomerQuery, served_detail, served_list
from crmscore.app.permissions import allowed
from crmscore.app.serving import ServingCold
from crmscore.app.state import AppState
from crmscore.errors import CrmscoreError

__all__ = ["DETAIL_PREFIX", "LIST_PATH", "answer", "parse_fraction", "parse_int", "response_headers"]

log = logging.getLogger("crmscore.app")

LIST_PATH = "/api/customers"
DETAIL_PREFIX = "/api/customers/"
_LIST_TEXTS = ("grade", "segment", "lifecycle", "abc", "value_tier", "owner")  # list[str] parameters
_LIST_SCALARS = ("department", "q", "sort", "snapshot_id")  # str parameters
_INT = re.compile(r"(0|[1-9][0-9]{0,8})")
_FRACTION = re.compile(r"(0(\.[0-9]{1,8})?|1(\.0{1,8})?|\.[0-9]{1,8})")


def parse_int(value: str, low: int, high: int) -> int | None:
    """A plain decimal integer within [low, high], else None (FastAPI decides)."""
    if not _INT.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse_fraction(value: str) -> float | None:
    """A plain decimal number within [0, 1], else None (FastAPI decides)."""
    return float(value) if _FRACTION.fullmatch(value) else None


def response_headers(length: int) -> list[tuple[bytes, bytes]]:
    """The headers Starlette's ``Response(body, media_type="application/json")`` sends."""
    return [(b"content-length", str(length).encode("latin-1")), (b"content-type", b"application/json")]


def _params(scope: dict[str, Any]) -> dict[str, list[str]]:
    raw = scope.get("query_string", b"")
    params: dict[str, list[str]] = defaultdict(list)
    if raw:
        # as Starlette's QueryParams: latin-1 text, percent-decoded as UTF-8, blank values kept
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            params[key].append(value)
    return params


def _single(params: dict[str, list[str]], name: str) -> tuple[bool, str | None]:
    values = params.get(name)
    if not values:
        return True, None
    return len(values) == 1, values[0]


def _list_query(params: dict[str, list[str]]) -> CustomerQuery | None:
    if any(name not in _KNOWN_LIST for name in params):
        return None
    query = CustomerQuery()
    for name in _LIST_TEXTS:
        setattr(query, name, clean_texts(name, params.get(name)))
    for name in _LIST_SCALARS:
        ok, value = _single(params, name)
        if not ok:
            return None
        setattr(query, name, clean_text(name, value))
    for name, low, high, default in (("limit", 1, 500, 50), ("offset", 0, 100_000_000, 0)):
        ok, value = _single(params, name)
        number = default if value is None else parse_int(value, low, high)
        if not ok or number is None:
            return None
        setattr(query, name, number)
    for name in ("risk_min", "risk_max"):
        ok, value = _single(params, name)
        fraction = None if value is None else parse_fraction(value)
        if not ok or (value is not None and fraction is None):
            return None
        setattr(query, name, fraction)
    return query


_KNOWN_LIST = frozenset((*_LIST_TEXTS, *_LIST_SCALARS, "limit", "offset", "risk_min", "risk_max"))


def _bearer_digest(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":  # the first one, as Starlette's Headers.get
            return digest(value.decode("latin-1"))
    return None


def answer(app_state: AppState, scope: dict[str, Any]) -> bytes | None:
    """The JSON body of a warm ``200`` answer to the request of ``scope``, or None (FastAPI answers)."""
    if scope.get("method") != "GET" or scope.get("root_path"):
        return None
    path: str = scope.get("path", "")
    if path == LIST_PATH:
        detail_id = None
    elif path.startswith(DETAIL_PREFIX) and len(path) > len(DETAIL_PREFIX) \
            and "/" not in path[len(DETAIL_PREFIX):]:
        detail_id = path[len(DETAIL_PREFIX):]
    else:
        return None
    credential = _bearer_digest(scope)
    principal = app_state.cached_principal(credential) if credential is not None else None
    if principal is None or not allowed(principal, "view_customers"):
        return None
    view = app_state.current_serving()
    if view is None:
        return None
    params = _params(scope)
    try:
        with view.cached_only():
            if detail_id is None:
                query = _list_query(params)
                body = None if query is None else served_list(view, principal, query)
            else:
                ok, snapshot_id = _single(params, "snapshot_id")
                if not ok or any(name != "snapshot_id" for name in params):
                    return None
                body = served_detail(view, principal, clean_text("customer_id", detail_id) or "",
                                     clean_text("snapshot_id", snapshot_id))
    except (ServingCold, CrmscoreError):
        return None
    except Exception:  # FastAPI answers the request again and reports the error in the one error shape
        log.debug("fast path declined after an unexpected error", exc_info=True)
        return None
    if body is None:
        return None
    return orjson.dumps(body, default=to_jsonable_python, option=orjson.OPT_UTC_Z)
