"""The e2e guest's cached root is named by its recipe: a package added to the
list (python3-numpy, for the picamera2 stand-in) must build a new root, not
reuse a tarball that lacks it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
import guest as guestlib


def test_the_cache_key_follows_the_package_list(tmp_path: Path) -> None:
    recipe = guestlib.Recipe()
    assert "python3-numpy" in recipe.packages  # apt's numpy, which apt's picamera2 is built against
    without = guestlib.Recipe(packages=tuple(p for p in recipe.packages if p != "python3-numpy"))
    assert recipe.key() != without.key()
    assert recipe.tarball(tmp_path) != without.tarball(tmp_path)
    reordered = guestlib.Recipe(packages=tuple(reversed(recipe.packages)))
    assert reordered.key() == recipe.key()  # order does not matter, content does
