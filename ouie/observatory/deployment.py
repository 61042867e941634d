"""What a transparency report says about the deployment itself: sensors, cameras, the cue mode
and its declared legal basis, the retention periods, and what the system does not do."""

from __future__ import annotations

from pydantic import Field

from ouie.cameras.config import CamerasConfig
from ouie.core.config import StrictModel
from ouie.store.retention import RetentionPolicy

NON_GOALS: tuple[str, ...] = (
    "No raw audio leaves a sensor, and none is stored: sensors send event reports (class, score, "
    "onset time, level, at most a coarse band-energy envelope that cannot be turned back into "
    "speech).",
    "Speech is never a target: no speech-to-text, no speaker identification, no keyword "
    "spotting; speech is detected only to suppress it.",
    "No biometric identification: no face recognition, no person re-identification.",
    "No tracking of individuals and no person-level risk scores or 'predictive policing'.",
    "The system does not judge whether an incident is serious: it raises incidents, a person "
    "confirms, dismisses or escalates each one, and every decision is recorded.",
    "No camera is cued so that a privacy mask (dwellings' windows, private courtyards) fills its "
    "view: such a cue is clipped or refused, and logged.",
    "No detailed record is kept beyond the retention periods: only daily counts survive.",
)
"""docs/design.md's principles and non-goals, as the report states them to an oversight body."""


class Deployment(StrictModel):
    """The deployment a report describes (from `city.yaml` and its cameras file)."""

    name: str | None = Field(default=None, description="Deployment name; None when unknown.")
    sensors: int = Field(ge=0, description="Acoustic sensors configured.")
    cameras: int | None = Field(default=None, ge=0, description="PTZ cameras; None: unknown.")
    privacy_masks: int | None = Field(
        default=None, ge=0, description="Distinct privacy masks over all cameras; None: unknown."
    )
    cue_mode: str = Field(description="off, suggest (a person approves each move) or auto.")
    legal_basis: str | None = Field(default=None, description="Declared for auto cueing.")
    dpia: str | None = Field(default=None, description="Impact assessment reference, for auto.")
    retention: RetentionPolicy | None = Field(
        default=None, description="Retention periods in force; None when unknown."
    )
    alert_outputs: dict[str, list[str]] | None = Field(
        default=None,
        description="Where alerts leave ouie: each enabled output (cap, webhook, milestone, "
        "onvif_events, ...) and its receivers' host names; None when unknown.",
    )

    @classmethod
    def of_site(
        cls,
        name: str,
        sensors: int,
        cameras: CamerasConfig,
        retention: RetentionPolicy,
        alert_outputs: dict[str, list[str]] | None = None,
    ) -> Deployment:
        """The deployment of a site: its sensors, its cameras file, its retention and where
        its alerts go."""
        masks = {mask.model_dump_json() for camera in cameras.cameras for mask in camera.masks} | {
            mask.model_dump_json() for mask in cameras.masks
        }
        return cls(
            name=name,
            sensors=sensors,
            cameras=len(cameras.cameras),
            privacy_masks=len(masks),
            cue_mode=cameras.cueing.mode.value,
            legal_basis=cameras.cueing.legal_basis,
            dpia=cameras.cueing.dpia,
            retention=retention,
            alert_outputs=alert_outputs,
        )
