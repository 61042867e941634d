"""The `notify:` section of city.yaml: one section per output, each off by default.

```yaml
notify:
  outbox_dir: notify-outbox            # durable queues of webhook sends (relative to city.yaml)
  cap:
    enabled: true
    sender: ouie@saint-etienne.example
    destinations:
      - {name: psap, url: "https://hub.example/cap", secret_env: OUIE_CAP_SECRET}
  onvif_events: {enabled: true, username_env: OUIE_ONVIF_USER, password_env: OUIE_ONVIF_PASSWORD}
  onvif_mqtt: {enabled: true, video_events: true}   # the cameras' video events too (off by default)
  milestone:
    enabled: true
    destinations: [{name: xprotect, url: "http://xprotect.example:9090/"}]
  webhook:
    enabled: true
    destinations: [{name: nx, url: "https://nx.example/hook", vms: nx, secret_env: OUIE_NX_SECRET}]
  home_assistant: {enabled: true}
```
Secrets never live in the YAML: `secret_env` / `*_env` name environment variables.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ouie.core.config import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Destination(_Strict):
    """One HTTP receiver of an output."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="Short name (metrics label, queue file name, audit subject).",
    )
    url: str = Field(description="http:// or https:// URL the messages are POSTed to.")
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC-SHA256 key of the signature header "
        "(none: unsigned).",
    )
    timeout_s: float = Field(default=5.0, gt=0, description="One request's time limit, s.")
    vms: str | None = Field(
        default=None,
        description="Which `vms_refs` key of the cameras file names cameras for this receiver.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @property
    def host(self) -> str:
        """The receiver's host name (what the transparency report shows)."""
        return urlsplit(self.url).hostname or ""

    def secret(self) -> SecretStr | None:
        """The signing key from `secret_env`; ConfigError naming the variable when unset."""
        if self.secret_env is None:
            return None
        value = os.environ.get(self.secret_env)
        if not value:
            raise ConfigError(
                f"notify destination {self.name}: environment variable {self.secret_env} "
                "(secret_env) is not set"
            )
        return SecretStr(value)


class RetryPolicy(_Strict):
    """How a failed send is retried: waits initial_s, 2·initial_s, … up to max_s."""

    initial_s: float = Field(default=0.5, gt=0, description="First wait after a failure, s.")
    max_s: float = Field(default=30.0, gt=0, description="Longest wait between attempts, s.")
    give_up_after_s: float = Field(
        default=86_400.0,
        gt=0,
        description="A message still undelivered after this is dropped (counted and audited), s.",
    )


class VideoOptIn(_Strict):
    """An output's choice to send the video events too."""

    video_events: bool = Field(
        default=False,
        description="Also send the cameras' video events (intrusion, wrong_way, density); "
        "off unless the receiving control room asks for them (docs/integrations.md).",
    )


class _HttpOutput(VideoOptIn):
    enabled: bool = Field(default=False, description="Off unless turned on.")
    destinations: list[Destination] = Field(default_factory=list, validate_default=True)

    @field_validator("destinations")
    @classmethod
    def _needs_destinations(
        cls, value: list[Destination], info: ValidationInfo
    ) -> list[Destination]:
        if info.data.get("enabled") and not value:
            raise ValueError("an enabled output needs at least one destination")
        return value


class CapStatus(StrEnum):
    """CAP <status>: Actual in service; Exercise for drills and demos; Test for `notify test`."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    TEST = "Test"


class CapOutput(_HttpOutput):
    """CAP 1.2 alerts (Alert, then Update or Cancel) to public-safety hubs."""

    sender: str = Field(
        default="ouie@localhost",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender>: unique id of this ouie (no spaces, commas, < or &).",
    )
    sender_name: str = Field(default="ouie", description="CAP <senderName>, for people.")
    status: CapStatus = Field(default=CapStatus.ACTUAL, description="CAP <status>.")
    restriction: str = Field(
        default="For the city's supervision centre only.",
        description="CAP <restriction> (scope is Restricted: these alerts are not for the public).",
    )
    language: str = Field(default="en-US", description="CAP <language> (RFC 3066).")
    console_url: str | None = Field(
        default=None, description="Console base URL: <web> links to the incident when set."
    )


class WebhookOutput(_HttpOutput):
    """Generic JSON (Nx-style source / caption / description / metadata.cameraRefs)."""


class MilestoneOutput(_HttpOutput):
    """Milestone XProtect Analytics Events (XML over HTTP, usually port 9090)."""

    message: str = Field(
        default="ouie acoustic incident",
        description="<Message>: must equal an Analytics Event defined in the Management Client.",
    )


class OnvifEventsOutput(VideoOptIn):
    """ouie as an ONVIF device with an Event service (PullPoint) on the central's HTTP port."""

    enabled: bool = Field(default=False, description="Off unless turned on.")
    username_env: str = Field(
        default="OUIE_ONVIF_USER", description="Environment variable holding the ONVIF user."
    )
    password_env: str = Field(
        default="OUIE_ONVIF_PASSWORD",
        description="Environment variable holding the ONVIF password.",
    )
    max_subscriptions: int = Field(default=16, ge=1, description="Live PullPoints at most.")
    queue_per_subscription: int = Field(
        default=1000, ge=1, description="Messages kept for a PullPoint not pulling (oldest go)."
    )

    def credentials(self) -> tuple[str, SecretStr]:
        """(user, password) from the environment; ConfigError naming the missing variable."""
        missing = [n for n in (self.username_env, self.password_env) if not os.environ.get(n)]
        if missing:
            raise ConfigError(
                f"notify.onvif_events: environment variable(s) {', '.join(missing)} not set"
            )
        return os.environ[self.username_env], SecretStr(os.environ[self.password_env])


class OnvifMqttOutput(VideoOptIn):
    """The same ONVIF events as JSON on the central's bus (`<prefix>/onvif-ej/<topic>`)."""

    enabled: bool = Field(default=False, description="Off unless turned on.")


class HomeAssistantOutput(VideoOptIn):
    """Home Assistant MQTT discovery: one `event` entity per city, fed on the bus."""

    enabled: bool = Field(default=False, description="Off unless turned on.")
    discovery_prefix: str = Field(default="homeassistant", description="HA's discovery prefix.")
    node_id: str = Field(
        default="ouie", pattern=r"^[a-zA-Z0-9_-]+$", description="Discovery node id."
    )


class NotifyConfig(_Strict):
    """Every output (all off by default) and the shared delivery settings."""

    outbox_dir: Path = Field(
        default=Path("notify-outbox"),
        description="Folder of the durable send queues, one SQLite file per destination.",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    cap: CapOutput = Field(default_factory=CapOutput)
    webhook: WebhookOutput = Field(default_factory=WebhookOutput)
    milestone: MilestoneOutput = Field(default_factory=MilestoneOutput)
    onvif_events: OnvifEventsOutput = Field(default_factory=OnvifEventsOutput)
    onvif_mqtt: OnvifMqttOutput = Field(default_factory=OnvifMqttOutput)
    home_assistant: HomeAssistantOutput = Field(default_factory=HomeAssistantOutput)

    @model_validator(mode="after")
    def _unique_destinations(self) -> NotifyConfig:
        names = [d.name for output in self.http_outputs().values() for d in output.destinations]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"destination names must be unique across outputs: {duplicated}")
        return self

    def http_outputs(self) -> dict[str, _HttpOutput]:
        """The outputs that POST to destinations, by format name."""
        return {"cap": self.cap, "webhook": self.webhook, "milestone": self.milestone}

    def resolved(self, base: Path) -> NotifyConfig:
        """`outbox_dir` made absolute against `base` (the city.yaml folder)."""
        return self.model_copy(update={"outbox_dir": base / self.outbox_dir})
