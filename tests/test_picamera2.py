"""The picamera2 source against the picamera2 stand-in (tests/e2e/fake_picamera2),
which replays the bundled sample frames through picamera2's API and refuses
what the real camera stack refuses."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitcam.device.capture.base import SourceError
from digitcam.device.capture.picamera2_source import AF_MODES, Picamera2Source
from digitcam.device.capture.spec import make_source, options
from digitcam.device.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "e2e" / "fake_picamera2"
SAMPLES = sorted((ROOT / "device" / "samples" / "frames").glob("*.jpg"))[:4]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first sample frames as the stand-in replays them: grey .npy arrays."""
    out = tmp_path_factory.mktemp("frames")
    for path in SAMPLES:
        np.save(out / f"{path.stem}.npy", cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return out


@pytest.fixture
def standin(frames: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FAKE_PICAMERA2_FRAMES", str(frames))
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    yield STANDIN
    sys.modules.pop("picamera2", None)


def opened(source: Picamera2Source) -> object:
    """The stand-in's camera object behind an opened source."""
    source.open()
    return source._camera


def test_frames_are_the_y_plane_of_one_yuv_stream(standin: Path, frames: Path) -> None:
    source = Picamera2Source(size=(640, 480), framerate=20)
    camera = opened(source)
    try:
        config = camera.camera_configuration()  # type: ignore[attr-defined]
        assert config["main"]["format"] == "YUV420" and config["lores"] is None
        first, second = source.read(), source.read()
    finally:
        source.close()
    padded = Picamera2Source(size=(650, 480))  # rows padded to 704 bytes by the "ISP"
    opened(padded)
    try:
        assert padded._geometry == (650, 480, 704)
        frame = padded.read()
        assert frame is not None and frame.image.shape == (480, 650)
    finally:
        padded.close()
    assert first is not None and second is not None
    expected = np.load(sorted(frames.glob("*.npy"))[0])
    np.testing.assert_array_equal(first.image, expected)
    assert first.image.flags.c_contiguous and (first.frame_id, second.frame_id) == (0, 1)


def test_continuous_autofocus_on_a_camera_module_3(standin: Path) -> None:
    camera = opened(source := Picamera2Source())
    source.close()
    sent = camera.controls_set  # type: ignore[attr-defined]
    assert sent["AfMode"] == AF_MODES["continuous"] and "LensPosition" not in sent


def test_manual_focus_is_kept_inside_the_lens_range(standin: Path, caplog: pytest.LogCaptureFixture) -> None:
    camera = opened(source := Picamera2Source(lens_position=2.5))
    source.close()
    assert camera.controls_set["AfMode"] == AF_MODES["manual"]  # type: ignore[attr-defined]
    assert camera.controls_set["LensPosition"] == 2.5  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING):
        camera = opened(source := Picamera2Source(lens_position=20.0))
        source.close()
    assert camera.controls_set["LensPosition"] == 15.0  # type: ignore[attr-defined]
    assert "outside this lens's 0..15 dioptres" in caplog.text


def test_auto_focus_triggers_one_scan_after_start(standin: Path) -> None:
    camera = opened(source := Picamera2Source(af_mode="auto"))
    source.close()
    assert camera.controls_set["AfMode"] == AF_MODES["auto"]  # type: ignore[attr-defined]
    assert camera.controls_set["AfTrigger"] == 0  # type: ignore[attr-defined]


def test_a_fixed_focus_camera_gets_no_focus_controls(standin: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("FAKE_PICAMERA2_SENSOR", "imx219")  # Camera Module 2: no AfMode
    import picamera2

    # What the source used to send: refused, as libcamera refuses it.
    raw = picamera2.Picamera2()
    try:
        with pytest.raises(RuntimeError, match="Control LensPosition is not advertised"):
            raw.configure(raw.create_video_configuration(controls={"LensPosition": 2.0}))
    finally:
        raw.close()
    with caplog.at_level(logging.WARNING):
        camera = opened(source := Picamera2Source(lens_position=2.0))
        frame = source.read()
        source.close()
    assert frame is not None
    assert not {"AfMode", "LensPosition"} & set(camera.controls_set)  # type: ignore[attr-defined]
    assert "fixed-focus lens (no AfMode control): af_mode/lens_position ignored" in caplog.text


def test_exposure_longer_than_a_frame_is_not_clamped(standin: Path) -> None:
    source = Picamera2Source(framerate=10, exposure_us=200_000)
    assert source.controls()["FrameDurationLimits"] == (100_000, 200_000)
    camera = opened(source)
    try:
        frame = source.read()
        request = camera.capture_request()  # type: ignore[attr-defined]
        metadata = request.get_metadata()
        request.release()
    finally:
        source.close()
    assert frame is not None
    assert metadata["ExposureTime"] == 200_000 and metadata["FrameDuration"] == 200_000


def test_the_configured_fps_reaches_the_camera(standin: Path) -> None:
    camera = opened(source := Picamera2Source(framerate=15))
    source.close()
    assert camera.controls_set["FrameDurationLimits"] == (66_667, 66_667)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("sensor", "size", "largest"), [("imx219", (4000, 2000), "3280x2464"),
                                                         ("imx708", (4000, 3000), "4608x2592")])
def test_a_size_beyond_the_sensor_is_one_line(standin: Path, monkeypatch: pytest.MonkeyPatch,
                                              sensor: str, size: tuple[int, int], largest: str) -> None:
    monkeypatch.setenv("FAKE_PICAMERA2_SENSOR", sensor)
    with pytest.raises(SourceError) as error:
        Picamera2Source(size=size).open()
    assert str(error.value) == (f"picamera2 camera 0: source.width x height {size[0]}x{size[1]} is larger "
                                f"than the sensor's largest mode {largest}")
    import picamera2

    picamera2.Picamera2().close()  # the failed open released the camera


def test_a_numpy_abi_mismatch_is_a_source_error_that_names_the_pin(
        standin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "site"
    shutil.copytree(STANDIN / "picamera2", broken / "picamera2")
    # "Built" against a numpy whose dtype has another size, as simplejpeg built
    # against numpy 1.x meets numpy 2.
    (broken / "picamera2" / "_built.py").write_text(f"NUMPY_DTYPE_SIZE = {np.dtype.__basicsize__ + 8}\n")
    monkeypatch.syspath_prepend(str(broken))
    with pytest.raises(SourceError) as error:
        Picamera2Source().open()
    message = str(error.value)
    assert "numpy.dtype size changed, may indicate binary incompatibility" in message
    assert "numpy<2" in message and "\n" not in message


def test_config_reaches_the_source(standin: Path) -> None:
    cfg = parse_config('[source]\nspec = "picamera2"\nfps = 12.5\nwidth = 800\nheight = 600\n'
                       'exposure_us = 90000\nlens_position = 3.0\n')
    assert options(cfg.source) == {"size": (800, 600), "framerate": 12.5, "exposure_us": 90000,
                                   "af_mode": "manual", "lens_position": 3.0}
    source = make_source(cfg.source)
    assert isinstance(source, Picamera2Source)
    assert source.controls()["FrameDurationLimits"] == (80_000, 90_000)
    auto = make_source(parse_config('[source]\nspec = "picamera2"\naf_mode = "auto"\n').source)
    assert isinstance(auto, Picamera2Source) and auto.af_mode == "auto"


def test_a_second_camera_is_a_valid_config_with_its_fps() -> None:
    # capture/spec.py decides for config validation too: picamera2:N is a source it builds.
    from digitcam.device.config_command import summarise

    cfg = parse_config('[source]\nspec = "picamera2:1"\nfps = 12.5\n')
    source = make_source(cfg.source)
    assert isinstance(source, Picamera2Source) and (source.camera_num, source.framerate) == (1, 12.5)
    assert summarise(cfg)[0].startswith("source:     picamera2:1 at 12.5 fps, 640x480, focus continuous")
    with pytest.raises(ConfigError, match=r"source\.spec: bad source 'picamera2:x'"):
        parse_config('[source]\nspec = "picamera2:x"\n')


def _check_source(config: Path, frames: Path, *args: str, site: Path = STANDIN
                  ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), FAKE_PICAMERA2_FRAMES=str(frames))
    return subprocess.run([sys.executable, "-m", "digitcam.device.cli", "device", "check-source",
                           str(config), *args], capture_output=True, text=True, env=env, timeout=120)


def test_check_source_imports_and_opens_the_camera(frames: Path, tmp_path: Path) -> None:
    config = tmp_path / "pi.toml"
    config.write_text('[source]\nspec = "picamera2"\nfps = 30\n')
    result = _check_source(config, frames, "--open")
    assert result.returncode == 0, result.stderr
    assert f"picamera2 from {STANDIN}" in result.stdout
    assert "read a 640x480 frame" in result.stdout
    assert result.stdout.rstrip().endswith("source picamera2 loads")


def test_check_source_fails_in_one_line_when_picamera2_does_not_load(frames: Path, tmp_path: Path) -> None:
    broken = tmp_path / "site"
    shutil.copytree(STANDIN / "picamera2", broken / "picamera2")
    (broken / "picamera2" / "_built.py").write_text(f"NUMPY_DTYPE_SIZE = {np.dtype.__basicsize__ + 8}\n")
    config = tmp_path / "replay.toml"  # even a replay config: the system's picamera2 must load
    config.write_text(f'[source]\nspec = "replay:{frames}"\n')
    result = _check_source(config, frames, site=broken)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "picamera2 does not load (numpy.dtype size changed" in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ('spec = "picamera2"\nwidth = 641\n', "<config>:3: source.width: picamera2 needs an even width, got 641"),
    ('spec = "picamera2"\naf_mode = "manual"\n',
     "<config>:3: source.af_mode: manual focus needs source.lens_position (dioptres, >= 0)"),
    ('af_mode = "continuous"\nlens_position = 2.0\n',
     "<config>:3: source.lens_position: is for manual focus, but af_mode is 'continuous'"),
    ('af_mode = "sharp"\n', "<config>:2: source.af_mode: expected one of '', 'continuous', 'auto', 'manual'"),
])
def test_focus_and_size_mistakes_are_config_errors(text: str, message: str) -> None:
    from digitcam.device.config import ConfigError

    with pytest.raises(ConfigError) as error:
        parse_config("[source]\n" + text)
    assert str(error.value).startswith(message)


def test_check_config_says_how_the_camera_focuses_and_exposes() -> None:
    from digitcam.device.config_command import summarise

    cfg = parse_config('[source]\nspec = "picamera2"\nlens_position = 2.5\nexposure_us = 20000\n')
    assert summarise(cfg)[0] == ("source:     picamera2 at 10 fps, 640x480, focus manual at 2.5 dioptres, "
                                 "exposure 20000 us")
    assert summarise(parse_config('[source]\nspec = "picamera2"\n'))[0].endswith(
        ", focus continuous, auto exposure")
