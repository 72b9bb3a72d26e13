"""The daemon config: defaults, strict keys, located errors, the example file."""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path

import pytest

from digitcam.device.cli import Env
from digitcam.device.config import (
    Config,
    ConfigError,
    find_line,
    load_config,
    parse_config,
)
from digitcam.device.config_command import add_check_config
from digitcam.device.errors import DigitcamError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "systemd" / "digitcam.toml.example"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.toml")
    return info.value


def test_defaults() -> None:
    cfg = Config()
    assert cfg == parse_config("", "empty.toml") == Config()
    assert cfg.source.spec == "replay:/usr/share/digitcam/samples"
    assert cfg.source.fps == 10.0 and cfg.source.loop and cfg.source.awb_gains == ()
    assert (cfg.stabiliser.k, cfg.stabiliser.n, cfg.stabiliser.min_confidence) == (3, 5, 0.6)
    assert cfg.model.threads == 1 and cfg.model.path == ""
    assert cfg.profiling.window == 1000
    assert cfg.state_dir == "/var/lib/digitcam"
    assert cfg.state_path(cfg.snapshot.path) == Path("/var/lib/digitcam/snapshot.jpg")
    assert cfg.state_path("/tmp/x.jpg") == Path("/tmp/x.jpg")


def leaf_keys(section: object = Config(), prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """Every leaf key of the tree as (dotted name, field); a section is a dataclass."""
    keys = []
    for f in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            keys += leaf_keys(value, prefix + f.name + ".")
        else:
            keys.append((prefix + f.name, f))
    return keys


def test_every_field_has_help_and_numbers_have_a_range() -> None:
    keys = leaf_keys()
    assert "stabiliser.k" in dict(keys) and "stabiliser" not in dict(keys)
    for key, f in keys:
        assert f.metadata.get("help"), key
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            assert "min" in f.metadata and "max" in f.metadata, key


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(
        'state_dir = "/srv/dc"\n'
        "[source]\nspec = \"picamera2\"\nfps = 15\nawb_gains = [1.8, 1]\n"
        "[region]\nmode = \"quad\"\nquad = [[1, 2], [30, 2], [30, 9.5], [1, 9]]\n"
        "[stabiliser]\nk = 2\nn = 2\nmonotonic = true\nexpected_digits = 6\n")
    cfg = load_config(path)
    assert cfg.state_dir == "/srv/dc"
    assert cfg.source.fps == 15.0 and isinstance(cfg.source.fps, float)
    assert cfg.source.awb_gains == (1.8, 1.0)
    assert cfg.region.quad == ((1.0, 2.0), (30.0, 2.0), (30.0, 9.5), (1.0, 9.0))
    assert (cfg.stabiliser.k, cfg.stabiliser.n, cfg.stabiliser.monotonic) == (2, 2, True)
    assert cfg.source.width == 640  # untouched keys keep their defaults


def test_unknown_key_names_dotted_key_and_line() -> None:
    err = error_of("[source]\nfps = 5\n\n[stabiliser]\nk = 2\nkk = 4\n")
    assert err.key == "stabiliser.kk" and err.line == 6
    assert str(err).startswith("test.toml:6: stabiliser.kk: unknown key")
    assert isinstance(err, DigitcamError)


def test_unknown_section_suggests_the_spelling() -> None:
    err = error_of("state_dir = \"/x\"\n[stabilizer]\nk = 2\n")
    assert (err.key, err.line) == ("stabilizer", 2)
    assert "did you mean 'stabiliser'" in str(err)


def test_unknown_top_level_key() -> None:
    err = error_of("statedir = \"/x\"\n")
    assert (err.key, err.line) == ("statedir", 1)


def test_out_of_range_value_is_named() -> None:
    err = error_of("[model]\npath = \"\"\nthreads = 9\n")
    assert (err.key, err.line) == ("model.threads", 3)
    assert "out of range 1..8" in str(err)
    err = error_of("[stabiliser]\nmin_confidence = 1.5\n")
    assert (err.key, err.line) == ("stabiliser.min_confidence", 2)
    err = error_of("[region]\nmin_confidence = -0.1\n")
    assert (err.key, err.line) == ("region.min_confidence", 2)


def test_wrong_type_is_named() -> None:
    err = error_of("[source]\nfps = \"fast\"\n")
    assert (err.key, err.line) == ("source.fps", 2)
    assert "expected a number, got string 'fast'" in str(err)
    assert error_of("[model]\nthreads = true\n").key == "model.threads"  # a bool is not an int
    assert error_of("[model]\nthreads = 2.0\n").key == "model.threads"
    assert error_of("[console]\nenabled = 1\n").key == "console.enabled"
    assert error_of("source = 3\n").key == "source"


def test_array_shapes_are_checked() -> None:
    err = error_of("[source]\nawb_gains = [1.0]\n")
    assert (err.key, err.line) == ("source.awb_gains", 2)
    assert "expected 0 or 2 items, got 1" in str(err)
    err = error_of("[region]\nquad = [\n  [1, 2], [3, 4],\n  [5, 6], [7]\n]\n")
    assert (err.key, err.line) == ("region.quad[3]", 2)
    err = error_of("[region]\nrect = [1, 2, -3, 4]\n")
    assert err.key == "region.rect[2]"


def test_k_greater_than_n_is_rejected() -> None:
    err = error_of("[stabiliser]\nn = 3\nk = 4\n")
    assert (err.key, err.line) == ("stabiliser.k", 3)
    assert "must be <= stabiliser.n (3), got 4" in str(err)
    err = error_of("[stabiliser]\nn = 2\n")  # k left at its default of 3
    assert (err.key, err.line) == ("stabiliser.n", 2)
    assert "must be >= stabiliser.k (3), got 2" in str(err)


def test_cross_field_rules() -> None:
    assert error_of("[source]\nspec = \"webcam\"\n").key == "source.spec"
    assert error_of("[source]\nspec = \"opencv:0\"\nfps = 0\n").key == "source.fps"
    assert error_of("[region]\nmode = \"rect\"\n").key == "region.rect"
    assert error_of("[region]\nmode = \"circle\"\n").key == "region.mode"
    assert error_of("[region]\nalign = true\n").key == "region.align"
    assert parse_config("[source]\nspec = \"replay:/x\"\nfps = 0\n").source.fps == 0.0


def test_invalid_toml_says_where() -> None:
    err = error_of("[source]\nfps = = 3\n")
    assert str(err).startswith("test.toml: invalid TOML") and "line 2" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_find_line_follows_headers_and_dotted_keys() -> None:
    text = ('# k = 1\nstabiliser.n = 4\n[ "source" ]\nfps = 1 # note\n[region]\n'
            'quad = [\n  [1, 2]\n]\nalign = false\n')
    assert find_line(text, "stabiliser.n") == 2
    assert find_line(text, "source") == 3
    assert find_line(text, "source.fps") == 4
    assert find_line(text, "region.align") == 9  # "  [1, 2]" is not a table header
    assert find_line(text, "stabiliser.k") is None


def test_example_file_parses_documents_every_key_and_matches_defaults() -> None:
    text = EXAMPLE.read_text()
    assert load_config(EXAMPLE) == Config()
    for key, _ in leaf_keys():
        assert find_line(text, key) is not None, f"{key} missing from the example"
    lines = text.splitlines()
    for key, _ in leaf_keys():
        line = find_line(text, key)
        assert line is not None and line >= 2
        # Each key (or its pair, like width/height) sits under a comment.
        above = [ln for ln in lines[:line - 1] if ln.strip()][-3:]
        assert any(ln.lstrip().startswith("#") for ln in above), key


def test_check_config_command(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_check_config(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    args = parser.parse_args(["check-config", str(EXAMPLE)])
    assert args.handler(args, Env(stdout=out, stderr=io.StringIO())) == 0
    text = out.getvalue()
    assert text.startswith(f"{EXAMPLE}: ok\n")
    assert "3 of 5 frames agree" in text

    bad = tmp_path / "bad.toml"
    bad.write_text("[stabiliser]\nk = 9\n")
    args = parser.parse_args(["check-config", str(bad)])
    with pytest.raises(ConfigError, match=r"bad.toml:2: stabiliser.k: must be <= stabiliser.n"):
        args.handler(args, Env(stdout=io.StringIO(), stderr=io.StringIO()))
