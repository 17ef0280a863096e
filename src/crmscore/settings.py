"""Settings, declared once: every ``CRMSCORE_*`` environment variable with its default and help.

Values come, in order of precedence, from keyword arguments, the environment, the workspace's
``crmscore.toml`` file (``[settings]`` table) and the defaults below.

>>> Settings(service_cost_per_ticket="25").service_cost_per_ticket
Decimal('25')
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "settings_table"]


class Settings(BaseSettings):
    """All settings of crmscore. Each field is one ``CRMSCORE_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="CRMSCORE_", extra="ignore", validate_default=True)

    workspace: Path | None = Field(None, description="Workspace folder used when --workspace is not given.")
    warehouse_url: str | None = Field(
        None, description="Warehouse location: an Ibis URL such as postgres://user:pw@host:5432/db. "
        "Default: the DuckDB file warehouse.duckdb inside the workspace.")
    database_url: str | None = Field(
        None, description="App database as a SQLAlchemy URL such as postgresql+psycopg://user:pw@host/db. "
        "Default: the SQLite file app.sqlite inside the workspace.")
    env: Literal["development", "production"] = Field(
        "development", description="In production, secrets must be set explicitly (no development defaults).")
    secret_key: str | None = Field(
        None, description="Key for signing session cookies and CSRF tokens. Required when env=production.")
    host: str = Field("127.0.0.1", description="Address `crmscore serve` listens on.")
    port: int = Field(8000, description="Port `crmscore serve` listens on.")
    day_first: bool = Field(False, description="Read ambiguous dates like 3/5/2024 as day/month (5 March).")
    default_currency: str = Field("CNY", description="Currency assumed when an amount has no symbol or code.")
    service_cost_per_ticket: Decimal = Field(
        Decimal("50"), description="Service cost charged per support ticket in profitability metrics.")
    rfm_bins: int = Field(5, ge=2, le=10, description="Number of quantile bins for R, F and M scores.")
    churn_horizon_days: int = Field(90, gt=0, description="Churn label horizon h: no purchase in (t, t+h].")
    churn_refit_months: int = Field(
        6, ge=1, description="In a backfill (crmscore score --from/--to), the churn model fitted for one as-of date "
        "is reused for the following dates of the next N months, then refitted.")
    backfill_workers: int = Field(
        0, ge=0, description="Dates a backfill on a DuckDB warehouse scores at once, each on its own connection "
        "(0: one per CPU core, at most 4).")
    score_schedule: str | None = Field(
        None, description="Cron expression (5 fields) for scheduled re-scoring by the server, e.g. '0 2 * * *'.")
    snapshot_retention: int = Field(0, ge=0, description="Keep this many newest snapshots (0 keeps all).")
    login_max_attempts: int = Field(5, ge=1, description="Failed logins before an account is locked for a while.")
    login_lockout_seconds: int = Field(900, ge=1, description="How long a locked account stays locked.")
    session_hours: int = Field(12, ge=1, description="Lifetime of a browser session.")
    import_batch_rows: int = Field(1_000_000, ge=1000, description="Rows per batch when bulk-loading imports.")


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting: the docs and `--help` list these."""
    rows = []
    for name, info in Settings.model_fields.items():
        default = "" if info.default is None else str(info.default)
        rows.append((f"CRMSCORE_{name.upper()}", default, info.description or ""))
    return rows
