"""The hash-chained audit trail: an intact chain verifies; any edited, deleted or inserted row
is detected and named; exports verify on their own; a cut tail shows against a published head."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text

from ouie.core.audit import AuditEvent
from ouie.core.config import ConfigError
from ouie.store.audit import (
    GENESIS_HASH,
    AuditKey,
    AuditKeyConfig,
    AuditKeyMissing,
    entry_hash,
    read_jsonl,
    verify_chain,
)
from ouie.store.repository import Store
from tests.builders import store_url

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False, width=64),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def chain_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store holding 10 audit entries (seq 1…10)."""
    store = Store.open(store_url(request, tmp_path, "audit.db"))
    for k in range(10):
        store.audit(
            AuditEvent(
                action="camera.move",
                actor="system",
                subject=f"camera:c{k % 3}",
                details={"pan_deg": 10.5 * k, "why": "incident", "k": k},
            )
        )
    yield store
    store.close()


def test_intact_chain_verifies(chain_store: Store) -> None:
    assert chain_store.audit.verify() == []
    assert chain_store.audit.head()[0] == 10


def test_edited_row_is_named(chain_store: Store) -> None:
    with chain_store.engine.begin() as db:
        db.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 4"))
    problems = chain_store.audit.verify()
    assert [(p.seq, p.kind) for p in problems] == [(4, "edited")]
    assert "row 4" in problems[0].message


def test_edited_row_with_recomputed_hash_breaks_the_next_link(chain_store: Store) -> None:
    [entry] = [e for e in chain_store.audit.entries() if e["seq"] == 6]
    forged = {**entry, "subject": "camera:elsewhere"}
    with chain_store.engine.begin() as db:
        db.execute(
            text("UPDATE audit_entries SET subject = :s, hash = :h WHERE seq = 6"),
            {"s": forged["subject"], "h": entry_hash(forged, entry["prev_hash"])},
        )
    assert [(p.seq, p.kind) for p in chain_store.audit.verify()] == [(7, "prev_mismatch")]


def test_deleted_row_is_named(chain_store: Store) -> None:
    with chain_store.engine.begin() as db:
        db.execute(text("DELETE FROM audit_entries WHERE seq = 5"))
    kinds = {(p.seq, p.kind) for p in chain_store.audit.verify()}
    assert kinds == {(6, "seq_gap"), (6, "prev_mismatch")}


def test_inserted_row_is_named(chain_store: Store) -> None:
    entries = list(chain_store.audit.entries())
    with chain_store.engine.begin() as db:  # make room after row 3, then slip a row in
        for seq in range(10, 3, -1):
            db.execute(
                text("UPDATE audit_entries SET seq = :n WHERE seq = :o"), {"n": seq + 1, "o": seq}
            )
        fake = {
            "seq": 4,
            "at_ns": entries[3]["at_ns"],
            "action": "camera.home",
            "actor": "system",
            "subject": "camera:c0",
            "details": {},
        }
        db.execute(
            text(
                "INSERT INTO audit_entries (seq, at_ns, action, actor, subject, details, "
                "prev_hash, hash) VALUES (:seq, :at_ns, :action, :actor, :subject, '{}', :p, :h)"
            ),
            {**fake, "p": entries[2]["hash"], "h": entry_hash(fake, entries[2]["hash"])},
        )
    problems = chain_store.audit.verify()
    assert {(p.seq, p.kind) for p in problems} >= {(5, "prev_mismatch"), (5, "edited")}
    assert all(p.seq >= 5 for p in problems)  # the forged row itself links well


def test_export_verifies_and_cut_tail_shows_against_head(chain_store: Store) -> None:
    _seq, head = chain_store.audit.head()
    out = io.StringIO()
    assert chain_store.audit.export_jsonl(out) == 10
    lines = out.getvalue().splitlines()
    assert verify_chain(read_jsonl(lines), expected_head=head) == []
    cut = verify_chain(read_jsonl(lines[:-2]), expected_head=head)
    assert [(p.seq, p.kind) for p in cut] == [(8, "head_mismatch")]


@settings(max_examples=40, deadline=None)
@given(
    details=st.lists(
        st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4),
        min_size=1,
        max_size=5,
    ),
    victim=st.integers(0, 4),
    new_actor=st.text(min_size=1, max_size=10),
)
def test_any_details_chain_and_any_change_is_caught(
    details: list[dict[str, object]], victim: int, new_actor: str
) -> None:
    entries, prev = [], GENESIS_HASH
    for seq, item in enumerate(details, start=1):
        content = {
            "seq": seq,
            "at_ns": seq,
            "action": "config.change",
            "actor": "admin",
            "subject": "city",
            "details": item,
        }
        entry = {**content, "prev_hash": prev, "hash": entry_hash(content, prev)}
        entries.append(entry)
        prev = entry["hash"]
    assert verify_chain(entries) == []
    victim %= len(entries)
    if entries[victim]["actor"] != new_actor:
        entries[victim] = {**entries[victim], "actor": new_actor}
        assert [(p.seq, p.kind) for p in verify_chain(entries)] == [(victim + 1, "edited")]


def test_concurrent_appends_keep_one_unbroken_chain(chain_store: Store) -> None:
    """Threads appending at once (service, console, cameras) never fork or break the chain."""

    def append_many(worker: int) -> None:
        for k in range(25):
            chain_store.audit(
                AuditEvent(action="incident.view", actor=f"user{worker}", subject=f"incident:{k}")
            )

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert chain_store.audit.count() == 110
    assert chain_store.audit.head()[0] == 110
    assert chain_store.audit.verify() == []


KEY = AuditKey.from_text("k" * 40, "test")
OLD_KEY = AuditKey.from_text("o" * 40, "test")


def rewrite_chain(store: Store, key: AuditKey | None, key_id: str | None, edit_seq: int) -> None:
    """What someone with write access to the database does: change row `edit_seq`'s actor and
    recompute every hash from the start, consistently, with `key` (None: plain SHA-256),
    storing `key_id` on every row."""
    prev = GENESIS_HASH
    secret = key.secret if key is not None else None
    with store.engine.begin() as db:
        for entry in list(store.audit.entries()):
            content = {**entry, "actor": "mallory" if entry["seq"] == edit_seq else entry["actor"]}
            digest = entry_hash(content, prev, secret)
            values = {"actor": content["actor"], "p": prev, "h": digest, "k": key_id}
            db.execute(
                text(
                    "UPDATE audit_entries SET actor = :actor, prev_hash = :p, hash = :h, "
                    "key_id = :k WHERE seq = :seq"
                ),
                {**values, "seq": entry["seq"]},
            )
            prev = digest


RELINK_LEGACY_ROW = "UPDATE audit_entries SET actor='mallory', prev_hash=:p, hash=:h WHERE seq=:s"


@pytest.fixture
def keyed_store(tmp_path: Path) -> Iterator[Store]:
    """A keyed chain of 6 entries."""
    store = Store.open(f"sqlite:///{tmp_path / 'keyed.db'}", audit_key=KEY)
    for k in range(6):
        store.audit(AuditEvent(action="incident.view", actor="alice", subject=f"incident:{k}"))
    yield store
    store.close()


def test_keyed_chain_rows_carry_the_key_fingerprint_and_verify(keyed_store: Store) -> None:
    entries = list(keyed_store.audit.entries())
    assert {e["key_id"] for e in entries} == {KEY.id} and len(KEY.id) == 16
    assert KEY.secret not in repr(KEY).encode()
    assert keyed_store.audit.verify() == []
    first = entries[0]
    assert first["hash"] == entry_hash(first, GENESIS_HASH, KEY.secret)
    assert first["hash"] != entry_hash(first, GENESIS_HASH)  # not the plain SHA-256


def test_a_chain_recomputed_without_the_key_is_detected_with_it(keyed_store: Store) -> None:
    rewrite_chain(keyed_store, key=None, key_id=None, edit_seq=3)
    plain = verify_chain(keyed_store.audit.entries())
    assert plain == []  # without the key the forgery is self-consistent: the old weakness
    problems = verify_chain(keyed_store.audit.entries(), keys=[KEY])
    assert [(p.seq, p.kind) for p in problems] == [(6, "unkeyed")]
    assert "no row is keyed" in problems[0].message
    assert [p.kind for p in keyed_store.audit.verify()] == ["unkeyed"]


def test_a_chain_recomputed_keeping_the_fingerprint_fails_every_row(keyed_store: Store) -> None:
    rewrite_chain(keyed_store, key=None, key_id=KEY.id, edit_seq=3)
    problems = keyed_store.audit.verify()
    assert [(p.seq, p.kind) for p in problems] == [(seq, "edited") for seq in range(1, 7)]


def test_a_chain_recomputed_with_another_key_is_detected(keyed_store: Store) -> None:
    forger = AuditKey.from_text("f" * 40, "test")
    rewrite_chain(keyed_store, key=forger, key_id=forger.id, edit_seq=3)
    problems = keyed_store.audit.verify()
    assert [(p.seq, p.kind) for p in problems] == [(1, "key_unknown")]
    assert forger.id in problems[0].message


def test_rows_before_the_key_stay_and_are_anchored_by_the_first_keyed_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    legacy = Store.open(url)
    for k in range(4):
        legacy.audit(AuditEvent(action="incident.view", actor="bob", subject=f"incident:{k}"))
    legacy.close()
    keyed = Store.open(url, audit_key=KEY)
    for k in range(3):
        keyed.audit(AuditEvent(action="incident.view", actor="bob", subject=f"incident:{k}"))
    assert [e["key_id"] for e in keyed.audit.entries()] == [None] * 4 + [KEY.id] * 3
    assert keyed.audit.verify() == []
    with keyed.engine.begin() as db:  # rewrite the 4 unkeyed rows consistently and relink row 5
        prev = GENESIS_HASH
        for entry in list(keyed.audit.entries())[:4]:
            content = {**entry, "actor": "mallory"}
            digest = entry_hash(content, prev)
            db.execute(
                text(RELINK_LEGACY_ROW),
                {"p": prev, "h": digest, "s": entry["seq"]},
            )
            prev = digest
        db.execute(text("UPDATE audit_entries SET prev_hash = :p WHERE seq = 5"), {"p": prev})
    assert [(p.seq, p.kind) for p in keyed.audit.verify()] == [(5, "edited")]
    unkeyed_writer = Store(keyed.engine)  # e.g. a tool started without OUIE_AUDIT_KEY
    with pytest.raises(AuditKeyMissing, match="OUIE_AUDIT_KEY"):
        unkeyed_writer.audit(AuditEvent(action="incident.view", actor="bob", subject="x:1"))
    keyed.close()


def test_a_rotated_key_verifies_with_the_earlier_one_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rotated.db'}"
    before = Store.open(url, audit_key=OLD_KEY)
    before.audit(AuditEvent(action="config.load", actor="system", subject="city:x"))
    before.close()
    after = Store.open(url, audit_key=KEY)
    after.audit(AuditEvent(action="config.load", actor="system", subject="city:x"))
    assert [(p.seq, p.kind) for p in after.audit.verify()] == [(1, "key_unknown")]
    assert after.audit.verify(earlier_keys=[OLD_KEY]) == []
    after.close()


def test_audit_key_comes_from_a_file_or_the_environment_never_the_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="never goes in the configuration"):
        AuditKeyConfig.model_validate({"key": "s3cret" * 8})
    key_file = tmp_path / "audit.key"
    key_file.write_text("k" * 40 + "\n")
    assert AuditKeyConfig(key_file=key_file).key() == KEY
    monkeypatch.setenv("OUIE_AUDIT_KEY", "o" * 40)
    assert AuditKeyConfig().key() == OLD_KEY
    assert Store.open(f"sqlite:///{tmp_path / 'env.db'}").audit.key == OLD_KEY
    monkeypatch.setenv("OUIE_AUDIT_KEY", "short")
    with pytest.raises(ConfigError, match=r"OUIE_AUDIT_KEY: the audit key has 5 characters"):
        AuditKeyConfig().key()
    monkeypatch.delenv("OUIE_AUDIT_KEY")
    assert AuditKeyConfig().key() is None
    with pytest.raises(ConfigError, match=r"audit\.key_file .*missing"):
        AuditKeyConfig(key_file=tmp_path / "missing").key()


def test_a_store_with_a_clock_stamps_its_audit_entries_with_it(tmp_path: Path) -> None:
    """The demo replays a June evening: its chain follows the replay clock, not the wall."""
    evening_ns = 1_782_072_000 * 10**9  # 2026-06-21T20:00:00Z
    store = Store.open(f"sqlite:///{tmp_path / 'clock.db'}", clock=lambda: evening_ns)
    store.audit(AuditEvent(action="auth.login", actor="alice", subject="user:alice"))
    (entry,) = list(store.audit.entries())
    assert entry["at_ns"] == evening_ns
    assert store.audit.verify() == []
