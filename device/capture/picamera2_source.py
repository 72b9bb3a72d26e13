"""The Raspberry Pi camera through picamera2.

picamera2 (and libcamera) are imported in ``open()`` only: they exist on a Pi
from apt, nowhere else, and importing the package must work everywhere.
The one stream is YUV420 at the configured size; its Y plane is the grey
recognition image, so no colour image is made or converted per frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import one_line
from .base import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)

PICAMERA2_MISSING = ("picamera2 is not installed; on Raspberry Pi OS: sudo apt install python3-picamera2 "
                     "and create the venv with --system-site-packages")
# apt's picamera2 imports simplejpeg, compiled against apt's numpy 1.24; a pip
# numpy 2 in the venv makes that import fail with "numpy.dtype size changed".
PICAMERA2_BROKEN = ("picamera2 does not load ({problem}); is a pip-installed numpy {numpy} shadowing "
                    "apt's? The Pi's venv needs numpy<2: pip install 'digitcam[device,pi]'")

# libcamera's AfModeEnum (Manual, Auto, Continuous) and AfTriggerEnum.Start.
# Plain ints avoid importing libcamera's enums and are accepted by set_controls.
AF_MODES = {"manual": 0, "auto": 1, "continuous": 2}
AF_TRIGGER_START = 0
# picamera2's video configuration fixes the frame duration at this (30 fps)
# unless FrameDurationLimits is given; an exposure longer than it is clamped.
DEFAULT_FRAME_US = 33333
FRAME_TIMEOUT_S = 5.0  # a camera silent this long has gone (a loose ribbon)


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
    """Frames from a Pi camera module: the Y plane of one ``YUV420`` stream at ``size``.

    Every control is optional; ``None`` leaves the camera's automatic choice.
    Meters usually want a fixed exposure and gain (no flicker from auto-exposure
    chasing an LCD backlight), fixed white balance (``colour_gains``: red, blue),
    and on a Camera Module 3 a manual ``lens_position`` (dioptres) at the mounting
    distance. ``framerate`` is sent as FrameDurationLimits, widened so that
    ``exposure_us`` fits in a frame rather than being clamped to it.
    """

    name = "picamera2"

    def __init__(self, camera_num: int = 0, *, size: tuple[int, int] = (640, 480),
                 framerate: float | None = None, exposure_us: int | None = None,
                 analogue_gain: float | None = None, af_mode: str | None = None,
                 lens_position: float | None = None, colour_gains: tuple[float, float] | None = None) -> None:
        # Made from a checked [source] by capture/spec.py, so its ranges, choices and focus rules
        # hold. Left to refuse: a zero gain (inside awb_gains' range) and an odd size, which
        # `device bench --source picamera2` can ask for past the config's check.
        if colour_gains is not None and min(colour_gains) <= 0:
            raise ValueError(f"colour_gains must be two positive numbers (red, blue), got {colour_gains}")
        if size[0] % 2 or size[1] % 2:
            raise ValueError(f"size must be an even width and height, got {size}")
        self.camera_num = camera_num
        self.size = (int(size[0]), int(size[1]))
        self.framerate = framerate
        self.exposure_us = exposure_us
        self.analogue_gain = analogue_gain
        self.af_explicit = af_mode is not None or lens_position is not None
        self.af_mode = af_mode or ("manual" if lens_position is not None else "continuous")
        self.lens_position = lens_position
        self.colour_gains = colour_gains
        self.name = f"picamera2 camera {camera_num}"
        self._camera: Any = None

    def controls(self, available: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The libcamera controls these options ask for. With ``available``
        (``Picamera2.camera_controls``), only those the camera advertises: a
        fixed-focus camera gets no AfMode or LensPosition (set_controls would
        refuse them), and a lens position is kept inside the lens's range."""
        controls: dict[str, Any] = {}
        if self.framerate is not None or self.exposure_us is not None:
            # (shortest, longest) frame in us, widened so the exposure fits: libcamera
            # clamps the exposure to the longest.
            shortest = round(1_000_000 / self.framerate) if self.framerate else DEFAULT_FRAME_US
            controls["FrameDurationLimits"] = (shortest, max(shortest, int(self.exposure_us or 0)))
        if self.exposure_us is not None:
            controls["ExposureTime"] = int(self.exposure_us)
        if self.analogue_gain is not None:
            controls["AnalogueGain"] = float(self.analogue_gain)
        controls["AfMode"] = AF_MODES[self.af_mode]
        if self.lens_position is not None:
            controls["LensPosition"] = float(self.lens_position)
        if self.colour_gains is not None:
            controls["AwbEnable"] = False
            controls["ColourGains"] = (float(self.colour_gains[0]), float(self.colour_gains[1]))
        if available is None:
            return controls
        if "AfMode" not in available:
            controls.pop("AfMode")
            controls.pop("LensPosition", None)
            log = logger.warning if self.af_explicit else logger.debug
            log("%s has a fixed-focus lens (no AfMode control): af_mode/lens_position ignored", self.name)
        if "LensPosition" in controls and "LensPosition" in available:
            lo, hi = float(available["LensPosition"][0]), float(available["LensPosition"][1])
            asked = controls["LensPosition"]
            controls["LensPosition"] = min(max(asked, lo), hi)
            if controls["LensPosition"] != asked:
                logger.warning("%s: lens_position %g is outside this lens's %g..%g dioptres; using %g",
                               self.name, asked, lo, hi, controls["LensPosition"])
        for name in [n for n in controls if n not in available]:
            logger.warning("%s does not advertise control %s; not sent", self.name, name)
            del controls[name]
        return controls

    def check_size(self, camera: Any) -> None:
        """The stream must fit the sensor's largest mode: libcamera would fail
        later with a multi-line dump of the configuration."""
        try:
            modes = [m for m in camera.sensor_modes if "size" in m]
        except Exception as exc:  # reading the modes reconfigures the camera; it may refuse
            logger.debug("%s: no sensor modes (%s); using sensor_resolution", self.name, exc)
            modes = []
        sizes = [tuple(m["size"]) for m in modes]
        if not sizes:
            sizes = [tuple(camera.sensor_resolution)]
        max_w, max_h = max(w for w, _ in sizes), max(h for _, h in sizes)
        width, height = self.size
        if width > max_w or height > max_h:
            raise SourceError(f"{self.name}: source.width x height {width}x{height} is larger than the "
                              f"sensor's largest mode {max_w}x{max_h}")
        if self.framerate is not None:
            fitting = [float(m["fps"]) for m in modes
                       if "fps" in m and m["size"][0] >= width and m["size"][1] >= height]
            if fitting and self.framerate > max(fitting):
                logger.warning("%s: %g fps asked, the sensor delivers at most %g fps at %dx%d",
                               self.name, self.framerate, max(fitting), width, height)

    def open(self) -> None:
        self.close()
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(PICAMERA2_MISSING) from exc
        except Exception as exc:  # a compiled dependency that does not load: ValueError, RuntimeError
            raise SourceError(PICAMERA2_BROKEN.format(problem=one_line(exc), numpy=np.__version__)) from exc
        try:
            camera = Picamera2(self.camera_num)
        except Exception as exc:  # picamera2 raises RuntimeError/IndexError with multi-line logs
            raise SourceError(f"cannot open {self.name}: {one_line(exc)} "
                              "(is the ribbon cable seated, and the camera enabled?)") from exc
        try:
            self.check_size(camera)
            controls = self.controls(camera.camera_controls)
            config = camera.create_video_configuration(
                main={"size": self.size, "format": "YUV420"}, controls=controls)
            camera.configure(config)
            # The camera may align the requested size; read back what it chose.
            main = camera.camera_configuration()["main"]
            width, height = main["size"]
            self._geometry = (int(width), int(height), int(main["stride"]))  # as configured
            camera.start()
            if controls.get("AfMode") == AF_MODES["auto"]:
                camera.set_controls({"AfTrigger": AF_TRIGGER_START})  # one focus scan, then it holds
        except Exception as exc:
            _close_quietly(camera)
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"cannot start {self.name}: {one_line(exc)}") from exc
        self._camera = camera
        self._next_id = 0
        self._checked_exposure = False
        limits = controls.get("FrameDurationLimits")
        if self.exposure_us is not None and limits is not None and limits[1] > limits[0]:
            logger.warning("%s: exposure %d us is longer than a frame at %g fps; the camera runs at "
                           "%.1f fps", self.name, self.exposure_us, 1e6 / limits[0], 1e6 / limits[1])
        logger.info("opened %s: %dx%d (stride %d), controls %s", self.name, *self._geometry, controls)

    def read(self) -> Frame | None:
        camera = self._camera
        if camera is None:
            raise SourceError(f"{self.name} is not open")
        try:
            # Asynchronous request plus a timeout: a camera that dies (loose
            # ribbon) otherwise blocks capture_request() forever.
            job = camera.capture_request(wait=False)
            request = job.get_result(timeout=FRAME_TIMEOUT_S)
        except TimeoutError as exc:
            raise SourceError(f"{self.name}: no frame within {FRAME_TIMEOUT_S:g}s") from exc
        except Exception as exc:
            raise SourceError(f"{self.name}: {one_line(exc)}") from exc
        try:
            width, height, stride = self._geometry
            grey = y_plane(request.make_buffer("main"), width, height, stride)
            if not self._checked_exposure:  # say once when the camera did not give the exposure asked for
                self._checked_exposure = True
                asked, got = self.exposure_us, request.get_metadata().get("ExposureTime")
                if asked is not None and got is not None and abs(got - asked) > 0.1 * asked:
                    logger.warning("%s: exposure %d us asked, the camera uses %d us", self.name, asked, got)
        finally:
            request.release()
        frame = Frame(image=grey, frame_id=self._next_id, timestamp=time.monotonic())
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
