"""The fixed region the status page's ROI helper saved, and the config the daemon runs with.

The ROI helper writes ``[region]`` into the config file itself when the daemon
may write there (a config in one's home, ``device run --config``). Under the
systemd unit it may not: ``ProtectSystem=strict`` and ``ReadOnlyPaths=/etc/digitcam``
keep the file read-only, and it is root's (it may hold the MQTT and page
passwords). The helper then writes ``STATE_DIR/region.toml``, in the unit's
``StateDirectory=``, holding only ``[region]`` mode, rect and quad; the daemon
reads its config and then takes those keys from that file, on start and on
every reload, and says so in the log. Deleting the file gives the config's own
``[region]`` back (``systemctl reload digitcam``).

Both writes go through ``with_region``: tomlkit edits the keys in place and
keeps every comment, key order and blank line of the user's file, and the
merged text is validated by ``parse_config`` as any config is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, load_config, parse_config

logger = logging.getLogger(__name__)

REGION_FILE = "region.toml"
REGION_KEYS = ("mode", "rect", "quad")  # what the ROI helper sets; the rest of [region] stays the user's
HEADER = """\
# Written by digitcam's status page (the ROI helper) because the daemon cannot write
# {config}. These keys replace the same keys of its [region] on every start and
# reload; delete this file to use the config's own [region] again.
"""


def region_file(config: Config) -> Path:
    return config.state_path(REGION_FILE)


def with_region(text: str, region: dict[str, Any]) -> str:
    """``text`` with the keys of ``region`` (mode, rect, quad) set in ``[region]``, nothing else changed."""
    import tomlkit  # only when there is a region to write: the daemon runs without it otherwise

    doc = tomlkit.parse(text)
    if "region" not in doc:
        doc["region"] = tomlkit.table()
    table: Any = doc["region"]
    for key in REGION_KEYS:
        if key in region:
            table[key] = region[key]
    return tomlkit.dumps(doc)


def saved_region(path: Path) -> dict[str, Any] | None:
    """The keys in a ``region.toml``, or None when there is none; ConfigError names a bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", source=str(path)) from None
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        raw = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None
    region = raw.get("region")
    extra = sorted(set(raw) - {"region"}) + sorted(set(region or {}) - set(REGION_KEYS))
    if not isinstance(region, dict) or extra:
        raise ConfigError(f"may only hold [region] {', '.join(REGION_KEYS)}"
                          + (f", found {', '.join(extra)}" if extra else ""), source=str(path))
    return region


def load_daemon_config(path: Path) -> Config:
    """The config at ``path`` with the ROI helper's saved region, if there is one."""
    config = load_config(path)
    saved = region_file(config)
    region = saved_region(saved)
    if region is None:
        return config
    from tomlkit.exceptions import ParseError

    try:
        merged = with_region(path.read_text(encoding="utf-8"), region)
    except (OSError, ParseError) as exc:  # load_config read it a moment ago; tomllib took it
        raise ConfigError(f"cannot merge {saved}: {exc}", source=str(path)) from None
    config = parse_config(merged, f"{path} with [region] from {saved}")
    logger.info("region %s from %s (saved by the status page) replaces [region] of %s", config.region.mode,
                saved, path)
    return config
