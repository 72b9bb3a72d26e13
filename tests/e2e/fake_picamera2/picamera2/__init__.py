"""A stand-in for Raspberry Pi OS's ``python3-picamera2``: recorded frames
replayed through the part of picamera2's real API that digitcam uses.

It is the one test double the project allows (the Pi camera cannot exist
here), so it behaves like the real package where digitcam could get it wrong:

- It is installed where apt puts picamera2 (``/usr/lib/python3/dist-packages``)
  and reached through the venv's ``--system-site-packages``, never pip.
- It imports numpy at import time and checks the binary layout of numpy's
  ``dtype`` against the numpy it was "built" against, exactly as apt's
  simplejpeg (imported by the real picamera2) does. Bookworm's simplejpeg is
  compiled against apt's numpy 1.24; a pip numpy 2 in the venv shadows it and
  the import fails with the real message. Comparing ``__basicsize__`` (what the
  compiled check compares) rather than version strings keeps numpy 1.26 in a
  venv acceptable, as it is on a Pi: numpy 1.x keeps its ABI across minors.
  ``_built.py`` records the size; the e2e guest writes it with apt's numpy.
- ``create_video_configuration`` merges picamera2's defaults, among them
  ``FrameDurationLimits = (33333, 33333)``, so a caller that does not widen it
  gets its exposure clamped to 33 ms, as on a Pi; ``configure`` refuses what
  libcamera refuses (odd sizes, lores larger than main, sizes beyond the sensor);
  ``set_controls`` refuses controls the sensor does not advertise (``AfMode`` on
  a v2 camera).

Frames: ``*.npy`` grey images in ``$FAKE_PICAMERA2_FRAMES`` (default: ``frames/``
beside this file), looped, resized to the configured stream by nearest
neighbour. Sensor: ``$FAKE_PICAMERA2_SENSOR``, ``imx708`` (Camera Module 3,
autofocus; the default) or ``imx219`` (Camera Module 2, fixed focus).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

try:
    from ._built import NUMPY_DTYPE_SIZE as _BUILT_DTYPE_SIZE
except ImportError:  # not installed through the e2e guest: built against whatever numpy is here
    _BUILT_DTYPE_SIZE = np.dtype.__basicsize__

if np.dtype.__basicsize__ != _BUILT_DTYPE_SIZE:
    # Cython's check in simplejpeg, word for word.
    raise ValueError(f"numpy.dtype size changed, may indicate binary incompatibility. Expected "
                     f"{_BUILT_DTYPE_SIZE} from C header, got {np.dtype.__basicsize__} from PyObject")

__all__ = ["CompletedRequest", "Job", "Picamera2"]

# The sensors' real mode tables (raw sizes and their fastest frame rates) and
# the controls libcamera advertises for them, as (min, max, default).
_COMMON_CONTROLS: dict[str, tuple[Any, Any, Any]] = {
    "AeEnable": (False, True, None), "AwbEnable": (False, True, None),
    "AnalogueGain": (1.0, 16.0, None), "ColourGains": (0.0, 32.0, None),
    "ExposureTime": (1, 66666, None), "FrameDurationLimits": (33333, 120000000, None),
    "NoiseReductionMode": (0, 4, 0), "ScalerCrop": ((0, 0, 0, 0), (0, 0, 3280, 2464), None),
}
SENSORS: dict[str, dict[str, Any]] = {
    "imx708": {
        "modes": [((1536, 864), 120.13), ((2304, 1296), 56.03), ((4608, 2592), 14.35)],
        "controls": {**_COMMON_CONTROLS, "AnalogueGain": (1.12, 16.0, None),
                     "AfMode": (0, 2, 0), "AfTrigger": (0, 1, 0), "AfRange": (0, 2, 0),
                     "AfSpeed": (0, 1, 0), "LensPosition": (0.0, 15.0, 1.0)},
    },
    "imx219": {
        "modes": [((640, 480), 103.33), ((1640, 1232), 41.85), ((1920, 1080), 47.57), ((3280, 2464), 21.19)],
        "controls": dict(_COMMON_CONTROLS),
    },
}
AF_MODE_MANUAL, AF_MODE_AUTO, AF_MODE_CONTINUOUS = 0, 1, 2
_FORMATS = ("YUV420", "YVU420", "RGB888", "BGR888", "XRGB8888", "XBGR8888")
_lock = threading.Lock()
_opened: set[int] = set()  # like libcamera, one owner per camera


def _libcamera_log(text: str) -> None:
    """libcamera's INFO lines on stderr, as the real stack writes them (a service's
    journal shows them): what camera was found and which streams it configured."""
    ts = time.monotonic()
    print(f"[{int(ts // 3600)}:{int(ts % 3600 // 60):02d}:{ts % 60:012.9f}] [{os.getpid()}]  INFO {text}",
          file=sys.stderr, flush=True)


def _frames_dir() -> Path:
    return Path(os.environ.get("FAKE_PICAMERA2_FRAMES") or Path(__file__).with_name("frames"))


class Job:
    """picamera2.job.Job: the result of an asynchronous call."""

    def __init__(self) -> None:
        self._future: Future[Any] = Future()

    def get_result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)


class CompletedRequest:
    """picamera2.request.CompletedRequest: buffers held until ``release()``."""

    def __init__(self, buffers: dict[str, np.ndarray], config: dict[str, Any],
                 metadata: dict[str, Any]) -> None:
        self._buffers = buffers
        self._config = config
        self._metadata = metadata
        self.released = False

    def make_buffer(self, name: str) -> np.ndarray:
        if self.released:
            raise RuntimeError("request already released")
        return self._buffers[name]

    def make_array(self, name: str) -> np.ndarray:
        stream = self._config[name]
        width, height = stream["size"]
        buffer = self.make_buffer(name)
        if stream["format"] in ("YUV420", "YVU420"):
            return buffer.reshape(height * 3 // 2, stream["stride"])[:, :width]
        channels = 4 if stream["format"].startswith("X") else 3
        return buffer.reshape(height, stream["stride"])[:, :width * channels].reshape(height, width, channels)

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def release(self) -> None:
        self.released = True


class Picamera2:
    """The camera: construct, configure, start, capture requests, stop, close."""

    def __init__(self, camera_num: int = 0, verbose_console: Any = None, tuning: Any = None,
                 allocator: Any = None) -> None:
        frames = sorted(_frames_dir().glob("*.npy"))
        if camera_num != 0 or not frames:
            raise IndexError("list index out of range")  # what picamera2 raises for a missing camera
        with _lock:
            if camera_num in _opened:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            _opened.add(camera_num)
        self.camera_num = camera_num
        name = os.environ.get("FAKE_PICAMERA2_SENSOR", "imx708")
        _libcamera_log("Camera camera_manager.cpp:330 libcamera v0.3.2+stand-in")
        _libcamera_log(f"RPI vc4.cpp:447 Registered camera /base/soc/i2c0mux/i2c@1/{name}@1a to Unicam "
                       f"device /dev/media3 and ISP device /dev/media0 (replaying {len(frames)} frames)")
        self.sensor = SENSORS[name]
        self.camera_properties = {"Model": name, "PixelArraySize": self.sensor["modes"][-1][0]}
        self._frames = [np.load(p) for p in frames]
        self.camera_config: dict[str, Any] | None = None
        self.controls_set: dict[str, Any] = {}
        self.started = False
        self.is_open = True
        self._sequence = 0
        self._next_frame_at = 0.0

    # ------------------------------------------------------------ what the sensor is
    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        return dict(self.sensor["controls"])

    @property
    def sensor_modes(self) -> list[dict[str, Any]]:
        return [{"format": "SRGGB10_CSI2P", "unpacked": "SRGGB10", "bit_depth": 10, "size": size,
                 "fps": fps, "crop_limits": (0, 0, *self.sensor["modes"][-1][0]),
                 "exposure_limits": (1, 66666, None)} for size, fps in self.sensor["modes"]]

    @property
    def sensor_resolution(self) -> tuple[int, int]:
        return tuple(self.sensor["modes"][-1][0])  # type: ignore[return-value]

    # ------------------------------------------------------------ configuration
    def create_video_configuration(self, main: dict[str, Any] | None = None,
                                   lores: dict[str, Any] | None = None, raw: Any = None,
                                   transform: Any = None, colour_space: Any = None, buffer_count: int = 6,
                                   controls: dict[str, Any] | None = None, display: str | None = "main",
                                   encode: str | None = "main", queue: bool = True, sensor: Any = None,
                                   use_case: str = "video") -> dict[str, Any]:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = {"format": "XBGR8888", "size": (1280, 720), **(main or {})}
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], **lores}
        for stream in (main, lores):
            if stream is not None:  # align_stream(optimal=False): even sizes
                w, h = stream["size"]
                stream["size"] = (w - w % 2, h - h % 2)
        # picamera2's own defaults for video, overridden by what the caller passes.
        merged = {"NoiseReductionMode": 1, "FrameDurationLimits": (33333, 33333), **(controls or {})}
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores, "raw": raw,
                "controls": merged, "sensor": sensor, "display": display, "encode": encode}

    def configure(self, camera_config: dict[str, Any] | None = None) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if camera_config is None:
            camera_config = self.create_video_configuration()
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in camera_config.items()}
        largest = self.sensor_resolution
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            if stream.get("format") not in _FORMATS:
                raise RuntimeError(f"Bad format {stream.get('format')} in stream {name}")
            size = stream.get("size")
            if not isinstance(size, tuple) or len(size) != 2:
                raise RuntimeError(f"size in {name} stream should be (width, height)")
            if size[0] % 2 or size[1] % 2:
                raise RuntimeError("width and height should be even")
            if size[0] > largest[0] or size[1] > largest[1]:
                raise RuntimeError(f"Configuration failed: {name} {size} is larger than the sensor "
                                   f"{largest}")
            stream["stride"] = self._stride(stream["format"], size[0])
            stream["framesize"] = stream["stride"] * (size[1] * 3 // 2 if "YU" in stream["format"]
                                                      else size[1])
        if config.get("lores") is not None:
            (mw, mh), (lw, lh) = config["main"]["size"], config["lores"]["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
        streams = [f"({i}) {w}x{h}-{stream['format']}" for i, stream in
                   enumerate(config[n] for n in ("main", "lores") if config.get(n) is not None)
                   for w, h in [stream["size"]]]
        _libcamera_log(f"Camera camera.cpp:1183 configuring streams: {' '.join(streams)}")
        self.camera_config = config
        self.controls_set = {}
        self.set_controls(config.get("controls") or {})

    @staticmethod
    def _stride(fmt: str, width: int) -> int:
        bytes_per_pixel = 1 if "YU" in fmt else 4 if fmt.startswith("X") else 3
        return -(-width * bytes_per_pixel // 64) * 64  # the ISP pads rows to 64 bytes

    def camera_configuration(self) -> dict[str, Any]:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        return self.camera_config

    def set_controls(self, controls: dict[str, Any]) -> None:
        advertised = self.sensor["controls"]
        for name, value in controls.items():
            if name not in advertised:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
            lo = advertised[name][0]
            for v in (value if isinstance(value, tuple) else (value,)):
                if isinstance(lo, (int, float)) and not isinstance(v, (int, float)):
                    raise TypeError(f"control {name}: expected a number, got {v!r}")
            self.controls_set[name] = value

    # ------------------------------------------------------------ running
    def start(self, config: Any = None, show_preview: bool = False) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._next_frame_at = time.monotonic()

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.stop()
        if self.is_open:
            self.is_open = False
            with _lock:
                _opened.discard(self.camera_num)

    def _timing(self) -> tuple[int, int]:
        """(frame duration, exposure) in us, as libcamera resolves them: the
        exposure is clamped to the longest frame duration allowed, and a frame
        lasts at least its exposure and at most the longest duration allowed."""
        lo, hi = self.controls_set.get("FrameDurationLimits", (33333, 33333))
        fastest = min(1e6 / fps for _, fps in self.sensor["modes"])
        lo = max(int(lo), int(fastest))
        hi = max(int(hi), lo)
        exposure = int(self.controls_set.get("ExposureTime", 0) or lo * 0.8)
        exposure = min(exposure, hi)
        return max(lo, exposure), exposure

    def capture_request(self, wait: bool | None = None, signal_function: Any = None,
                        flush: Any = None) -> Any:
        if not self.started:
            raise RuntimeError("Camera not started")
        job = Job()
        threading.Thread(target=self._capture, args=(job,), daemon=True).start()
        if wait is False:
            return job
        return job.get_result()

    def _capture(self, job: Job) -> None:
        try:
            duration, exposure = self._timing()
            delay = self._next_frame_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_frame_at = max(self._next_frame_at, time.monotonic()) + duration / 1e6
            assert self.camera_config is not None
            grey = self._frames[self._sequence % len(self._frames)]
            self._sequence += 1
            buffers = {name: self._buffer(grey, self.camera_config[name])
                       for name in ("main", "lores") if self.camera_config.get(name) is not None}
            af_mode = self.controls_set.get("AfMode")
            metadata: dict[str, Any] = {"SensorTimestamp": time.monotonic_ns(), "FrameDuration": duration,
                                        "ExposureTime": exposure,
                                        "AnalogueGain": self.controls_set.get("AnalogueGain", 1.0)}
            if "AfMode" in self.sensor["controls"]:
                metadata["LensPosition"] = float(self.controls_set.get("LensPosition", 1.0))
                metadata["AfState"] = 0 if af_mode in (None, AF_MODE_MANUAL) else 2  # Idle / Focused
            job._future.set_result(CompletedRequest(buffers, self.camera_config, metadata))
        except BaseException as exc:
            job._future.set_exception(exc)

    @staticmethod
    def _buffer(grey: np.ndarray, stream: dict[str, Any]) -> np.ndarray:
        width, height = stream["size"]
        rows = np.arange(height) * grey.shape[0] // height
        cols = np.arange(width) * grey.shape[1] // width
        image = grey[rows[:, None], cols[None, :]]
        stride, fmt = stream["stride"], stream["format"]
        if "YU" in fmt:
            out = np.full(stride * height * 3 // 2, 128, np.uint8)  # neutral chroma after the Y plane
            out[: stride * height].reshape(height, stride)[:, :width] = image
            return out
        channels = 4 if fmt.startswith("X") else 3
        out = np.zeros((height, stride), np.uint8)
        out[:, : width * channels] = np.repeat(image, channels, axis=1)
        return out.reshape(-1)

    def __enter__(self) -> Picamera2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
