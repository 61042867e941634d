"""`MqttBus`: the `Bus` over MQTT 3.1.1 with paho-mqtt 2.x (Mosquitto in production), in clear
on port 1883 or over TLS (`TlsConfig`) on port 8883 by default.

Persistent session (clean_session False with a fixed client id) so the broker keeps QoS 1
messages for a subscriber that is briefly away; automatic reconnection with back-off;
subscriptions renewed on every connection; an optional retained last will (a sensor's status
topic ← "offline"); `on_connected` hooks (a sensor publishes its retained "online").

Received QoS 1 messages are acknowledged by hand (paho `manual_ack`): the PUBACK goes out when
every handler the message went to has acknowledged it (a plain `subscribe` handler: when it
returns; a `subscribe_acked` handler: when it calls its `Acknowledge`, e.g. after a database
commit). A message not yet acknowledged when the connection drops or the process dies is
redelivered by the broker on the next connection with the same client id.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import Field, SecretStr, model_validator

from ouie.core.config import ConfigError, StrictModel
from ouie.transport.bus import (
    AckCallback,
    AckedMessageHandler,
    MessageHandler,
    acknowledging,
)

log = logging.getLogger(__name__)


MQTT_PORT, MQTTS_PORT = 1883, 8883
"""The IANA ports of MQTT in clear and over TLS."""


class TlsConfig(StrictModel):
    """TLS to the broker: the CA that signed the broker's certificate (its host name or address
    must match the certificate), and this client's own certificate and key when the broker
    requires client certificates."""

    ca_file: Path = Field(description="PEM file of the CA(s) trusted to sign the broker's cert.")
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate (for a broker that requires one)."
    )
    key_file: Path | None = Field(default=None, description="PEM private key of cert_file.")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate needs both)")
        return self

    def resolved(self, base: Path) -> TlsConfig:
        """The same with relative paths taken from `base` (the configuration's folder)."""
        return TlsConfig(
            ca_file=base / self.ca_file,
            cert_file=base / self.cert_file if self.cert_file is not None else None,
            key_file=base / self.key_file if self.key_file is not None else None,
        )

    def context(self) -> ssl.SSLContext:
        """A client context: TLS ≥ 1.2, the broker's certificate checked against `ca_file` and
        its host name; ConfigError naming the file that cannot be loaded."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_verify_locations(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"broker.tls.ca_file {self.ca_file}: cannot load it ({error})"
            ) from None
        if self.cert_file is not None:
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as error:
                raise ConfigError(
                    f"broker.tls.cert_file/key_file {self.cert_file}: cannot load them ({error})"
                ) from None
        return context


def default_port(tls: object) -> int:
    """8883 with TLS, 1883 without."""
    return MQTTS_PORT if tls is not None else MQTT_PORT


class BrokerSettings(StrictModel):
    """Where the broker is and how to log in."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(
        default=MQTT_PORT,
        ge=1,
        le=65535,
        description="Broker TCP port (default 8883 with tls, 1883 without).",
    )
    tls: TlsConfig | None = Field(default=None, description="TLS to the broker (None: clear).")
    username: str | None = Field(default=None, description="MQTT user (a sensor: its id).")
    password: SecretStr | None = Field(default=None, description="MQTT password.")
    keepalive_s: int = Field(default=15, ge=5, description="MQTT keep-alive, s.")
    reconnect_max_delay_s: int = Field(default=5, ge=1, description="Longest reconnect wait, s.")

    @model_validator(mode="before")
    @classmethod
    def _port_follows_tls(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("port") is None:
            data = {**data, "port": default_port(data.get("tls"))}
        return data


class BrokerConfig(StrictModel):
    """How a client reaches Mosquitto, as configured in YAML: the password never sits in the
    file; it comes from a secret file or an environment variable."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Broker TCP port (default 8883 with tls, 1883 without).",
    )
    tls: TlsConfig | None = Field(
        default=None, description="TLS to the broker: CA file, optional client cert/key."
    )
    username: str = Field(description="MQTT user (a sensor: its id; the central: 'central').")
    password_env: str | None = Field(
        default="OUIE_BROKER_PASSWORD", description="Environment variable holding the password."
    )
    password_file: Path | None = Field(
        default=None, description="Or a file holding the password (a container secret)."
    )
    client_id: str = Field(
        description="MQTT client id (the broker keeps its session). A broker configured by "
        "`ouie broker-config` replaces it with the user name, so that no account can take "
        "another's session."
    )

    def settings(self) -> BrokerSettings:
        """Connection settings with the password read from the file or the environment."""
        password: str | None = None
        if self.password_file is not None:
            try:
                password = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ConfigError(f"broker.password_file: cannot read it ({error})") from None
        elif self.password_env is not None:
            password = os.environ.get(self.password_env) or None
            if password is None:
                raise ConfigError(
                    f"broker.password_env: the environment variable {self.password_env} is not "
                    f"set (or empty): the broker refuses {self.username!r} without its "
                    "password; set it, or name a secret file with broker.password_file"
                )
        return BrokerSettings(
            host=self.host,
            port=self.port or default_port(self.tls),
            tls=self.tls,
            username=self.username,
            password=SecretStr(password) if password is not None else None,
        )


class _AcknowledgeWhenAll:
    """The `Acknowledge` of one received message: sends its PUBACK once each of the `count`
    handlers it went to has called it."""

    def __init__(self, count: int, send: Callable[[], object]) -> None:
        self._left, self._send, self._lock = count, send, threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self._left -= 1
            done = self._left == 0
        if done:
            self._send()


def _nothing() -> None:
    """Acknowledgement of a message nobody waits for (every mid is tracked; see `publish`)."""


class MqttBus:
    """A `Bus` connected to an MQTT broker (see module docstring)."""

    def __init__(
        self,
        settings: BrokerSettings,
        client_id: str,
        will: tuple[str, bytes] | None = None,
        clean_session: bool = False,
        start: bool = True,
    ) -> None:
        """Connect at once unless `start` is False: a subscriber with a persistent session
        registers its subscriptions first and then calls `start()`, so that the messages the
        broker kept for it are not delivered before a handler exists."""
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            self._client.username_pw_set(settings.username, password)
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        if settings.tls is not None:
            self._client.tls_set_context(settings.tls.context())
        self._tls = settings.tls
        self._client.reconnect_delay_set(1, settings.reconnect_max_delay_s)
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._unacked_subscriptions: set[int] = set()
        self._early_subacks: set[int] = set()
        self._subscribed = threading.Condition()
        self._subscriptions: dict[str, tuple[int, AckedMessageHandler]] = {}
        self._pending_acks: dict[int, AckCallback] = {}
        self._early_acks: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.last_error: str | None = None
        self._refused_at_connack = False
        self.on_connected: list[Callable[[], None]] = []
        self._address = (settings.host, settings.port, settings.keepalive_s)
        if start:
            self.start()

    def start(self) -> None:
        """Connect (in the background, reconnecting as needed)."""
        host, port, keepalive_s = self._address
        self._client.connect_async(host, port, keepalive=keepalive_s)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Block until connected; False on timeout (see `last_error`)."""
        return self._connected.wait(timeout_s)

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        on_acked: AckCallback | None = None,
    ) -> None:
        """Publish; `on_acked` runs on PUBACK (QoS 1) or once written (QoS 0).

        Every message id is tracked until acknowledged, so an acknowledgement that arrives before
        `publish` returns is not lost and a recycled id is never acknowledged twice.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"MQTT publish on {topic} failed: {mqtt.error_string(info.rc)}")
        on_acked = on_acked or _nothing
        with self._lock:
            acked_already = info.mid in self._early_acks
            if acked_already:
                self._early_acks.discard(info.mid)
            else:
                self._pending_acks[info.mid] = on_acked
        if acked_already:
            on_acked()

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Subscribe now (if connected) and again after every reconnection; each message is
        acknowledged when `handler` returns."""
        self.subscribe_acked(topic_filter, acknowledging(handler), qos)

    def subscribe_acked(
        self, topic_filter: str, handler: AckedMessageHandler, qos: int = 1
    ) -> None:
        """Subscribe; the PUBACK of each message waits for the handler's `Acknowledge`."""
        with self._lock:
            self._subscriptions[topic_filter] = (qos, handler)
        if self.connected:
            self._track_subscribe(self._client.subscribe(topic_filter, qos)[1])

    def wait_subscribed(self, timeout_s: float = 10.0) -> bool:
        """Block until connected and every subscription is acknowledged (SUBACK); messages
        published before that may not be delivered to this client."""
        if not self.wait_connected(timeout_s):
            return False
        with self._subscribed:
            return self._subscribed.wait_for(lambda: not self._unacked_subscriptions, timeout_s)

    def _track_subscribe(self, mid: int | None) -> None:
        """Remember a SUBSCRIBE until its SUBACK (which may already have come back)."""
        if mid is None:
            return
        with self._subscribed:
            if mid in self._early_subacks:
                self._early_subacks.discard(mid)
            else:
                self._unacked_subscriptions.add(mid)

    def close(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            self._refused_at_connack = True  # the disconnection that follows says nothing new
            log.error("MQTT %s", self.last_error)
            return
        with self._lock:
            filters = [(f, qos) for f, (qos, _h) in self._subscriptions.items()]
        if filters:
            self._track_subscribe(client.subscribe(filters)[1])
        self._connected.set()
        for hook in self.on_connected:
            hook()

    def _on_connect_fail(self, client, userdata) -> None:
        """paho calls this while it handles the connection attempt's OSError: name it (once
        per distinct cause, not at every retry)."""
        self._connection_failed(self._describe_connect_error(sys.exception()))

    def _connection_failed(self, message: str) -> None:
        """Keep `message` in `last_error` and log it, once per distinct cause."""
        if message != self.last_error:
            self.last_error = message
            log.error("MQTT %s; retrying", message)

    def _describe_connect_error(self, error: BaseException | None) -> str:
        host, port, _keepalive = self._address
        where = f"{host}:{port}" + (" (TLS)" if self._tls is not None else "")
        if isinstance(error, ssl.SSLCertVerificationError) and self._tls is not None:
            return (
                f"cannot connect to {where}: the broker's certificate is not trusted "
                f"({error.verify_message}); check broker.tls.ca_file {self._tls.ca_file} and "
                "that the broker's certificate names this host"
            )
        if isinstance(error, ssl.SSLError):
            return f"cannot connect to {where}: TLS handshake failed ({error.reason or error})"
        return f"cannot connect to {where}: {error or 'connection failed'}"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        refused, self._refused_at_connack = self._refused_at_connack, False
        if not was_connected and reason_code != 0 and not refused:  # closed before a CONNACK
            host, port, _keepalive = self._address
            tls = " (TLS)" if self._tls is not None else ""
            self._connection_failed(
                f"the broker at {host}:{port}{tls} closed the connection before accepting it "
                f"({reason_code}): wrong protocol, or a client certificate it requires?"
            )
        if was_connected and reason_code != 0:
            self.last_error = f"connection lost: {reason_code}"
            log.warning("MQTT %s; reconnecting", self.last_error)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            callback = self._pending_acks.pop(mid, None)
            if callback is None:
                self._early_acks.add(mid)
        if callback is not None:
            callback()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._subscribed:
            if mid in self._unacked_subscriptions:
                self._unacked_subscriptions.discard(mid)
            else:
                self._early_subacks.add(mid)
            self._subscribed.notify_all()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            handlers = [
                h
                for f, (_q, h) in self._subscriptions.items()
                if mqtt.topic_matches_sub(f, message.topic)
            ]
        if not handlers:
            log.warning("MQTT message on %s matches no subscription: dropped", message.topic)
            client.ack(message.mid, message.qos)
            return
        acknowledge = _AcknowledgeWhenAll(
            len(handlers), lambda: client.ack(message.mid, message.qos)
        )
        for handler in handlers:
            try:
                handler(message.topic, message.payload, acknowledge)
            except Exception:  # an acked handler that fails before acknowledging: redelivered
                log.exception("MQTT handler failed on %s", message.topic)
