"""GET /api/customers (scoped list with filters, sort, pagination) and GET /api/customers/{id} (360 view).

These are the API's hot routes, so they take a fast path: when the serving view of the current data is built
and has everything a request needs cached (:meth:`~crmscore.app.serving.ServingView.cached_only`), the answer
is computed directly on the event loop (no worker-thread hop, no database, no pooled cursor) and written with
orjson; otherwise (a first sort or filter, a detail that reads activity or older snapshots, PostgreSQL) the
same functions run in a worker thread with a warehouse reader. Both give the same answer; the JSON bytes
match FastAPI's own encoding (``tests/test_api_fastpath.py``). ``response_model`` keeps the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic_core import to_jsonable_python
from starlette.concurrency import run_in_threadpool

from crmscore.app.api._params import clean_text, clean_texts
from crmscore.app.customers import CustomerQuery, customer_detail, list_customers, served_detail, served_list
from crmscore.app.deps import need, state
from crmscore.app.permissions import Principal
from crmscore.app.serving import ServingCold, ServingView
from crmscore.app.state import AppState

router = APIRouter(prefix="/api/customers", tags=["customers"])


def json_response(body: dict[str, Any]) -> Response:
    """``body`` as a JSON response, encoded like FastAPI's default (UTC datetimes with ``Z``; other values
    through pydantic's JSON conversion), by orjson.

    >>> json_response({"a": [1, None, 2.5], "b": "é"}).body
    b'{"a":[1,null,2.5],"b":"\xc3\xa9"}'
    """
    return Response(orjson.dumps(body, default=to_jsonable_python, option=orjson.OPT_UTC_Z),
                    media_type="application/json")



async def customer_query(
    grade: Annotated[list[str] | None, Query(description="Grade(s), repeat or comma-separate: A,B")] = None,
    segment: Annotated[list[str] | None, Query(description="RFM segment(s)")] = None,
    lifecycle: Annotated[list[str] | None, Query(description="Lifecycle stage(s)")] = None,
    abc: Annotated[list[str] | None, Query(description="ABC class(es)")] = None,
    value_tier: Annotated[list[str] | None, Query(description="Value tier(s)")] = None,
    owner: Annotated[list[str] | None, Query(description="Owner id(s)")] = None,
    department: Annotated[str | None, Query(description="Department path; includes sub-departments")] = None,
    risk_min: Annotated[float | None, Query(ge=0, le=1, description="Minimum churn risk")] = None,
    risk_max: Annotated[float | None, Query(ge=0, le=1, description="Maximum churn risk")] = None,
    q: Annotated[str | None, Query(description="Text contained in the name (case-insensitive)")] = None,
    sort: Annotated[str | None, Query(description="Column(s) to sort by, '-' for descending: -score,name")] = None,
    snapshot_id: Annotated[str | None, Query(description="Snapshot (default: the latest)")] = None,
) -> CustomerQuery:
    return CustomerQuery(
        grade=clean_texts("grade", grade), segment=clean_texts("segment", segment),
        lifecycle=clean_texts("lifecycle", lifecycle), abc=clean_texts("abc", abc),
        value_tier=clean_texts("value_tier", value_tier), owner=clean_texts("owner", owner),
        department=clean_text("department", department), risk_min=risk_min, risk_max=risk_max,
        q=clean_text("q", q), sort=clean_text("sort", sort), snapshot_id=clean_text("snapshot_id", snapshot_id))


def _warm(app: AppState) -> ServingView | None:
    return app.current_serving()


def _list(app: AppState, principal: Principal, query: CustomerQuery) -> dict[str, Any]:
    with app.reader() as wh:
        return list_customers(wh, principal, query, serving=app.serving(wh))


def _detail(app: AppState, principal: Principal, customer_id: str, snapshot_id: str | None) -> dict[str, Any]:
    with app.reader() as wh:
        return customer_detail(wh, principal, customer_id, snapshot_id, serving=app.serving(wh))


@router.get("", summary="Your customers: filter, search, sort, paginate", response_model=dict[str, Any])
async def customers(query: CustomerQuery = Depends(customer_query),
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
                    principal: Principal = Depends(need("view_customers")),
                    app: AppState = Depends(state)) -> Response:
    query.limit, query.offset = limit, offset
    view = _warm(app)
    if view is not None:
        try:
            with view.cached_only():
                body = served_list(view, principal, query)
            if body is not None:
                return json_response(body)
        except ServingCold:
            pass
    return json_response(await run_in_threadpool(_list, app, principal, query))


@router.get("/{customer_id}", summary="The 360 view of one customer with the score explanation",
            response_model=dict[str, Any])
async def customer(customer_id: str,
                   snapshot_id: Annotated[str | None, Query(description="Snapshot (default: the latest)")] = None,
                   principal: Principal = Depends(need("view_customers")),
                   app: AppState = Depends(state)) -> Response:
    wanted = clean_text("customer_id", customer_id) or ""
    snap = clean_text("snapshot_id", snapshot_id)
    view = _warm(app)
    if view is not None:
        try:
            with view.cached_only():
                body = served_detail(view, principal, wanted, snap)
            if body is not None:
                return json_response(body)
        except ServingCold:
            pass
    return json_response(await run_in_threadpool(_detail, app, principal, wanted, snap))
