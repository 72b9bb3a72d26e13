"""The previous value: kept across restarts, set by a user, shown in rejections,
and never stuck for good; and the decimal shift and unit of the published value."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from digitcam.device.previous_value import REQUEST_FILE, STATE_FILE, PreviousValueStore, write_request
from digitcam.device.stabilise import Previous, Stabiliser
from digitcam.device.value import BadValue, display, number, parse_user_value, scaled

FRAMES = ROOT / "device" / "samples" / "frames"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the stabiliser


def test_a_restored_value_keeps_its_age_for_the_rate_rule():
    clock = Clock()
    stab = Stabiliser(k=1, n=1, monotonic=True, max_rate_per_min=10, clock=clock)
    stab.restore(Previous("100", age_s=60.0))  # accepted a minute before the restart
    assert stab.offer("105", 0.9).accepted  # +5 in a minute: 5/min
    fresh = Stabiliser(k=1, n=1, monotonic=True, max_rate_per_min=10, clock=clock)
    fresh.restore(Previous("100", age_s=0.0))
    clock.now += 6.0
    verdict = fresh.offer("105", 0.9)
    assert not verdict.accepted
    assert verdict.reason == ("rate 50.0/min > 10/min (100 -> 105 in 6.0 s) "
                              "(the previous value saved by the last run)")


def test_set_previous_is_named_in_rejections_and_confirmed_once():
    stab = Stabiliser(k=1, n=1, monotonic=True, emit="change", clock=Clock())
    assert stab.offer("1234", 0.9).accepted
    stab.set_previous("5000")
    verdict = stab.offer("1240", 0.9)
    assert verdict.reason == "decrease 5000 -> 1240 (the previous value set by the user)"
    # The meter now shows the value the user set: published once, as confirmation...
    assert stab.offer("5000", 0.9).accepted
    # ... then a repeat, and a plain reason from now on.
    assert stab.offer("5000", 0.9).reason == "unchanged 5000"
    assert stab.offer("4999", 0.9).reason == "decrease 5000 -> 4999"
    assert stab.previous() == Previous("5000", 0.0, "read")


def test_a_stuck_counter_gives_way_after_recover_after_s(caplog):
    clock = Clock()
    stab = Stabiliser(k=2, n=3, monotonic=True, recover_after_s=600, clock=clock)
    stab.restore(Previous("99999", age_s=5.0))  # say, a misread that was accepted before the restart
    verdicts = []
    for _ in range(61):  # a frame every ten seconds; the second is the first with k=2 agreeing
        verdicts.append(stab.offer("01234", 0.9))
        clock.now += 10.0
    assert not any(v.accepted for v in verdicts)
    assert verdicts[0].reason.startswith("no agreement yet")
    assert verdicts[1].reason.startswith("decrease 99999 -> 1234")  # first refused at t = 10 s
    with caplog.at_level(logging.WARNING, logger="digitcam.device.stabilise"):
        assert stab.offer("01234", 0.9).accepted  # t = 610 s: refused for 600 s
    assert "01234 has been rejected for 600 s" in caplog.text
    assert stab.previous().text == "01234"
    assert not stab.offer("01233", 0.9).accepted  # the rules hold again, from the new value


def test_another_value_restarts_the_stuck_clock_and_zero_means_never():
    clock = Clock()
    stab = Stabiliser(k=1, n=1, monotonic=True, recover_after_s=100, clock=clock)
    stab.restore(Previous("500", 0.0))
    stab.offer("400", 0.9)
    clock.now += 90
    stab.offer("300", 0.9)  # a different value: its own clock
    clock.now += 20
    assert not stab.offer("300", 0.9).accepted  # 20 s for 300, not 110
    clock.now += 80
    assert stab.offer("300", 0.9).accepted
    never = Stabiliser(k=1, n=1, monotonic=True, recover_after_s=0, clock=clock)
    never.restore(Previous("500", 0.0))
    for _ in range(5):
        clock.now += 1e6
        assert not never.offer("400", 0.9).accepted


# ---------------------------------------------------------------- the store


def test_store_round_trip_with_wall_clock_age(tmp_path):
    mono, wall = Clock(50.0), Clock(1_800_000_000.0)
    store = PreviousValueStore(tmp_path, clock=mono, wall=wall)
    assert store.load() is None
    store.note(Previous("0012345", age_s=30.0, origin="read"))
    record = json.loads((tmp_path / STATE_FILE).read_text())
    assert record == {"text": "0012345", "accepted_at": 1_800_000_000.0 - 30.0, "origin": "read"}
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    wall.now += 3600  # the daemon was off for an hour
    again = PreviousValueStore(tmp_path, clock=mono, wall=wall).load()
    assert again == Previous("0012345", age_s=3630.0, origin="read")


def test_store_writes_at_most_every_min_interval_but_always_when_forced(tmp_path):
    mono = Clock()
    store = PreviousValueStore(tmp_path, min_interval_s=5.0, clock=mono)
    path = tmp_path / STATE_FILE
    store.note(Previous("1", 0.0))
    mono.now += 1
    store.note(Previous("2", 0.0))
    assert json.loads(path.read_text())["text"] == "1"  # too soon: an SD card is not written per tick
    mono.now += 5
    store.note(Previous("2", 0.0))
    assert json.loads(path.read_text())["text"] == "2"
    store.note(Previous("3", 0.0), force=True)
    assert json.loads(path.read_text())["text"] == "3"


def test_a_damaged_state_file_is_a_warning_not_a_crash(tmp_path, caplog):
    (tmp_path / STATE_FILE).write_text('{"text": "12"')
    with caplog.at_level(logging.WARNING):
        assert PreviousValueStore(tmp_path).load() is None
    assert "ignoring the saved previous value" in caplog.text


def test_requests_are_taken_once(tmp_path):
    store = PreviousValueStore(tmp_path)
    assert store.take_request() is None
    write_request(tmp_path, "0123456")
    assert store.take_request() == "0123456"
    assert not (tmp_path / REQUEST_FILE).exists()
    assert store.take_request() is None


# ---------------------------------------------------------------- decimal shift and unit


def test_decimal_shift_and_unit():
    assert number("0123456", 3) == 123.456 and str(number("0123456", 3)) == "123.456"
    assert number("0123456", 0) == 123456 and isinstance(number("0123456", 0), int)
    assert str(scaled("5", 2)) == "0.05"
    assert display("0123456", 3, "m³") == "123.456 m³"
    assert display("0120000", 3, "m³") == "120.000 m³"  # trailing zeros are digits read
    assert number("12a", 2) is None and display("12a", 2, "kWh") == "12a kWh"
    assert number("", 2) is None


@pytest.mark.parametrize(("given", "decimals", "width", "raw"), [
    ("123.456", 3, 0, "123456"), ("123.4560", 3, 0, "123456"), ("7", 3, 0, "7000"),
    ("42", 0, 8, "00000042"), ("0.5", 1, 0, "5"),
])
def test_user_values_are_read_in_published_units(given, decimals, width, raw):
    assert parse_user_value(given, decimals, width) == raw


@pytest.mark.parametrize(("given", "decimals", "width", "needle"), [
    ("1.2345", 3, 0, "more than 3 decimal"), ("abc", 0, 0, "not a number"), ("-5", 0, 0, ">= 0"),
    ("123456789", 0, 6, "more than 6 digits"), ("", 0, 0, "no value"), ("nan", 0, 0, ">= 0"),
])
def test_bad_user_values_are_one_line_errors(given, decimals, width, needle):
    with pytest.raises(BadValue, match=needle):
        parse_user_value(given, decimals, width)


# ---------------------------------------------------------------- the CLI and the daemon


def config_text(state: Path, *, monotonic: bool, decimals: int = 0) -> str:
    return f"""\
state_dir = "{state}"

[source]
spec = "replay:{FRAMES}"
fps = 0
loop = false

[stabiliser]
k = 2
n = 3
min_confidence = 0.5
monotonic = {str(monotonic).lower()}

[snapshot]
enabled = false

[console]
enabled = false

[journal]
enabled = false

[output]
decimals = {decimals}
unit = "m³"
"""


def exported(state: Path) -> list[dict[str, object]]:
    result = run_cli("log", "--state-dir", str(state), "export", "--jsonl", timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_set_value_cli_without_a_daemon_and_bad_values(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(state, monotonic=True, decimals=2))
    result = run_cli("device", "set-value", "99999.99", "--config", str(config), "--wait", "0.2")
    assert result.returncode == 0, result.stderr
    assert "previous value 99999.99 m³ (digits 9999999)" in result.stdout
    assert "it will at its next start" in result.stdout
    assert json.loads((state / REQUEST_FILE).read_text())["text"] == "9999999"
    bad = run_cli("device", "set-value", "1.234", "--config", str(config))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "digitcam: error: 1.234 has more than 2 decimal place(s) (output.decimals = 2)"]


def test_the_daemon_takes_a_set_value_shows_it_in_rejections_and_keeps_it(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(state, monotonic=True))
    given = run_cli("device", "set-value", "9999999999", "--config", str(config), "--wait", "0")
    assert given.returncode == 0, given.stderr
    run = run_cli("device", "run", "--config", str(config), timeout=300)
    assert run.returncode == 0, run.stderr
    assert "previous value set to 9999999999 by set-value" in run.stderr
    assert not (state / REQUEST_FILE).exists()
    rows = exported(state)
    decreases = [r for r in rows if str(r["reason"]).startswith("decrease")]
    assert decreases and not any(r["accepted"] for r in rows)
    assert all(str(r["reason"]).endswith("(the previous value set by the user)") for r in decreases)
    saved = json.loads((state / STATE_FILE).read_text())
    assert (saved["text"], saved["origin"]) == ("9999999999", "set")


def test_the_last_accepted_value_survives_a_restart(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(state, monotonic=False))
    first = run_cli("device", "run", "--config", str(config), timeout=300)
    assert first.returncode == 0, first.stderr
    accepted = [r for r in exported(state) if r["accepted"]]
    assert accepted
    saved = json.loads((state / STATE_FILE).read_text())
    assert saved["text"] == accepted[-1]["text"] and saved["origin"] == "read"
    second = run_cli("device", "run", "--config", str(config), "--frames", "1", timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"previous value {saved['text']} from the last run" in second.stderr


def test_the_console_shows_the_shifted_value_with_its_unit():
    import io

    from digitcam.device.reading import Reading
    from digitcam.device.sinks.console import ConsoleSink

    out = io.StringIO()
    sink = ConsoleSink(out, tty=False, decimals=3, unit="m³")
    sink.publish(Reading(timestamp="2026-12-03T08:00:00.000Z", text="0123456", confidence=0.9,
                         digit_confidences=(0.9,) * 7, quad=((0, 0), (1, 0), (1, 1), (0, 1)), frame_id=1,
                         accepted=True))
    assert out.getvalue().startswith("2026-12-03T08:00:00.000Z  123.456 m³  conf 0.900")
