"""The daemon's config: one typed tree of frozen dataclasses, read from TOML.

Every field carries its description and range in ``metadata`` so that
validation, ``digitcam device check-config`` and the example file all speak
from one place. Unknown keys are errors, not warnings: a misspelt key that is
silently ignored is a setting the user believes is active and is not.

Errors name the dotted key (``stabiliser.k``) and, best effort, the line in
the user's file, as ``FILE:LINE: KEY: problem``.

TOML is read with the standard library's ``tomllib`` (Python 3.11+; the Pi's
Debian bookworm ships 3.11). On Python 3.10 the identical ``tomli`` package is
used when installed; otherwise loading fails with a clear ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .capture import spec
from .errors import DigitcamError, ExitStatus
from .stabilise import EMIT_MODES

logger = logging.getLogger(__name__)

REGION_MODES = ("auto", "rect", "quad")
FINDERS = ("learned", "classical")
RUNTIMES = ("", "ai-edge-litert", "tflite-runtime")
ARCHIVE_MODES = ("off", "all", "low-confidence", "sample")  # sinks/archive.py
AF_MODES = ("", "continuous", "auto", "manual")


class ConfigError(DigitcamError):
    """A config file problem, located as precisely as the file allows."""

    exit_status = ExitStatus.CONFIG

    def __init__(self, problem: str, *, source: str = "", key: str = "", line: int | None = None) -> None:
        self.key = key
        self.line = line
        where = source + (f":{line}" if source and line is not None else "")
        parts = [p for p in (where, key) if p]
        super().__init__(": ".join([*parts, problem]))


def _field(default: Any, help: str, *, min: float | None = None, max: float | None = None,
           choices: tuple[str, ...] | None = None, lengths: tuple[int, ...] | None = None) -> Any:
    """A config field. ``min``/``max`` bound every number in the value (also inside
    arrays); ``lengths`` lists the allowed array lengths."""
    given = {"min": min, "max": max, "choices": choices, "lengths": lengths}
    return field(default=default, metadata={"help": help} | {k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class SourceConfig:
    spec: str = _field("replay:/usr/share/digitcam/samples",
                       "where frames come from: replay:DIR_OR_VIDEO, opencv:INDEX_OR_URL or picamera2[:N]")
    fps: float = _field(10.0, "frames per second to aim for; 0 = as fast as possible (replay only)",
                        min=0.0, max=240.0)
    loop: bool = _field(True, "replay: start again at the end instead of stopping")
    width: int = _field(640, "capture width in pixels (picamera2: even, within the sensor's largest mode)",
                        min=16, max=8192)
    height: int = _field(480, "capture height in pixels (picamera2: even, within the sensor's largest mode)",
                         min=16, max=8192)
    # The HQ camera's longest exposure is about 11 minutes; bound it there.
    exposure_us: int = _field(0, "exposure time in microseconds; 0 = automatic; longer than a frame at "
                                 "fps slows the camera to fit it", min=0, max=700_000_000)
    gain: float = _field(0.0, "analogue gain; 0 = automatic", min=0.0, max=64.0)
    af_mode: str = _field("", "picamera2 autofocus (Camera Module 3; ignored by fixed-focus cameras): "
                              "continuous, auto (one scan at start), manual (at lens_position); "
                              "\"\" = continuous, or manual when lens_position is set", choices=AF_MODES)
    lens_position: float = _field(-1.0, "manual focus in dioptres (1/metres, 0 = infinity); -1 = autofocus",
                                  min=-1.0, max=32.0)
    awb_gains: tuple[float, ...] = _field((), "white balance [red, blue] gains; [] = automatic",
                                          min=0.0, max=32.0, lengths=(0, 2))


@dataclass(frozen=True)
class RegionConfig:
    mode: str = _field("auto", "how the digit strip is found: auto (detect), rect or quad (fixed mount)",
                       choices=REGION_MODES)
    rect: tuple[int, ...] = _field((), "mode rect: [x, y, w, h] in frame pixels; [] when unused",
                                   min=0, max=100_000, lengths=(0, 4))
    quad: tuple[tuple[float, float], ...] = _field(
        (), "mode quad: four [x, y] corners in frame pixels, TL TR BR BL; [] when unused",
        min=0.0, max=100_000.0, lengths=(0, 4))
    reference_image: str = _field("", "image of the scene the rect/quad was drawn on, for alignment; "
                                      "\"\" = none")
    align: bool = _field(False, "re-align the fixed region to reference_image (for mounts that drift)")
    finder: str = _field("learned", "mode auto: learned (the strip detector) or classical (edge blobs)",
                         choices=FINDERS)
    detector: str = _field("", "mode auto, finder learned: detector bundle (.json or .tflite); "
                               "\"\" = the bundled one")
    windows: bool = _field(True, "mode auto: also read the inside of display windows (a meter's LCD "
                                 "filling the frame) on every search, beside the finder's regions")
    zoom: bool = _field(True, "mode auto, finder learned: when nothing read 0.9 sure, run the detector "
                              "again closer, inside each region it found and then inside what it "
                              "found there (a meter's face small in the frame)")
    fallback: bool = _field(True, "mode auto, finder learned: when neither the detector's regions nor the "
                                  "display windows read above min_confidence, read the classical edge "
                                  "blobs (a small number straight on a plain surface, which the detector "
                                  "misses), keeping their reads only above 1.6x min_confidence")
    track_every: int = _field(10, "mode auto, finder learned: re-read the last confident strip for up "
                                  "to N frames while the scene stands still, then search again; "
                                  "0 = search every frame", min=0, max=1000)
    # The reader's gate, not the stabiliser's vote floor: a found strip below it is a false find.
    min_confidence: float = _field(0.5, "mode auto: a frame whose best found strip reads below this "
                                        "confidence reads as no digits (a false find); a rect or quad "
                                        "is always read", min=0.0, max=1.0)


@dataclass(frozen=True)
class ModelConfig:
    path: str = _field("", "model bundle (.json or .tflite); \"\" = the bundled model")
    threads: int = _field(1, "inference threads", min=1, max=8)
    runtime: str = _field("", "inference runtime: \"\" = auto (ai-edge-litert, then tflite-runtime), "
                              "ai-edge-litert or tflite-runtime", choices=RUNTIMES)


@dataclass(frozen=True)
class StabiliserConfig:
    k: int = _field(3, "accept a reading when k of the last n frames agree on it (k <= n)", min=1, max=100)
    n: int = _field(5, "the number of recent frames that vote", min=1, max=100)
    min_confidence: float = _field(0.6, "frames below this confidence do not vote", min=0.0, max=1.0)
    monotonic: bool = _field(False, "counter: reject a value lower than the last accepted one")
    max_rate_per_min: float = _field(0.0, "counter: reject increases faster than this per minute; 0 = off",
                                     min=0.0, max=1e9)
    expected_digits: int = _field(0, "reject readings without exactly this many digits, and pass over "
                                     "regions read with another count while searching a frame; 0 = any",
                                  min=0, max=10)
    emit: str = _field("change", "every = accept every agreeing frame; change = only when the value changes",
                       choices=EMIT_MODES)
    recover_after_s: float = _field(3600.0, "counter: accept a value the counter rules have rejected this "
                                             "long (a stuck previous value); 0 = never", min=0.0, max=1e9)


@dataclass(frozen=True)
class FieldLogConfig:
    enabled: bool = _field(True, "keep every reading in an SQLite log under state_dir")
    # Above 0: the commit thread waits this long between looks, and 0 would spin it.
    commit_interval_s: float = _field(1.0, "seconds between commits (fewer SD card writes)",
                                      min=0.05, max=3600.0)
    retention_days: int = _field(365, "delete readings older than this", min=1, max=36_500)
    max_mb: int = _field(200, "delete the oldest readings beyond this size", min=1, max=1_000_000)


@dataclass(frozen=True)
class SnapshotConfig:
    enabled: bool = _field(True, "write the latest frame to path as a JPEG")
    path: str = _field("snapshot.jpg", "snapshot file; relative paths are under state_dir")
    interval_s: float = _field(1.0, "seconds between snapshot writes", min=0.05, max=86_400.0)
    keep_rejected: bool = _field(False, "also keep frames whose reading was rejected, for retraining")
    keep_dir: str = _field("rejected", "where rejected frames go; relative paths are under state_dir")
    keep_max_mb: int = _field(100, "delete the oldest kept frames beyond this size", min=1, max=1_000_000)


@dataclass(frozen=True)
class ArchiveConfig:
    mode: str = _field("off", "keep the strips read, to label and fine-tune on: off, all, "
                       "low-confidence (below below_confidence, or rejected) or sample (one in sample_every)",
                       choices=ARCHIVE_MODES)
    dir: str = _field("archive", "where kept strips go; relative paths are under state_dir")
    below_confidence: float = _field(0.8, "mode low-confidence: keep readings below this confidence",
                                     min=0.0, max=1.0)
    sample_every: int = _field(100, "mode sample: keep one reading in this many", min=1, max=1_000_000)
    max_mb: int = _field(200, "delete the oldest kept strips beyond this size", min=1, max=1_000_000)


@dataclass(frozen=True)
class ConsoleConfig:
    enabled: bool = _field(True, "print readings on standard output")


@dataclass(frozen=True)
class JournalConfig:
    enabled: bool = _field(True, "send readings to the systemd journal")


@dataclass(frozen=True)
class ProfilingConfig:
    summary_interval_s: float = _field(60.0, "seconds between latency summaries in the log; 0 = never",
                                       min=0.0, max=86_400.0)
    window: int = _field(1000, "frames the latency percentiles are computed over", min=10, max=1_000_000)


# ---- output and MQTT (issue 26): how a value is shown and where it is published
# Units Home Assistant accepts for the device classes a meter reader needs; an
# entity with any other unit is refused by HA (only in HA's log), so it is a config error here.
HA_DEVICE_CLASS_UNITS: dict[str, tuple[str, ...]] = {
    "": (),
    "energy": ("Wh", "kWh", "MWh", "GWh", "TWh", "J", "kJ", "MJ", "GJ", "cal", "kcal", "Mcal", "Gcal"),
    "gas": ("m³", "ft³", "CCF", "L", "MCF"),
    "water": ("L", "m³", "ft³", "CCF", "gal", "MCF"),
    "volume": ("L", "mL", "m³", "ft³", "CCF", "gal", "fl. oz.", "MCF"),
}
HA_STATE_CLASSES = ("", "measurement", "total", "total_increasing")
MQTT_ID_RE = re.compile(r"^[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class OutputConfig:
    decimals: int = _field(0, "digits after the decimal point: 123456 with decimals 3 is 123.456",
                           min=0, max=9)
    unit: str = _field("", "unit of the value, e.g. \"m³\" or \"kWh\"; \"\" = none")


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = _field(False, "publish readings to an MQTT broker (Home Assistant)")
    host: str = _field("localhost", "the broker's host name or address")
    port: int = _field(1883, "the broker's port (usually 1883, or 8883 with TLS)", min=1, max=65535)
    username: str = _field("", "user name; \"\" = connect anonymously")
    password: str = _field("", "password (prefer password_file, which can be kept unreadable to others)")
    password_file: str = _field("", "a file whose first line is the password; \"\" = use password")
    tls: bool = _field(False, "connect with TLS")
    ca_file: str = _field("", "TLS: the CA certificate(s) to trust; \"\" = the system's")
    tls_insecure: bool = _field(False, "TLS: do not check the broker's host name (self-signed, by IP)")
    node_id: str = _field("", "this unit's id in topics and Home Assistant ids ([A-Za-z0-9_-]); "
                              "\"\" = the host name")
    base_topic: str = _field("digitcam", "topics are BASE/NODE_ID/value, /reading, /availability, /set")
    discovery: bool = _field(True, "announce the sensors to Home Assistant (MQTT discovery)")
    discovery_prefix: str = _field("homeassistant", "Home Assistant's discovery prefix")
    device_name: str = _field("", "the device's name in Home Assistant; \"\" = digitcam NODE_ID")
    device_class: str = _field("", "Home Assistant device class of the value: energy, gas, water, volume; "
                                   "\"\" = none", choices=tuple(HA_DEVICE_CLASS_UNITS))
    state_class: str = _field("", "Home Assistant state class; \"\" = total_increasing for a monotonic "
                                  "counter, else total with a device class, else measurement",
                              choices=HA_STATE_CLASSES)
    keepalive_s: int = _field(60, "seconds between keep-alive pings; a dead link is noticed in 1.5x",
                              min=5, max=3600)
    # At most 2 messages a reading, and paho numbers messages in flight with 16 bits.
    queue_max: int = _field(10000, "readings kept while the broker is away; the oldest go first",
                            min=1, max=30000)


# ---- the status page and Prometheus /metrics (issue 26): device/web/
@dataclass(frozen=True)
class WebConfig:
    enabled: bool = _field(False, "serve the status page, its JSON and Prometheus /metrics over HTTP")
    bind: str = _field("127.0.0.1", "address to listen on; one that is not loopback needs web.password")
    port: int = _field(8321, "TCP port of the page and /metrics", min=1, max=65535)
    user: str = _field("digitcam", "HTTP basic auth user name, used when a password is set")
    password: str = _field("", "HTTP basic auth password for every path; \"\" = none (loopback binds only)")
    history: int = _field(20, "recent readings the page lists", min=1, max=1000)
    plot_hours: float = _field(24.0, "hours of accepted values the page plots from the field log",
                               min=0.01, max=87_600.0)
    plot_points: int = _field(500, "most accepted values the plot reads from the field log",
                              min=2, max=100_000)
    roi_helper: bool = _field(True, "let the page write a drawn rect or quad into the config's [region] "
                                    "(or state_dir/region.toml) and reload")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost": addresses only this machine reaches."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name could resolve anywhere


@dataclass(frozen=True)
class Config:
    state_dir: str = _field("/var/lib/digitcam", "where the field log, snapshot and kept frames live")
    source: SourceConfig = field(default_factory=SourceConfig, metadata={"help": "the camera or replay"})
    region: RegionConfig = field(default_factory=RegionConfig,
                                 metadata={"help": "where the digit strip is in the frame"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the recognition model"})
    stabiliser: StabiliserConfig = field(default_factory=StabiliserConfig,
                                         metadata={"help": "which readings are accepted"})
    fieldlog: FieldLogConfig = field(default_factory=FieldLogConfig,
                                     metadata={"help": "the SQLite log of readings"})
    snapshot: SnapshotConfig = field(default_factory=SnapshotConfig,
                                     metadata={"help": "the latest frame as a JPEG"})
    archive: ArchiveConfig = field(default_factory=ArchiveConfig,
                                   metadata={"help": "strips kept for labelling and fine-tuning"})
    console: ConsoleConfig = field(default_factory=ConsoleConfig, metadata={"help": "standard output"})
    journal: JournalConfig = field(default_factory=JournalConfig, metadata={"help": "the systemd journal"})
    profiling: ProfilingConfig = field(default_factory=ProfilingConfig,
                                       metadata={"help": "per-stage latency statistics"})
    output: OutputConfig = field(default_factory=OutputConfig,
                                 metadata={"help": "how the value is scaled and labelled"})
    mqtt: MqttConfig = field(default_factory=MqttConfig,
                             metadata={"help": "an MQTT broker and Home Assistant discovery"})
    web: WebConfig = field(default_factory=WebConfig,
                           metadata={"help": "the status page and Prometheus /metrics"})

    def state_path(self, path: str) -> Path:
        """``path`` as written if absolute, else under ``state_dir``."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.state_dir) / p


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    return parse_config(text, str(path))


def parse_config(text: str, source_name: str = "<config>") -> Config:
    parser = _toml_parser()
    try:
        raw = parser.loads(text)
    except parser.TOMLDecodeError as exc:
        # The parser's message already says "(at line L, column C)".
        raise ConfigError(f"invalid TOML: {exc}", source=source_name) from None
    cfg = _checked(raw, _Builder(text, source_name))
    logger.debug("config %s loaded", source_name)
    return cfg


def config_from(values: Mapping[str, Any], source: str) -> Config:
    """The config a command's options give as ``{section: {key: value}}``, checked as
    the same keys in a file would be; errors name ``source`` (the command)."""
    return _checked(values, _Builder("", source))


def _checked(raw: Mapping[str, Any], builder: _Builder) -> Config:
    cfg: Config = builder.build(Config, raw, "")
    _check_cross_fields(cfg, builder)
    return cfg


def _toml_parser() -> types.ModuleType:
    try:
        import tomllib

        return tomllib
    except ModuleNotFoundError:
        pass
    try:
        import tomli  # Python 3.10: tomllib's upstream, same API

        return tomli
    except ModuleNotFoundError:
        raise ConfigError("reading the config needs Python 3.11+ (tomllib) or the tomli package "
                          "(pip install tomli)") from None


_TOML_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
                    dict: "table"}


def _toml_type(value: Any) -> str:
    for py, name in _TOML_TYPE_NAMES.items():
        if isinstance(value, py):
            return name
    return type(value).__name__  # dates and times


# A leaf's type: how an error names it, and the Python types TOML's parser gives for it.
_EXPECTED: dict[Any, tuple[str, Any]] = {
    bool: ("true or false", bool), str: ("a string", str), int: ("an integer", int),
    float: ("a number", (int, float))}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Builder:
    """Turns the parsed TOML into the dataclass tree, raising on the first problem."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def error(self, key: str, problem: str) -> ConfigError:
        # Array indices are not on their own line; locate the key that holds them.
        base = key.split("[", 1)[0]
        return ConfigError(problem, source=self.source, key=key, line=find_line(self.text, base))

    def build(self, cls: type[Any], raw: Any, prefix: str) -> Any:
        if not isinstance(raw, dict):
            raise self.error(prefix.rstrip("."), f"expected a table, got {_toml_type(raw)}")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        for name in raw:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                advice = f"did you mean {hint[0]!r}?" if hint else "known: " + ", ".join(known)
                kind = "section" if isinstance(raw[name], dict) else "key"
                raise self.error(prefix + name, f"unknown {kind}; {advice}")
        values: dict[str, Any] = {}
        for name, f in known.items():
            if name not in raw:
                continue
            tp = hints[name]
            if dataclasses.is_dataclass(tp):
                values[name] = self.build(typing.cast(type[Any], tp), raw[name], prefix + name + ".")
            else:
                values[name] = self.convert(tp, raw[name], prefix + name, f.metadata)
        return cls(**values)

    def convert(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin is tuple:
            if not isinstance(value, list):
                raise self.error(key, f"expected an array, got {_toml_type(value)} {_show(value)}")
            args = typing.get_args(tp)
            lengths = meta.get("lengths")
            if len(args) == 2 and args[1] is Ellipsis:
                elem_types = [args[0]] * len(value)
                if lengths is not None and len(value) not in lengths:
                    allowed = " or ".join(str(n) for n in lengths)
                    raise self.error(key, f"expected {allowed} items, got {len(value)}")
            else:
                elem_types = list(args)
                if len(value) != len(args):
                    raise self.error(key, f"expected {len(args)} items, got {len(value)}")
            return tuple(self.convert(t, v, f"{key}[{i}]", meta)
                         for i, (t, v) in enumerate(zip(elem_types, value, strict=True)))
        if tp not in _EXPECTED:
            raise TypeError(f"config field {key} has an unsupported type {tp!r}")  # a bug in this module
        what, python_types = _EXPECTED[tp]
        # TOML booleans are Python ints; "threads = true" is a mistake, not 1.
        if not isinstance(value, python_types) or (tp is not bool and isinstance(value, bool)):
            raise self.error(key, f"expected {what}, got {_toml_type(value)} {_show(value)}")
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        if tp is float and not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {value}")
        value = float(value) if tp is float else value
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(key, f"{value} is out of range {lo}..{hi}")
        return value


def _check_cross_fields(cfg: Config, b: _Builder) -> None:
    """Rules that involve more than one key, or the shape of a string."""
    src = cfg.source
    found = spec.problem(src)  # capture/spec.py owns source kinds and what each takes
    if found is not None:
        raise b.error(f"source.{found[0]}", found[1])
    if src.af_mode == "manual" and src.lens_position < 0:
        raise b.error("source.af_mode", "manual focus needs source.lens_position (dioptres, >= 0)")
    if src.af_mode in ("continuous", "auto") and src.lens_position >= 0:
        raise b.error("source.lens_position", f"is for manual focus, but af_mode is {src.af_mode!r}")
    st = cfg.stabiliser
    if st.k > st.n:
        # Blame the key the user actually wrote, so the line number points at it.
        if find_line(b.text, "stabiliser.k") is None:
            raise b.error("stabiliser.n", f"must be >= stabiliser.k ({st.k}), got {st.n}")
        raise b.error("stabiliser.k", f"must be <= stabiliser.n ({st.n}), got {st.k}")
    region = cfg.region
    if region.mode == "rect" and not region.rect:
        raise b.error("region.rect", "mode \"rect\" needs rect = [x, y, w, h]")
    if region.mode == "quad" and not region.quad:
        raise b.error("region.quad", "mode \"quad\" needs four [x, y] corners")
    if region.rect and min(region.rect[2:]) < 1:
        raise b.error("region.rect", f"width and height must be >= 1, got {list(region.rect)}")
    if region.align and not region.reference_image:
        raise b.error("region.align", "needs region.reference_image")
    web = cfg.web
    if web.enabled and not web.password and not is_loopback(web.bind):
        raise b.error("web.password", f"needed when web.bind ({web.bind}) is not a loopback address")
    _check_mqtt(cfg, b)


def _check_mqtt(cfg: Config, b: _Builder) -> None:
    mq = cfg.mqtt
    if not MQTT_ID_RE.match(mq.node_id):
        raise b.error("mqtt.node_id", f"only letters, digits, _ and - are allowed, got {mq.node_id!r}")
    for key, topic in (("mqtt.base_topic", mq.base_topic), ("mqtt.discovery_prefix", mq.discovery_prefix)):
        if not topic or any(c in topic for c in "+#\0") or topic.startswith("/") or topic.endswith("/"):
            raise b.error(key, f"expected a topic without wildcards or outer slashes, got {topic!r}")
    if mq.password and mq.password_file:
        raise b.error("mqtt.password_file", "give password or password_file, not both")
    if (mq.ca_file or mq.tls_insecure) and not mq.tls:
        raise b.error("mqtt.ca_file" if mq.ca_file else "mqtt.tls_insecure", "needs tls = true")
    units = HA_DEVICE_CLASS_UNITS[mq.device_class]
    if mq.device_class and cfg.output.unit not in units:
        raise b.error("mqtt.device_class", f"{mq.device_class!r} needs output.unit to be one of "
                                           f"{', '.join(units)}; got {cfg.output.unit!r}")
    if mq.device_class and mq.state_class == "measurement":
        raise b.error("mqtt.state_class", f"device class {mq.device_class!r} takes total or "
                                          "total_increasing, not measurement")


# Key characters only, so the last line of a multi-line array ("  [1, 2]") is not a header.
_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_\-.\"' ]+?)\s*\]\]?\s*(#.*)?$")


def _norm_dotted(raw: str) -> str:
    """``"a" . b`` -> ``a.b``: headers and dotted keys may quote and space their parts."""
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def find_line(text: str, dotted: str) -> int | None:
    """The 1-based line where ``dotted`` is set or its table opens; None if not found.

    Best effort: it follows ``[table]`` headers and (dotted) keys, which covers
    the files people write by hand; keys inside inline tables are not located.
    """
    current = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            current = _norm_dotted(header.group(1))
            if current == dotted:
                return lineno
            continue
        if current and not dotted.startswith(current + "."):
            continue
        relative = dotted[len(current) + 1:] if current else dotted
        key, eq, _ = line.partition("=")
        if eq and _norm_dotted(key) == relative:
            return lineno
    return None
