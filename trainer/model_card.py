"""Short, honest model cards, the recogniser's and the strip detector's, written from
the bundle's own metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from digitcam.device.bundle import DetectorBundle, RecogniserBundle

from .config import TrainConfig
from .real import INVERT_SHARE
from .synth import fonts
from .synth.camera import MIN_ROWS
from .synth.strips import KINDS


def network_summary(training: dict[str, Any]) -> str:
    """The bundle's network in words; keys older bundles lack take ModelArgs' defaults."""
    model = TrainConfig.from_dict(training).model
    stem = "strided stem" if model.first_stride == 2 else "pooled stem"
    context = "separable" if model.separable_context else "full"
    return (f"{stem}, blocks of {', '.join(map(str, model.channels))} channels with "
            f"{', '.join(map(str, model.block_convs))} 3×3 convolutions, "
            f"{model.fold_rows} rows folded into columns, head {model.head} with "
            f"{context} column convolutions dilated {', '.join(map(str, model.dilations))}")


def weakest_kind(int8: dict[str, Any]) -> str | None:
    """The synthetic kind (printed, seven-segment, counter, handwriting) read worst."""
    kinds = [k for k in KINDS if k in int8]
    return min(kinds, key=lambda k: int8[k]["exact"]) if kinds else None


def _selection(training: dict[str, Any], metrics: dict[str, Any]) -> str:
    horizon = training.get("average_horizon") or 0
    if not horizon:
        return "best epoch chosen by validation exact-match."
    kept = metrics.get("weights")
    return (f"the best epoch and the weights averaged over about the last {horizon:,} steps "
            "compared on validation exact-match" + (f", kept: {kept}." if kept else "."))


def _real_data(training: dict[str, Any]) -> list[str]:
    """Where the real crops came from (repository, commit, licence), from the set's manifest."""
    path = training.get("real_path")
    if not path:
        return []
    manifest_path = Path(path).with_suffix(".json")
    if not manifest_path.is_file():
        return [f"- Real crops: `{Path(path).name}` (its manifest is not on this machine)."]
    manifest = json.loads(manifest_path.read_text())
    # Several folders of one snapshot are one source: named once, with the folders read.
    folders: dict[tuple[str, str, str], list[str]] = {}
    for s in manifest["sources"]:
        key = (str(s.get("repo", s.get("path"))), str(s.get("commit") or s.get("revision") or "?")[:12],
               str(s.get("licence", "licence not recorded")))
        folders.setdefault(key, []).append(Path(str(s.get("path", ""))).name)
    sources = "; ".join(f"{repo} at {commit} ({licence}" + (f"; folders {', '.join(names)})"
                                                             if len(names) > 1 else ")")
                        for (repo, commit, licence), names in folders.items())
    split = manifest["split"]
    return [f"- Real crops: {manifest['crops']:,} single-digit camera crops of meters (set "
            f"{manifest['version']}) from {sources}, composed into strips of one meter (some of "
            f"several); held out by meter, never by image: {len(manifest['held_out_meters'])} "
            f"meters ({split['held-out']['roller']:,} roller and {split['held-out']['lcd']:,} LCD "
            "crops) only in the `real-*` evaluation sets. A roller digit between two values is "
            "labelled with the one further in (d.t reads d for t ≤ 4, d+1 for t ≥ 6); "
            "`real-transition` has one digit exactly half-way, read right as either; "
            "`real-register` has every window at rest but the last, as a meter shows them."]


def _meter_windows(shares: dict[str, Any], counters: str = "those counters") -> str:
    """What share of the counters (a run's or a fine-tune step's) was drawn as a meter's window."""
    return (f"{shares['meter_windows']:.0%} of {counters} drawn as a meter's window "
            "(touching light drums, thin separators with gear teeth, neighbours peeking in)"
            + (f", {shares['meter_faces']:.0%} of them on the meter's face with a mark and a "
               "unit beside the window ('V', 'm³')" if shares.get("meter_faces") else "")
            + (f", {shares['face_lines']:.0%} of those with the face's other print (a serial "
               "number) above or below it" if shares.get("face_lines") else ""))


def _base_extras(training: dict[str, Any]) -> list[str]:
    """The base run's own meter windows and restyled real strips, when its recipe drew them."""
    parts = []
    if training.get("meter_windows"):
        parts.append("counters: " + _meter_windows(training, "them"))
    if training.get("real_path") and training.get("real_restyle"):
        parts.append(f"real strips restyled: {INVERT_SHARE:.0%} in the other polarity, each on its "
                     "own tone curve")
    return [f"- In the base run, {'; '.join(parts)}."] if parts else []


def _finetune(steps: list[dict[str, Any]] | None) -> list[str]:
    if not steps:
        return []
    lines = []
    for number, step in enumerate(steps, 1):
        mix = ", ".join(f"{k} {v:.0%}" for k, v in step["replay_kinds"].items())
        real = "; ".join(str(r.get("set") or r.get("field")) for r in step["real"])
        styled = (f"; restyled: {INVERT_SHARE:.0%} in the other polarity, each on its own tone curve"
                  if step.get("restyle") else "")
        lines.append(f"- Fine-tune step {number} (`digitcam trainer finetune`) from "
                     f"{step['from_sha256'][:12]}: {step['steps']:,} steps of {step['batch_size']}, "
                     f"learning rate {step['learning_rate']} on a cosine decay, "
                     f"{step.get('real_share', 0.3):.0%} real strips ({real}{styled}) beside synthetic "
                     f"strips replayed from {mix}"
                     + (f"; {_meter_windows(step)}." if step.get("meter_windows") else "."))
    return lines


def write_card(path: Path, meta: RecogniserBundle) -> Path:
    """The recogniser's model card."""
    t = meta.training or {}
    m = meta.metrics or {}
    inp = meta.input
    final = t.get("final_epochs") or 0  # the last epochs on their own mix (TrainConfig)
    last_epochs = "The last epoch trains" if final == 1 else f"The last {final} epochs train"
    empty = TrainConfig.from_dict(t).empty_share  # older bundles: the default they had
    lines = [
        f"# Model card: {meta.name}",
        "",
        f"A fully convolutional CTC digit-string recogniser, full-integer int8 "
        f"(`{meta.model_file}`, {m.get('size_kb', '?')} KB, {m.get('parameters', '?')} "
        f"parameters). Input: uint8 grey 1×{inp.height}×{inp.width}×1 (scaling inside "
        f"the model); output: {meta.output.time_steps} columns × "
        f"{meta.output.classes} classes (alphabet `{meta.alphabet}`, blank index "
        f"{meta.blank_index}), decoded greedily on the device.",
        "",
        "## Training",
        "",
        f"- {t['train_samples']:,} synthesised strips (seed {t['seed']}), up to "
        f"{t['epochs']} epochs, batch {t['batch_size']}, Adam with cosine decay from "
        f"{t['learning_rate']}, CTC loss with the blank pinned at index "
        f"{meta.blank_index}; {_selection(t, m)}",
        "- Mix: " + ", ".join(f"{k} {v:.0%}" for k, v in t["kinds"].items())
        + f", plus {empty:.0%} strips with no digits (words, rules, blank panels"
        + ("; half of them one word cropped close, italics among them)." if "empty_share" in t
           else ")."),
        *([f"- {last_epochs} on {t['train_samples']:,} fresh strips mixed "
           + ", ".join(f"{k} {v:.0%}" for k, v in t["final_kinds"].items())
           + ", the learning rate at the tail of its decay."] if final else []),
        *_real_data(t),
        *_base_extras(t),
        *_finetune(meta.finetune),
        f"- Network: {network_summary(t)}.",
        "- Printed: " + ", ".join(p.rstrip("-") for p in fonts.TRAIN_PRINTED) + " faces (Debian "
        "font packages) and OpenCV Hershey faces; regular, bold, condensed, either polarity. "
        "Seven-segment: DSEG7 faces and drawn segments with ghost segments, LCD and LED; "
        "in training also backlit panels (dim, low contrast, decimal points, bezel, glare) "
        "and meter-register panels (wide cells, thin segments, no ghosts, a point). "
        "Roller counters: boxed drums, red last drums, shading, drums caught up to half-way. "
        "Real crops are re-cut and re-lit for training, never for evaluation. "
        "Handwriting: MNIST training split only, part of it reshaped (small rotation, shear, "
        "scale per digit).",
        "- Camera: loose crops with margins, rules, unit words and partial neighbours; "
        "rotation, perspective, uneven light, low contrast, blur, motion, low resolution "
        f"(never below {MIN_ROWS} rows), noise, JPEG. Part of every kind's strips are tight "
        "and undamaged (the most for handwriting), part lightly damaged, the rest hard; "
        "some of the first two cut close above and below, digits up to the full height; "
        "half of all strips scaled to the model's height by a random resampler (nearest "
        "to bicubic, some sharpened) "
        "(shares in trainer/synth/strips.py at the revision below).",
        f"- Git revision {meta.git_revision}; the full config is in the bundle's JSON.",
        "",
        "## Measured accuracy (exact match; through the device's own inference code)",
        "",
        "| set | float | int8 | int8 CER |",
        "|---|---|---|---|",
    ]
    for name, r in m.get("int8", {}).items():
        f = m.get("float", {}).get(name, {})
        lines.append(f"| {name} | {f.get('exact', float('nan')):.4f} | {r['exact']:.4f} | "
                     f"{r['cer']:.4f} |")
    lines += [
        "",
        "Synthetic sets use an evaluation seed that training never saw "
        f"({t.get('eval_samples', 1000):,} strips each, drawn with the training mix of "
        "camera damage; handwriting from MNIST's test split). `seed` is the 2017 protocol: MNIST's test "
        "split in order, five digits a strip, 28×140, white on black, no gaps "
        "(2017 CNN+GRU: 0.88); `seed-inverted` is the same, black on white; `seed-spaced` puts 10 "
        "black columns between its cells, and `lone` reads each test digit on its own. "
        "`words` is a lone word (METER, Total, Model, Soil, Tool, …; none a training word) in "
        "held-out faces, cropped as the strip detector crops one: the share read as nothing.",
        "",
        "## Limits",
        "",
        *([f"- Handwriting is the weak kind: on the seed protocol this model reads "
           f"{m['int8']['seed']['exact']:.2f}, below the 2017 CNN+GRU's 0.88. Its errors there are "
           "a dropped or a misread digit about equally, an extra digit less often."]
          if m.get("int8", {}).get("seed", {}).get("exact", 1.0) < 0.88 else []),
        *([f"- Handwritten digits set apart read worse than touching ones: MNIST's test digits "
           f"one at a time {m['int8']['lone']['exact']:.4f}, the seed strips with 10 pixels "
           f"between cells {m['int8']['seed-spaced']['exact']:.4f}."]
          if min(m.get("int8", {}).get(name, {}).get("exact", 1.0)
                 for name in ("lone", "seed-spaced")) < 0.97 else []),
        *([f"- Handwriting is the weakest kind: {m['int8']['handwriting']['exact']:.3f} exact on "
           "synthetic strips of MNIST test digits with camera damage, below the clean seed "
           "protocol; whole frames of handwriting read worst too (BENCHMARKS.md)."]
          if weakest_kind(m.get("int8", {})) == "handwriting" else []),
        *([f"- A word alone can read as digits: {m['int8']['words']['exact']:.2f} of the "
           "`words` strips read as nothing, the rest as the digits their letters resemble "
           "(l as 1, o as 0, S as 5). In whole frames the device's frame reader drops part of "
           "them (too few digits for the box's width); `trainer scenes --words` measures that."]
          if m.get("int8", {}).get("words", {}).get("exact", 1.0) < 0.97 else []),
        "- Digits only, 1 to 10 of them; no decimal point, sign or letters.",
        *(["- Trained on synthetic strips only: real photographs of real meters may differ in ways "
           "the synthesis misses (glare, dirt, reflections on glass, unusual fonts)."]
          if not t.get("real_path") else
          ["- Real data covers roller counters and a few LCD meters of one public collection: "
           "its LCD held-out split is small (two meters), so the `real-lcd` number is a rough one."]),
        "- Expects one line of digits, roughly horizontal (±5°), filling most of the strip's "
        "height; finding the strip in a frame is the device segmenter's job.",
        "- Confidence is the least certain column on the best path: useful for thresholds, "
        "not a calibrated probability.",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def _scene_options(training: dict[str, Any]) -> str:
    """The `trainer detector` scene options a run used, as the card's words."""
    scenes, parts = training.get("scenes") or {}, []
    if scenes.get("backlit"):
        parts.append("seven-segment strips drawn as backlit and meter-register LCD panels")
    if scenes.get("by_height_share"):
        parts.append(f"{scenes['by_height_share']:.0%} of strips sized by their height")
    if scenes.get("big_words"):
        parts.append("clutter words at any size a strip may be")
    if training.get("plain_share"):
        parts.append(f"{training['plain_share']:.0%} plain frames (a number or, "
                     f"{training.get('plain_word_share', 0.5):.0%} of them, a word straight on a "
                     "flat surface)")
    return "\n  In training also: " + "; ".join(parts) + "." if parts else ""


def write_detector_card(path: Path, meta: DetectorBundle) -> Path:
    """A short model card for the shipped detector, from its metadata."""
    t, m = meta.training or {}, meta.metrics or {}
    text = f"""# strips — the strip detector

A {m.get('parameters', '?'):,}-parameter fully convolutional int8 network
(`trainer/detector.py`): a 320x240 grey view of the frame in, the probability
that each 4x4 cell (8x8 pixels of a 640x480 frame) lies inside a digit strip
out. The device turns connected regions above {meta.threshold} into candidate
quadrilaterals (`device/detector.py`) and the recogniser reads them.

- Trained on {t['train_scenes']:,} synthetic `train`-split scenes for {t['epochs']} epochs
  ({m.get('train_minutes', '?')} min on the 2-core workstation): training type faces,
  MNIST's training split, seven-segment and roller-counter strips, textured
  backgrounds with meter-housing panels, rules, boxes, circles and words
  (none of the test scenes' words), {t['none_share']:.0%} frames without digits.{_scene_options(t)}
- Validation (int8, through the device's own code, {t['val_scenes']} training-split scenes):
  cell precision {m.get('cell_precision')}, cell recall {m.get('cell_recall')}.
- The pipeline's accuracy with it is measured on `test`-split scenes (held-out
  faces, MNIST's test split, other words): see BENCHMARKS.md.
- Limits: one strip per region; two strips closer than ~8 px merge, and regions of
  one line within a height of each other are read as one strip; frames are
  squeezed to 4:3, so very wide frames see thin digits; it has never seen a
  real photograph, only synthetic ones.
- git revision {meta.git_revision}, sha256 {meta.sha256[:12]}.
"""
    path.write_text(text)
    return path
