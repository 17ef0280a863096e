"""GET /api/customers (scoped list with filters, sort, pagination) and GET /api/customers/{id} (360 view)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from crmscore.app.api._params import clean_text, clean_texts
from crmscore.app.customers import CustomerQuery, customer_detail, list_customers
from crmscore.app.deps import need, reader, state
from crmscore.app.permissions import Principal
from crmscore.app.state import AppState
from crmscore.store.warehouse import Warehouse

router = APIRouter(prefix="/api/customers", tags=["customers"])



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


@router.get("", summary="Your customers: filter, search, sort, paginate")
def customers(query: CustomerQuery = Depends(customer_query),
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
              principal: Principal = Depends(need("view_customers")),
              wh: Warehouse = Depends(reader), app: AppState = Depends(state)) -> dict[str, Any]:
    query.limit, query.offset = limit, offset
    return list_customers(wh, principal, query, serving=app.serving(wh))


@router.get("/{customer_id}", summary="The 360 view of one customer with the score explanation")
def customer(customer_id: str,
             snapshot_id: Annotated[str | None, Query(description="Snapshot (default: the latest)")] = None,
             principal: Principal = Depends(need("view_customers")),
             wh: Warehouse = Depends(reader), app: AppState = Depends(state)) -> dict[str, Any]:
    return customer_detail(wh, principal, clean_text("customer_id", customer_id) or "",
                           clean_text("snapshot_id", snapshot_id), serving=app.serving(wh))
