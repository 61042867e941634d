"""Console configuration (YAML section `console`, validated by pydantic)."""

from __future__ import annotations

import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from ouie.core.config import ConfigError, StrictModel


class ConsoleConfig(StrictModel):
    """How the operator console is served: map tiles, sessions and cookies."""

    tile_url: str | None = Field(
        default=None,
        description="Map tile URL template, e.g. 'https://tile.example/{z}/{x}/{y}.png' (a local "
        "tile server in an offline control room). None draws a plain background with the "
        "scenario's buildings as vector layers.",
    )
    tile_attribution: str = Field(default="", description="Attribution shown for the tiles.")
    time_zone: str = Field(
        default="Europe/Paris",
        description="IANA time zone in which operators read times (the site's local time); the "
        "audit trail and the API stay in UTC.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA zone name this machine knows (e.g. 'Europe/Paris')."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. 'Europe/Paris')"
            ) from None
        return value

    session_secret_file: Path | None = Field(
        default=None,
        description="File holding the secret that signs session cookies (≥ 32 characters). "
        "None draws a random secret at start: sessions then end when the service restarts.",
    )
    session_max_age_s: int = Field(
        default=8 * 3600, gt=0, description="A session ends this long after login, s."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Login attempts for one user name from one client address within the "
        "window; more are refused (429) until the oldest leaves it. A successful login gives "
        "the pair its attempts back. Keyed by address too, so a guesser elsewhere cannot lock "
        "an operator out.",
    )
    login_max_attempts_per_client: int = Field(
        default=30,
        ge=1,
        description="Login attempts from one client address within the window, whatever the "
        "user names (against spraying one password over many names); successes count too.",
    )
    login_failure_window_s: int = Field(
        default=300, gt=0, description="Moving window over which login attempts are counted, s."
    )
    audit_check_every_s: float = Field(
        default=60.0,
        ge=0.0,
        description="The audit page re-verifies the whole hash chain at most this often, s "
        "(0: on every request); between checks it shows the last result and its time.",
    )
    https_only: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it whenever the console is behind TLS).",
    )

    def session_secret(self) -> str:
        """The cookie-signing secret: read from `session_secret_file`, or random per start."""
        if self.session_secret_file is None:
            return secrets.token_urlsafe(32)
        try:
            secret = self.session_secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"console.session_secret_file: {error}") from None
        if len(secret) < 32:
            raise ConfigError(
                f"console.session_secret_file: {self.session_secret_file} holds "
                f"{len(secret)} characters; use at least 32"
            )
        return secret
