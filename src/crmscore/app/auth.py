"""Authentication: password logins with browser sessions, CSRF protection, login lockout, API tokens.

- **Sessions**: a random cookie value (``crmscore_session``; HttpOnly, SameSite=Lax, Secure over https) whose
  SHA-256 is the row id in the ``sessions`` table; it expires after ``session_hours``.
- **CSRF**: each session has a token, returned by the login call and readable from the ``crmscore_csrf``
  cookie; every unsafe request (POST, PUT, PATCH, DELETE) authenticated by the session cookie must repeat it in
  the ``X-CSRF-Token`` header.
- **Lockout**: ``login_max_attempts`` wrong passwords lock the account for ``login_lockout_seconds``; a client
  address that fails on many accounts is slowed down the same way.
- **API tokens**: ``Authorization: Bearer crm_...``; only the SHA-256 is stored; revocable; no CSRF needed.

>>> digest("abc")[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmscore.app.audit import record
from crmscore.app.permissions import Principal
from crmscore.app.users import find_user, hash_password, verify_password
from crmscore.errors import AuthenticationFailed, CrmscoreError, NotFound, PermissionDenied
from crmscore.settings import Settings
from crmscore.store.appdb import ApiToken, BrowserSession, User, utcnow

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "TOKEN_PREFIX",
    "CsrfFailed",
    "LoginLimiter",
    "TooManyAttempts",
    "authenticate",
    "client_address",
    "create_token",
    "digest",
    "list_tokens",
    "login",
    "logout",
    "revoke_token",
    "set_session_cookies",
]

SESSION_COOKIE = "crmscore_session"
CSRF_COOKIE = "crmscore_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "crm_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DUMMY_HASH = hash_password("not a real password, used to spend the same time on unknown users")


class TooManyAttempts(CrmscoreError):
    status_code = 429
    code = "too_many_attempts"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


def digest(raw: str) -> str:
    """SHA-256 hex digest: what the database stores for session cookies and API tokens."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class LoginLimiter:
    """Failed logins per client address in a sliding window (in memory, per server process)."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures, self.window = max_failures, window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, address: str, now: float) -> deque[float]:
        q = self._failures[address]
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            q = self._prune(address, now)
            if len(q) < self.max_failures:
                return 0
            return max(1, int(q[0] + self.window - now))

    def failed(self, address: str) -> None:
        with self._lock:
            self._failures[address].append(time.monotonic())

    def reset(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def login(session: Session, settings: Settings, limiter: LoginLimiter, username: str, password: str,
          source: str) -> tuple[User, str, str]:
    """Check the password and open a session: (user, raw session cookie value, CSRF token).

    Every attempt is audited. Wrong passwords count towards the account lockout and the address limit.
    """
    wait = limiter.retry_after(source)
    if wait:
        record(session, "login_failed", username=username[:80], source=source, details={"reason": "rate_limited"})
        session.commit()
        raise TooManyAttempts("too many failed logins from this address", f"try again in {wait} seconds")
    user = find_user(session, username)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        record(session, "login_failed", username=user.username, source=source, details={"reason": "locked"})
        session.commit()
        seconds = max(1, int((user.locked_until - now).total_seconds()))
        raise TooManyAttempts("this account is locked after too many failed logins",
                              f"try again in {seconds} seconds or ask an administrator to reset the password")
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    if not ok or user is None or user.disabled:
        limiter.failed(source)
        reason = "unknown_user" if user is None else "disabled" if user.disabled and ok else "bad_password"
        if user is not None and not ok:
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= settings.login_max_attempts:
                user.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
                user.failed_logins = 0
                reason = "bad_password_locked"
        record(session, "login_failed", username=username[:80], source=source, details={"reason": reason})
        session.commit()
        raise AuthenticationFailed("invalid username or password", "check both and try again")
    user.failed_logins, user.locked_until = 0, None
    raw, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(BrowserSession(id=digest(raw), user_id=user.id, csrf_token=csrf, created_at=now,
                               expires_at=now + timedelta(hours=settings.session_hours)))
    session.execute(delete(BrowserSession).where(BrowserSession.expires_at < now))
    record(session, "login", username=user.username, source=source)
    session.commit()
    return user, raw, csrf


def set_session_cookies(response: Response, request: Request, raw: str, csrf: str, max_age: int) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, raw, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure,
                        path="/")


def logout(session: Session, request: Request, response: Response, principal: Principal) -> None:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        session.execute(delete(BrowserSession).where(BrowserSession.id == digest(raw)))
    record(session, "logout", username=principal.username, source=client_address(request))
    session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("malformed Authorization header", "send 'Authorization: Bearer <token>'")
    return value.strip()


def authenticate(session: Session, request: Request) -> Principal:
    """The principal of ``request`` from its bearer token or session cookie (CSRF checked for cookies)."""
    token = _bearer(request)
    now = utcnow()
    if token is not None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
        if row is None or row.revoked_at is not None:
            raise AuthenticationFailed("invalid or revoked API token", "create a new token")
        user = session.get(User, row.user_id)
        if user is None or user.disabled:
            raise AuthenticationFailed("this account is disabled", "ask an administrator")
        return Principal.from_user(user, via="token")
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise AuthenticationFailed("not logged in", "log in with POST /api/auth/login or send a bearer token")
    browser = session.get(BrowserSession, digest(raw))
    if browser is None:
        raise AuthenticationFailed("not logged in (unknown session)", "log in again")
    if browser.expires_at <= now:
        session.delete(browser)
        session.commit()
        raise AuthenticationFailed("your session has expired", "log in again")
    user = session.get(User, browser.user_id)
    if user is None or user.disabled:
        raise AuthenticationFailed("this account is disabled", "ask an administrator")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, browser.csrf_token):
            raise CsrfFailed("missing or wrong CSRF token",
                             f"send the token from the login response in the {CSRF_HEADER} header")
    return Principal.from_user(user, via="session")


def create_token(session: Session, principal: Principal, name: str, source: str) -> tuple[ApiToken, str]:
    """A new API token for the principal: (row, raw token shown once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=principal.user_id, name=name, token_hash=digest(raw), created_at=utcnow())
    session.add(row)
    session.flush()
    record(session, "token_create", username=principal.username, target=f"token {row.id} {name}", source=source)
    session.commit()
    return row, raw


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "user_id": row.user_id, "created_at": row.created_at,
            "revoked_at": row.revoked_at}


def list_tokens(session: Session, principal: Principal) -> list[dict[str, Any]]:
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == principal.user_id)
                           .order_by(ApiToken.id)).all()
    return [token_dict(r) for r in rows]


def revoke_token(session: Session, principal: Principal, token_id: int, source: str) -> dict[str, Any]:
    """Revoke one of the principal's tokens (admins: anyone's). Others' tokens are 'not found'."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != principal.user_id and not principal.is_admin):
        raise NotFound(f"no token {token_id}", "list your tokens with GET /api/auth/tokens")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, "token_revoke", username=principal.username, target=f"token {row.id} {row.name}",
               source=source)
        session.commit()
    return token_dict(row)
