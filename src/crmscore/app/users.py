"""User accounts: create, change, disable, list. Shared by the REST API and ``crmscore users``.

>>> from crmscore.store.appdb import make_engine, upgrade
>>> from sqlalchemy.orm import Session
>>> engine = make_engine("sqlite://")
>>> upgrade(engine)
>>> with Session(engine) as s:
...     user = create_user(s, "li", "a long password", role="rep", scope="self", owner_id="r1")
...     s.commit()
...     user_dict(user)["scope"], verify_password(user.password_hash, "a long password")
('self', True)
"""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmscore.app.errors import FieldError
from crmscore.app.permissions import ROLES, SCOPES
from crmscore.errors import CrmscoreError, NotFound
from crmscore.store.appdb import User, utcnow

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "create_user",
    "find_user",
    "get_user",
    "hash_password",
    "list_users",
    "update_user",
    "user_dict",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def user_dict(user: User) -> dict[str, Any]:
    """The public view of a user (never the password hash)."""
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "scope": user.scope, "owner_id": user.owner_id, "department": user.department,
            "can_configure_scoring": bool(user.can_configure_scoring),
            "can_view_personal_data": bool(user.can_view_personal_data), "disabled": bool(user.disabled),
            "locked_until": user.locked_until, "created_at": user.created_at}


def _check(role: str, scope: str, owner_id: str | None, department: str | None,
           password: str | None) -> list[tuple[str, str]]:
    errors = []
    if role not in ROLES:
        errors.append(("role", f"must be one of {', '.join(ROLES)}"))
    if scope not in SCOPES:
        errors.append(("scope", f"must be one of {', '.join(SCOPES)}"))
    if scope == "self" and not owner_id:
        errors.append(("owner_id", "scope 'self' needs the owner id of the rep this user is"))
    if scope in ("department", "department_tree") and not department:
        errors.append(("department", f"scope {scope!r} needs a department path such as 'Sales/East'"))
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        errors.append(("password", f"must have at least {MIN_PASSWORD_LENGTH} characters"))
    return errors


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", "list users with GET /api/users")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)).all())


def create_user(session: Session, username: str, password: str, *, role: str, scope: str,
                owner_id: str | None = None, department: str | None = None, display_name: str | None = None,
                can_configure_scoring: bool = False, can_view_personal_data: bool = False) -> User:
    """Add a user (the caller commits). Every invalid field is reported at once."""
    errors = _check(role, scope, owner_id, department, password)
    if not _USERNAME.match(username or ""):
        errors.insert(0, ("username", "2-80 characters: letters, digits, _ . @ -"))
    if errors:
        raise FieldError(errors)
    if find_user(session, username) is not None:
        raise CrmscoreError(f"user {username!r} already exists", "choose another username or change that user")
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                role=role, scope=scope, owner_id=owner_id or None, department=department or None,
                can_configure_scoring=can_configure_scoring, can_view_personal_data=can_view_personal_data,
                disabled=False, failed_logins=0, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


_CHANGEABLE = ("display_name", "role", "scope", "owner_id", "department", "can_configure_scoring",
               "can_view_personal_data", "disabled")


def update_user(session: Session, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``changes`` (fields of :data:`_CHANGEABLE` and ``password``); returns what changed (old, new).

    Re-enabling a user or setting a password also clears a login lockout.
    """
    unknown = sorted(set(changes) - {*_CHANGEABLE, "password"})
    if unknown:
        raise FieldError([(k, "cannot be changed") for k in unknown])
    merged = {k: changes.get(k, getattr(user, k)) for k in ("role", "scope", "owner_id", "department")}
    errors = _check(merged["role"], merged["scope"], merged["owner_id"], merged["department"],
                    changes.get("password"))
    if errors:
        raise FieldError(errors)
    diff: dict[str, Any] = {}
    for key in _CHANGEABLE:
        if key in changes and changes[key] != getattr(user, key):
            diff[key] = {"old": getattr(user, key), "new": changes[key]}
            setattr(user, key, changes[key])
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        diff["password"] = "changed"
    if "password" in changes or diff.get("disabled", {}).get("new") is False:
        user.failed_logins, user.locked_until = 0, None
    session.flush()
    return diff
