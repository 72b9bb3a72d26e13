"""One release's files besides the wheels: the model bundle, the sample frames,
the unit, the config to install when the host has none, and a record of what
went in.

The model always travels with the release, as ``model/model.{json,tflite}``
(the device finds the ``.tflite`` beside the ``.json`` by name), so the config
can name one stable path and a rollback brings the old model back too.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DeployError, UsageError

logger = logging.getLogger(__name__)

REMOTE_BASE = "/opt/digitcam"
REMOTE_CURRENT = f"{REMOTE_BASE}/current"
REMOTE_MODEL = f"{REMOTE_CURRENT}/model/model.json"
REMOTE_SAMPLES = f"{REMOTE_CURRENT}/samples"
UNIT_NAME = "digitcam.service"


def release_name(version: str, when: float | None = None) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+]*", version):
        raise DeployError(f"version {version!r} cannot name a release directory")
    return f"{version}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(when))}"


def default_model() -> Path:
    from digitcam.device.bundle import RecogniserBundle, shipped

    return shipped(RecogniserBundle)


def check_model(path: Path) -> tuple[Path, Path, str]:
    """(json, tflite, sha256) of a bundle the device would accept on its face:
    readable metadata whose checksum matches the ``.tflite``."""
    from digitcam.device.bundle import RecogniserBundle, read
    from digitcam.device.errors import BundleError

    try:
        meta = read(path, RecogniserBundle)
    except BundleError as exc:
        raise UsageError(f"--model: {exc}") from None
    return meta.json_path, meta.tflite_path, meta.sha256


def default_config(root: Path | None) -> str:
    """The documented example config, pointed at this release's model and
    sample frames, so a fresh host reads digits at once (switch the source to
    ``picamera2`` in /etc/digitcam/digitcam.toml for the camera)."""
    example = root / "systemd" / "digitcam.toml.example" if root else None
    if example is None or not example.is_file():
        return (f'[source]\nspec = "replay:{REMOTE_SAMPLES}"\n\n[model]\npath = "{REMOTE_MODEL}"\n')
    lines, section = [], ""
    for line in example.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\s*\[([^\]]+)\]", line):
            section = m.group(1).strip()
        if section == "source" and re.match(r"spec\s*=", line):
            line = (f'# Installed by digitcam deploy: the release\'s sample frames. For the Pi camera:\n'
                    f'# spec = "picamera2"\nspec = "replay:{REMOTE_SAMPLES}"')
        elif section == "model" and re.match(r"path\s*=", line):
            line = f'path = "{REMOTE_MODEL}"'
        elif section == "console" and re.match(r"enabled\s*=", line):
            # Under systemd stdout is the journal, where the journal sink already puts each reading.
            line = "enabled = false"
        lines.append(line)
    return "\n".join(lines) + "\n"


def check_config(path: Path) -> str:
    """The config's text, after the device's own validation (errors name FILE:LINE: KEY)."""
    from digitcam.device.config import load_config

    load_config(path)
    return path.read_text(encoding="utf-8")


def config_model_path(text: str) -> str | None:
    section = ""
    for line in text.splitlines():
        if m := re.match(r"\s*\[([^\]]+)\]", line):
            section = m.group(1).strip()
        elif section == "model" and (m := re.match(r'\s*path\s*=\s*"([^"]*)"', line)):
            return m.group(1)
    return None


def git_revision(root: Path | None) -> str:
    if root is None:
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@dataclass(frozen=True)
class Payload:
    path: Path
    name: str
    wheel: Path
    record: dict[str, Any]


def make_payload(into: Path, *, name: str, wheel: Path, model: Path, unit: Path, config_text: str,
                 samples: Path | None, readme: Path | None, root: Path | None) -> Payload:
    into.mkdir(parents=True, exist_ok=True)
    json_path, tflite_path, model_sha = check_model(model)
    (into / "model").mkdir()
    shutil.copy2(json_path, into / "model" / "model.json")
    shutil.copy2(tflite_path, into / "model" / "model.tflite")
    if samples is not None and samples.is_dir():
        shutil.copytree(samples, into / "samples")
    else:
        (into / "samples").mkdir()
    shutil.copy2(unit, into / UNIT_NAME)
    (into / "digitcam.toml").write_text(config_text, encoding="utf-8")
    if readme is not None and readme.is_file():
        shutil.copy2(readme, into / "README.md")
    record = {
        "release": name,
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "model_sha256": model_sha,
        "model_from": str(model),
        "git_revision": git_revision(root),
        "built_by": f"{getpass.getuser()}@{socket.gethostname()}",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (into / "RELEASE.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return Payload(into, name, wheel, record)
