"""Roles, data scope and field masking: who may do what, and on which customers.

Four roles in the Chinese CRM convention (管理员 admin, 经理 manager, 分析师 analyst, 销售 rep) grant actions;
a *scope* limits the customers a user sees:

- ``self``: customers whose ``owner_id`` is the user's own ``owner_id``;
- ``department``: customers whose department (``customers.department``, else the owner's department) equals
  the user's department;
- ``department_tree``: that department and every department below it ('Sales/East' covers
  'Sales/East/Shanghai');
- ``company``: every customer.

Configuring scoring (publishing a scorecard) is a separate permission from viewing scores, and personal data
(phone, e-mail, contact name) is masked for users without ``can_view_personal_data``.

>>> p = Principal(user_id=1, username="li", role="rep", scope="self", owner_id="r1")
>>> allowed(p, "view_customers"), allowed(p, "manage_users")
(True, False)
>>> mask_record(p, {"customer_id": "c1", "phone": "138-0000-0000", "email": None})
{'customer_id': 'c1', 'phone': '***', 'email': None}
>>> department_covers("Sales/East", "Sales/East/Shanghai"), department_covers("Sales/East", "Sales/Eastern")
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ibis

from crmscore.errors import PermissionDenied

__all__ = [
    "ACTIONS",
    "MASK",
    "PERSONAL_FIELDS",
    "ROLES",
    "ROLE_ACTIONS",
    "SCOPES",
    "Principal",
    "allowed",
    "apply_scope",
    "department_covers",
    "mask_record",
    "require",
]

ROLES: tuple[str, ...] = ("admin", "manager", "analyst", "rep")
SCOPES: tuple[str, ...] = ("self", "department", "department_tree", "company")
PERSONAL_FIELDS: tuple[str, ...] = ("phone", "email", "contact_name")
MASK = "***"

# Every action a route can require, with what it allows.
ACTIONS: dict[str, str] = {
    "view_customers": "list and open customers, their scores, history and KPIs (within the user's scope)",
    "export": "download customer lists (within the user's scope, personal data masked unless allowed)",
    "view_snapshots": "list snapshots, their distributions and migration (within the user's scope)",
    "view_scorecards": "read scorecard versions",
    "draft_scorecards": "validate and preview scorecards",
    "configure_scoring": "publish scorecards (also needs the configure-scoring flag, except for admins)",
    "import": "upload files into the warehouse",
    "run_scoring": "start scoring runs",
    "view_jobs": "see every import and scoring job (others see their own)",
    "manage_users": "create, change and disable users",
    "view_audit": "read the audit log",
}

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "manager": frozenset({"view_customers", "export", "view_snapshots", "view_scorecards", "draft_scorecards",
                          "configure_scoring"}),
    "analyst": frozenset({"view_customers", "export", "view_snapshots", "view_scorecards", "draft_scorecards",
                          "configure_scoring", "import", "run_scoring", "view_jobs"}),
    "rep": frozenset({"view_customers", "export", "view_snapshots", "view_scorecards"}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request, as the permission checks see it."""

    user_id: int
    username: str
    role: str
    scope: str
    owner_id: str | None = None
    department: str | None = None
    can_configure_scoring: bool = False
    can_view_personal_data: bool = False
    via: str = "session"  # session | token | cli

    @classmethod
    def from_user(cls, user: Any, via: str = "session") -> Principal:
        return cls(user_id=user.id, username=user.username, role=user.role, scope=user.scope,
                   owner_id=user.owner_id, department=user.department,
                   can_configure_scoring=bool(user.can_configure_scoring),
                   can_view_personal_data=bool(user.can_view_personal_data), via=via)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def allowed(principal: Principal, action: str) -> bool:
    """Whether the principal's role grants ``action`` (and, for configure_scoring, the flag is set)."""
    if action not in ACTIONS:
        raise KeyError(action)
    if action not in ROLE_ACTIONS.get(principal.role, frozenset()):
        return False
    if action == "configure_scoring" and not principal.is_admin:
        return principal.can_configure_scoring
    return True


def require(principal: Principal, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``allowed(principal, action)``."""
    if not allowed(principal, action):
        raise PermissionDenied(f"your role ({principal.role}) may not {ACTIONS[action].split(' (')[0]}",
                               "ask an administrator for the permission")


def department_covers(department: str, other: str | None) -> bool:
    """Whether ``other`` is ``department`` or below it in the '/'-separated path."""
    if other is None:
        return False
    return other == department or other.startswith(department.rstrip("/") + "/")


def apply_scope(principal: Principal, customers: ibis.Table, owners: ibis.Table) -> ibis.Table:
    """``customers`` restricted to the principal's scope (columns unchanged).

    The department of a customer is ``customers.department``, else its owner's department. A user whose
    scope needs an owner id or a department they do not have sees nothing.
    """
    if principal.scope == "company":
        return customers
    if principal.scope == "self":
        if not principal.owner_id:
            return customers.filter(ibis.literal(False))
        return customers.filter(customers.owner_id == principal.owner_id)
    if principal.scope not in ("department", "department_tree") or not principal.department:
        return customers.filter(ibis.literal(False))
    dept = principal.department.rstrip("/")
    own = owners.select(_scope_owner_id=owners.owner_id, _scope_owner_dept=owners.department)
    joined = customers.left_join(own, customers.owner_id == own._scope_owner_id)
    effective = joined.department.coalesce(joined._scope_owner_dept)
    if principal.scope == "department":
        condition = effective == dept
    else:
        condition = (effective == dept) | effective.startswith(dept + "/")
    return joined.filter(condition.fill_null(False)).select(customers.columns)


def mask_record(principal: Principal, record: dict[str, Any],
                fields: Iterable[str] = PERSONAL_FIELDS) -> dict[str, Any]:
    """The record with personal fields replaced by ``***`` unless the principal may view personal data."""
    if principal.can_view_personal_data:
        return record
    return {k: (MASK if k in fields and v is not None else v) for k, v in record.items()}
