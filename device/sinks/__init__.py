"""Where readings go: console, field log, snapshot, journald. A sink that
fails logs and drops; it never stops the pipeline."""
