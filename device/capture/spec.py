"""Source kinds and their options: the one owner of ``--source SPEC`` strings and
of which ``[source]`` settings each kind takes. Config validation, the daemon,
``device bench`` and ``check-source`` all ask here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DigitcamError
from .base import FrameSource

if TYPE_CHECKING:
    from ..config import SourceConfig

FORMS = "replay:DIR_OR_VIDEO, opencv:INDEX_OR_URL (camera index, video file or rtsp/http URL), picamera2[:N]"


def split(spec: str) -> tuple[str, str]:
    """(kind, argument) of a SPEC; a ValueError naming the forms for a bad one."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if (kind in ("replay", "opencv") and arg) or (kind == "picamera2" and (not arg or arg.isdigit())):
        return kind, arg
    raise ValueError(f"bad source {spec!r}: use one of {FORMS}")


def problem(cfg: SourceConfig) -> tuple[str, str] | None:
    """The first (key, problem) of a ``[source]`` section for its kind; None when it is fine."""
    try:
        kind, _ = split(cfg.spec)
    except ValueError as exc:
        return "spec", str(exc)
    if cfg.fps == 0 and kind != "replay":
        return "fps", "0 (as fast as possible) is for replay sources only"
    if kind == "picamera2":
        for key, value in (("width", cfg.width), ("height", cfg.height)):
            if value % 2:
                return key, f"picamera2 needs an even {key}, got {value}"
    return None


def options(cfg: SourceConfig) -> dict[str, Any]:
    """Only the options the named source takes, with 0/-1 'automatic' left out (fps 0: a
    replay as fast as it goes, a camera at its own rate)."""
    kind, _ = split(cfg.spec)
    if kind == "replay":
        return {"fps": cfg.fps, "loop": cfg.loop}
    if kind == "opencv":
        return {"width": cfg.width, "height": cfg.height, **({"fps": cfg.fps} if cfg.fps > 0 else {})}
    picamera2: dict[str, Any] = {"size": (cfg.width, cfg.height)}
    if cfg.fps > 0:
        picamera2["framerate"] = cfg.fps
    if cfg.exposure_us > 0:
        picamera2["exposure_us"] = cfg.exposure_us
    if cfg.gain > 0:
        picamera2["analogue_gain"] = cfg.gain
    if cfg.af_mode:
        picamera2["af_mode"] = cfg.af_mode
    if cfg.lens_position >= 0:
        picamera2.update(af_mode="manual", lens_position=cfg.lens_position)
    if len(cfg.awb_gains) == 2:
        picamera2["colour_gains"] = (cfg.awb_gains[0], cfg.awb_gains[1])
    return picamera2


def make_source(cfg: SourceConfig) -> FrameSource:
    """The (not yet open) source a ``[source]`` section describes, with the options its
    kind takes; a bad SPEC or option is a one-line DigitcamError."""
    from .opencv_source import OpenCVSource  # OpenCV and picamera2 load only when a source is made
    from .picamera2_source import Picamera2Source
    from .replay import ReplaySource

    try:
        kind, arg = split(cfg.spec)
        given = options(cfg)
        if kind == "replay":
            return ReplaySource(arg, **given)
        if kind == "opencv":  # a bare integer is a camera index; anything else is a path or URL
            return OpenCVSource(int(arg) if arg.isdigit() else arg, **given)
        return Picamera2Source(*([int(arg)] if arg else []), **given)
    except ValueError as exc:
        raise DigitcamError(str(exc)) from None
