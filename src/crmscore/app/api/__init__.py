"""REST API routers, one module per resource. :data:`ROUTERS` lists them in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from crmscore.app.api import (
    audit,
    auth,
    customers,
    dashboard_extra,
    exports,
    health,
    insights,
    jobs,
    scorecards,
    users,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [health.router, auth.router, dashboard_extra.router, customers.router, insights.router, exports.router,
                            jobs.router, jobs.imports_router, scorecards.router, users.router, audit.router]
