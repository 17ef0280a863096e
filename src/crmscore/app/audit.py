"""The audit log: who did what, when, from where. Append-only; readable by admins through the API.

Logged actions: ``login``, ``login_failed``, ``logout``, ``token_create``, ``token_revoke``, ``import``,
``export``, ``score``, ``scorecard_publish``, ``user_create``, ``user_change``.

>>> from crmscore.store.appdb import make_engine, upgrade
>>> from sqlalchemy.orm import Session
>>> engine = make_engine("sqlite://")
>>> upgrade(engine)
>>> with Session(engine) as s:
...     _ = record(s, "export", username="li", target="customers.csv", source="127.0.0.1")
...     s.commit()
...     total, events = list_events(s)
>>> total, events[0]["action"], events[0]["source"]
(1, 'export', '127.0.0.1')
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmscore.store.appdb import AuditEvent, utcnow

__all__ = ["AUDIT_ACTIONS", "event_dict", "list_events", "record"]

AUDIT_ACTIONS: tuple[str, ...] = (
    "export", "import", "login", "login_failed", "logout", "score", "scorecard_publish", "token_create",
    "token_revoke", "user_create", "user_change",
)


def record(session: Session, action: str, *, username: str | None, target: str | None = None,
           source: str | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Add one audit event to ``session`` (the caller commits, together with the change it records)."""
    event = AuditEvent(at=utcnow(), username=username, action=action, target=(target or None) and target[:300],
                       source=(source or None) and source[:100], details=details)
    session.add(event)
    return event


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at, "username": event.username, "action": event.action,
            "target": event.target, "source": event.source, "details": event.details}


def list_events(session: Session, *, action: str | None = None, username: str | None = None,
                limit: int = 100, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(total, events) newest first, optionally filtered by action and username."""
    query = select(AuditEvent)
    count = select(func.count()).select_from(AuditEvent)
    if action:
        query, count = query.where(AuditEvent.action == action), count.where(AuditEvent.action == action)
    if username:
        query, count = query.where(AuditEvent.username == username), count.where(AuditEvent.username == username)
    total = int(session.scalar(count) or 0)
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return total, [event_dict(e) for e in rows]
