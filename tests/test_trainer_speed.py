"""`digitcam trainer speed`: real training steps timed, the run's length projected from them."""

import json
import math

import pytest

pytest.importorskip("tensorflow")

from conftest import run_cli

from digitcam.trainer.config import TrainConfig, tiny
from digitcam.trainer.model import build
from digitcam.trainer.speed import time_steps


def test_the_projection_is_the_run_s_steps_at_the_median_step():
    config = tiny(TrainConfig())
    config.train_samples, config.epochs, config.batch_size = 1_000, 3, 16
    timing = time_steps(config, steps=3, warmup=1)
    assert timing.steps_per_run == math.ceil(1_000 / 16) * 3
    assert timing.fastest <= timing.seconds_per_step <= timing.slowest
    assert timing.seconds_per_step > 0
    assert timing.training_minutes == round(timing.steps_per_run * timing.seconds_per_step / 60, 1)
    assert timing.parameters == build(config.model).count_params()
    assert timing.batch_size == 16


def test_cli_prints_one_json_object_for_the_config_given(tmp_path):
    config = tiny(TrainConfig())
    config.epochs = 4
    config.save(tmp_path / "config.json")
    result = run_cli("trainer", "speed", "--config", str(tmp_path / "config.json"),
                     "--batch-size", "8", "--steps", "2", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    timing = json.loads(result.stdout)
    assert timing["batch_size"] == 8
    assert timing["steps_per_run"] == math.ceil(config.train_samples / 8) * 4


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--config", "missing.json"], "missing.json"),
])
def test_bad_arguments_get_one_line_and_a_non_zero_exit(args, message):
    result = run_cli("trainer", "speed", *args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("digitcam:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr
