"""The hash-chained audit trail (DESIGN.md principle 5).

Each entry stores the hash of the previous one and

    hash_k = sha256( canonical_json({seq, at_ns, action, actor, subject, details}) ‖ prev_hash_k )

with prev_hash_1 = 64 zeros. Canonical JSON is sorted keys, no spaces, UTF-8. Changing any field
of a row breaks its own hash; deleting or inserting a row breaks the next row's `prev_hash` (and
the `seq` run). Truncating the tail is only visible against a head published earlier
(`AuditChain.head`, `verify_chain(..., expected_head=...)`): hand the head to the oversight body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ouie.core.audit import AuditEvent
from ouie.store.models import AuditEntry

GENESIS_HASH = "0" * 64
CONTENT_FIELDS = ("seq", "at_ns", "action", "actor", "subject", "details")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(content: Mapping[str, Any], prev_hash: str) -> str:
    """sha256 hex of canonical_json(content restricted to CONTENT_FIELDS) followed by prev_hash."""
    text = canonical_json({name: content[name] for name in CONTENT_FIELDS}) + prev_hash
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with the chain, located at `seq` (the row where it shows)."""

    seq: int
    kind: str  # "edited", "prev_mismatch", "seq_gap", "head_mismatch"
    message: str


def verify_chain(
    entries: Iterable[Mapping[str, Any]], expected_head: str | None = None
) -> list[ChainProblem]:
    """Check a chain given in `seq` order; an empty list means intact.

    - `edited`: a row's stored hash differs from the hash of its content (the row was changed);
    - `prev_mismatch`: a row's prev_hash is not the previous row's hash (a row was deleted or
      inserted just before it);
    - `seq_gap`: the sequence does not go up by one (rows missing or renumbered);
    - `head_mismatch`: the last hash is not `expected_head` (tail cut or chain replaced).
    """
    problems: list[ChainProblem] = []
    prev_hash, prev_seq = GENESIS_HASH, 0
    for entry in entries:
        seq = int(entry["seq"])
        if seq != prev_seq + 1:
            problems.append(
                ChainProblem(
                    seq,
                    "seq_gap",
                    f"row {seq}: follows row {prev_seq} (expected "
                    f"{prev_seq + 1}): rows missing or renumbered",
                )
            )
        if entry["prev_hash"] != prev_hash:
            problems.append(
                ChainProblem(
                    seq,
                    "prev_mismatch",
                    f"row {seq}: prev_hash does not match the hash "
                    f"of row {prev_seq}: a row was deleted or inserted before it",
                )
            )
        if entry_hash(entry, entry["prev_hash"]) != entry["hash"]:
            problems.append(
                ChainProblem(
                    seq, "edited", f"row {seq}: content does not match its hash: the row was edited"
                )
            )
        prev_hash, prev_seq = entry["hash"], seq
    if expected_head is not None and prev_hash != expected_head:
        problems.append(
            ChainProblem(
                prev_seq,
                "head_mismatch",
                f"last row {prev_seq}: hash {prev_hash[:12]}… "
                f"is not the expected head {expected_head[:12]}…: rows cut or replaced",
            )
        )
    return problems


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """A stored entry as the plain mapping that is hashed, exported and verified."""
    return {
        "seq": entry.seq,
        "at_ns": entry.at_ns,
        "action": entry.action,
        "actor": entry.actor,
        "subject": entry.subject,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _head_in(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry seen by `session`, (0, GENESIS_HASH) when empty."""
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else (0, GENESIS_HASH)


class AuditChain:
    """Appends `AuditEvent`s to the chain in the database and verifies or exports it.

    An instance is an `AuditSink` (callable). Appends from several threads or processes are safe:
    the next `seq` is the primary key, so a concurrent append fails on insert and is retried.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, event: AuditEvent) -> None:
        self.append(event)

    def append(self, event: AuditEvent, session: Session | None = None) -> AuditEntry:
        """Append one event; inside `session` (not committed here) when given, else on its own."""
        if session is not None:
            return self._append_in(session, event)
        for _attempt in range(50):
            with Session(self._engine, expire_on_commit=False) as own:
                try:
                    entry = self._append_in(own, event)
                    own.commit()
                    return entry
                except IntegrityError:
                    own.rollback()
        raise RuntimeError("audit append kept colliding with concurrent appends")

    @staticmethod
    def _append_in(session: Session, event: AuditEvent) -> AuditEntry:
        last_seq, prev_hash = _head_in(session)
        seq = last_seq + 1
        content = {"seq": seq, **event.model_dump(mode="json")}
        content["details"] = json.loads(canonical_json(content["details"]))
        entry = AuditEntry(**content, prev_hash=prev_hash, hash=entry_hash(content, prev_hash))
        session.add(entry)
        session.flush()
        return entry

    def entries(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """All entries in `seq` order, as plain mappings (streamed)."""
        with Session(self._engine) as session:
            rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq))
            for entry in rows.yield_per(batch).scalars():
                yield entry_dict(entry)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, (0, GENESIS_HASH) when empty: publish it to anchor."""
        with Session(self._engine) as session:
            return _head_in(session)

    def last(self, actions: Iterable[str], subject: str) -> dict[str, Any] | None:
        """The latest entry with one of `actions` about `subject`, or None."""
        with Session(self._engine) as session:
            entry = session.scalar(
                select(AuditEntry)
                .where(AuditEntry.action.in_(list(actions)), AuditEntry.subject == subject)
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            )
            return entry_dict(entry) if entry is not None else None

    def count(self) -> int:
        """Number of entries."""
        with Session(self._engine) as session:
            return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)

    def verify(self, expected_head: str | None = None) -> list[ChainProblem]:
        """`verify_chain` over the whole stored chain."""
        return verify_chain(self.entries(), expected_head)

    def export_jsonl(self, out: TextIO) -> int:
        """Write the chain as JSON lines (one entry per line, with hashes); returns the count.

        The export verifies on its own with `verify_chain(read_jsonl(...))`.
        """
        count = 0
        for entry in self.entries():
            out.write(canonical_json(entry) + "\n")
            count += 1
        return count


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Entries from an export (blank lines skipped)."""
    for line in lines:
        if line.strip():
            yield json.loads(line)
