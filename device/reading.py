"""Contract 2 (docs/architecture.md): the reading. Every publisher receives this same record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

Point = tuple[float, float]


def utc_now() -> str:
    """UTC timestamp with milliseconds, ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Reading:
    timestamp: str  # UTC, ISO 8601, milliseconds, "Z"
    text: str  # the digits read; "" when none were found
    confidence: float  # 0..1, the least certain column on the best path
    digit_confidences: tuple[float, ...]
    quad: tuple[Point, Point, Point, Point]  # strip corners in frame pixels: TL, TR, BR, BL
    frame_id: int
    accepted: bool  # did the stabiliser accept it
    reason: str = ""  # why it was rejected; "" when accepted
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage, and "total"
    model_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["digit_confidences"] = list(self.digit_confidences)
        record["quad"] = [list(p) for p in self.quad]
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reading:
        quad = tuple(tuple(float(v) for v in p) for p in raw["quad"])
        return cls(
            timestamp=str(raw["timestamp"]), text=str(raw["text"]),
            confidence=float(raw["confidence"]),
            digit_confidences=tuple(float(c) for c in raw["digit_confidences"]),
            quad=quad,  # type: ignore[arg-type]
            frame_id=int(raw["frame_id"]), accepted=bool(raw["accepted"]),
            reason=str(raw.get("reason", "")),
            latency_ms={k: float(v) for k, v in raw.get("latency_ms", {}).items()},
            model_sha256=str(raw.get("model_sha256", "")),
        )
