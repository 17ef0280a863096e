"""Login, logout, the current user, and API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from crmscore.app import auth as authn
from crmscore.app.api._params import IdPath
from crmscore.app.deps import db, get_principal, state
from crmscore.app.permissions import ROLE_ACTIONS, Principal, allowed
from crmscore.app.state import AppState
from crmscore.app.users import get_user, user_dict

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1000)


class TokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")


def _me(session: Session, principal: Principal) -> dict[str, Any]:
    user = user_dict(get_user(session, principal.user_id))
    user["permissions"] = sorted(a for a in ROLE_ACTIONS[principal.role] if allowed(principal, a))
    return user


@router.post("/login", summary="Log in with username and password (opens a browser session)")
def login(body: LoginBody, request: Request, response: Response, session: Session = Depends(db),
          app_state: AppState = Depends(state)) -> dict[str, Any]:
    user, raw, csrf = authn.login(session, app_state.settings, app_state.limiter, body.username, body.password,
                                  authn.client_address(request))
    authn.set_session_cookies(response, request, raw, csrf, app_state.settings.session_hours * 3600)
    return {"user": _me(session, Principal.from_user(user)), "csrf_token": csrf}


@router.post("/logout", summary="Close the browser session")
def logout(request: Request, response: Response, session: Session = Depends(db),
           principal: Principal = Depends(get_principal)) -> dict[str, Any]:
    authn.logout(session, request, response, principal)
    return {"status": "logged_out"}


@router.get("/me", summary="The current user and their permissions")
def me(session: Session = Depends(db), principal: Principal = Depends(get_principal)) -> dict[str, Any]:
    return _me(session, principal)


@router.get("/tokens", summary="Your API tokens")
def tokens(session: Session = Depends(db), principal: Principal = Depends(get_principal)) -> list[dict[str, Any]]:
    return authn.list_tokens(session, principal)


@router.post("/tokens", status_code=201, summary="Create an API token (the token is shown once)")
def create_token(body: TokenBody, request: Request, session: Session = Depends(db),
                 principal: Principal = Depends(get_principal)) -> dict[str, Any]:
    row, raw = authn.create_token(session, principal, body.name, authn.client_address(request))
    return {"id": row.id, "name": row.name, "token": raw, "created_at": row.created_at}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke_token(token_id: IdPath, request: Request, session: Session = Depends(db),
                 principal: Principal = Depends(get_principal)) -> dict[str, Any]:
    return authn.revoke_token(session, principal, token_id, authn.client_address(request))
