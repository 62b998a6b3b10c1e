"""Console logging for crm: one readable line per event, quiet third-party libraries."""

from __future__ import annotations

import logging
import sys
import time

from jobs.config import Settings

QUIET = ("py4j", "great_expectations", "mlflow", "urllib3", "alembic", "matplotlib")


def setup_logging(settings: Settings | None = None, level: str | None = None) -> None:
    lvl = level or (settings.logging.level if settings else "INFO")
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(lvl)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


class Phases:
    """Debug timing of a step's phases (`crm --debug`), to see where a slow night goes."""

    def __init__(self, logger: logging.Logger, label: str):
        self.log, self.label, self.t = logger, label, time.time()

    def __call__(self, phase: str) -> None:
        now = time.time()
        self.log.debug("%s: %s took %.1fs", self.label, phase, now - self.t)
        self.t = now
