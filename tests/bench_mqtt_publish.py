"""What the MQTT sink costs the pipeline: MqttSink.publish per accepted reading,
connected to a real mosquitto on loopback, and with the broker down (queued).
Prints numbers; asserts nothing. Run: .venv/bin/python tests/bench_mqtt_publish.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from mosquitto import Broker, free_port
from test_mqtt import make_sink, reading

N = 2000


def measure(port: int) -> list[float]:
    sink = make_sink(port, queue_max=N)
    sink.start()
    time.sleep(1.0)  # connected (or given up on) before timing
    times = []
    for i in range(N):
        r = reading(i)
        started = time.perf_counter()
        sink.publish(r)
        times.append((time.perf_counter() - started) * 1000.0)
        time.sleep(0.001)  # a reading a millisecond, faster than any camera
    sink.stop_drain_s = 10.0
    sink.stop()
    return sorted(times)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp), extra="allow_anonymous true")
        broker.start()
        try:
            cases = (("connected", broker.port), ("broker down, queued", free_port()))
            for label, port in cases:
                t = measure(port)
                print(f"{label:<20} MqttSink.publish, {N} accepted readings (ms): p50 {t[N // 2]:.3f}  "
                      f"p95 {t[N * 95 // 100]:.3f}  p99 {t[N * 99 // 100]:.3f}  max {t[-1]:.3f}")
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
