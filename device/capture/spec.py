"""``--source SPEC`` strings to frame sources."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from .base import FrameSource
from .opencv_source import OpenCVSource
from .picamera2_source import Picamera2Source
from .replay import ReplaySource

logger = logging.getLogger(__name__)

FORMS = "replay:DIR_OR_VIDEO, opencv:INDEX_OR_URL (camera index, video file or rtsp/http URL), picamera2[:N]"


def parse_source(spec: str, **options: Any) -> FrameSource:
    """Build (not open) the source a SPEC names; ``options`` go to its constructor
    (replay: fps, loop; opencv: width, height, fps, timeout_s; picamera2: the
    camera controls). Raises ValueError with a one-line message on a bad SPEC
    or an option the source does not take."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    source_type: type[FrameSource]
    args: list[Any]
    if kind == "replay" and arg:
        source_type, args = ReplaySource, [arg]
    elif kind == "opencv" and arg:
        # A bare integer is a camera index; anything else is a path or URL.
        source_type, args = OpenCVSource, [int(arg) if arg.isdigit() else arg]
    elif kind == "picamera2" and (not arg or arg.isdigit()):
        source_type, args = Picamera2Source, [int(arg)] if arg else []
    else:
        raise ValueError(f"bad source {spec!r}: use one of {FORMS}")
    _check_options(kind, source_type, len(args), options)
    return source_type(*args, **options)


def _check_options(kind: str, source_type: type[FrameSource], n_positional: int,
                   options: dict[str, Any]) -> None:
    """Unknown options as a one-line ValueError, not a TypeError from deep inside."""
    parameters = list(inspect.signature(source_type.__init__).parameters.values())[1 + n_positional:]
    accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"source {kind} does not take option(s) {', '.join(unknown)}; "
                         f"it takes {', '.join(accepted)}")
