"""The import report: counts, every rejected row with its line, column, value and reason, and where files went.

>>> r = ImportReport(import_id="x", kind="orders", table="orders", file="o.csv", format="csv", read=2,
...                  inserted=1, rejected=1, rejections=[Rejection(line=3, column="amount", value="abc",
...                  reason="not an amount")])
>>> r.rejections[0].reason, r.ok
('not an amount', False)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["ImportReport", "Rejection", "TableCounts"]


class Rejection(BaseModel):
    """One problem with one row. ``column`` is the canonical field (None for a line that could not be split)."""

    line: int
    column: str | None = None
    source_column: str | None = None
    value: str | None = None
    reason: str


class TableCounts(BaseModel):
    """What an import did to one warehouse table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportReport(BaseModel):
    """Everything about one import. ``rejected`` counts rows; ``rejections`` lists each problem of each row."""

    import_id: str
    kind: str
    table: str
    file: str
    format: str
    encoding: str | None = None
    status: Literal["ok", "partial", "failed", "dry_run"] = "ok"
    dry_run: bool = False
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    derived_orders: int = Field(default=0, description="orders derived from order lines (all actions)")
    stub_customers: int = Field(default=0, description="flagged stub customers created for unknown ids")
    tables: dict[str, TableCounts] = Field(default_factory=dict)
    mapping: dict[str, str] = Field(default_factory=dict)
    automatic_mapping: bool = False
    rejections: list[Rejection] = Field(default_factory=list)
    rejections_listed: int = 0
    report_path: str | None = None
    quarantine_path: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def summary(self) -> str:
        """One line for people: what was read, written and rejected."""
        text = (f"{self.kind}: read {self.read:,}, inserted {self.inserted:,}, updated {self.updated:,}, "
                f"unchanged {self.unchanged:,}, rejected {self.rejected:,}")
        if self.derived_orders:
            text += f"; derived orders {self.derived_orders:,}"
        if self.stub_customers:
            text += f"; stub customers {self.stub_customers:,}"
        return text
