"""The status page's parts that need no browser: the ROI helper's config edit, the
bounded rejection labels, the camera reconnect count, the loopback rule."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import tomllib
from conftest import run_cli

from digitcam.device.capture.resilient import SourceState
from digitcam.device.config import ConfigError, is_loopback, parse_config
from digitcam.device.fieldlog import FieldLog
from digitcam.device.frame_reader import FrameResult
from digitcam.device.reading import Reading
from digitcam.device.stabilise import Stabiliser

# The tflite-runtime venv installs digitcam without the device extra: no prometheus_client there.
pytest.importorskip("prometheus_client", reason="prometheus_client (the device extra) is not installed")
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from digitcam.device.region_file import REGION_FILE, load_daemon_config, with_region
from digitcam.device.web.history import value_history
from digitcam.device.web.live import LiveState
from digitcam.device.web.metrics import Metrics, rejection_kind
from digitcam.device.web.roi import BadRect, write_region

USER_CONFIG = """\
# /etc/digitcam/digitcam.toml -- the meter in the cellar
state_dir = "/var/lib/digitcam"   # keep on the SD card

[source]
spec = "picamera2"
fps = 5.0

[region]
# drawn by hand last winter
mode = "quad"
quad = [[10, 10], [110, 12], [110, 42], [10, 40]]

[stabiliser]
k = 3
n = 5
"""


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


# ---------------------------------------------------------------- the ROI helper's write


def test_rect_region_replaces_two_keys_and_keeps_the_rest_of_the_file(tmp_path):
    path = tmp_path / "digitcam.toml"
    path.write_text(USER_CONFIG)
    os.chmod(path, 0o640)  # it may hold the page's password: the write keeps it private

    config, written = write_region(path, "rect", [40, 200, 320, 90], tmp_path / "state" / REGION_FILE)

    text = path.read_text()
    assert written == path
    assert config.region.mode == "rect" and config.region.rect == (40, 200, 320, 90)
    assert parse_config(text).region == config.region  # what the daemon reloads is what we said
    old, new = tomllib.loads(USER_CONFIG), tomllib.loads(text)
    assert new["region"] == {**old["region"], "mode": "rect", "rect": [40, 200, 320, 90]}
    assert {k: v for k, v in new.items() if k != "region"} == {k: v for k, v in old.items() if k != "region"}
    for line in USER_CONFIG.splitlines():
        if "#" in line:
            assert line in text, line  # every comment, where it was
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["digitcam.toml"]  # no temporary file left


@pytest.mark.parametrize("text", [
    'state_dir = "/tmp/x"\n',  # no [region] at all: a table is added
    'state_dir = "/tmp/x"\nregion.mode = "auto"\n',  # dotted keys
    'region = { mode = "auto", finder = "classical" }\n',  # an inline table
])
def test_rect_region_in_any_toml_spelling_of_region(text):
    new = with_region(text, {"mode": "rect", "rect": [1, 2, 3, 4]})
    region = parse_config(new).region
    assert (region.mode, region.rect) == ("rect", (1, 2, 3, 4))
    assert {k: v for k, v in tomllib.loads(new).items() if k != "region"} == \
        {k: v for k, v in tomllib.loads(text).items() if k != "region"}


def test_a_config_that_would_not_load_is_not_written(tmp_path):
    path = tmp_path / "digitcam.toml"
    broken = USER_CONFIG + "\n[stabilser]\nk = 2\n"  # a misspelt section: the daemon would refuse it
    path.write_text(broken)
    with pytest.raises(ConfigError, match="stabilser"):
        write_region(path, "rect", [0, 0, 10, 10], tmp_path / REGION_FILE)
    assert path.read_text() == broken


TILTED = [[102, 210], [498, 188], [503, 262], [106, 290]]  # a strip seen at an angle, TL TR BR BL


def test_quad_region_is_written_and_read_back_as_the_daemon_reads_it(tmp_path):
    path = tmp_path / "digitcam.toml"
    path.write_text(USER_CONFIG.replace('mode = "quad"', 'mode = "auto"'))
    config, written = write_region(path, "quad", TILTED, tmp_path / REGION_FILE)
    assert written == path
    assert (config.region.mode, config.region.quad) == ("quad", tuple(tuple(map(float, p)) for p in TILTED))
    assert tomllib.loads(path.read_text())["region"] == {"mode": "quad", "quad": TILTED}
    assert "# drawn by hand last winter" in path.read_text()


@pytest.mark.parametrize(("mode", "region"), [
    *(("rect", rect) for rect in ([0, 0, 0, 10], [-1, 0, 5, 5], [1, 2, 3], [1.5, 2, 3, 4],
                                  [True, 2, 3, 4], "1,2,3,4", None)),
    *(("quad", quad) for quad in (
        [[0, 0], [10, 0], [10, 10]],  # three corners
        [[0, 0], [10, 0], [10, 10], [0, "10"]],  # not a number
        [[0, 0], [10, 0], [10, 10], [0, True]],  # a bool is not a coordinate
        [[0, 0], [10, 0], [10, 10], [-1, 10]],  # outside the frame
        [[0, 0], [0, 10], [10, 10], [10, 0]],  # anticlockwise: the strip would be read mirrored
        [[10, 0], [10, 10], [0, 10], [0, 0]],  # starts at the top-right: the strip would be read on its side
        [[0, 0], [10, 10], [10, 0], [0, 10]],  # crossed (a bow tie)
        [[0, 0], [50, 0], [30, 2], [60, 3]],  # not convex
        [[0, 0], [3, 0], [3, 3], [0, 3]],  # 9 px²: a slip of the mouse
        [[0, 0], [1e400, 0], [10, 10], [0, 10]],  # infinite
        "0,0,10,0,10,10,0,10",
    )),
])
def test_a_malformed_region_is_refused_before_any_file_is_touched(tmp_path, mode, region):
    path = tmp_path / "digitcam.toml"
    path.write_text(USER_CONFIG)
    with pytest.raises(BadRect):
        write_region(path, mode, region, tmp_path / REGION_FILE)
    assert path.read_text() == USER_CONFIG
    assert not (tmp_path / REGION_FILE).exists()


def test_a_read_only_config_gets_its_region_from_the_state_dir(tmp_path):
    """The systemd unit's case: /etc/digitcam is read-only to the daemon, its state dir is not.
    The region goes into STATE_DIR/region.toml and the daemon's config loader merges it."""
    state = tmp_path / "state"
    path = tmp_path / "digitcam.toml"
    path.write_text(USER_CONFIG.replace('"/var/lib/digitcam"', f'"{state}"'))
    before = path.read_text()
    config, written = write_region(path, "quad", TILTED, state / REGION_FILE, in_place=False)
    assert written == state / REGION_FILE and path.read_text() == before
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert tomllib.loads(written.read_text()) == {"region": {"mode": "quad", "quad": TILTED}}
    loaded = load_daemon_config(path)
    assert loaded.region == config.region and loaded.region.mode == "quad"
    assert loaded.stabiliser.k == 3 and loaded.source.spec == "picamera2"  # the rest is the config's
    checked = run_cli("device", "check-config", str(path), timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "fixed quadrilateral [[102.0, 210.0]" in checked.stdout  # what the daemon will run
    assert f"(region from {written}, saved by the status page" in checked.stdout
    # A rect saved later replaces the quad; saved in place (a writable config), the file goes.
    write_region(path, "rect", [1, 2, 30, 40], state / REGION_FILE, in_place=False)
    assert load_daemon_config(path).region.mode == "rect"
    write_region(path, "quad", TILTED, state / REGION_FILE, in_place=True)
    assert not written.exists() and load_daemon_config(path).region.mode == "quad"


@pytest.mark.parametrize(("text", "needle"), [
    ('[region]\nmode = "quad"\nquad = [[1, 2]]\n', "region.quad"),  # validated as a config is
    ('[region]\nmode = "rect"\nrect = [1, 2, 3, 4]\n[web]\nenabled = true\n', "may only hold"),
    ('[region]\nfinder = "classical"\n', "may only hold"),
    ("[region\n", "invalid TOML"),
])
def test_a_bad_region_file_stops_the_daemon_with_one_line(tmp_path, text, needle):
    state = tmp_path / "state"
    state.mkdir()
    path = tmp_path / "digitcam.toml"
    path.write_text(f'state_dir = "{state}"\n')
    (state / REGION_FILE).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_daemon_config(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- metrics


def every_reason() -> list[str]:
    """Each kind of rejection the real stabiliser gives, driven through its rules."""
    clock = [0.0]
    st = Stabiliser(k=2, n=3, min_confidence=0.5, monotonic=True, max_rate_per_min=10,
                    expected_digits=3, clock=lambda: clock[0], emit="change")
    reasons = [st.offer("", 0.0).reason, st.offer("123", 0.1).reason, st.offer("12", 0.9).reason,
               st.offer("123", 0.9).reason]
    assert st.offer("123", 0.9).accepted
    reasons.append(st.offer("123", 0.9).reason)  # unchanged
    st.offer("100", 0.9)
    reasons.append(st.offer("100", 0.9).reason)  # a decrease
    st.offer("999", 0.9)
    reasons.append(st.offer("999", 0.9).reason)  # too fast
    letters = Stabiliser(k=1, n=1, monotonic=True)
    reasons.append(letters.offer("1a2", 0.9).reason)  # not a whole number
    return reasons


def test_every_stabiliser_reason_has_its_own_bounded_label():
    reasons = every_reason()
    kinds = [rejection_kind(r) for r in reasons]
    assert "other" not in kinds, list(zip(reasons, kinds, strict=True))
    assert len(set(kinds)) == len(kinds) == 8, kinds  # eight rules, eight labels
    assert rejection_kind("something new") == "other"


def test_metrics_count_frames_readings_rejections_and_reconnects(tmp_path):
    log = tmp_path / "fieldlog.sqlite3"
    metrics = Metrics(log)
    metrics.source_state(SourceState.CONNECTED)  # the first connection is not a reconnect
    metrics.frame({"segment": 2.0, "infer": 0.5, "total": 3.0}, True, "")
    metrics.frame({"segment": 4.0, "infer": 0.5, "total": 5.0}, False, "low confidence 0.41 < 0.60")
    metrics.frame({"segment": 4.0, "infer": 0.5, "total": 5.0}, False, "low confidence 0.22 < 0.60")
    metrics.accepted(41.7, 1_700_000_000.0)
    metrics.accepted(None, 1_700_000_001.0)  # not digits: counted, the last value stays
    metrics.source_state(SourceState.LOST)
    metrics.source_state(SourceState.LOST)
    metrics.source_state(SourceState.CONNECTED)
    log.write_bytes(b"x" * 4096)
    Path(f"{log}-wal").write_bytes(b"y" * 1000)

    text = generate_latest(metrics.registry).decode()
    assert sample(text, "digitcam_frames_total") == 3
    assert sample(text, "digitcam_readings_total") == 2
    assert sample(text, "digitcam_rejections_total", reason="low_confidence") == 2
    assert sample(text, "digitcam_stage_latency_seconds_count", stage="segment") == 3
    assert sample(text, "digitcam_stage_latency_seconds_sum", stage="segment") == pytest.approx(0.010)
    assert sample(text, "digitcam_camera_reconnects_total") == 1
    assert sample(text, "digitcam_camera_connected") == 1
    assert sample(text, "digitcam_last_value") == 41.7
    assert sample(text, "digitcam_fieldlog_bytes") == 5096
    assert (sample(text, "process_resident_memory_bytes") or 0) > 0


# ---------------------------------------------------------------- the plot's data


def test_the_plot_reads_accepted_values_of_the_window_from_the_field_log(tmp_path):
    path = tmp_path / "fieldlog.sqlite3"
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

    def reading(minutes_ago: float, text: str, accepted: bool) -> Reading:
        ts = (now - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
        return Reading(ts, text, 0.9, (0.9,) * len(text), ((0, 0),) * 4, 1, accepted)

    with FieldLog(path) as log:
        for r in (reading(180, "012300", True),  # outside a 2 h window
                  reading(90, "012345", True), reading(60, "012399", False),  # rejected: not plotted
                  reading(30, "012350", True), reading(10, "0a1", True)):  # not digits: not plotted
            log.append(r)
    got = value_history(path, hours=2, max_points=100, decimals=2, unit="m³", now=now)
    assert got["error"] == "" and got["unit"] == "m³"
    assert [(p[1], p[2]) for p in got["points"]] == [(123.45, "012345"), (123.5, "012350")]
    # max_points bounds the rows read (the newest two: 012350 and the non-digit one), unscaled here.
    assert [p[1] for p in value_history(path, 2, 2, now=now)["points"]] == [12350]

    missing = value_history(tmp_path / "none.sqlite3", 2, 10)
    assert missing["points"] == [] and "no field log" in missing["error"]


# ---------------------------------------------------------------- the live view


def test_the_frame_is_encoded_once_per_new_frame_with_the_strip_drawn():
    live = LiveState(history=3)
    assert live.jpeg() is None
    image = np.full((120, 160), 90, np.uint8)
    quad = np.array([[20, 40], [140, 40], [140, 80], [20, 80]], np.float32)
    live.frame(image, 7, FrameResult("123", 0.9, (0.9,) * 3, {"total": 2.0}, quad), True, "")
    first = live.jpeg()
    assert first is not None and first[:2] == b"\xff\xd8"
    assert live.jpeg() is first  # the same frame asked again: no new encode
    import cv2
    drawn = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == (120, 160, 3)
    edge = drawn[60, 18:23].astype(int)  # the quad's left edge: green, on a grey frame
    assert (edge[:, 1] - edge[:, 2]).max() > 60, edge
    assert image.max() == 90  # the pipeline's frame itself is never drawn on
    live.frame(image, 8, FrameResult("", 0.0, ()), False, "no digits")
    assert live.jpeg() is not first

    for i in range(5):
        live.reading(Reading("t", str(i), 0.9, (0.9,), ((0, 0),) * 4, i, i % 2 == 0))
    assert [r["text"] for r in live.readings()] == ["4", "3", "2"]  # newest first, bounded
    assert live.last_accepted is not None and live.last_accepted.text == "4"


# ---------------------------------------------------------------- binding


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("meter-pi.local", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_wide_bind_needs_a_password_and_the_error_names_the_key():
    wide = '[web]\nenabled = true\nbind = "0.0.0.0"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(wide, "digitcam.toml")
    assert str(info.value) == ("digitcam.toml: web.password: needed when web.bind (0.0.0.0) "
                               "is not a loopback address")
    assert parse_config(wide + 'password = "x"\n').web.password == "x"
    assert not parse_config('[web]\nbind = "0.0.0.0"\n').web.enabled  # off: nothing listens
