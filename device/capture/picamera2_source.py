"""The Raspberry Pi camera through picamera2.

picamera2 (and libcamera) are imported in ``open()`` only: they exist on a Pi
from apt, nowhere else, and importing the package must work everywhere.
The ``lores`` YUV420 stream's Y plane is the grey recognition image, so no
colour conversion runs per frame; the ``main`` stream is kept for snapshots.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from .base import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)

PICAMERA2_MISSING = ("picamera2 is not installed; on Raspberry Pi OS: sudo apt install python3-picamera2 "
                     "and create the venv with --system-site-packages")

# libcamera's AfModeEnum values (Manual, Auto, Continuous). Plain ints avoid
# importing libcamera's enum and are accepted by set_controls.
AF_MODES = {"manual": 0, "auto": 1, "continuous": 2}


def y_plane(buffer: npt.NDArray[np.uint8], width: int, height: int, stride: int) -> npt.NDArray[np.uint8]:
    """The Y (luma) plane of a YUV420 buffer as a contiguous ``height x width`` image.

    Each row occupies ``stride`` bytes (the ISP pads rows to an alignment), and
    the U and V planes follow the Y plane; both are cut off here.
    """
    if width < 1 or height < 1 or stride < width:
        raise ValueError(f"bad YUV420 geometry: width {width}, height {height}, stride {stride}")
    flat = buffer.reshape(-1)
    if flat.size < stride * height:
        raise ValueError(f"YUV420 buffer of {flat.size} bytes is smaller than "
                         f"stride*height = {stride * height}")
    # A copy: the frame outlives the camera buffer, which goes back to libcamera.
    return np.ascontiguousarray(flat[: stride * height].reshape(height, stride)[:, :width])


class Picamera2Source(FrameSource):
    """Frames from a Pi camera module.

    Every control is optional; ``None`` leaves the camera's automatic choice.
    Meters usually want a fixed exposure and gain (no flicker from auto-exposure
    chasing an LCD backlight), fixed white balance, and on a Camera Module 3 a
    manual lens position at the mounting distance.

    exposure_us: exposure time in microseconds. analogue_gain: sensor gain (1.0 = none).
    af_mode: "manual", "auto" or "continuous" (Camera Module 3 only).
    lens_position: manual focus in dioptres (1 / distance in metres; 0 = infinity); implies manual AF.
    colour_gains: (red, blue) white-balance gains; disables auto white balance.
    """

    name = "picamera2"

    def __init__(self, camera_num: int = 0, *, size: tuple[int, int] = (1280, 960),
                 lores_size: tuple[int, int] = (640, 480), framerate: float | None = None,
                 exposure_us: int | None = None, analogue_gain: float | None = None,
                 af_mode: str | None = None, lens_position: float | None = None,
                 colour_gains: tuple[float, float] | None = None, keep_colour: bool = True,
                 frame_timeout_s: float = 5.0) -> None:
        if af_mode is not None and af_mode not in AF_MODES:
            raise ValueError(f"af_mode must be one of {', '.join(AF_MODES)}, got {af_mode!r}")
        if lens_position is not None and af_mode not in (None, "manual"):
            raise ValueError("lens_position needs af_mode manual (or no af_mode)")
        for label, value in (("exposure_us", exposure_us), ("analogue_gain", analogue_gain),
                             ("framerate", framerate)):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be > 0, got {value}")
        if lens_position is not None and lens_position < 0:
            raise ValueError(f"lens_position must be >= 0 dioptres, got {lens_position}")
        if colour_gains is not None and (len(colour_gains) != 2 or min(colour_gains) <= 0):
            raise ValueError(f"colour_gains must be two positive numbers (red, blue), got {colour_gains}")
        self.camera_num = camera_num
        self.size = size
        self.lores_size = lores_size
        self.framerate = framerate
        self.exposure_us = exposure_us
        self.analogue_gain = analogue_gain
        self.af_mode = "manual" if lens_position is not None and af_mode is None else af_mode
        self.lens_position = lens_position
        self.colour_gains = colour_gains
        self.keep_colour = keep_colour
        self.frame_timeout_s = frame_timeout_s
        self.name = f"picamera2 camera {camera_num}"
        self._camera: Any = None
        self._lores: tuple[int, int, int] = (0, 0, 0)  # width, height, stride as configured
        self._next_id = 0

    def controls(self) -> dict[str, Any]:
        """The libcamera controls these options ask for."""
        controls: dict[str, Any] = {}
        if self.framerate is not None:
            period_us = int(1_000_000 / self.framerate)
            controls["FrameDurationLimits"] = (period_us, period_us)
        if self.exposure_us is not None:
            controls["ExposureTime"] = int(self.exposure_us)
        if self.analogue_gain is not None:
            controls["AnalogueGain"] = float(self.analogue_gain)
        if self.af_mode is not None:
            controls["AfMode"] = AF_MODES[self.af_mode]
        if self.lens_position is not None:
            controls["LensPosition"] = float(self.lens_position)
        if self.colour_gains is not None:
            controls["AwbEnable"] = False
            controls["ColourGains"] = (float(self.colour_gains[0]), float(self.colour_gains[1]))
        return controls

    def open(self) -> None:
        self.close()
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(PICAMERA2_MISSING) from exc
        try:
            camera = Picamera2(self.camera_num)
        except Exception as exc:  # picamera2 raises RuntimeError/IndexError with multi-line logs
            raise SourceError(f"cannot open {self.name}: {_one_line(exc)} "
                              "(is the ribbon cable seated, and the camera enabled?)") from exc
        try:
            config = camera.create_video_configuration(
                # picamera2's "RGB888" is B, G, R in memory: OpenCV's BGR order.
                main={"size": tuple(self.size), "format": "RGB888"},
                lores={"size": tuple(self.lores_size), "format": "YUV420"},
                controls=self.controls(),
            )
            camera.configure(config)
            # The camera may align the requested sizes; read back what it chose.
            lores = camera.camera_configuration()["lores"]
            width, height = lores["size"]
            self._lores = (int(width), int(height), int(lores["stride"]))
            camera.start()
        except Exception as exc:
            _close_quietly(camera)
            raise SourceError(f"cannot start {self.name}: {_one_line(exc)}") from exc
        self._camera = camera
        self._next_id = 0
        logger.info("opened %s: lores %dx%d (stride %d), controls %s",
                    self.name, *self._lores, self.controls())

    def read(self) -> Frame | None:
        camera = self._camera
        if camera is None:
            raise SourceError(f"{self.name} is not open")
        try:
            # Asynchronous request plus a timeout: a camera that dies (loose
            # ribbon) otherwise blocks capture_request() forever.
            job = camera.capture_request(wait=False)
            request = job.get_result(timeout=self.frame_timeout_s)
        except TimeoutError as exc:
            raise SourceError(f"{self.name}: no frame within {self.frame_timeout_s}s") from exc
        except Exception as exc:
            raise SourceError(f"{self.name}: {_one_line(exc)}") from exc
        try:
            width, height, stride = self._lores
            grey = y_plane(request.make_buffer("lores"), width, height, stride)
            colour = np.ascontiguousarray(request.make_array("main")) if self.keep_colour else None
        finally:
            request.release()
        frame = Frame(image=grey, frame_id=self._next_id, timestamp=time.monotonic(), colour=colour)
        self._next_id += 1
        return frame

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            _close_quietly(camera)


def _close_quietly(camera: Any) -> None:
    # Closing a camera that has already failed can raise again; the failure
    # that matters has been reported by then.
    for step in ("stop", "close"):
        try:
            getattr(camera, step)()
        except Exception as exc:
            logger.debug("picamera2 %s failed: %s", step, exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
