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
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, status

from ouie.console.config import ConsoleConfig
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
    SET_PROFILES = "set_profiles"
    """Set, change or remove the scheduled class profiles (each change audited)."""
    SAVE_IMAGE = "save_image"
    """Save a video camera's current view, people blurred, on a video incident (audited)."""
    SAVE_UNBLURRED_IMAGE = "save_unblurred_image"
    """Save that view unblurred, with a reason, and see unblurred saved images (each audited
    apart). A supervisor only: an unblurred image can identify a person, so it takes the
    role that answers for the room's decisions and already reads the audit trail that records
    it; an operator acting alone cannot keep one, auditors and admins never act on incidents."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {Permission.VIEW, Permission.TRIAGE, Permission.APPROVE_CUE, Permission.SAVE_IMAGE}
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.VIEW,
            Permission.TRIAGE,
            Permission.APPROVE_CUE,
            Permission.READ_AUDIT,
            Permission.OBSERVE,
            Permission.SET_PROFILES,
            Permission.SAVE_IMAGE,
            Permission.SAVE_UNBLURRED_IMAGE,
        }
    ),
    Role.AUDITOR: frozenset({Permission.VIEW, Permission.READ_AUDIT, Permission.OBSERVE}),
    Role.ADMIN: frozenset({Permission.VIEW, Permission.READ_AUDIT, Permission.OBSERVE}),
}
"""The permission table. Operators never read the audit trail; auditors never act on incidents;
only supervisors set class profiles."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string with its own salt and parameters) of `password`."""
    if not password:
        raise ValueError("an empty password is not allowed")
    return _hasher().hash(password)


PASSWORD_MIN_LENGTH = 12
PASSWORD_MIN_SCORE = 3
"""zxcvbn score (0-4) a new password needs: 3 is 'safely unguessable: moderate protection from
offline slow-hash scenario' (≥ 10^8 guesses), which argon2 makes slower still."""


class WeakPasswordError(ValueError):
    """A new password the policy refuses; the message says why (never quoting it)."""


def check_password_policy(password: str, user_name: str) -> None:
    """Refuse a weak new password: under `PASSWORD_MIN_LENGTH` characters, or guessable
    (zxcvbn score under `PASSWORD_MIN_SCORE`, with the user name as a known word). No
    composition rules (NIST SP 800-63B): length and guessability only."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError(
            f"password: {len(password)} characters; use at least {PASSWORD_MIN_LENGTH}"
        )
    from zxcvbn import zxcvbn

    verdict = zxcvbn(password[:100], user_inputs=[user_name])
    if verdict["score"] < PASSWORD_MIN_SCORE:
        hint = verdict["feedback"]["warning"] or "add more unrelated words"
        raise WeakPasswordError(
            f"password: too easy to guess (strength {verdict['score']}/4, needs "
            f"{PASSWORD_MIN_SCORE}): {hint}"
        )


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


@dataclass(frozen=True)
class Admission:
    """The throttle's answer to one login attempt: `wait_s` 0 when the password may be
    checked; otherwise how long until the next attempt is allowed, which key refused it
    (`per_client` or `per_name`), and whether this is that key's first refusal in its window
    (only that one is worth an audit row)."""

    wait_s: float
    refused_by: str = ""
    first_refusal: bool = False


class LoginThrottle:
    """Atomic login throttling over moving windows (the `limits` library, in memory).

    Two limits, each `window_s` long: `max_per_name` attempts for one (client address, user
    name) pair, and `max_per_client` attempts from one address whatever the names. An attempt
    takes its slot in both *before* the password is checked (`admit`), in one locked step per
    key, so concurrent attempts cannot all pass the check: at most `max_per_name` passwords are
    checked per pair and window, however many requests arrive at once. A success gives the
    pair its slots back (`succeeded`); the address keeps its count, so a user with a valid
    account cannot reset the spraying limit. Keying names by address means a guesser on
    another machine never locks an operator out; spraying one password over many names is
    capped per address. The memory is this process's: several console processes each keep
    their own (see docs/console.md).
    """

    def __init__(self, max_per_name: int, max_per_client: int, window_s: int) -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_name = RateLimitItemPerSecond(max_per_name, window_s, namespace="login-name")
        self._per_client = RateLimitItemPerSecond(
            max_per_client, window_s, namespace="login-client"
        )
        self._refusal_noted = RateLimitItemPerSecond(1, window_s, namespace="login-refused")

    @classmethod
    def of(cls, config: ConsoleConfig) -> LoginThrottle:
        """The throttle `config` describes (`login_*` fields)."""
        return cls(
            config.login_max_failures,
            config.login_max_attempts_per_client,
            config.login_failure_window_s,
        )

    def admit(self, client: str, name: str) -> Admission:
        """Take a slot for an attempt by `client` at `name`, or say why not."""
        checks = (  # the pair first: an attempt it refuses does not use up the address's
            ("per_name", self._per_name, (client, name)),
            ("per_client", self._per_client, (client,)),
        )
        for refused_by, item, keys in checks:
            if not self._limiter.hit(item, *keys):
                reset_s = self._limiter.get_window_stats(item, *keys).reset_time
                first = self._limiter.hit(self._refusal_noted, refused_by, *keys)
                return Admission(max(reset_s - time.time(), 0.0), refused_by, first)
        return Admission(0.0)

    def succeeded(self, client: str, name: str) -> None:
        """`name` logged in from `client`: the pair's attempts are given back."""
        self._limiter.clear(self._per_name, client, name)
