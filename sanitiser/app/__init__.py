"""The application layer: what the bench can do, whichever shell asks (the CLI or the TUI).

`services` builds the shared services from settings (store, drive source, runner, lab bench) and
the bench's view of each drive; `jobs` wires the job engine to the real seams. The shells call
these and only print or draw; everything the TUI can do, the CLI can do through the same code.
"""
