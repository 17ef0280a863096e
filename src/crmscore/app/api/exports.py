"""GET /api/exports/customers: the caller's filtered customer list as CSV or XLSX (audited)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Literal

import pyarrow.csv as pacsv
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crmscore.app.api.customers import customer_query
from crmscore.app.audit import record
from crmscore.app.auth import client_address
from crmscore.app.customers import CustomerQuery, export_table
from crmscore.app.deps import db, need, reader
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.store.warehouse import Warehouse

router = APIRouter(prefix="/api/exports", tags=["exports"])

_XLSX_MAX_ROWS = 1_048_575
_MEDIA = {"csv": "text/csv; charset=utf-8",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _xlsx(table: object) -> bytes:
    from openpyxl import Workbook

    rows = table.to_pylist()  # type: ignore[attr-defined]
    columns = table.column_names  # type: ignore[attr-defined]
    if len(rows) > _XLSX_MAX_ROWS:
        raise FieldError([("format", f"{len(rows)} rows do not fit in one sheet; export as csv")])
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("customers")
    ws.append(columns)
    for row in rows:
        ws.append([_cell(row[c]) for c in columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict | list):
        return str(value)
    return value


@router.get("/customers", summary="Export your filtered customer list (csv or xlsx)")
def export_customers(request: Request, query: CustomerQuery = Depends(customer_query),
                     format: Annotated[Literal["csv", "xlsx"], Query(description="File format")] = "csv",
                     principal: Principal = Depends(need("export")), wh: Warehouse = Depends(reader),
                     session: Session = Depends(db)) -> Response:
    table = export_table(wh, principal, query)
    if format == "csv":
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        content = b"\xef\xbb\xbf" + buffer.getvalue()  # BOM: Excel opens UTF-8 Chinese text correctly
    else:
        content = _xlsx(table)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    filename = f"customers-{stamp}.{format}"
    record(session, "export", username=principal.username, target=filename, source=client_address(request),
           details={"rows": table.num_rows, "format": format, "snapshot_id": query.snapshot_id,
                    "filters": {k: v for k, v in vars(query).items() if v not in (None, [], 0, 50)}})
    session.commit()
    return Response(content, media_type=_MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
