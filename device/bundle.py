"""The model bundle contract: ``NAME.tflite`` beside ``NAME.json``.

One schema, as dataclasses, for both bundles the device loads: the recogniser's
(:class:`RecogniserBundle`) and the strip detector's (:class:`DetectorBundle`).
The trainer builds these objects and writes them with :func:`write`; the device
reads them with :func:`load`, so the two sides cannot drift apart. A key the
schema does not name is kept in ``extra`` and written back, so re-writing a bundle
never drops what a newer trainer recorded.

Loading checks the metadata against the file (sha256) and, for the recogniser,
against the model itself (input and output shapes and dtypes), so a bundle that
disagrees with itself is refused with one line that names the file and the mismatch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from .errors import BundleError

FORMAT = "digitcam-model"
DETECTOR_FORMAT = "digitcam-detector"
FORMAT_VERSION = 1
DEFAULT_NAME = "digits"
DETECTOR_NAME = "strips"
INT8 = "full-int8 (per-channel weights)"

# How the device makes each model's input (preprocess.fit_strip for the recogniser,
# detector.StripDetector.probabilities for the detector): written into every bundle.
RECOGNISER_PREPROCESS = ("grey; scale to height keeping aspect, squeeze if wider, "
                         "a margin of the border median on both sides (device/preprocess.py)")
DETECTOR_PREPROCESS = "grey frame resized to width x height (area)"
RECOGNISER_MEANING = "per-column logits over the alphabet with the blank at blank_index"
DETECTOR_MEANING = "probability that the cell lies inside a digit strip"

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "an object", list: "a list"}


class _Invalid(Exception):
    """A schema violation; :func:`load` adds the file's name."""


R = TypeVar("R", bound="Record")


@dataclass(frozen=True, kw_only=True)
class Record:
    """A JSON object with typed keys (the dataclass fields) and ``extra`` for the rest.

    A field typed ``X | None`` with the default None is optional: absent in the
    file, None here, and left out again when written. An optional key the file gives
    as null is kept in ``extra``, so it is written back as null.
    """

    extra: dict[str, Any] = field(default_factory=dict)
    _RESERVED: ClassVar[tuple[str, ...]] = ()  # keys read and written outside the fields

    @classmethod
    def from_dict(cls: type[R], raw: Any, where: str = "") -> R:
        if not isinstance(raw, dict):
            raise _Invalid(f"{repr(where) if where else 'metadata'} must be an object, not {_kind(raw)}")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            key = f"{where}.{f.name}" if where else f.name
            if f.name not in raw:
                if f.default is dataclasses.MISSING:
                    raise _Invalid(f"metadata has no {key!r}")
                continue
            if (value := _checked(raw[f.name], hints[f.name], key)) is not None:
                values[f.name] = value
        unset = {k for k in raw if k not in values}  # unnamed, or an optional null
        values["extra"] = {k: raw[k] for k in unset if k not in cls._RESERVED}
        record = cls(**values)
        record.check()
        return record

    def check(self) -> None:
        """Rules beyond the types; raise :class:`_Invalid`."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (value is None and f.default is None):
                continue
            out[f.name] = value.to_dict() if isinstance(value, Record) else value
        out.update((k, v) for k, v in self.extra.items() if k not in out)  # a set field wins
        return out


def _kind(value: Any) -> str:
    text = json.dumps(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _checked(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value, key)
    want = origin or hint
    if want is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif want is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, want)
    if not ok:
        raise _Invalid(f"{key!r} must be {_TYPE_NAMES.get(want, want.__name__)}, not {_kind(value)}")
    return value


@dataclass(frozen=True, kw_only=True)
class InputSpec(Record):
    """The model's input tensor (batch 1) and how the device fills it."""

    height: int
    width: int
    channels: int
    dtype: str
    layout: str | None = None
    preprocess: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecogniserOutput(Record):
    """Scores per column of the strip, over the alphabet and the blank."""

    time_steps: int
    classes: int | None = None
    meaning: str | None = None


@dataclass(frozen=True, kw_only=True)
class DetectorOutput(Record):
    """A strip probability per cell of the frame's grid; a cell is ``stride`` input pixels."""

    height: int  # cells
    width: int
    stride: int | None = None
    meaning: str | None = None


@dataclass(frozen=True, kw_only=True)
class Bundle(Record):
    """What both bundles share. ``format`` and its version are checked before the fields
    are read; ``KEYS`` is the order the keys are written in (the shipped files' order, so
    a bundle written again is the same text)."""

    FORMAT: ClassVar[str]
    KIND: ClassVar[str]
    NAME: ClassVar[str]  # the shipped bundle's, in device/models
    KEYS: ClassVar[tuple[str, ...]]
    _RESERVED = ("format", "format_version")
    name: str | None = None
    model_file: str | None = None
    sha256: str
    input: InputSpec
    quantization: str | None = None
    training: dict[str, Any] | None = None  # the trainer's config: the recipe that made it
    git_revision: str | None = None
    metrics: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = super().to_dict()
        ordered = {k: keys.pop(k) for k in self.KEYS if k in keys}
        return {"format": self.FORMAT, "format_version": FORMAT_VERSION, **ordered, **keys}


@dataclass(frozen=True, kw_only=True)
class RecogniserBundle(Bundle):
    FORMAT = FORMAT
    KIND = "model"
    NAME = DEFAULT_NAME
    KEYS = ("name", "model_file", "sha256", "alphabet", "blank_index", "input", "output", "decoder",
            "max_length", "quantization", "training", "git_revision", "metrics", "finetune")
    alphabet: str
    blank_index: int
    output: RecogniserOutput
    decoder: str
    max_length: int
    finetune: list[dict[str, Any]] | None = None  # the fine-tune steps on top of ``training``

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1

    def check(self) -> None:
        if self.decoder != "ctc-greedy":
            raise _Invalid(f"unsupported decoder {self.decoder!r}")
        if not 0 <= self.blank_index <= len(self.alphabet):
            raise _Invalid(f"blank_index {self.blank_index} is outside the alphabet")


@dataclass(frozen=True, kw_only=True)
class DetectorBundle(Bundle):
    FORMAT = DETECTOR_FORMAT
    KIND = "detector"
    NAME = DETECTOR_NAME
    KEYS = ("name", "model_file", "sha256", "input", "output", "threshold", "quantization", "training",
            "git_revision", "metrics")
    output: DetectorOutput
    threshold: float


B = TypeVar("B", bound=Bundle)


@dataclass(frozen=True)
class Loaded(Generic[B]):
    """A checked bundle: where its two files are, and its metadata."""

    json_path: Path
    bundle: B

    @property
    def tflite_path(self) -> Path:
        return self.json_path.with_suffix(".tflite")

    # The input size and the checksum: what every user of either model asks first.
    @property
    def height(self) -> int:
        return self.bundle.input.height

    @property
    def width(self) -> int:
        return self.bundle.input.width

    @property
    def sha256(self) -> str:
        return self.bundle.sha256


BundleMeta = Loaded[RecogniserBundle]


def shipped(cls: type[Bundle]) -> Path:
    """The ``.json`` of the ``cls`` bundle shipped inside the device package."""
    return Path(str(resources.files("digitcam.device") / "models" / f"{cls.NAME}.json"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(path: str | Path | None, default: Path) -> Path:
    """The .json of a bundle given by either file, or ``default``."""
    if path is None:
        return default
    if Path(path).is_dir():
        raise BundleError(f"{Path(path)}: is a directory; give the bundle's .json or .tflite")
    return Path(path).with_suffix(".json")


def parse(raw: Any, cls: type[B], source: str | Path) -> B:
    """The schema object for a bundle's parsed JSON; one-line :class:`BundleError` when
    the format, its version, a key or a type is wrong. ``source`` names it in errors."""
    if not isinstance(raw, dict) or raw.get("format") != cls.FORMAT:
        raise BundleError(f"{source}: not a digitcam {cls.KIND} bundle (format != {cls.FORMAT!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{source}: {cls.KIND} bundle format version {raw.get('format_version')!r} "
                          f"is not supported (expected {FORMAT_VERSION})")
    try:
        return cls.from_dict(raw)
    except _Invalid as exc:
        raise BundleError(f"{source}: {exc}") from None


def load(json_path: Path, cls: type[B]) -> B:
    """Read and check one bundle: its JSON against the schema, its ``.tflite`` against
    the recorded sha256."""
    return _checked_sha(parse(_read(json_path, cls.KIND), cls, json_path), json_path)


def load_any(json_path: Path) -> RecogniserBundle | DetectorBundle:
    """:func:`load` with the schema its ``format`` names (a recogniser's by default)."""
    raw = _read(json_path, "model")
    if isinstance(raw, dict) and raw.get("format") == DetectorBundle.FORMAT:
        return _checked_sha(parse(raw, DetectorBundle, json_path), json_path)
    return _checked_sha(parse(raw, RecogniserBundle, json_path), json_path)


def _read(json_path: Path, kind: str) -> Any:
    for p in (json_path, json_path.with_suffix(".tflite")):
        if not p.is_file():
            raise BundleError(f"{p}: {kind} bundle file not found")
    try:
        return json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{json_path}: unreadable {kind} metadata, not valid JSON ({exc})") from None


def _checked_sha(meta: B, json_path: Path) -> B:
    tflite_path = json_path.with_suffix(".tflite")
    actual = sha256_of(tflite_path)
    if actual != meta.sha256:
        raise BundleError(f"{tflite_path}: sha256 mismatch: metadata says {meta.sha256[:12]}…, "
                          f"file is {actual[:12]}…")
    return meta


def write(meta: Bundle, json_path: Path) -> Path:
    """The one way a bundle's JSON is written (two-space indent, a final newline)."""
    json_path.write_text(json.dumps(meta.to_dict(), indent=2) + "\n", encoding="utf-8")
    return json_path


def read(path: str | Path | None, cls: type[B]) -> Loaded[B]:
    """The ``cls`` bundle at ``path`` (either file), or the shipped one, checked."""
    json_path = resolve(path, shipped(cls))
    return Loaded(json_path, load(json_path, cls))


def check_against_model(meta: Loaded[Any], input_detail: dict[str, Any], output_detail: dict[str, Any],
                        want_out: list[int]) -> None:
    """Refuse a model whose tensors disagree with its metadata (``want_out``: the
    output shape the metadata implies, which differs by kind)."""
    checks = (("input shape", [int(d) for d in input_detail["shape"]],
               [1, meta.height, meta.width, meta.bundle.input.channels]),
              ("input dtype", getattr(input_detail["dtype"], "__name__", str(input_detail["dtype"])),
               meta.bundle.input.dtype),
              ("output shape", [int(d) for d in output_detail["shape"]], want_out))
    for what, got, want in checks:
        if got != want:
            raise BundleError(f"{meta.tflite_path}: {what} {got} does not match metadata {want}")
