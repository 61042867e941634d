"""Command-line commands of the notify outputs (registered by ouie.cli): `ouie notify sample`
prints what each output would send for a synthetic located gunshot; `ouie notify test` sends
one to every configured HTTP destination of a city.yaml (read as `ouie serve` reads it) and
reports each result."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ouie.notify.alert import Alert
    from ouie.notify.config import NotifyConfig

notify_app = typer.Typer(
    help="Alerts out to control rooms: CAP, ONVIF events, Milestone, webhooks.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.add_typer(notify_app, name="notify")


class SampleFormat(StrEnum):
    """What `ouie notify sample` can print."""

    CAP = "cap"
    ONVIF_JSON = "onvif-json"
    ONVIF_XML = "onvif-xml"
    MILESTONE = "milestone"
    WEBHOOK = "webhook"
    HOME_ASSISTANT = "home-assistant"


def sample_text(format_: SampleFormat, alert: Alert, config: NotifyConfig) -> str:
    """What the output `format_` would send about `alert` (topic lines for bus outputs)."""
    import json

    from lxml import etree

    from ouie.notify import cap, home_assistant, milestone, onvif_events, webhook

    if format_ is SampleFormat.CAP:
        return cap.cap_alert(alert, config.cap).decode()
    if format_ is SampleFormat.MILESTONE:
        return milestone.milestone_event(alert, config.milestone).decode()
    if format_ is SampleFormat.ONVIF_XML:
        element = onvif_events.notification_message(alert)
        return etree.tostring(element, pretty_print=True).decode()
    if format_ is SampleFormat.ONVIF_JSON:
        body = json.dumps(onvif_events.onvif_json(alert), indent=2)
        return f"topic: {onvif_events.onvif_json_topic()}\n{body}"
    if format_ is SampleFormat.HOME_ASSISTANT:
        settings = config.home_assistant
        discovery = json.dumps(home_assistant.discovery_config(settings, "sample"), indent=2)
        event = json.dumps(home_assistant.ha_event(alert), indent=2)
        return (
            f"topic: {home_assistant.discovery_topic(settings)} (retained)\n{discovery}\n"
            f"topic: {home_assistant.STATE_TOPIC}\n{event}"
        )
    return json.dumps(webhook.webhook_event(alert, vms="nx"), indent=2, ensure_ascii=False)


def load_notify_config(path: Path) -> NotifyConfig:
    """The `notify:` section of a city.yaml, as `ouie serve` reads it (`load_city_config`)."""
    from ouie.app.config import load_city_config

    return load_city_config(path).notify


@notify_app.command("sample")
def sample(
    format_: SampleFormat = typer.Option(SampleFormat.CAP, "--format", help="Which output."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="city.yaml whose notify settings to use (sender, ...)."
    ),
) -> None:
    """Print what would be sent for a synthetic located gunshot (4 sensors, ±18 m)."""
    from ouie.notify.alert import synthetic_gunshot
    from ouie.notify.config import NotifyConfig

    settings = load_notify_config(config) if config is not None else NotifyConfig()
    typer.echo(sample_text(format_, synthetic_gunshot(), settings))


@notify_app.command("test")
def test(
    config: Path = typer.Option(..., "--config", "-c", help="City configuration (city.yaml)."),
) -> None:
    """Send one synthetic gunshot (CAP status Test) to every configured HTTP destination, at
    once and without the durable queue, and report each result; list the bus outputs."""
    import json

    import httpx
    from rich.console import Console

    from ouie.core.config import ConfigError
    from ouie.notify import cap, milestone, webhook
    from ouie.notify.alert import synthetic_gunshot
    from ouie.notify.config import CapStatus
    from ouie.notify.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, post, signature
    from ouie.notify.notifier import enabled_outputs

    console = Console()
    try:
        settings = load_notify_config(config)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    settings = settings.model_copy(
        update={"cap": settings.cap.model_copy(update={"status": CapStatus.TEST})}
    )
    alert = synthetic_gunshot()
    failed = 0
    for name, output in settings.http_outputs().items():
        if not output.enabled:
            continue
        for destination in output.destinations:
            if name == "cap":
                body, media = cap.cap_alert(alert, settings.cap), cap.CONTENT_TYPE
            elif name == "milestone":
                body = milestone.milestone_event(alert, settings.milestone)
                media = milestone.CONTENT_TYPE
            else:
                body = json.dumps(webhook.webhook_event(alert, destination.vms)).encode()
                media = webhook.CONTENT_TYPE
            headers = {"Content-Type": media, IDEMPOTENCY_HEADER: f"test-{alert.message_id}"}
            try:
                key = destination.secret()
            except ConfigError as error:
                console.print(f"{name} → {destination.name}: [red]{error}[/red]")
                failed += 1
                continue
            if key is not None:
                headers[SIGNATURE_HEADER] = signature(key, body)
            with httpx.Client(timeout=destination.timeout_s) as client:
                attempt = post(client, destination, body, headers)
            colour = "green" if attempt.delivered else "red"
            failed += not attempt.delivered
            console.print(
                f"{name} → {destination.name} ({destination.host}): "
                f"[{colour}]{attempt.reason}[/{colour}]"
            )
    for offered in enabled_outputs(settings):
        if offered.name not in settings.http_outputs():
            where = offered.destinations[0]
            console.print(f"{offered.name}: served by the running central ({where})")
    if not enabled_outputs(settings):
        console.print("no notify output is enabled in this configuration")
    raise typer.Exit(1 if failed else 0)
