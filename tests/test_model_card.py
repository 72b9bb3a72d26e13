"""The model card is written from the bundle's own metadata: what it says follows the config."""

import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("PIL")  # the card names the training faces (trainer extra)
pytest.importorskip("keras")  # and reads the network through TrainConfig

from digitcam.device import bundle
from digitcam.trainer.model_card import write_card

SHIPPED = Path(__file__).resolve().parent.parent / "device" / "models" / "digits.json"


def card_for(tmp_path: Path, meta: dict) -> str:
    return write_card(tmp_path / "card.md", bundle.parse(meta, bundle.RecogniserBundle, "test")).read_text()


def test_card_names_the_network_and_a_final_phase_only_when_there_is_one(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["training"]["final_epochs"] = 0
    plain = card_for(tmp_path, meta)
    assert "- Network: pooled stem" in plain or "- Network: strided stem" in plain
    assert "fresh strips" not in plain

    phased = copy.deepcopy(meta)
    phased["training"].update(final_epochs=1, final_kinds={"printed": 0.1, "handwriting": 0.9})
    phased["training"]["model"].update(first_stride=2, block_convs=[1, 2, 2, 1, 1],
                                       separable_context=True)
    text = card_for(tmp_path, phased)
    assert "- The last epoch trains on" in text and "handwriting 90%" in text
    assert "strided stem" in text and "1, 2, 2, 1, 1 3×3 convolutions" in text
    phased["training"]["model"]["fold_rows"] = 4
    assert "4 rows folded into columns" in card_for(tmp_path, phased)
    assert "separable column convolutions" in text


def test_card_states_the_handwriting_accuracy_it_was_measured_at(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["metrics"]["int8"]["handwriting"]["exact"] = 0.8134
    assert "Handwriting is the weakest kind: 0.813 exact" in card_for(tmp_path, meta)


def test_card_claims_handwriting_weakest_only_when_it_is(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["metrics"]["int8"]["handwriting"]["exact"] = 0.99
    assert "Handwriting is the weakest kind" not in card_for(tmp_path, meta)


def test_card_states_how_many_lone_words_read_as_nothing_when_it_is_short(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["metrics"]["int8"]["words"] = {"n": 2000, "exact": 0.6125, "cer": 1.2}
    meta["metrics"]["float"]["words"] = {"n": 2000, "exact": 0.615, "cer": 1.2}
    assert "A word alone can read as digits: 0.61 of the `words` strips" in card_for(tmp_path, meta)
    meta["metrics"]["int8"]["words"]["exact"] = 0.99
    assert "A word alone can read as digits" not in card_for(tmp_path, meta)


def test_card_gives_the_run_s_share_of_strips_without_digits(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["training"].pop("empty_share", None)
    assert "plus 5% strips with no digits (words, rules, blank panels)." in card_for(tmp_path, meta)
    meta["training"]["empty_share"] = 0.08
    assert "plus 8% strips with no digits" in card_for(tmp_path, meta)
    assert "one word cropped close" in card_for(tmp_path, meta)


def test_card_says_which_weights_were_kept_when_the_run_averaged_them(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["training"].pop("average_horizon", None)
    assert "best epoch chosen by validation exact-match." in card_for(tmp_path, meta)
    meta["training"]["average_horizon"] = 2000
    meta["metrics"]["weights"] = "averaged (0.9140 > best epoch 0.9103)"
    text = card_for(tmp_path, meta)
    assert "weights averaged over about the last 2,000 steps" in text
    assert "kept: averaged (0.9140 > best epoch 0.9103)." in text


def test_card_names_a_snapshot_read_from_several_folders_once_with_its_folders(tmp_path):
    manifest = {"version": "abc123", "crops": 24550, "held_out_meters": ["m1", "m2"],
                "split": {"train": {"roller": 22393, "lcd": 360}, "held-out": {"roller": 1613, "lcd": 184}},
                "sources": [{"path": f"/data/meter-digits/images/{f}", "repo": "owner/snapshot",
                             "commit": "ebf9b2ba33b56a45d97b", "licence": "Apache-2.0"}
                            for f in ("collected", "jomjol_images")]
                + [{"path": "/data/other", "repo": "owner/other", "commit": "0123456789abcdef",
                    "licence": "MIT"}]}
    (tmp_path / "real-abc123.json").write_text(json.dumps(manifest))
    meta = json.loads(SHIPPED.read_text())
    meta["training"]["real_path"] = str(tmp_path / "real-abc123.npz")
    text = card_for(tmp_path, meta)
    assert ("from owner/snapshot at ebf9b2ba33b5 (Apache-2.0; folders collected, jomjol_images); "
            "owner/other at 0123456789ab (MIT), composed") in text
    assert "24,550 single-digit camera crops" in text


def test_card_says_when_a_fine_tune_drew_meter_windows(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    step = dict(meta["finetune"][0], meter_windows=0.6)
    meta["finetune"] = [meta["finetune"][0], step]
    text = card_for(tmp_path, meta)
    assert "Fine-tune step 2" in text and "60% of those counters drawn as a meter's window" in text
    assert "meter's face" not in text
    meta["finetune"][1] = dict(step, meter_faces=0.5)
    assert "50% of them on the meter's face" in card_for(tmp_path, meta)
    assert "serial number" not in card_for(tmp_path, meta)
    meta["finetune"][1] = dict(step, meter_faces=0.5, face_lines=0.5)
    assert "50% of those with the face's other print" in card_for(tmp_path, meta)
    meta["finetune"] = meta["finetune"][:1]
    assert "meter's window" not in card_for(tmp_path, meta)


def test_card_says_when_the_base_run_drew_meter_windows_and_restyled_real_strips(tmp_path):
    meta = json.loads(SHIPPED.read_text())
    meta["finetune"] = meta["finetune"][:1]  # the first step draws no meter windows
    assert "In the base run" not in card_for(tmp_path, meta)
    meta["training"] = dict(meta["training"], meter_windows=0.6, meter_faces=0.5, real_restyle=True)
    text = card_for(tmp_path, meta)
    assert ("In the base run, counters: 60% of them drawn as a meter's window" in text
            and "50% of them on the meter's face" in text and "real strips restyled" in text)
