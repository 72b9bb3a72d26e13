"""The MQTT sink against a real mosquitto broker on loopback, received by a real
paho subscriber: discovery, availability and the last will, the offline queue
through a broker killed and restarted, TLS, user name and password, and the
set-value command topic; and the whole daemon through a broker restart.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import DIGITCAM, ROOT, run_cli
from mosquitto import Broker, Subscriber
from test_ha_discovery import ha_problems

from digitcam.device.config import config_from
from digitcam.device.reading import Reading, utc_now
from digitcam.device.sinks.ha_discovery import Topics

# The tflite-runtime venv installs digitcam without the device extra: no paho there.
pytest.importorskip("paho.mqtt", reason="paho-mqtt (the device extra) is not installed")
from digitcam.device.sinks.mqtt import MqttSink

FRAMES = ROOT / "device" / "samples" / "frames"
TOPICS = Topics.make("digitcam", "testnode", "homeassistant")


def reading(i: int, accepted: bool = True) -> Reading:
    return Reading(timestamp=f"2026-12-03T08:00:{i % 60:02d}.000Z", text=f"{1000 + i:07d}", confidence=0.95,
                   digit_confidences=(0.95,) * 7, quad=((0, 0), (1, 0), (1, 1), (0, 1)), frame_id=i,
                   accepted=accepted, reason="" if accepted else "no agreement yet",
                   latency_ms={"total": 3.0}, model_sha256="ab" * 32)


def make_sink(port: int, *, on_set_value: Callable[[str], None] | None = None, client_id: str = "",
              **mqtt: object) -> MqttSink:
    """A sink from the config the daemon would give it (``mqtt``: keys of [mqtt])."""
    options = {"enabled": True, "host": "127.0.0.1", "port": port, "node_id": "testnode",
               "device_name": "Test meter", "device_class": "water", "state_class": "total_increasing"}
    config = config_from({"mqtt": options | mqtt, "output": {"decimals": 3, "unit": "m³"}}, "test_mqtt")
    return MqttSink(config, on_set_value, client_id=client_id, reconnect_min_s=1, reconnect_max_s=2)


def frame_ids(sub: Subscriber, topic: str = TOPICS.value) -> set[int]:
    return {json.loads(p)["frame_id"] for p in sub.on(topic)}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", extra="allow_anonymous true")
    b.start()
    yield b
    b.kill()


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port, ("digitcam/#", "homeassistant/#"))
    yield sub
    sub.close()


# ---------------------------------------------------------------- the sink in-process


def test_discovery_availability_and_readings_reach_a_subscriber(broker, subscriber):
    sink = make_sink(broker.port)
    sink.start()
    try:
        subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 10, "online")
        for i in range(3):
            sink.publish(reading(i))
        sink.publish(reading(3, accepted=False))
        subscriber.wait_for(lambda s: len(s.on(TOPICS.reading)) >= 4, 10, "four readings")
    finally:
        sink.stop()
    subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["offline"], 10, "offline on stop")
    values = [json.loads(p) for p in subscriber.on(TOPICS.value)]
    assert [v["frame_id"] for v in values] == [0, 1, 2]  # accepted only, in order
    assert values[0] | {"timestamp": ""} == {"value": 1.0, "raw": "0001000", "unit": "m³", "confidence": 0.95,
                                             "timestamp": "", "frame_id": 0, "latency_ms": 3.0}
    statuses = [json.loads(p)["status"] for p in subscriber.on(TOPICS.reading)]
    assert statuses == ["accepted"] * 3 + ["rejected"]
    config_topics = {m.topic for m in subscriber.messages if m.topic.endswith("/config")}
    assert config_topics == {f"homeassistant/sensor/testnode/{o}/config"
                             for o in ("value", "confidence", "status", "latency")} | {
        "homeassistant/text/testnode/set_value/config"}
    for topic in config_topics:  # what went over the wire passes HA's schema
        assert ha_problems(topic, json.loads(subscriber.on(topic)[0])) == [], topic
    value_config = json.loads(subscriber.on("homeassistant/sensor/testnode/value/config")[0])
    assert value_config["state_class"] == "total_increasing" and value_config["unit_of_measurement"] == "m³"


def test_discovery_is_sent_again_when_home_assistant_comes_online(broker, subscriber):
    sink = make_sink(broker.port)
    sink.start()
    try:
        topic = "homeassistant/sensor/testnode/value/config"
        subscriber.wait_for(lambda s: len(s.on(topic)) == 1, 10, "discovery")
        assert sink.subscribed.wait(10)
        subscriber.client.publish("homeassistant/status", "online", qos=1)
        subscriber.wait_for(lambda s: len(s.on(topic)) == 2, 10, "discovery again")
    finally:
        sink.stop()


def test_broker_killed_and_restarted_nothing_queued_is_lost(broker, subscriber):
    sink = make_sink(broker.port)
    sink.start()
    try:
        subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 10, "online")
        sink.publish(reading(0))
        subscriber.wait_for(lambda s: frame_ids(s) == {0}, 10, "the first value")
        broker.kill()
        deadline = time.monotonic() + 10
        while sink.connected and time.monotonic() < deadline:  # the sink notices the dead socket
            time.sleep(0.05)
        assert not sink.connected
        for i in range(1, 21):  # the broker is down: queued, and publish() neither blocks nor raises
            started = time.monotonic()
            sink.publish(reading(i))
            sink.publish(reading(100 + i, accepted=False))
            assert time.monotonic() - started < 0.5
        assert len(sink.queue) == 20
        broker.start()
        subscriber.wait_for(lambda s: frame_ids(s) >= set(range(21)), 20, "the 20 queued values")
        subscriber.wait_for(lambda s: 120 in frame_ids(s, TOPICS.reading), 10, "the latest rejected status")
    finally:
        sink.stop()
    got = [json.loads(p)["frame_id"] for p in subscriber.on(TOPICS.value)]
    assert sorted(set(got)) == list(range(21))
    # Only the last rejected reading is kept through an outage; accepted ones all are.
    rejected = {f for f in frame_ids(subscriber, TOPICS.reading) if f >= 100}
    assert rejected == {120}
    assert sink.dropped == 0


def test_a_full_offline_queue_drops_the_oldest(tmp_path):
    broker = Broker(tmp_path / "broker", extra="allow_anonymous true")  # not started: the broker is down
    sink = make_sink(broker.port, queue_max=5)
    sink.start()
    try:
        for i in range(8):
            sink.publish(reading(i))
        assert [m[0][1] for m in sink.queue] and sink.dropped == 3
        assert [json.loads(m[0][1])["frame_id"] for m in sink.queue] == [3, 4, 5, 6, 7]
        broker.start()
        sub = Subscriber(broker.port, ("digitcam/#",))
        try:
            sub.wait_for(lambda s: frame_ids(s) == {3, 4, 5, 6, 7}, 20, "the five newest values")
        finally:
            sub.close()
    finally:
        sink.stop()
        broker.kill()


def test_set_value_command_topic(broker, subscriber):
    # A retained command (left by a mistake) arrives on every subscribe: it must not
    # set the value again at each reconnect.
    subscriber.client.publish(TOPICS.set, "999", qos=1, retain=True).wait_for_publish(5)
    received: list[str] = []
    sink = make_sink(broker.port, on_set_value=received.append)
    sink.start()
    try:
        subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 10, "online")
        assert sink.subscribed.wait(10)  # to its set topic, right after announcing itself
        subscriber.client.publish(TOPICS.set, "123.456", qos=1)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        sink.stop()
    assert received == ["123.456"]


def test_username_and_password_from_a_file(tmp_path):
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "meter", "s3cret pass"], check=True,
                   capture_output=True)
    broker = Broker(tmp_path / "broker", extra=f"allow_anonymous false\npassword_file {passwd}")
    broker.start()
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret pass\n")
    wrong = make_sink(broker.port, client_id="digitcam-wrong", username="meter", password="nope")
    good = make_sink(broker.port, username="meter", password_file=str(secret))
    sub = None
    try:
        sub = Subscriber(broker.port, ("digitcam/#",), auth=("meter", "s3cret pass"))
        wrong.start()
        good.start()
        sub.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 10, "online")
        good.publish(reading(1))
        wrong.publish(reading(2))
        sub.wait_for(lambda s: 1 in frame_ids(s), 10, "the value from the right password")
        time.sleep(0.5)
        assert frame_ids(sub) == {1}
        assert not wrong.connected and len(wrong.queue) == 1  # refused, kept for later
    finally:
        wrong.stop()
        good.stop()
        if sub is not None:
            sub.close()
        broker.kill()


def test_tls_with_a_self_signed_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    broker = Broker(tmp_path / "broker", extra=f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}")
    broker.start()
    trusting = make_sink(broker.port, host="localhost", tls=True, ca_file=str(cert))
    # The system's CAs do not know this certificate: no connection, and no exception either.
    distrusting = make_sink(broker.port, host="localhost", tls=True, client_id="digitcam-distrust")
    sub = None
    try:
        sub = Subscriber(broker.port, ("digitcam/#",), tls_ca=cert)
        trusting.start()
        distrusting.start()
        sub.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 10, "online over TLS")
        trusting.publish(reading(7))
        distrusting.publish(reading(8))
        sub.wait_for(lambda s: 7 in frame_ids(s), 10, "the value over TLS")
        time.sleep(0.5)
        assert frame_ids(sub) == {7} and not distrusting.connected
    finally:
        trusting.stop()
        distrusting.stop()
        if sub is not None:
            sub.close()
        broker.kill()
    assert "OpenSSL" in broker.log_text() or "TLS" in broker.log_text() or "ssl" in broker.log_text().lower()


# ---------------------------------------------------------------- the daemon


def daemon_config(state: Path, port: int, extra: str = "") -> str:
    return f"""\
state_dir = "{state}"

[source]
spec = "replay:{FRAMES}"
fps = 20.0
loop = true

[stabiliser]
k = 2
n = 3
min_confidence = 0.5
emit = "change"

[fieldlog]
commit_interval_s = 0.2

[snapshot]
enabled = false

[console]
enabled = false

[journal]
enabled = false

[output]
decimals = 2
unit = "m³"

[mqtt]
enabled = true
host = "127.0.0.1"
port = {port}
node_id = "testnode"
device_class = "water"
{extra}"""


def spawn_daemon(config: Path, stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as err:
        return subprocess.Popen([*DIGITCAM, "device", "run", "--config", str(config)], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def accepted_in_field_log(state: Path) -> list[dict[str, object]]:
    result = run_cli("log", "--state-dir", str(state), "export", "--jsonl", timeout=60)
    assert result.returncode == 0, result.stderr
    return [r for r in map(json.loads, result.stdout.splitlines()) if r["accepted"]]


def test_daemon_through_a_broker_restart_loses_nothing(tmp_path, broker, subscriber):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(daemon_config(state, broker.port))
    stderr = tmp_path / "daemon.stderr"
    proc = spawn_daemon(config, stderr)
    try:
        subscriber.wait_for(lambda s: len(s.on(TOPICS.value)) >= 3, 60, "three values from the daemon")
        broker.kill()
        down = utc_now()
        time.sleep(4.0)  # readings go on: into the field log, and into the MQTT queue
        assert proc.poll() is None, stderr.read_text()
        up = utc_now()
        broker.start()
        # Back on the broker within its backoff (1, 2, 4 ... s): a fresh "online", not the retained one.
        subscriber.wait_for(lambda s: sum(m.topic == TOPICS.availability and m.payload == "online"
                                          and not m.retain for m in s.messages) >= 2, 30, "online again")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, stderr.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["offline"], 10, "offline on stop")
    log = stderr.read_text()
    assert "lost the broker" in log and "queued reading(s)" in log, log
    assert "Traceback" not in log
    logged = accepted_in_field_log(state)
    received = {json.loads(p)["timestamp"]: json.loads(p) for p in subscriber.on(TOPICS.value)}
    assert len(logged) >= 5
    # The field log went on during the outage (UTC ISO timestamps sort as text).
    assert any(down < str(r["timestamp"]) < up for r in logged), (down, up)
    missing = [r["timestamp"] for r in logged if r["timestamp"] not in received]
    assert missing == [], f"{len(missing)} of {len(logged)} accepted readings never reached the broker"
    for row in logged:  # the same reading, scaled: 2 decimals, the raw digits kept
        got = received[str(row["timestamp"])]
        assert got["raw"] == row["text"] and got["unit"] == "m³"
        if str(row["text"]).isdigit():
            assert got["value"] == pytest.approx(int(str(row["text"])) / 100)
    # Some of them were sent while the broker was down.
    queued = [line for line in log.splitlines() if "queued reading(s)" in line]
    assert any(" sent 0 " not in line for line in queued), queued


def test_daemon_set_topic_and_last_will(tmp_path, broker, subscriber):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(daemon_config(state, broker.port, extra="keepalive_s = 5\n"))
    stderr = tmp_path / "daemon.stderr"
    proc = spawn_daemon(config, stderr)
    try:
        subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["online"], 60, "online")
        saved = state / "previous-value.json"
        deadline = time.monotonic() + 20
        next_try = 0.0
        while time.monotonic() < deadline:
            if saved.exists() and json.loads(saved.read_text())["origin"] == "set":
                break
            if time.monotonic() >= next_try:  # until the daemon has subscribed; setting twice is harmless
                subscriber.client.publish(TOPICS.set, "98765.43", qos=1)
                next_try = time.monotonic() + 2.0
            time.sleep(0.1)
        record = json.loads(saved.read_text())
        assert (record["text"], record["origin"]) == ("9876543", "set")
        proc.kill()  # no clean stop: the broker sends the last will
        proc.wait(10)
        subscriber.wait_for(lambda s: s.on(TOPICS.availability)[-1:] == ["offline"], 15, "the last will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "previous value set to 9876543 by mqtt" in stderr.read_text()
