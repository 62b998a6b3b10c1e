"""Console logging for crm: one readable line per event, quiet third-party libraries."""

from __future__ import annotations

import logging
import sys

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
