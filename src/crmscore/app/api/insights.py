"""KPIs, snapshots, their distributions, trends and migration — all on the caller's customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from crmscore.app import insights
from crmscore.app.api._params import clean_text
from crmscore.app.customers import scoped_results
from crmscore.app.deps import need, reader
from crmscore.app.permissions import Principal
from crmscore.services.snapshots import SnapshotInfo, get_snapshot, list_snapshots
from crmscore.store.warehouse import Warehouse

router = APIRouter(prefix="/api", tags=["insights"])

SnapshotParam = Annotated[str | None, Query(description="Snapshot (default: the latest)")]


def _info(wh: Warehouse, principal: Principal, info: SnapshotInfo) -> dict[str, Any]:
    body = info.to_dict()
    if principal.scope != "company":  # the registry counts every customer; report the caller's own
        body["customer_count"] = int(scoped_results(wh, principal, info.snapshot_id).count().execute())
    return body


@router.get("/kpis", summary="Headline numbers and class distributions of your customers")
def kpis(snapshot_id: SnapshotParam = None, principal: Principal = Depends(need("view_customers")),
         wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    return insights.kpis(wh, principal, clean_text("snapshot_id", snapshot_id))


@router.get("/snapshots", summary="Scoring snapshots, oldest first")
def snapshots(principal: Principal = Depends(need("view_snapshots")),
              wh: Warehouse = Depends(reader)) -> list[dict[str, Any]]:
    return [_info(wh, principal, s) for s in list_snapshots(wh)]


@router.get("/snapshots/history", summary="Trend of your customers' scores over the snapshots")
def history(principal: Principal = Depends(need("view_snapshots")),
            wh: Warehouse = Depends(reader)) -> list[dict[str, Any]]:
    return insights.snapshot_history(wh, principal)


@router.get("/snapshots/migration", summary="Class migration of your customers between two snapshots")
def migration(a: Annotated[str, Query(description="Earlier snapshot id")],
              b: Annotated[str, Query(description="Later snapshot id")],
              by: Annotated[str, Query(description="grade, rfm_segment, lifecycle_stage or abc_class")] = "grade",
              principal: Principal = Depends(need("view_snapshots")),
              wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    return insights.scoped_migration(wh, principal, clean_text("a", a) or "", clean_text("b", b) or "",
                                     clean_text("by", by) or "")


@router.get("/snapshots/{snapshot_id}", summary="One snapshot")
def snapshot(snapshot_id: str, principal: Principal = Depends(need("view_snapshots")),
             wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    return _info(wh, principal, get_snapshot(wh, clean_text("snapshot_id", snapshot_id) or ""))


@router.get("/snapshots/{snapshot_id}/distribution", summary="Class sizes and value in one snapshot")
def distribution(snapshot_id: str,
                 by: Annotated[str, Query(description="grade, rfm_segment, lifecycle_stage, abc_class ...")] = "grade",
                 principal: Principal = Depends(need("view_snapshots")),
                 wh: Warehouse = Depends(reader)) -> dict[str, Any]:
    return insights.distribution(wh, principal, clean_text("snapshot_id", snapshot_id) or "",
                                 clean_text("by", by) or "")
