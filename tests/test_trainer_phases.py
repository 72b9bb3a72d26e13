"""A run's last epochs on their own mix: checked before any strip is drawn, and trained
on new strips of that mix with the optimizer carried on."""

import csv
import json

import pytest

pytest.importorskip("tensorflow")

from conftest import run_cli

from digitcam.trainer import data, train
from digitcam.trainer.config import TrainConfig, tiny


@pytest.mark.parametrize("change, message", [
    ({"final_epochs": 1}, "final_epochs needs final_kinds"),
    ({"final_epochs": 5, "final_kinds": {"handwriting": 1.0}}, "fewer than epochs"),
    ({"final_epochs": -1}, "at least 0"),
    ({"final_epochs": 1, "final_kinds": {"cursive": 1.0}}, "final_kinds: unknown kind(s) cursive"),
    ({"kinds": {"printed": -0.5, "counter": 1.0}}, "kinds: shares must be >= 0"),
    ({"empty_share": 1.0}, "empty_share must be at least 0 and below 1"),
])
def test_a_schedule_that_cannot_run_is_refused_when_read(change, message):
    raw = {**TrainConfig().to_dict(), **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.from_dict(raw)


def test_the_default_run_has_one_mix_and_round_trips_a_final_one(tmp_path):
    assert TrainConfig().final_epochs == 0
    config = TrainConfig(final_epochs=1, final_kinds={"handwriting": 0.8, "printed": 0.2})
    config.save(tmp_path / "config.json")
    loaded = TrainConfig.load(tmp_path / "config.json")
    assert loaded.final_epochs == 1 and loaded.final_kinds == {"handwriting": 0.8, "printed": 0.2}


def test_a_flag_that_breaks_the_file_s_schedule_is_one_line(tmp_path):
    TrainConfig(final_epochs=2, final_kinds={"handwriting": 1.0}).save(tmp_path / "config.json")
    result = run_cli("trainer", "train", "--config", str(tmp_path / "config.json"), "--epochs", "2",
                     "--out", str(tmp_path / "run"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr  # (TensorFlow's own start-up lines come before)
    assert result.stderr.strip().splitlines()[-1] == (
        "digitcam: error: training config: final_epochs must be at least 0 and fewer than epochs (2)")
    assert not (tmp_path / "run").exists()


def test_the_final_epochs_train_on_new_strips_of_their_own_mix(tmp_path, mnist_path, monkeypatch):
    config = tiny(TrainConfig(out_dir=str(tmp_path / "run"), mnist_path=str(mnist_path)))
    config.train_samples, config.val_samples, config.batch_size, config.workers = 192, 64, 32, 1
    config.epochs, config.patience = 3, 5
    config.final_epochs, config.final_kinds = 1, {"handwriting": 1.0}
    config.average_horizon = 8
    drawn = []
    make_split = data.make_split

    def recording(config, count, seed, digits, mix=None):
        split = make_split(config, count, seed, digits, mix)
        drawn.append((count, seed, split[2]))
        return split

    monkeypatch.setattr(data, "make_split", recording)

    class RecordingPending(data.PendingSplit):  # the final phase's strips, drawn in the background
        def __init__(self, config, count, seed, digits, mix=None):
            super().__init__(config, count, seed, digits, mix)
            self.seed = seed

        def wait(self):
            split = super().wait()
            drawn.append((self.count, self.seed, split[2]))
            return split

    monkeypatch.setattr(data, "PendingSplit", RecordingPending)
    optimizers = []
    compile_for_training = train.compile_for_training

    def counting(model, config):
        model = compile_for_training(model, config)
        optimizers.append(model.optimizer)
        return model

    monkeypatch.setattr(train, "compile_for_training", counting)
    best = train.train(config)

    validation, first, final = drawn
    assert validation[1] == config.seed + data.VAL_SEED_OFFSET
    assert first[1] == config.seed and set(first[2]) > {"handwriting"}
    assert final[1] == config.seed + data.FINAL_SEED_OFFSET and set(final[2]) == {"handwriting"}
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]  # one log, both phases
    # One optimizer for the whole run: the cosine schedule sees every step once.
    assert int(optimizers[0].iterations.numpy()) == 3 * (192 // 32)
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["epochs_run"] == 3 and best.is_file()
    # The weight average was scored and kept only if it read the validation set better.
    assert (tmp_path / "run" / "checkpoints" / "averaged.keras").is_file()
    assert summary["chosen"].startswith(("averaged (", "best epoch ("))
