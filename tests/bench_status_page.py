"""What the status page and /metrics cost the daemon. Prints numbers; asserts nothing.

1. The per-frame hook alone (``WebMonitor.frame``'s two calls), timed with timeit.
2. The real daemon on the bundled sample frames as fast as they come, ``[web]`` off and
   on in turn, a browser-like poller on the page while it is on: per-frame latency from
   the daemon's own ``--summary`` table, peak VmRSS from /proc.
3. A soak at the camera's 10 fps with the page polled: VmRSS every 30 s.

``--mqtt`` adds the MQTT sink, publishing to a mosquitto on loopback started here.
Run: .venv/bin/python tests/bench_status_page.py [--pairs 5] [--soak-s 480] [--mqtt]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from mosquitto import Broker, free_port

from digitcam.device.frame_reader import FrameResult
from digitcam.device.stabilise import Verdict
from digitcam.device.web.live import LiveState
from digitcam.device.web.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ROOT / "device" / "samples" / "frames"


def hook_cost() -> None:
    live, metrics = LiveState(), Metrics(None)
    image = np.zeros((480, 640), np.uint8)
    result = FrameResult("0123", 0.9, (0.9,) * 4, {"segment": 2.0, "infer": 0.3, "decode": 0.1, "total": 2.5},
                         np.zeros((4, 2), np.float32))
    verdict = Verdict(False, "0123", "unchanged 0123")
    stages = {"capture_wait": 1.0, "segment": 2.0, "infer": 0.3, "decode": 0.1, "publish": 0.0,
              "total": 2.5}

    def hook() -> None:  # what WebMonitor.frame does
        live.frame(image, 1, result, verdict.accepted, verdict.reason)
        metrics.frame(stages, verdict.accepted, verdict.reason)

    n = 20000
    runs = sorted(timeit.repeat(hook, number=n, repeat=5))
    print(f"per-frame hook: best {runs[0] / n * 1e6:.1f} us, median {runs[2] / n * 1e6:.1f} us "
          f"({n} calls x 5)")
    live.frame(image, 2, result, True, "")
    enc = timeit.repeat(lambda: (setattr(live, "_jpeg", None), live.jpeg()), number=50, repeat=3)
    print(f"latest frame as JPEG, on request (640x480, annotated): best {min(enc) / 50 * 1e3:.2f} ms")


def config(path: Path, state: Path, port: int, web: bool, fps: float, mqtt_port: int) -> None:
    mqtt = (f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt_port}\nnode_id = "bench"\n'
            if mqtt_port else "")
    path.write_text(f"""\
state_dir = "{state}"
[source]
spec = "replay:{FRAMES}"
fps = {fps}
loop = true
[stabiliser]
k = 2
n = 3
min_confidence = 0.5
[console]
enabled = false
[journal]
enabled = false
[profiling]
summary_interval_s = 0
[web]
enabled = {str(web).lower()}
port = {port}
{mqtt}""")


def poller(port: int, stop: threading.Event) -> None:
    """What an open status page asks for (status and picture every second, the plot every
    10 s), plus a Prometheus scrape every 5 s."""
    tick = 0
    while not stop.is_set():
        paths = ["api/status", "frame.jpg"] + (["metrics"] if tick % 5 == 0 else []) + \
            (["api/history"] if tick % 10 == 0 else [])
        for path in paths:
            with contextlib.suppress(OSError):  # not listening yet
                urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=5).read()
        tick += 1
        stop.wait(1.0)


def status_mb(pid: int, key: str = "VmRSS") -> float:
    """A memory line of /proc/PID/status (VmRSS, RssAnon, RssFile) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def smaps_top(pid: int, n: int = 15) -> None:
    """Where the resident memory is: Rss and Pss summed per mapped file, [heap] and anonymous
    mappings, from /proc/PID/smaps; the largest N, then smaps_rollup's totals."""
    rss: dict[str, int] = {}
    pss: dict[str, int] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = fields[5] if len(fields) > 5 else "[anon]"
        elif fields[0] == "Rss:":
            rss[name] = rss.get(name, 0) + int(fields[1])
        elif fields[0] == "Pss:":
            pss[name] = pss.get(name, 0) + int(fields[1])
    print(f"  top {n} of {len(rss)} mappings by Rss (MB, Rss / Pss):")
    for key in sorted(rss, key=rss.__getitem__, reverse=True)[:n]:
        print(f"    {rss[key] / 1024:6.1f} / {pss[key] / 1024:6.1f}  {key}")
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    totals = {m.group(1): int(m.group(2)) / 1024 for m in re.finditer(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
    print("  smaps_rollup: " + ", ".join(f"{k} {totals[k]:.1f} MB" for k in
                                         ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean",
                                          "Private_Clean", "Private_Dirty") if k in totals), flush=True)


def run_daemon(tmp: Path, web: bool, frames: int, fps: float, mqtt_port: int,
               report_every_s: float = 0.0, smaps: bool = False) -> tuple[dict[str, list[float]], float]:
    port = free_port()
    cfg = tmp / f"web-{int(web)}.toml"
    state = tmp / f"state-{time.monotonic_ns()}"
    config(cfg, state, port, web, fps, mqtt_port)
    proc = subprocess.Popen([sys.executable, "-m", "digitcam.device.cli", "device", "run", "--config",
                             str(cfg), "--frames", str(frames), "--summary"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stop = threading.Event()
    if web:
        threading.Thread(target=poller, args=(port, stop), daemon=True).start()
    peak, started, next_report = 0.0, time.monotonic(), report_every_s
    while proc.poll() is None:
        try:
            now = status_mb(proc.pid)
            if report_every_s and time.monotonic() - started >= next_report:
                # RssAnon is the daemon's own memory; VmRSS adds library pages from the page cache.
                anon, file = status_mb(proc.pid, "RssAnon"), status_mb(proc.pid, "RssFile")
                print(f"  t={next_report:4.0f} s  VmRSS {now:.1f} MB  RssAnon {anon:.1f} MB  "
                      f"RssFile {file:.1f} MB", flush=True)
                if smaps and time.monotonic() - started + report_every_s >= frames / fps:
                    smaps_top(proc.pid)  # the last report before the daemon stops
        except OSError:
            break
        peak = max(peak, now)
        if report_every_s and time.monotonic() - started >= next_report:
            next_report += report_every_s
        time.sleep(0.5)
    stop.set()
    out = proc.communicate()[0]
    rows = {m.group(1): [float(v) for v in m.group(2).split()]
            for m in re.finditer(r"^(\w+)\s+([\d. ]+)$", out, re.M)}
    return rows, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="off/on daemon runs, interleaved")
    parser.add_argument("--frames", type=int, default=1500, help="frames per latency run")
    parser.add_argument("--soak-s", type=float, default=480.0, help="seconds of the 10 fps soak; 0 = none")
    parser.add_argument("--mqtt", action="store_true", help="publish to a mosquitto on loopback too")
    parser.add_argument("--smaps", action="store_true",
                        help="at the soak's last report, the top mappings by Rss from /proc/PID/smaps")
    args = parser.parse_args()
    hook_cost()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Broker(tmp / "broker", extra="allow_anonymous true") if args.mqtt else None
        if broker is not None:
            broker.start()
        mqtt_port = broker.port if broker is not None else 0
        try:
            totals: dict[bool, list[float]] = {False: [], True: []}
            for i in range(args.pairs):
                for web in (False, True):
                    rows, peak = run_daemon(tmp, web, args.frames, 0.0, mqtt_port)
                    total = rows["total"]
                    totals[web].append(total[0])
                    print(f"web {'on ' if web else 'off'} run {i + 1}: total p50 {total[0]:.2f} "
                          f"p95 {total[1]:.2f} ms over the last 1000 frames; peak VmRSS {peak:.1f} MB",
                          flush=True)
            if args.pairs:
                print(f"median total p50: web off {statistics.median(totals[False]):.2f} ms, "
                      f"on {statistics.median(totals[True]):.2f} ms")
            if args.soak_s:
                print(f"soak: web on{', mqtt on' if args.mqtt else ''}, 10 fps, page polled")
                _, peak = run_daemon(tmp, True, int(args.soak_s * 10), 10.0, mqtt_port, 30.0,
                                   args.smaps)
                print(f"soak peak VmRSS {peak:.1f} MB")
        finally:
            if broker is not None:
                broker.kill()


if __name__ == "__main__":
    main()
