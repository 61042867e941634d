"""A store seeded with a hand-countable November for the observatory tests.

Period 2026-11-01 .. 2026-11-03 (UTC). What it holds, per class over the period:

| class       | reports | incid. | located | confirm | dismiss        | escalate | open | delays s |
|-------------|---------|--------|---------|---------|----------------|----------|------|----------|
| gunshot     | 3       | 3      | 2       | 1       | 1 fireworks    | 0        | 1    | 30, 90   |
| scream      | 2       | 2      | 2       | 1       | 0              | 1        | 0    | 60, 10   |
| glass_break | 0       | 1      | 0       | 0       | 1 construction | 0        | 0    | 120      |
| fireworks   | 2       | 0      | 0       | 0       | 0              | 0        | 0    |          |

('delays s': seconds from raised to the first decision.)
(scream s2 was first dismissed, then confirmed: its latest decision counts, its first gives the
delay.) Outside the period: one gunshot incident and report on 31 Oct, one on 4 Nov.
Camera audit entries on 1 Nov: 3 cues (2 suggested, 1 with no camera), 1 approved and moved by
olga, 1 declined, 2 mask refusals, 1 mask clip; on 2 Nov one automatic move.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ouie.core.audit import AuditEvent
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S
from ouie.store.records import DismissReason, DispositionAction, IncidentRecord
from ouie.store.repository import Store
from tests.builders import make_report

FIRST_DAY, LAST_DAY = "2026-11-01", "2026-11-03"


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> int:
    """UTC ns of 2026-`month`-`day` hour:minute:second."""
    moment = datetime(2026, month, day, hour, minute, second, tzinfo=UTC)
    return int(moment.timestamp()) * NS_PER_S


INCIDENTS = [
    # id, class, onset, located, decisions [(action, reason, seconds after raised)]
    ("g1", "gunshot", at(1, 8), True, [("confirm", None, 30)]),
    ("g2", "gunshot", at(1, 20), True, [("dismiss", "fireworks", 90)]),
    ("g3", "gunshot", at(1, 21), False, []),
    ("s1", "scream", at(1, 22), True, [("escalate", None, 60)]),
    ("s2", "scream", at(2, 9), True, [("dismiss", "other", 10), ("confirm", None, 40)]),
    ("gb1", "glass_break", at(2, 23), False, [("dismiss", "construction", 120)]),
    ("before", "gunshot", at(31, 12, month=10), True, [("confirm", None, 5)]),
    ("after", "gunshot", at(4, 0, 0, 1), True, [("confirm", None, 5)]),
]
REPORTS = [
    ("gunshot", at(1, 8)),
    ("gunshot", at(1, 20)),
    ("gunshot", at(1, 21)),
    ("fireworks", at(1, 23)),
    ("fireworks", at(1, 23, 30)),
    ("scream", at(2, 9)),
    ("scream", at(3, 9)),
    ("gunshot", at(31, 12, month=10)),
    ("gunshot", at(4, 0, 0, 1)),
]
CAMERA_EVENTS = [
    # action, actor, at, details
    ("camera.cue", "system", at(1, 8, 0, 2), {"mode": "suggest", "plan": {"camera_id": "c1"}}),
    ("camera.mask_refused", "system", at(1, 8, 0, 2), {"reason": "courtyard"}),
    ("camera.cue_approved", "olga", at(1, 8, 0, 9), {"camera_id": "c1"}),
    ("camera.move", "olga", at(1, 8, 0, 10), {"cue_id": "a"}),
    ("camera.cue", "system", at(1, 20, 0, 2), {"mode": "suggest", "plan": {"camera_id": "c2"}}),
    ("camera.mask_refused", "system", at(1, 20, 0, 2), {"reason": "windows"}),
    ("camera.mask_clipped", "system", at(1, 20, 0, 2), {"decision": "clipped_zoom"}),
    ("camera.cue_rejected", "olga", at(1, 20, 1), {"cue_id": "b"}),
    ("camera.cue", "system", at(1, 22, 0, 2), {"mode": "suggest", "plan": None}),
    ("camera.move", "system", at(2, 9, 0, 1), {"cue_id": "c"}),
    ("camera.move", "system", at(4, 1), {"cue_id": "d"}),  # outside the period
]


def seed_november(store: Store) -> None:
    """Fill `store` with the month described in the module docstring."""
    store.sync_sensors(
        [SensorSite(id=f"s{i}", lat=45.44 + 0.001 * i, lon=4.387) for i in range(1, 5)]
    )
    for seq, (class_, onset_ns) in enumerate(REPORTS):
        store.add_report(make_report("s1", seq, onset_ns, class_), received_at_ns=onset_ns)
    store.set_sensor_status("s4", "offline", at(3, 12))  # s1 heard, s4 offline, s2/s3 unknown
    for incident_id, class_, onset_ns, located, decisions in INCIDENTS:
        position = {"lat": 45.44, "lon": 4.39, "uncertainty_m": 8.0} if located else {}
        raised_ns = onset_ns + 2 * NS_PER_S
        store.save_incident(
            IncidentRecord(id=incident_id, class_=class_, onset_ns=onset_ns, **position),
            at_ns=raised_ns,
        )
        for action, reason, after_s in decisions:
            store.add_disposition(
                incident_id,
                DispositionAction(action),
                "olga",
                reason=DismissReason(reason) if reason else None,
                at_ns=raised_ns + after_s * NS_PER_S,
            )
    for incident_id in ("g1", "g2", "s1"):
        store.audit(
            AuditEvent(
                action="incident.view",
                actor="olga",
                subject=f"incident:{incident_id}",
                at_ns=at(2, 10),
            )
        )
    for action, actor, at_ns, details in CAMERA_EVENTS:
        store.audit(
            AuditEvent(
                action=action, actor=actor, subject="camera:c1", details=details, at_ns=at_ns
            )
        )
