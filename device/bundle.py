"""The model bundle contract: ``NAME.tflite`` beside ``NAME.json``.

Loading checks the metadata against the file (sha256) and against the model
itself (input and output shapes and dtypes), so a bundle that disagrees with
itself is refused with one line that names the file and the mismatch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import BundleError

FORMAT = "digitcam-model"
FORMAT_VERSION = 1
DEFAULT_NAME = "digits"


@dataclass(frozen=True)
class BundleMeta:
    json_path: Path
    tflite_path: Path
    alphabet: str
    blank_index: int
    height: int
    width: int
    channels: int
    input_dtype: str
    time_steps: int
    decoder: str
    max_length: int
    sha256: str
    raw: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1


def default_bundle_path() -> Path:
    """The bundle shipped inside the device package."""
    return Path(str(resources.files("digitcam.device") / "models" / f"{DEFAULT_NAME}.json"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(path: str | Path | None) -> tuple[Path, Path]:
    """(json, tflite) for a bundle given by either file, or the default bundle."""
    if path is None:
        json_path = default_bundle_path()
    else:
        p = Path(path)
        if p.is_dir():
            raise BundleError(f"{p}: is a directory; give the bundle's .json or .tflite")
        json_path = p.with_suffix(".json")
    return json_path, json_path.with_suffix(".tflite")


def read_meta(path: str | Path | None = None) -> BundleMeta:
    json_path, tflite_path = resolve(path)
    for p in (json_path, tflite_path):
        if not p.is_file():
            raise BundleError(f"{p}: model bundle file not found")
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{json_path}: not valid JSON metadata ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"{json_path}: not a digitcam model bundle (format != {FORMAT!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{json_path}: bundle format version {raw.get('format_version')!r} "
            f"is not supported (expected {FORMAT_VERSION})"
        )
    try:
        inp, out = raw["input"], raw["output"]
        meta = BundleMeta(
            json_path=json_path,
            tflite_path=tflite_path,
            alphabet=str(raw["alphabet"]),
            blank_index=int(raw["blank_index"]),
            height=int(inp["height"]),
            width=int(inp["width"]),
            channels=int(inp["channels"]),
            input_dtype=str(inp["dtype"]),
            time_steps=int(out["time_steps"]),
            decoder=str(raw["decoder"]),
            max_length=int(raw["max_length"]),
            sha256=str(raw["sha256"]),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{json_path}: metadata is missing or has a bad field ({exc})") from None
    if meta.decoder != "ctc-greedy":
        raise BundleError(f"{json_path}: unsupported decoder {meta.decoder!r}")
    if not 0 <= meta.blank_index <= len(meta.alphabet):
        raise BundleError(f"{json_path}: blank_index {meta.blank_index} is outside the alphabet")
    actual = sha256_of(tflite_path)
    if actual != meta.sha256:
        raise BundleError(
            f"{tflite_path}: sha256 mismatch: metadata says {meta.sha256[:12]}…, "
            f"file is {actual[:12]}…"
        )
    return meta


def check_against_model(meta: BundleMeta, input_detail: dict[str, Any],
                        output_detail: dict[str, Any]) -> None:
    """Refuse a model whose tensors disagree with its metadata."""
    want_in = [1, meta.height, meta.width, meta.channels]
    got_in = [int(d) for d in input_detail["shape"]]
    if got_in != want_in:
        raise BundleError(f"{meta.tflite_path}: input shape {got_in} does not match metadata {want_in}")
    got_dtype = getattr(input_detail["dtype"], "__name__", str(input_detail["dtype"]))
    if got_dtype != meta.input_dtype:
        raise BundleError(
            f"{meta.tflite_path}: input dtype {got_dtype} does not match metadata {meta.input_dtype}"
        )
    want_out = [1, meta.time_steps, meta.num_classes]
    got_out = [int(d) for d in output_detail["shape"]]
    if got_out != want_out:
        raise BundleError(
            f"{meta.tflite_path}: output shape {got_out} does not match metadata {want_out}"
        )
