"""The hash-chained audit trail (docs/design.md principle 5), keyed with HMAC when a key is set.

Each entry stores the hash of the previous one and

    hash_k = HMAC-SHA-256(key, canonical_json({seq, at_ns, action, actor, subject, details})
                               ‖ prev_hash_k)                         (keyed entry)
    hash_k = SHA-256(canonical_json(...) ‖ prev_hash_k)              (unkeyed entry)

with prev_hash_1 = 64 zeros. Canonical JSON is sorted keys, no spaces, UTF-8. Each entry also
records `key_id`, a fingerprint of its key (None: unkeyed). Changing any field of a row breaks
its own hash; deleting or inserting a row breaks the next row's `prev_hash` (and the `seq` run).
Without the key nobody can write a keyed row, so rewriting the whole chain consistently needs
the key. Truncating the tail is only visible against a head published earlier
(`AuditChain.head`, `verify_chain(..., expected_head=...)`): hand the head to the oversight body.

Unkeyed rows written before a key was introduced stay as they are (rewriting them would erase
the evidence of any earlier tampering). They are protected from then on, because the first
keyed row's HMAC covers their last hash. After a keyed row, an unkeyed row is a problem
(`unkeyed`), and so is a chain that ends unkeyed when a key is given: both are what a rewrite by
someone without the key looks like. A writer without the key refuses to append to a keyed
chain (`AuditKeyMissing`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import Field, model_validator
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ouie.core.audit import AuditEvent
from ouie.core.config import ConfigError, StrictModel
from ouie.store.models import AuditEntryRow

GENESIS_HASH = "0" * 64
CONTENT_FIELDS = ("seq", "at_ns", "action", "actor", "subject", "details")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(content: Mapping[str, Any], prev_hash: str, key: bytes | None = None) -> str:
    """Hex digest of canonical_json(content restricted to CONTENT_FIELDS) followed by
    prev_hash: HMAC-SHA-256 under `key`, plain SHA-256 without one."""
    text = canonical_json({name: content[name] for name in CONTENT_FIELDS}) + prev_hash
    if key is None:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


MIN_KEY_CHARS = 32
"""Shortest accepted key text (`openssl rand -hex 32` gives 64 characters)."""


@dataclass(frozen=True)
class AuditKey:
    """The secret that keys the chain; `id` is a public fingerprint stored with each row."""

    secret: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str, source: str) -> AuditKey:
        """A key from the text of a secret (surrounding whitespace ignored); ConfigError naming
        `source` (never the text) when it is too short to be a random secret."""
        text = text.strip()
        if len(text) < MIN_KEY_CHARS:
            raise ConfigError(
                f"{source}: the audit key has {len(text)} characters; use at least "
                f"{MIN_KEY_CHARS} random ones (e.g. `openssl rand -hex 32`)"
            )
        return cls(text.encode("utf-8"))

    @property
    def id(self) -> str:
        """First 16 hex digits of SHA-256("ouie.audit.key-id:" ‖ secret): names the key."""
        return hashlib.sha256(b"ouie.audit.key-id:" + self.secret).hexdigest()[:16]


class AuditKeyConfig(StrictModel):
    """Where the audit key comes from: a secret file or an environment variable, never the
    configuration itself. Neither set (or the variable empty): the chain is not keyed."""

    key_env: str | None = Field(
        default="OUIE_AUDIT_KEY", description="Environment variable holding the audit key."
    )
    key_file: Path | None = Field(
        default=None, description="Or a file holding it (a container secret); wins over key_env."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_yaml(cls, data: Any) -> Any:
        if isinstance(data, dict):
            present = [k for k in ("key", "secret", "hmac_key") if k in data]
            if present:
                raise ValueError(
                    f"the audit key never goes in the configuration ({', '.join(present)} found):"
                    " name an environment variable with key_env or a secret file with key_file"
                )
        return data

    def key(self) -> AuditKey | None:
        """The key from `key_file`, else from `key_env` when set; None when neither gives one."""
        if self.key_file is not None:
            try:
                text = self.key_file.read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError(
                    f"audit.key_file {self.key_file}: cannot read it ({error.strerror})"
                ) from None
            return AuditKey.from_text(text, f"audit.key_file {self.key_file}")
        from_env = os.environ.get(self.key_env) if self.key_env is not None else None
        if not from_env:
            return None
        return AuditKey.from_text(from_env, f"environment variable {self.key_env}")


class AuditKeyMissing(ConfigError):
    """Appending to a keyed chain without its key (which would write an unkeyed row): the
    program's configuration lacks the key."""


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with the chain, located at `seq` (the row where it shows)."""

    seq: int
    kind: str  # edited, prev_mismatch, seq_gap, head_mismatch, unkeyed, key_unknown
    message: str


def verify_chain(
    entries: Iterable[Mapping[str, Any]],
    expected_head: str | None = None,
    keys: Iterable[AuditKey] = (),
) -> list[ChainProblem]:
    """Check a chain given in `seq` order with the audit `keys` (current and earlier ones);
    an empty list means intact.

    - `edited`: a row's stored hash differs from the hash of its content (the row was changed);
    - `prev_mismatch`: a row's prev_hash is not the previous row's hash (a row was deleted or
      inserted just before it);
    - `seq_gap`: the sequence does not go up by one (rows missing or renumbered);
    - `head_mismatch`: the last hash is not `expected_head` (tail cut or chain replaced);
    - `unkeyed`: an unkeyed row after a keyed one, or, when keys are given, a chain that ends
      unkeyed (rewritten without the key);
    - `key_unknown`: rows keyed with a key that was not given (named once, at its first row):
      their content cannot be checked.
    """
    secrets = {key.id: key.secret for key in keys}
    problems: list[ChainProblem] = []
    prev_hash, prev_seq = GENESIS_HASH, 0
    keyed_since: int | None = None
    unknown_keys: set[str] = set()
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
        key_id = entry.get("key_id")
        if key_id is None and keyed_since is not None:
            problems.append(
                ChainProblem(
                    seq,
                    "unkeyed",
                    f"row {seq}: not keyed, but the chain is keyed since row {keyed_since}: "
                    "written or rewritten without the key",
                )
            )
        if key_id is not None and keyed_since is None:
            keyed_since = seq
        if key_id is not None and key_id not in secrets:
            if key_id not in unknown_keys:
                unknown_keys.add(key_id)
                problems.append(
                    ChainProblem(
                        seq,
                        "key_unknown",
                        f"row {seq} and later rows are keyed with key {key_id}, which was not "
                        "given: their content cannot be checked",
                    )
                )
        elif entry_hash(entry, entry["prev_hash"], secrets.get(key_id or "")) != entry["hash"]:
            problems.append(
                ChainProblem(
                    seq, "edited", f"row {seq}: content does not match its hash: the row was edited"
                )
            )
        prev_hash, prev_seq = entry["hash"], seq
    if secrets and prev_seq and keyed_since is None:
        problems.append(
            ChainProblem(
                prev_seq,
                "unkeyed",
                f"last row {prev_seq}: a key was given but no row is keyed: the chain was "
                "rewritten without the key, or written by a service that lacks it",
            )
        )
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


def entry_dict(entry: AuditEntryRow) -> dict[str, Any]:
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
        "key_id": entry.key_id,
    }


def _head_in(session: Session) -> tuple[int, str, str | None]:
    """(seq, hash, key_id) of the last entry seen by `session`; (0, GENESIS_HASH, None) when
    empty."""
    last = session.execute(
        select(AuditEntryRow.seq, AuditEntryRow.hash, AuditEntryRow.key_id)
        .order_by(AuditEntryRow.seq.desc())
        .limit(1)
    ).first()
    return (last[0], last[1], last[2]) if last else (0, GENESIS_HASH, None)


class AuditChain:
    """Appends `AuditEvent`s to the chain in the database and verifies or exports it.

    An instance is an `AuditSink` (callable). Appends from several threads or processes are safe:
    the next `seq` is the primary key, so a concurrent append fails on insert and is retried.
    With `key`, new entries are keyed (HMAC) and `verify` checks with it. With `clock` (UTC ns),
    entries are stamped by it when written instead of with the event's own `at_ns`, so that the
    whole chain follows the service's time (the demo's replayed evening).
    """

    def __init__(
        self, engine: Engine, key: AuditKey | None = None, clock: Callable[[], int] | None = None
    ) -> None:
        self._engine = engine
        self.key = key
        self.clock = clock

    def __call__(self, event: AuditEvent) -> None:
        self.append(event)

    def append(self, event: AuditEvent, session: Session | None = None) -> AuditEntryRow:
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

    def _append_in(self, session: Session, event: AuditEvent) -> AuditEntryRow:
        last_seq, prev_hash, last_key_id = _head_in(session)
        if self.key is None and last_key_id is not None:
            raise AuditKeyMissing(
                f"the audit chain is keyed (key {last_key_id}) and this program has no key: set "
                "OUIE_AUDIT_KEY, or audit.key_file in city.yaml (docs/central.md)"
            )
        seq = last_seq + 1
        content = {"seq": seq, **event.model_dump(mode="json")}
        if self.clock is not None:
            content["at_ns"] = self.clock()
        content["details"] = json.loads(canonical_json(content["details"]))
        secret = self.key.secret if self.key is not None else None
        entry = AuditEntryRow(
            **content,
            prev_hash=prev_hash,
            hash=entry_hash(content, prev_hash, secret),
            key_id=self.key.id if self.key is not None else None,
        )
        session.add(entry)
        session.flush()
        return entry

    def entries(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """All entries in `seq` order, as plain mappings (streamed)."""
        with Session(self._engine) as session:
            rows = session.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq))
            for entry in rows.yield_per(batch).scalars():
                yield entry_dict(entry)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, (0, GENESIS_HASH) when empty: publish it to anchor."""
        with Session(self._engine) as session:
            seq, hash_, _key_id = _head_in(session)
            return seq, hash_

    def last(self, actions: Iterable[str], subject: str) -> dict[str, Any] | None:
        """The latest entry with one of `actions` about `subject`, or None."""
        with Session(self._engine) as session:
            entry = session.scalar(
                select(AuditEntryRow)
                .where(AuditEntryRow.action.in_(list(actions)), AuditEntryRow.subject == subject)
                .order_by(AuditEntryRow.seq.desc())
                .limit(1)
            )
            return entry_dict(entry) if entry is not None else None

    def count(self) -> int:
        """Number of entries."""
        with Session(self._engine) as session:
            return int(session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)

    def verify(
        self, expected_head: str | None = None, earlier_keys: Iterable[AuditKey] = ()
    ) -> list[ChainProblem]:
        """`verify_chain` over the whole stored chain, with this chain's key and any
        `earlier_keys` (keys used before a rotation)."""
        keys = [*earlier_keys, *([self.key] if self.key is not None else [])]
        return verify_chain(self.entries(), expected_head, keys)

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
