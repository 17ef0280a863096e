"""Users (admins only): list, create, change role/scope/flags, disable. Every change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from crmscore.app import users as svc
from crmscore.app.api._params import IdPath
from crmscore.app.audit import record
from crmscore.app.auth import client_address
from crmscore.app.deps import db, need
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal

router = APIRouter(prefix="/api/users", tags=["users"])

_TEXT = r"^[^\x00-\x1f\x7f]*$"


class NewUser(BaseModel):
    username: str = Field(min_length=2, max_length=80)
    password: str = Field(min_length=1, max_length=1000)
    role: str = Field(description="admin, manager, analyst or rep")
    scope: str = Field(description="self, department, department_tree or company")
    owner_id: str | None = Field(None, max_length=80, pattern=_TEXT)
    department: str | None = Field(None, max_length=200, pattern=_TEXT)
    display_name: str | None = Field(None, max_length=200, pattern=_TEXT)
    can_configure_scoring: bool = False
    can_view_personal_data: bool = False


class UserChange(BaseModel):
    role: str | None = None
    scope: str | None = None
    owner_id: str | None = Field(None, max_length=80, pattern=_TEXT)
    department: str | None = Field(None, max_length=200, pattern=_TEXT)
    display_name: str | None = Field(None, max_length=200, pattern=_TEXT)
    can_configure_scoring: bool | None = None
    can_view_personal_data: bool | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1000)


@router.get("", summary="All users")
def list_users(_p: Principal = Depends(need("manage_users")),
               session: Session = Depends(db)) -> list[dict[str, Any]]:
    return [svc.user_dict(u) for u in svc.list_users(session)]


@router.post("", status_code=201, summary="Create a user")
def create_user(body: NewUser, request: Request, principal: Principal = Depends(need("manage_users")),
                session: Session = Depends(db)) -> dict[str, Any]:
    fields = body.model_dump(exclude={"username", "password"})
    user = svc.create_user(session, body.username, body.password, **fields)
    record(session, "user_create", username=principal.username, target=user.username,
           source=client_address(request), details=fields)
    session.commit()
    return svc.user_dict(user)


@router.get("/{user_id}", summary="One user")
def get_user(user_id: IdPath, _p: Principal = Depends(need("manage_users")),
             session: Session = Depends(db)) -> dict[str, Any]:
    return svc.user_dict(svc.get_user(session, user_id))


@router.patch("/{user_id}", summary="Change a user's role, scope, flags or password, or disable them")
def change_user(user_id: IdPath, body: UserChange, request: Request,
                principal: Principal = Depends(need("manage_users")),
                session: Session = Depends(db)) -> dict[str, Any]:
    user = svc.get_user(session, user_id)
    changes = body.model_dump(exclude_unset=True)
    if user.id == principal.user_id and (changes.get("disabled") or changes.get("role", "admin") != "admin"):
        raise FieldError([("disabled" if changes.get("disabled") else "role",
                           "you cannot disable yourself or remove your own admin role")],
                         "ask another administrator")
    nullable = {"owner_id", "department", "display_name"}
    bad = [k for k, v in changes.items() if v is None and k not in nullable]
    if bad:
        raise FieldError([(k, "must not be null") for k in bad])
    diff = svc.update_user(session, user, changes)
    if diff:
        record(session, "user_change", username=principal.username, target=user.username,
               source=client_address(request), details=diff)
    session.commit()
    return svc.user_dict(user)
