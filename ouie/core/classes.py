"""The ouie event classes and the AudioSet labels (YAMNet class indices) each one maps from.

The mapping is the documented contract between the detector's 521 AudioSet scores and ouie's
seven classes (docs/design.md, "Classes"). Speech-related labels are listed only so that they can be
*suppressed*: no report ever carries them (docs/design.md principle 2).
"""

from __future__ import annotations

from enum import StrEnum


class EventClass(StrEnum):
    """An ouie event class. The first four raise incidents; the others are context."""

    GUNSHOT = "gunshot"
    EXPLOSION = "explosion"
    SCREAM = "scream"
    GLASS_BREAK = "glass_break"
    SIREN = "siren"
    ALARM = "alarm"
    FIREWORKS = "fireworks"


class VideoEventKind(StrEnum):
    """The events a camera's own stream raises (`ouie.video`): the three that the French
    experiment of 2023–2025 (décret n° 2023-828) found to work. They raise incidents for an
    operator like the alerting sound classes, and carry no identity (docs/video.md)."""

    INTRUSION = "intrusion"
    WRONG_WAY = "wrong_way"
    DENSITY = "density"


VIDEO_EVENT_KINDS: frozenset[VideoEventKind] = frozenset(VideoEventKind)
"""Every video event kind (they raise alerts: `ouie.core.incident.is_alerting` says why)."""

ALERTING_CLASSES: frozenset[EventClass] = frozenset(
    {EventClass.GUNSHOT, EventClass.EXPLOSION, EventClass.SCREAM, EventClass.GLASS_BREAK}
)
"""Classes that raise incidents for an operator; the others are context (and false-alarm sinks)."""

AUDIOSET_LABELS: dict[EventClass, dict[int, str]] = {
    EventClass.GUNSHOT: {
        421: "Gunshot, gunfire",
        422: "Machine gun",
        423: "Fusillade",
        424: "Artillery fire",
        425: "Cap gun",
    },
    EventClass.EXPLOSION: {420: "Explosion", 428: "Burst, pop", 429: "Eruption", 430: "Boom"},
    EventClass.SCREAM: {11: "Screaming", 9: "Yell", 6: "Shout"},
    EventClass.GLASS_BREAK: {435: "Glass", 437: "Shatter", 463: "Smash, crash", 464: "Breaking"},
    EventClass.SIREN: {
        390: "Siren",
        391: "Civil defense siren",
        316: "Emergency vehicle",
        317: "Police car (siren)",
        318: "Ambulance (siren)",
        319: "Fire engine, fire truck (siren)",
    },
    EventClass.ALARM: {
        382: "Alarm",
        304: "Car alarm",
        392: "Buzzer",
        393: "Smoke detector, smoke alarm",
        394: "Fire alarm",
    },
    EventClass.FIREWORKS: {426: "Fireworks", 427: "Firecracker"},
}
"""YAMNet (AudioSet ontology) class index → display name, per ouie class."""

SPEECH_LABELS: dict[int, str] = {
    0: "Speech",
    1: "Child speech, kid speaking",
    2: "Conversation",
    3: "Narration, monologue",
    4: "Babbling",
    5: "Speech synthesizer",
    12: "Whispering",
    24: "Singing",
    25: "Choir",
    27: "Chant",
    31: "Rapping",
}
"""Speech and voice labels: used only to *gate out* windows where speech dominates."""
