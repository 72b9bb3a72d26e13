"""``digitcam device check-source FILE``: does this install load the camera the config names?

``deploy push`` runs it on the target before it switches releases, because
the daemon's own health check cannot see this failure: on a Pi, apt's
picamera2 imports simplejpeg compiled against apt's numpy 1.24, and a pip
numpy 2 in the venv makes that import fail, while a replay config (the
default) reads its sample frames happily. So it imports the modules of the
configured source, and picamera2 as well whenever the system has it, since a
later switch of the config to the camera must find it working.

``--open`` also opens the source and reads one frame (not done by deploy: the
running daemon holds the camera until the switch; its health check then
counts frames).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import TYPE_CHECKING

from .capture import spec
from .config import SourceConfig, load_config
from .errors import DigitcamError, ExitStatus, one_line

if TYPE_CHECKING:
    from .cli import Env

# What each kind of source imports when it opens.
SOURCE_MODULES = {"replay": ("cv2",), "opencv": ("cv2",), "picamera2": ("picamera2",)}


def add_check_source(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check-source", help="check that the configured source's modules load",
                       description="Import the modules the configured source needs (and picamera2 "
                                   "when the system has it); with --open, also read one frame.")
    p.add_argument("file", metavar="FILE", help="the TOML config, e.g. /etc/digitcam/digitcam.toml")
    p.add_argument("--open", action="store_true", help="also open the source and read one frame")
    p.set_defaults(handler=run_check_source)


def check_imports(kind: str) -> list[str]:
    """One line per module that loads; DigitcamError at the first that does not."""
    import numpy as np

    from .capture.picamera2_source import PICAMERA2_BROKEN

    lines = [f"numpy {np.__version__} from {_where(np)}"]
    names = list(SOURCE_MODULES.get(kind, ()))
    if "picamera2" not in names and importlib.util.find_spec("picamera2") is not None:
        names.append("picamera2")
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # ImportError, or ValueError from a compiled module built for another numpy
            problem = one_line(exc)
            if name == "picamera2":
                raise DigitcamError(PICAMERA2_BROKEN.format(problem=problem, numpy=np.__version__)) from None
            raise DigitcamError(f"{name} does not load: {problem}") from None
        version = getattr(module, "__version__", "")
        lines.append(f"{name} {version} from {_where(module)}".replace("  ", " "))
    return lines


def _where(module: object) -> str:
    path = str(getattr(module, "__file__", "") or "?")
    return path.rsplit("/", 2)[0] if path.endswith("__init__.py") else path.rsplit("/", 1)[0]


def open_once(cfg: SourceConfig) -> str:
    from .capture.base import SourceError

    source = spec.make_source(cfg)
    try:
        source.open()
        frame = source.read()
    except SourceError as exc:
        raise DigitcamError(str(exc)) from None
    finally:
        source.close()
    if frame is None:
        raise DigitcamError(f"{source.name} delivered no frame")
    height, width = frame.image.shape[:2]
    return f"{source.name}: read a {width}x{height} frame"


def run_check_source(args: argparse.Namespace, env: Env) -> int:
    cfg = load_config(args.file)
    kind, _ = spec.split(cfg.source.spec)
    for line in check_imports(kind):
        print(f"  {line}", file=env.stdout)
    if args.open:
        print(f"  {open_once(cfg.source)}", file=env.stdout)
    print(f"{args.file}: source {kind} loads", file=env.stdout)
    return int(ExitStatus.OK)
