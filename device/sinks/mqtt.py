"""Readings to an MQTT broker, announced to Home Assistant.

The only module that imports paho-mqtt. paho's network thread connects,
reconnects with exponential backoff and keeps the last will (``offline`` on
the availability topic) with the broker; ``publish()`` never blocks and never
raises into the pipeline:

- connected: the messages go to paho (QoS 1, so paho resends what the broker
  had not acknowledged when a connection drops);
- disconnected: an accepted reading waits in a bounded queue (``queue_max``
  readings; when full the oldest goes, and the count is logged), a rejected
  one only replaces the latest status. On reconnect the queue is sent in
  order. The field log is a separate sink, so a dead broker loses nothing
  there; the queue only decides what Home Assistant gets to see late.

Each connect (re)announces availability and, with discovery on, the Home
Assistant configs (again whenever Home Assistant says ``online`` on its
status topic), and subscribes to the ``set`` command topic.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..config import Config
from ..errors import DigitcamError
from ..reading import Reading
from .base import Sink
from .ha_discovery import (
    OFFLINE,
    ONLINE,
    DiscoveryOptions,
    Topics,
    discovery_configs,
    reading_payload,
    state_class_for,
    value_payload,
)

logger = logging.getLogger(__name__)

QOS = 1
Message = tuple[str, str, bool]  # topic, payload, retain


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, config: Config, on_set_value: Callable[[str], None] | None = None, *,
                 client_id: str = "", reconnect_min_s: int = 1, reconnect_max_s: int = 60) -> None:
        mq, out = config.mqtt, config.output
        # The configured node id, else this host's name with only the characters topics allow.
        node = mq.node_id or re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "digitcam"
        self.settings = mq
        self.host, self.port = mq.host, mq.port
        self.topics = Topics.make(mq.base_topic, node, mq.discovery_prefix)
        self.client_id = client_id or f"digitcam-{node}"
        self.discovery = DiscoveryOptions(
            node_id=node, device_name=mq.device_name or f"digitcam {node}", decimals=out.decimals,
            unit=out.unit, device_class=mq.device_class,
            state_class=state_class_for(mq.state_class, mq.device_class, config.stabiliser.monotonic),
        ) if mq.discovery else None
        self.decimals, self.unit = out.decimals, out.unit
        self.on_set_value = on_set_value
        self.reconnect = (reconnect_min_s, reconnect_max_s)
        self.stop_drain_s = 5.0  # how long stop() lets paho deliver what it holds
        self.queue: deque[list[Message]] = deque(maxlen=mq.queue_max)
        self.dropped = 0  # readings pushed out of a full queue, ever
        self.connected = False
        self.subscribed = threading.Event()  # to the set and HA status topics, on this connection
        self._latest_rejected: Message | None = None
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._outage_logged = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        mq = self.settings
        if mq.username:
            client.username_pw_set(mq.username, self._password())
        if mq.tls:
            if mq.ca_file and not Path(mq.ca_file).is_file():
                raise DigitcamError(f"mqtt.ca_file {mq.ca_file}: no such file")
            try:
                client.tls_set(ca_certs=mq.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError) as exc:
                raise DigitcamError(f"mqtt TLS setup failed: {exc}") from None
            client.tls_insecure_set(mq.tls_insecure)
        client.will_set(self.topics.availability, OFFLINE, qos=QOS, retain=True)
        client.reconnect_delay_set(*self.reconnect)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_args: self.subscribed.set()
        self._outage_since: float | None = time.monotonic()  # None while connected
        self._stopping = False
        # connect_async + loop_start: a broker that is down at start-up is the
        # first outage, retried in paho's thread; the daemon starts regardless.
        client.connect_async(self.host, self.port, keepalive=mq.keepalive_s)
        client.loop_start()
        self._client = client
        logger.info("mqtt: publishing to %s:%s%s under %s", self.host, self.port,
                    " (TLS)" if mq.tls else "", self.topics.base)

    def _password(self) -> str | None:
        mq = self.settings
        if not mq.password_file:
            return mq.password or None
        try:
            lines = Path(mq.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DigitcamError(f"mqtt.password_file {mq.password_file}: {exc.strerror or exc}") from None
        return lines[0] if lines else ""

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        messages: list[Message] = []
        if reading.accepted:
            messages.append((self.topics.value, value_payload(reading, self.decimals, self.unit), True))
        messages.append((self.topics.reading, reading_payload(reading, self.decimals), True))
        with self._lock:
            if self.connected and self._client is not None:
                self._send(self._client, messages)
                return
            if not reading.accepted:
                self._latest_rejected = messages[-1]
                return
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning("mqtt: offline queue full (%s readings); %s oldest dropped so far "
                                   "(the field log has them)", self.queue.maxlen, self.dropped)
            self.queue.append(messages)
            self._latest_rejected = None

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping = True
        info: mqtt.MQTTMessageInfo | None = None
        with self._lock:
            pending = sum(len(m) for m in self.queue)
            if self.connected:
                info = client.publish(self.topics.availability, OFFLINE, qos=QOS, retain=True)
        if info is not None:
            # Let paho deliver what it holds (and the "offline"), within reason.
            deadline = time.monotonic() + self.stop_drain_s
            # paho has no public count of messages awaiting their PUBACK.
            while time.monotonic() < deadline and (not info.is_published() or client._out_messages):
                time.sleep(0.02)
        elif pending:
            logger.warning("mqtt: stopping with %s message(s) not delivered to the broker "
                           "(the field log has the readings)", pending)
        client.disconnect()
        client.loop_stop()
        self.connected = False

    # ------------------------------------------------------------ paho's thread
    def _send(self, client: mqtt.Client, messages: list[Message]) -> None:
        for topic, payload, retain in messages:
            info = client.publish(topic, payload, qos=QOS, retain=retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                # NO_CONN: paho keeps a QoS 1 message and sends it on reconnect.
                logger.warning("mqtt: publishing to %s failed: %s", topic, mqtt.error_string(info.rc))

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            # Bad credentials and the like: paho retries, but say why once per outage.
            self._log_outage("mqtt: %s:%s refused the connection: %s; retrying", self.host, self.port,
                             reason_code)
            return
        client.publish(self.topics.availability, ONLINE, qos=QOS, retain=True)
        self._announce(client)
        client.subscribe([(self.topics.set, QOS), (self.topics.ha_status, QOS)])
        with self._lock:
            queued = list(self.queue)
            self.queue.clear()
            if self._latest_rejected is not None:
                queued.append([self._latest_rejected])
                self._latest_rejected = None
            for messages in queued:
                self._send(client, messages)
            self.connected = True
        outage = time.monotonic() - self._outage_since if self._outage_since is not None else 0.0
        self._outage_since, self._outage_logged = None, False
        logger.info("mqtt: connected to %s:%s after %.1f s; sent %d queued reading(s)",
                    self.host, self.port, outage, len(queued))

    def _announce(self, client: mqtt.Client) -> None:
        if self.discovery is None:
            return
        for topic, config in discovery_configs(self.topics, self.discovery).items():
            client.publish(topic, json.dumps(config, ensure_ascii=False), qos=QOS, retain=True)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho does not say why; these are the usual reasons.
        why = "down, unreachable or refusing"
        if self.settings.tls:
            why += ", or its TLS certificate is not trusted"
        self._log_outage("mqtt: cannot connect to %s:%s (%s); retrying with backoff up to %s s, "
                         "readings are queued", self.host, self.port, why, self.reconnect[1])

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason_code: Any, _properties: Any) -> None:
        self.subscribed.clear()
        with self._lock:
            was_connected, self.connected = self.connected, False
        if self._stopping or not was_connected:
            return
        self._outage_since = time.monotonic()
        self._log_outage("mqtt: lost the broker %s:%s (%s); queueing up to %s readings until it is back",
                         self.host, self.port, reason_code, self.queue.maxlen)

    def _log_outage(self, message: str, *args: Any) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
        if not self._outage_logged and not self._stopping:
            self._outage_logged = True
            logger.warning(message, *args)

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        text = message.payload.decode("utf-8", errors="replace").strip()
        if message.topic == self.topics.ha_status:
            if text == ONLINE:
                logger.info("mqtt: Home Assistant is online; announcing the sensors again")
                self._announce(client)
        elif message.topic == self.topics.set and message.retain:
            # A retained command would set the value again on every reconnect.
            logger.warning("mqtt: ignoring a retained set-value %r on %s (publish it without retain)",
                           text, message.topic)
        elif message.topic == self.topics.set and self.on_set_value is not None:
            logger.info("mqtt: set-value %r received on %s", text, message.topic)
            try:
                self.on_set_value(text)
            except Exception:  # the callback must not kill paho's thread
                logger.exception("mqtt: set-value %r failed", text)
