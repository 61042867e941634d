"""Console users in the store: created with an argon2 hash, disabled (never deleted, so that the
audit trail's names keep meaning); both acts are audited."""

from __future__ import annotations

from sqlalchemy import select

from ouie.console.auth import hash_password
from ouie.core.audit import AuditEvent
from ouie.store.models import UserRow
from ouie.store.records import Role
from ouie.store.repository import Store


def create_user(store: Store, name: str, role: Role, password: str, actor: str) -> UserRow:
    """Add a user whose password is stored only as an argon2 hash (`user.create` audited by the
    store). Raises sqlalchemy's IntegrityError when the name is taken."""
    return store.add_user(name, role, hash_password(password), actor=actor)


def disable_user(store: Store, name: str, actor: str) -> bool:
    """Stop a user from logging in; their open sessions end at their next request (the console
    checks the user on every call). False when there is no such active user."""
    with store.session() as session:
        user = session.scalar(select(UserRow).where(UserRow.name == name, UserRow.active.is_(True)))
        if user is None:
            return False
        user.active = False
        store.audit.append(
            AuditEvent(action="user.disable", actor=actor, subject=f"user:{name}"), session
        )
    return True
