"""Home Assistant discovery payloads, checked against HA's documented MQTT schema.

The schema below is written from Home Assistant's MQTT documentation (the
sensor and text platforms, MQTT discovery, the sensor device classes and their
units); the templates are rendered with Jinja2 against real payloads, as HA
renders them. No broker is needed here (tests/test_mqtt.py has the broker).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from digitcam.device.config import ConfigError, parse_config
from digitcam.device.reading import Reading
from digitcam.device.sinks.ha_discovery import (
    DiscoveryOptions,
    Topics,
    discovery_configs,
    reading_payload,
    state_class_for,
    value_payload,
)

# ---------------------------------------------------------------- HA's schema, from its docs

ENTITY_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device",
    "default_entity_id", "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "object_id", "origin",
    "payload_available", "payload_not_available", "platform", "qos", "unique_id",
}
PLATFORM_KEYS = {
    "sensor": ENTITY_KEYS | {"device_class", "expire_after", "force_update", "last_reset_value_template",
                             "options", "state_class", "state_topic", "suggested_display_precision",
                             "unit_of_measurement", "value_template"},
    "text": ENTITY_KEYS | {"command_template", "command_topic", "max", "min", "mode", "pattern", "retain",
                           "state_topic", "value_template"},
}
PLATFORM_REQUIRED = {"sensor": {"state_topic"}, "text": {"command_topic"}}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
               "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# Sensor device classes a meter reader could use, with the units and state classes HA allows.
DEVICE_CLASSES: dict[str, tuple[set[str], set[str]]] = {
    "duration": ({"d", "h", "min", "s", "ms", "µs"}, {"measurement", "total", "total_increasing"}),
    "energy": ({"Wh", "kWh", "MWh", "GWh", "TWh", "J", "kJ", "MJ", "GJ", "cal", "kcal", "Mcal", "Gcal"},
               {"total", "total_increasing"}),
    "gas": ({"m³", "ft³", "CCF", "L", "MCF"}, {"total", "total_increasing"}),
    "water": ({"L", "m³", "ft³", "CCF", "gal", "MCF"}, {"total", "total_increasing"}),
    "volume": ({"L", "mL", "m³", "ft³", "CCF", "gal", "fl. oz.", "MCF"}, {"total", "total_increasing"}),
}
TEXT_MODES = {"text", "password"}
DISCOVERY_TOPIC = re.compile(r"^(?P<prefix>[^/#+]+)/(?P<platform>sensor|text)/(?P<node>[A-Za-z0-9_-]+)/"
                             r"(?P<object>[A-Za-z0-9_-]+)/config$")
TOPIC_KEYS = ("state_topic", "command_topic", "availability_topic", "json_attributes_topic")


def ha_problems(topic: str, config: dict[str, Any]) -> list[str]:
    """What Home Assistant would refuse or warn about in one discovery config; [] if none."""
    problems: list[str] = []
    m = DISCOVERY_TOPIC.match(topic)
    if m is None:
        return [f"{topic}: not <prefix>/<platform>/<node_id>/<object_id>/config"]
    platform = m["platform"]
    for key in sorted(set(config) - PLATFORM_KEYS[platform]):
        problems.append(f"{platform}: unknown key {key!r}")
    for key in sorted(PLATFORM_REQUIRED[platform] - set(config)):
        problems.append(f"{platform}: missing required key {key!r}")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        problems.append("unique_id missing: without it HA cannot tie the entity to a device")
    for key in TOPIC_KEYS:
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not value or set(value) & {"+", "#"}):
            problems.append(f"{key} is not a topic one can publish to: {value!r}")
    device = config.get("device")
    if not isinstance(device, dict):
        problems.append("device block missing")
    else:
        problems += [f"device: unknown key {k!r}" for k in sorted(set(device) - DEVICE_KEYS)]
        ids = device.get("identifiers")
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) and i for i in ids)) \
                and not device.get("connections"):
            problems.append("device needs identifiers (a list of strings) or connections")
        if not device.get("name"):
            problems.append("device has no name")
    origin = config.get("origin")
    if origin is not None and (not isinstance(origin, dict) or "name" not in origin
                               or set(origin) - ORIGIN_KEYS):
        problems.append(f"origin must have a name and only {sorted(ORIGIN_KEYS)}")
    if "availability_topic" in config and config.get("payload_available") == config.get(
            "payload_not_available"):
        problems.append("payload_available equals payload_not_available")
    category = config.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        problems.append(f"entity_category {category!r} not in {sorted(ENTITY_CATEGORIES)}")
    if platform == "sensor":
        state_class = config.get("state_class")
        if state_class is not None and state_class not in STATE_CLASSES:
            problems.append(f"state_class {state_class!r} not in {sorted(STATE_CLASSES)}")
        device_class = config.get("device_class")
        unit = config.get("unit_of_measurement")
        if device_class is not None:
            if device_class not in DEVICE_CLASSES:
                problems.append(f"device_class {device_class!r} is not one a meter reader can use")
            else:
                units, classes = DEVICE_CLASSES[device_class]
                if unit not in units:
                    problems.append(f"unit {unit!r} is not allowed for device_class {device_class!r}")
                if state_class is not None and state_class not in classes:
                    problems.append(f"state_class {state_class!r} is not allowed for {device_class!r}")
        precision = config.get("suggested_display_precision")
        if precision is not None and not (isinstance(precision, int) and precision >= 0):
            problems.append(f"suggested_display_precision must be an int >= 0, got {precision!r}")
    if platform == "text" and config.get("mode", "text") not in TEXT_MODES:
        problems.append(f"text mode {config.get('mode')!r} not in {sorted(TEXT_MODES)}")
    return problems


# ---------------------------------------------------------------- helpers


def reading(text: str = "0123456", accepted: bool = True, reason: str = "") -> Reading:
    return Reading(timestamp="2026-12-03T08:00:00.000Z", text=text, confidence=0.9731,
                   digit_confidences=(0.99,) * len(text), quad=((0, 0), (1, 0), (1, 1), (0, 1)),
                   frame_id=42, accepted=accepted, reason=reason,
                   latency_ms={"segment": 1.5, "infer": 2.25, "decode": 0.1, "total": 3.85},
                   model_sha256="4b5ea6a3c7bb" + "0" * 52)


def meter_configs(**opts: Any) -> dict[str, dict[str, Any]]:
    topics = Topics.make("digitcam", "kitchen", "homeassistant")
    defaults: dict[str, Any] = {"node_id": "kitchen", "device_name": "Water meter", "decimals": 3,
                                "unit": "m³", "device_class": "water", "state_class": "total_increasing"}
    return discovery_configs(topics, DiscoveryOptions(**(defaults | opts)))


def render(template: str, payload: str) -> str:
    jinja2 = pytest.importorskip("jinja2")
    return str(jinja2.Environment().from_string(template).render(value_json=json.loads(payload),
                                                                  value=payload))


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("opts", [
    {},
    {"device_class": "", "unit": "", "decimals": 0, "state_class": "measurement"},
    {"device_class": "energy", "unit": "kWh", "decimals": 1, "state_class": "total"},
    {"device_class": "gas", "unit": "m³", "decimals": 2, "state_class": "total_increasing"},
])
def test_discovery_configs_pass_home_assistants_schema(opts):
    configs = meter_configs(**opts)
    assert {DISCOVERY_TOPIC.match(t)["object"] for t in configs} == {  # type: ignore[index]
        "value", "confidence", "status", "latency", "set_value"}
    for topic, config in configs.items():
        assert ha_problems(topic, config) == [], topic
        # Discovery payloads travel as JSON; the unit must survive as UTF-8 text.
        assert json.loads(json.dumps(config, ensure_ascii=False)) == config
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1, "every entity belongs to the one device"


def test_the_schema_check_catches_what_home_assistant_refuses():
    # The validator must be able to fail, or the test above proves nothing.
    topic, good = next(iter(meter_configs().items()))
    broken = {
        "no unique_id": {k: v for k, v in good.items() if k != "unique_id"},
        "no state_topic": {k: v for k, v in good.items() if k != "state_topic"},
        "bad state_class": good | {"state_class": "increasing"},
        "measurement water": good | {"state_class": "measurement"},
        "water in kWh": good | {"unit_of_measurement": "kWh"},
        "device without ids": good | {"device": {"name": "x"}},
        "ids not a list": good | {"device": {"identifiers": "", "name": "x"}},
        "typo": good | {"stat_topic": "a/b"},
        "wildcard topic": good | {"state_topic": "digitcam/+/value"},
    }
    for what, config in broken.items():
        assert ha_problems(topic, config), what
    assert ha_problems("homeassistant/sensor/kitchen meter/value/config", good)


def test_value_template_gives_the_shifted_value_and_the_unit_is_separate():
    configs = meter_configs()
    value = configs["homeassistant/sensor/kitchen/value/config"]
    payload = value_payload(reading("0123456"), 3, "m³")
    assert json.loads(payload)["raw"] == "0123456"
    assert render(value["value_template"], payload) == "123.456"
    assert (value["unit_of_measurement"], value["state_class"], value["device_class"]) == (
        "m³", "total_increasing", "water")
    assert value["suggested_display_precision"] == 3
    assert value["state_topic"] == value["json_attributes_topic"] == "digitcam/kitchen/value"
    assert value["availability_topic"] == "digitcam/kitchen/availability"


def test_status_confidence_and_latency_templates_on_real_payloads():
    configs = meter_configs()
    status = configs["homeassistant/sensor/kitchen/status/config"]
    confidence = configs["homeassistant/sensor/kitchen/confidence/config"]
    latency = configs["homeassistant/sensor/kitchen/latency/config"]
    ok = reading_payload(reading(), 3)
    rejected = reading_payload(reading("0123000", accepted=False,
                                       reason="decrease 0123456 -> 123000"), 3)
    assert render(status["value_template"], ok) == "accepted"
    assert render(status["value_template"], rejected) == "rejected: decrease 0123456 -> 123000"
    long = reading_payload(reading("1", accepted=False, reason="x" * 400), 0)
    assert len(render(status["value_template"], long)) == 255  # HA's limit for a state
    assert render(confidence["value_template"], ok) == "97.3"
    assert float(render(latency["value_template"], ok)) == 3.85
    assert json.loads(rejected)["value"] == 123.0 and json.loads(rejected)["reason"].startswith("decrease")


def test_state_class_follows_the_counter_rules():
    assert state_class_for("", "", monotonic=True) == "total_increasing"
    assert state_class_for("", "water", monotonic=False) == "total"
    assert state_class_for("", "", monotonic=False) == "measurement"
    assert state_class_for("total", "", monotonic=True) == "total"


@pytest.mark.parametrize(("text", "key", "needle"), [
    ('[mqtt]\ndevice_class = "water"\n[output]\nunit = "kWh"\n', "mqtt.device_class", "m³"),
    ('[mqtt]\ndevice_class = "gas"\nstate_class = "measurement"\n[output]\nunit = "m³"\n',
     "mqtt.state_class", "total"),
    ('[mqtt]\nnode_id = "kitchen meter"\n', "mqtt.node_id", "letters"),
    ('[mqtt]\nbase_topic = "digitcam/#"\n', "mqtt.base_topic", "wildcards"),
    ('[mqtt]\npassword = "a"\npassword_file = "/x"\n', "mqtt.password_file", "not both"),
    ('[mqtt]\nca_file = "/x"\n', "mqtt.ca_file", "tls = true"),
    ("[output]\ndecimals = 12\n", "output.decimals", "out of range"),
])
def test_config_refuses_what_home_assistant_would(text, key, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.toml")
    assert info.value.key == key and needle in str(info.value)
    assert info.value.line is not None
