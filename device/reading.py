"""The reading (docs/architecture.md): the one record of what a frame read. Every
publisher receives it, and ``digitcam read --json`` prints its fields; ``to_dict``
is the one conversion to JSON (no strip: ``"quad": null``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frame_reader import FrameResult

Point = tuple[float, float]
Corners = tuple[Point, Point, Point, Point]


def utc_now() -> str:
    """UTC timestamp with milliseconds, ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Reading:
    timestamp: str  # UTC, ISO 8601, milliseconds, "Z"
    text: str  # the digits read; "" when none were found
    confidence: float  # 0..1, the least certain column on the best path
    digit_confidences: tuple[float, ...]
    quad: Corners | None  # strip corners in frame pixels: TL, TR, BR, BL; None: no strip
    frame_id: int
    accepted: bool  # did the stabiliser accept it
    reason: str = ""  # why it was rejected; "" when accepted
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage, and "total"
    model_sha256: str = ""

    @classmethod
    def of(cls, result: FrameResult, frame_id: int = 0, accepted: bool = False, reason: str = "",
           model_sha256: str = "", timestamp: str = "") -> Reading:
        """A frame's result as a record: confidence to 4 places, corners to 0.1 px, ms to 3."""
        quad = None if result.quad is None else tuple(
            (round(float(x), 1), round(float(y), 1)) for x, y in result.quad)
        return cls(timestamp, result.text, round(result.confidence, 4), result.digit_confidences,
                   quad, frame_id, accepted, reason,  # type: ignore[arg-type]
                   {k: round(v, 3) for k, v in result.latency_ms.items()}, model_sha256)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["digit_confidences"] = list(self.digit_confidences)
        record["quad"] = None if self.quad is None else [list(p) for p in self.quad]
        return record

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reading:
        quad = None if raw["quad"] is None else tuple(tuple(float(v) for v in p) for p in raw["quad"])
        return cls(str(raw["timestamp"]), str(raw["text"]), float(raw["confidence"]),
                   tuple(float(c) for c in raw["digit_confidences"]), quad,  # type: ignore[arg-type]
                   int(raw["frame_id"]), bool(raw["accepted"]), str(raw.get("reason", "")),
                   {k: float(v) for k, v in raw.get("latency_ms", {}).items()},
                   str(raw.get("model_sha256", "")))
