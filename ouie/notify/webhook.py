"""The generic JSON webhook (Nx Witness / DW Spectrum "generic event" style) for one `Alert`:
`source`, `caption`, `description`, `timestamp`, `state` and `metadata.cameraRefs` (the
receiving VMS's ids of the cameras in range, from `vms_refs.<vms>` in the cameras file), plus
`incident`: the console's fields and the operator's decision, for receivers that want them.
"""

from __future__ import annotations

from typing import Any

from ouie.notify.alert import Alert, AlertPhase

CONTENT_TYPE = "application/json"


def webhook_event(alert: Alert, vms: str | None = None) -> dict[str, Any]:
    """The JSON body for a receiver whose cameras are named by `vms_refs[vms]`."""
    record = alert.incident
    refs = [c.vms_refs[vms] for c in alert.cameras if vms is not None and vms in c.vms_refs]
    return {
        "id": alert.message_id,
        "source": "ouie",
        "caption": alert.caption(),
        "description": alert.description(),
        "timestamp": alert.onset_utc,
        "state": "inactive" if alert.phase is AlertPhase.DISMISSED else "active",
        "metadata": {"cameraRefs": refs},
        "incident": {
            "id": record.id,
            "class": record.class_,
            "phase": alert.phase.value,
            "sequence": alert.sequence,
            "revision": record.revision,
            "onset_utc": alert.onset_utc,
            "lat": record.lat,
            "lon": record.lon,
            "uncertainty_m": record.uncertainty_m,
            "status": record.status,
            "sensors_used": list(record.sensors_used),
            "score": record.score,
            "dismiss_reason": alert.dismiss_reason,
            "sent_utc": alert.sent_utc,
        },
    }
