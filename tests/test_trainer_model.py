"""The recogniser's options (stems, block depths, fold), and which network an existing run gets."""

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from digitcam.device.errors import DigitcamError
from digitcam.trainer.config import TrainConfig, run_config
from digitcam.trainer.model import ModelArgs, build

SMALL = {"channels": (4, 4, 4, 4, 4), "head": 8, "dilations": (1,)}


@pytest.mark.parametrize("first_stride", [1, 2])
def test_both_stems_give_one_score_column_per_four_pixels(first_stride):
    args = ModelArgs(first_stride=first_stride, **SMALL)
    net = build(args, batch_size=1)
    assert net.output_shape == (1, args.width // 4, len(args.alphabet) + 1)
    names = {layer.name for layer in net.layers}
    # Stride 2 halves the full-resolution map in the convolution itself: no pool after it.
    assert ("p1" in names) == (first_stride == 1)
    # Same weights either way: the stem choice moves compute, not parameters.
    assert net.count_params() == build(ModelArgs(first_stride=3 - first_stride, **SMALL),
                                       batch_size=1).count_params()


@pytest.mark.parametrize("first_stride", [1, 2])
def test_block_convs_add_one_3x3_convolution_each(first_stride):
    plain = build(ModelArgs(first_stride=first_stride, **SMALL), batch_size=1)
    deeper = build(ModelArgs(first_stride=first_stride, block_convs=(2, 2, 1, 1, 3), **SMALL),
                   batch_size=1)
    added = {layer.name for layer in deeper.layers} - {layer.name for layer in plain.layers}
    assert {n for n in added if n.endswith("_conv")} == {"b1_2_conv", "b2_2_conv", "b5_2_conv",
                                                         "b5_3_conv"}
    assert deeper.output_shape == plain.output_shape
    with pytest.raises(ValueError, match="block_convs"):
        build(ModelArgs(block_convs=(1, 0, 1, 1, 1), **SMALL))


def test_a_saved_config_round_trips_the_block_counts(tmp_path):
    config = TrainConfig(model=ModelArgs(block_convs=(1, 2, 2, 1, 1)))
    config.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json") == config


def test_a_bundle_s_json_loads_as_the_recipe_that_made_it():
    shipped = Path(__file__).resolve().parent.parent / "device" / "models" / "digits.json"
    recipe = json.loads(shipped.read_text())["training"]
    config = TrainConfig.load(shipped)
    assert config == TrainConfig.from_dict(recipe)
    assert config.model.fold_rows == recipe["model"]["fold_rows"] and config != TrainConfig()


def test_other_strides_are_refused():
    with pytest.raises(ValueError, match="first_stride"):
        build(ModelArgs(first_stride=4, **SMALL))


@pytest.mark.parametrize("key, shipped", [("first_stride", 1), ("fold_rows", 2)])
def test_runs_written_before_an_option_keep_the_network_they_trained(tmp_path, key, shipped):
    old = TrainConfig().to_dict()
    del old["model"][key]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert getattr(run_config(tmp_path).model, key) == shipped


def test_new_runs_keep_the_stem_they_were_trained_with(tmp_path):
    for stride in (1, 2):
        config = TrainConfig(model=ModelArgs(first_stride=stride))
        config.save(tmp_path / "config.json")
        assert run_config(tmp_path).model.first_stride == stride


def test_a_folder_without_a_config_is_not_a_run(tmp_path):
    with pytest.raises(DigitcamError, match="not a training run"):
        run_config(tmp_path)


def test_a_four_row_fold_weighs_every_row_the_last_block_sees():
    two = build(ModelArgs(**SMALL), batch_size=1)
    four = build(ModelArgs(fold_rows=4, **SMALL), batch_size=1)
    assert four.output_shape == two.output_shape
    assert "p4" in {layer.name for layer in two.layers}
    assert "p4" not in {layer.name for layer in four.layers}
    assert four.get_layer("fold_conv").kernel.shape[:2] == (4, 1)
    assert two.get_layer("fold_conv").kernel.shape[:2] == (2, 1)
    with pytest.raises(ValueError, match="fold_rows"):
        build(ModelArgs(fold_rows=3, **SMALL))
