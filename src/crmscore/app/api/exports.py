"""GET /api/exports/customers: the caller's filtered customer list as CSV or XLSX (audited)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import pyarrow.csv as pacsv
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crmscore.app.api.customers import customer_query
from crmscore.app.audit import record
from crmscore.app.auth import client_address
from crmscore.app.customers import CustomerQuery, export_table, filtered_view
from crmscore.app.deps import db, need, reader
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.store.warehouse import Warehouse

router = APIRouter(prefix="/api/exports", tags=["exports"])

_XLSX_MAX_ROWS = 1_048_575
_MEDIA = {"csv": "text/csv; charset=utf-8", "zoho": "text/csv; charset=utf-8", "fxiaoke": "text/csv; charset=utf-8",
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


def _crm_layout(wh: Warehouse, principal: Principal, query: CustomerQuery, fmt: str) -> tuple[int, bytes]:
    """The shared CRM re-import export (no personal fields in those layouts), restricted to the caller's
    filtered customers."""
    import tempfile

    import ibis

    from crmscore.services.customers import export_customers

    ids = filtered_view(wh, principal, query).select("customer_id")
    with tempfile.TemporaryDirectory(prefix="crmscore-export-") as folder:
        out = Path(folder) / "customers.csv"
        rows = export_customers(wh, out, fmt=fmt, snapshot_id=query.snapshot_id,
                                where=ibis._.customer_id.isin(ids.customer_id))
        return rows, out.read_bytes()


@router.get("/customers", summary="Export your filtered customer list (csv or xlsx)")
def export_customers(request: Request, query: CustomerQuery = Depends(customer_query),
                     format: Annotated[Literal["csv", "xlsx", "zoho", "fxiaoke"],
                                       Query(description="csv, xlsx, or a CRM re-import layout (zoho, fxiaoke)")] = "csv",
                     principal: Principal = Depends(need("export")), wh: Warehouse = Depends(reader),
                     session: Session = Depends(db)) -> Response:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if format in ("zoho", "fxiaoke"):
        rows, content = _crm_layout(wh, principal, query, format)
        filename = f"customers-{format}-{stamp}.csv"
    else:
        table = export_table(wh, principal, query)
        rows = table.num_rows
        if format == "csv":
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer)
            content = b"\xef\xbb\xbf" + buffer.getvalue()  # BOM: Excel opens UTF-8 Chinese text correctly
        else:
            content = _xlsx(table)
        filename = f"customers-{stamp}.{format}"
    record(session, "export", username=principal.username, target=filename, source=client_address(request),
           details={"rows": rows, "format": format, "snapshot_id": query.snapshot_id,
                    "filters": {k: v for k, v in vars(query).items() if v not in (None, [], 0, 50)}})
    session.commit()
    return Response(content, media_type=_MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
