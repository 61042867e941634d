"""Server-side console sessions: the cookie holds a random token, the store its SHA-256, the
user and the expiry. A session is live while its row exists and has not expired, so ending it
is deleting the row: at logout (`end`), and for every session of a user whose password changes
or who is disabled (`end_all`, in the same transaction as that change)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ouie.core.timebase import NS_PER_S
from ouie.store.models import ConsoleSessionRow
from ouie.store.repository import Store


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ConsoleSessions:
    """Open, check and end console sessions in `store` (times from `store.clock`)."""

    def __init__(self, store: Store, max_age_s: float) -> None:
        self.store, self.max_age_s = store, max_age_s

    def open(self, user_name: str) -> str:
        """A new session for `user_name`; returns its token (256 random bits). Expired rows
        are purged on the way."""
        token = secrets.token_urlsafe(32)
        now_ns = self.store.clock()
        with self.store.session() as session:
            session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at_ns <= now_ns)
            )
            session.add(
                ConsoleSessionRow(
                    token_sha256=_digest(token),
                    user_name=user_name,
                    created_at_ns=now_ns,
                    expires_at_ns=now_ns + round(self.max_age_s * NS_PER_S),
                )
            )
        return token

    def user_of(self, token: str) -> str | None:
        """The user of a live session, None when it was ended, has expired or never was."""
        with self.store.session() as session:
            row = session.scalar(
                select(ConsoleSessionRow).where(ConsoleSessionRow.token_sha256 == _digest(token))
            )
        if row is None or row.expires_at_ns <= self.store.clock():
            return None
        return row.user_name

    def end(self, token: str) -> None:
        """End one session (logout)."""
        with self.store.session() as session:
            session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.token_sha256 == _digest(token))
            )


def end_all(session: Session, user_name: str) -> int:
    """End every session of `user_name` within the open transaction `session`; how many."""
    result = session.execute(
        delete(ConsoleSessionRow).where(ConsoleSessionRow.user_name == user_name)
    )
    return int(getattr(result, "rowcount", 0) or 0)
