"""UTC time as integer nanoseconds since the Unix epoch (docs/design.md, "Time").

Onsets travel as int ns so that a sample at 16 kHz (62,500 ns) is represented exactly; ISO 8601
strings with microseconds are accepted and produced for people and JSON files.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

NS_PER_S = 1_000_000_000


def iso_to_ns(iso_utc: str) -> int:
    """Parse an ISO 8601 instant ('2026-11-25T18:00:00.123456Z' or with an offset) to UTC ns.

    A string without a zone is refused: a naive local time is ambiguous.
    """
    parsed = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {iso_utc!r} has no time zone; write it in UTC, e.g. '...Z'")
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1_000


def ns_to_iso(t_ns: int) -> str:
    """UTC ns → ISO 8601 with microseconds and a 'Z' ('2026-11-25T18:00:00.123456Z')."""
    seconds, rem_ns = divmod(int(t_ns), NS_PER_S)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rem_ns // 1_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sample_time_ns(start_ns: int, sample_index: float, sample_rate_hz: int) -> int:
    """UTC ns of (possibly fractional) sample `sample_index` when sample 0 is at `start_ns`:
    t = start + round(index · 10⁹ / fs)."""
    return int(start_ns) + round(sample_index * NS_PER_S / sample_rate_hz)


def now_ns() -> int:
    """The current UTC time in ns (wall clock)."""
    return time.time_ns()
