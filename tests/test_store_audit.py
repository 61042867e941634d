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
from sqlalchemy import text

from ouie.core.audit import AuditEvent
from ouie.store.audit import GENESIS_HASH, entry_hash, read_jsonl, verify_chain
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
