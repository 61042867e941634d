"""Console users in the store: created with an argon2 hash, given a new password, disabled (never
deleted, so that the audit trail's names keep meaning); each act is audited, and a new password
or disabling ends every console session of the user in the same transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ouie.console.auth import check_password_policy, hash_password
from ouie.core.audit import AuditEvent
from ouie.store.models import UserRow
from ouie.store.records import Role
from ouie.store.repository import Store
from ouie.store.sessions import end_all


def create_user(store: Store, name: str, role: Role, password: str, actor: str) -> UserRow:
    """Add a user whose password is stored only as an argon2 hash (`user.create` audited by the
    store). Raises `WeakPasswordError` for a password the policy refuses, sqlalchemy's
    IntegrityError when the name is taken."""
    check_password_policy(password, name)
    return store.add_user(name, role, hash_password(password), actor=actor)


def _end_sessions(store: Store, session: Session, name: str, action: str, actor: str) -> None:
    """End every console session of `name` and audit `action` with how many ended, in the
    transaction that changed the account."""
    ended = end_all(session, name)
    store.audit.append(
        AuditEvent(
            action=action, actor=actor, subject=f"user:{name}", details={"sessions_ended": ended}
        ),
        session,
    )


def disable_user(store: Store, name: str, actor: str) -> bool:
    """Stop a user from logging in and end their console sessions. False when there is no such
    active user."""
    with store.session() as session:
        user = session.scalar(select(UserRow).where(UserRow.name == name, UserRow.active.is_(True)))
        if user is None:
            return False
        user.active = False
        _end_sessions(store, session, name, "user.disable", actor)
    return True


def set_password(store: Store, name: str, password: str, actor: str) -> bool:
    """Give `name` a new password (argon2) and end every console session of theirs
    (`user.password` audited, without the password). False when there is no such user;
    `WeakPasswordError` for a password the policy refuses."""
    check_password_policy(password, name)
    password_hash = hash_password(password)
    with store.session() as session:
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        if user is None:
            return False
        user.password_hash = password_hash
        _end_sessions(store, session, name, "user.password", actor)
    return True
