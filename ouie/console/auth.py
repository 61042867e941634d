"""Who may do what in the console: roles, argon2 passwords, signed sessions and CSRF tokens.

A session is a signed, HttpOnly, SameSite=strict cookie (Starlette's SessionMiddleware, signed
with itsdangerous) holding the user name, role, a random CSRF token and the token of a
server-side session (`ouie.store.sessions`): the console honours the cookie only while that
session lives, so logout, a password change or disabling the user ends it for every copy of
the cookie. Every API route depends
on `requires(permission)`, which refuses a visitor without a session (401) or whose role lacks
the permission (403) and, for a state-changing method, a request whose `X-CSRF-Token` header is
not the session's token (403). Login itself is CSRF-checked against the anonymous session's token
(`GET /api/session` hands it out), so that another site cannot log a browser in.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, status

from ouie.store.records import Role

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Permission(StrEnum):
    """Something a role may do."""

    VIEW = "view"
    """See the map, the incident list and incident pages (each view is audited)."""
    TRIAGE = "triage"
    """Confirm, dismiss or escalate an incident."""
    APPROVE_CUE = "approve_cue"
    """Approve a proposed camera move (cue mode `suggest`)."""
    READ_AUDIT = "read_audit"
    """Read the audit trail."""
    OBSERVE = "observe"
    """Read the observatory's figures and download the transparency report."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.TRIAGE, Permission.APPROVE_CUE}),
    Role.SUPERVISOR: frozenset(
        {
            Permission.VIEW,
            Permission.TRIAGE,
            Permission.APPROVE_CUE,
            Permission.READ_AUDIT,
            Permission.OBSERVE,
        }
    ),
    Role.AUDITOR: frozenset({Permission.VIEW, Permission.READ_AUDIT, Permission.OBSERVE}),
    Role.ADMIN: frozenset({Permission.VIEW, Permission.READ_AUDIT, Permission.OBSERVE}),
}
"""The permission table. Operators never read the audit trail; auditors never act on incidents."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string with its own salt and parameters) of `password`."""
    if not password:
        raise ValueError("an empty password is not allowed")
    return _hasher().hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`. With no hash (unknown user) a dummy hash is
    still verified, so that the answer takes as long and does not reveal which names exist."""
    try:
        matched = _hasher().verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


@dataclass(frozen=True)
class SessionUser:
    """The logged-in user of a request."""

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        """Whether this user's role grants `permission`."""
        return permission in ROLE_PERMISSIONS[self.role]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request) -> None:
    """Refuse (403) a request whose `X-CSRF-Token` header is not the session's token."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")


def start_session(request: Request, name: str, role: Role, token: str) -> None:
    """Log `name` in: a fresh session with a fresh CSRF token (no fixation across logins),
    bound to the server-side session `token` (`ouie.store.sessions.ConsoleSessions.open`)."""
    request.session.clear()
    request.session.update({"user": name, "role": role.value, "sid": token})
    csrf_token(request)


def session_token(request: Request) -> str | None:
    """The server-side session token the cookie carries, if any."""
    token = request.session.get("sid")
    return token if isinstance(token, str) else None


def session_user(request: Request) -> SessionUser | None:
    """The request's user, or None when not logged in."""
    name, role = request.session.get("user"), request.session.get("role")
    if not isinstance(name, str) or role not in set(Role):
        return None
    return SessionUser(name=name, role=Role(str(role)))


def requires(permission: Permission) -> Callable[[Request], SessionUser]:
    """A FastAPI dependency: the logged-in user if their role grants `permission` (and, for a
    state-changing method, the CSRF token matches); otherwise 401 or 403."""

    def dependency(request: Request) -> SessionUser:
        user = session_user(request)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
        if not user.may(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role} may not {permission.value}"
            )
        if request.method not in SAFE_METHODS:
            check_csrf(request)
        return user

    return dependency


class LoginThrottle:
    """Refuses logins for a user name after `max_failures` failed attempts within `window_s`,
    until the oldest of them leaves the window (against password guessing; in memory)."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 300.0,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self._clock_s = max_failures, window_s, clock_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, name: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(name, deque())
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        return failures

    def wait_s(self, name: str) -> float:
        """0 when `name` may try; else the seconds until the next try is allowed."""
        with self._lock:
            now = self._clock_s()
            failures = self._recent(name, now)
            if len(failures) < self.max_failures:
                return 0.0
            return self.window_s - (now - failures[0])

    def failed(self, name: str) -> None:
        """Count a failed attempt."""
        with self._lock:
            now = self._clock_s()
            self._recent(name, now).append(now)

    def succeeded(self, name: str) -> None:
        """Forget the failures of a user who logged in."""
        with self._lock:
            self._failures.pop(name, None)
