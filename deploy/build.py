"""What a release is made of, built on the workstation: the digitcam wheel from
this source tree, and every dependency wheel for the target's platform.

A Pi in the field often has no internet, so ``pip download --platform …
--python-version … --only-binary=:all:`` collects the dependencies here, for
the target's machine, Python and glibc; the Pi installs them offline.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from .env import DeployEnv
from .errors import DeployError
from .probe import TargetInfo

logger = logging.getLogger(__name__)

# What the wheel is built from (the top level is fixed by docs/architecture.md).
SOURCE_ITEMS = ("pyproject.toml", "README.md", "LICENSE", "device", "trainer", "deploy")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info")
# The Pi extra holds numpy and OpenCV where apt's picamera2 works (see pyproject.toml).
EXTRA = "device,pi"


def source_root() -> Path:
    """The checkout this deploy package lives in."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "device").is_dir():
        raise DeployError("deploy builds the release from a digitcam source checkout, and none is "
                          f"around {root}; give --wheel FILE")
    return root


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for item in SOURCE_ITEMS:
        path = root / item
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_wheel(env: DeployEnv, root: Path | None = None) -> Path:
    """The digitcam wheel for this tree, built in a copy (the checkout stays
    clean) and cached by a hash of the sources."""
    root = root or source_root()
    out = env.cache_dir / "build" / _digest(root)
    found = sorted(out.glob("digitcam-*.whl")) if out.is_dir() else []
    if found:
        logger.info("reusing %s", found[0])
        return found[0]
    with tempfile.TemporaryDirectory(prefix="digitcam-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for item in SOURCE_ITEMS:
            path = root / item
            if path.is_dir():
                shutil.copytree(path, src / item, ignore=SKIP)
            elif path.is_file():
                shutil.copy2(path, src / item)
        dist = Path(tmp) / "dist"
        result = env.runner.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                                 "--disable-pip-version-check", "-w", str(dist), str(src)], timeout=600)
        wheels = sorted(dist.glob("digitcam-*.whl"))
        if not result.ok or not wheels:
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
            raise DeployError(f"building the digitcam wheel failed: {' / '.join(tail)}")
        check_wheel(wheels[0], root)
        out.mkdir(parents=True, exist_ok=True)
        final = out / wheels[0].name
        shutil.copy2(wheels[0], final)
    return final


def check_wheel(wheel: Path, root: Path) -> None:
    """Every module of the device package must be in the wheel: a wheel that
    lacks one installs fine and then fails on the Pi."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [f"digitcam/device/{p.relative_to(root / 'device').as_posix()}"
               for p in sorted((root / "device").rglob("*.py")) if "__pycache__" not in p.parts]
    missing = [m for m in missing if m not in names]
    if missing:
        folders = sorted({m.rsplit("/", 1)[0] for m in missing})
        raise DeployError(f"the built wheel lacks {len(missing)} device module(s) in {', '.join(folders)}: "
                          "list those packages under [tool.setuptools] packages in pyproject.toml")


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(meta_name).decode())
    return {key: list(message.get_all(key) or []) for key in ("Version", "Requires-Python", "Requires-Dist")}


def bundled_model(wheel: Path) -> bool:
    with zipfile.ZipFile(wheel) as zf:
        return any(n.startswith("digitcam/device/models/") and n.endswith(".tflite") for n in zf.namelist())


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    digitcam_wheel: str  # its file name inside ``path``

    @property
    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in self.path.iterdir()) / 2**20


def collect(env: DeployEnv, wheel: Path, info: TargetInfo, into: Path, online: bool = False) -> Wheelhouse:
    """``into`` filled with ``wheel`` and, unless ``online``, every dependency
    wheel for the target (pip's own cache makes a repeat quick)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, into / wheel.name)
    if online:
        return Wheelhouse(into, wheel.name)
    platforms = [arg for tag in info.platforms() for arg in ("--platform", tag)]
    py = info.python_tag.replace(".", "")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", *platforms, "--python-version", info.python_tag,
            "--implementation", "cp", "--abi", f"cp{py}", "--abi", "abi3", "--abi", "none",
            "--dest", str(into), f"{into / wheel.name}[{EXTRA}]"]
    result = env.runner.run(argv, timeout=1800)
    if not result.ok:
        lines = [ln for ln in (result.stderr or result.stdout).splitlines()
                 if ln.strip() and not ln.startswith("WARNING: Location")]
        raise DeployError(f"no wheels for {info.key()} ({info.arch}, Python {info.python_tag}): "
                          f"{lines[-1] if lines else 'pip download failed'}")
    return Wheelhouse(into, wheel.name)
