"""A camera's own audio detection (an ONVIF audio event), as the central takes it in.

Some IP cameras classify sounds themselves and publish `tns1:RuleEngine/AudioDetector/Class`
or `tns1:AudioAnalytics/Audio/DetectedSound` (data item `Class`: GunShot, Scream, ...). Such an
event is a low-weight report: a class, a score and the time the camera stamped it, corrected
for the camera's clock, but no onset precise enough to locate anything. It may confirm an
incident the sensors located; it never makes one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.classes import EventClass


class CameraSound(BaseModel):
    """One audio detection by one camera (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    camera_id: str = Field(min_length=1, description="The camera that heard it.")
    class_: EventClass = Field(alias="class", description="ouie class of the camera's Class.")
    heard_ns: int = Field(
        description="When the camera says it heard it (its UtcTime), moved onto the central's "
        "clock by the offset its PullMessages answers show, UTC ns."
    )
    score: float | None = Field(
        default=None, ge=0, le=1, description="The camera's own score, when it gives one."
    )
    topic: str = Field(
        description="The ONVIF topic it came on, e.g. RuleEngine/AudioDetector/Class."
    )
