"""The status page and Prometheus /metrics, served by the daemon on one port.

Off by default (``[web] enabled``). ``monitor.WebMonitor`` is the daemon's one
handle: a sink for readings plus a per-frame hook that only keeps references
and bumps counters; everything costly (JPEG encoding, percentiles, the field
log query) happens when a browser or Prometheus asks, on the server's thread.
"""
