"""MQTT topics and payloads, and Home Assistant's discovery configs for them.

Pure functions, no MQTT client: what is published is decided here and tested
against Home Assistant's documented schema without a broker. The topics under
``BASE/NODE_ID`` (value, reading, availability and the ``set`` command) and their
payloads are tabled in the README's MQTT section.

Home Assistant gets one sensor per thing worth a graph (value, confidence,
status, latency) and a text entity for ``set``, all under one device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..reading import Reading
from ..value import number

ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class Topics:
    base: str  # BASE/NODE_ID
    discovery_prefix: str
    value: str
    reading: str
    availability: str
    set: str
    ha_status: str  # Home Assistant says ``online`` here when it (re)starts: time to announce again

    @classmethod
    def make(cls, base_topic: str, node_id: str, discovery_prefix: str) -> Topics:
        base = f"{base_topic}/{node_id}"
        return cls(base, discovery_prefix, f"{base}/value", f"{base}/reading", f"{base}/availability",
                   f"{base}/set", f"{discovery_prefix}/status")


def value_payload(reading: Reading, decimals: int, unit: str) -> str:
    return json.dumps({
        "value": number(reading.text, decimals), "raw": reading.text, "unit": unit,
        "confidence": reading.confidence, "timestamp": reading.timestamp, "frame_id": reading.frame_id,
        "latency_ms": reading.latency_ms.get("total"),
    }, ensure_ascii=False, separators=(",", ":"))


def reading_payload(reading: Reading, decimals: int) -> str:
    return json.dumps({
        "status": "accepted" if reading.accepted else "rejected", "reason": reading.reason,
        "value": number(reading.text, decimals), "raw": reading.text, "confidence": reading.confidence,
        "timestamp": reading.timestamp, "frame_id": reading.frame_id, "latency_ms": reading.latency_ms,
        "model": reading.model_sha256[:12],
    }, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class DiscoveryOptions:
    node_id: str
    device_name: str
    decimals: int = 0
    unit: str = ""
    device_class: str = ""
    state_class: str = "measurement"


def state_class_for(configured: str, device_class: str, monotonic: bool) -> str:
    """``total_increasing`` for a counter that never goes down, ``total`` for a
    meter class HA would refuse as ``measurement``, else ``measurement``."""
    if configured:
        return configured
    if monotonic:
        return "total_increasing"
    return "total" if device_class else "measurement"


def discovery_configs(topics: Topics, opts: DiscoveryOptions) -> dict[str, dict[str, Any]]:
    """{discovery topic: config payload} for every entity of this unit."""
    node = opts.node_id
    device = {
        "identifiers": [f"digitcam_{node}"],
        "name": opts.device_name,
        "manufacturer": "digitcam",
        "model": "camera digit reader",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": {"name": "digitcam", "sw_version": __version__},
    }

    def entity(key: str, name: str, **fields: Any) -> dict[str, Any]:
        return {"name": name, "unique_id": f"digitcam_{node}_{key}", **fields, **common}

    value = entity("value", "Value", state_topic=topics.value, value_template="{{ value_json.value }}",
                   json_attributes_topic=topics.value, state_class=opts.state_class,
                   suggested_display_precision=opts.decimals, icon="mdi:counter")
    if opts.unit:
        value["unit_of_measurement"] = opts.unit
    if opts.device_class:
        value["device_class"] = opts.device_class
    confidence = entity("confidence", "Confidence", state_topic=topics.reading,
                        value_template="{{ (value_json.confidence * 100) | round(1) }}",
                        unit_of_measurement="%", state_class="measurement", entity_category="diagnostic",
                        icon="mdi:check-decagram")
    status = entity("status", "Status", state_topic=topics.reading,
                    # The state holds 255 characters at most; the attributes have the whole record.
                    value_template="{{ (value_json.status ~ (': ' ~ value_json.reason if value_json.reason "
                                   "else ''))[:255] }}",
                    json_attributes_topic=topics.reading, entity_category="diagnostic", icon="mdi:eye-check")
    latency = entity("latency", "Latency", state_topic=topics.reading,
                     value_template="{{ value_json.latency_ms.total }}", unit_of_measurement="ms",
                     device_class="duration", state_class="measurement", suggested_display_precision=1,
                     entity_category="diagnostic")
    set_value = entity("set_value", "Set previous value", command_topic=topics.set, mode="text",
                       pattern=r"^[0-9]+(\.[0-9]+)?$", entity_category="config", icon="mdi:pencil")
    prefix = topics.discovery_prefix
    return {
        f"{prefix}/sensor/{node}/value/config": value,
        f"{prefix}/sensor/{node}/confidence/config": confidence,
        f"{prefix}/sensor/{node}/status/config": status,
        f"{prefix}/sensor/{node}/latency/config": latency,
        f"{prefix}/text/{node}/set_value/config": set_value,
    }
