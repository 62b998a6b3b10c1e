"""Errors a user can act on: the CLI prints them as one line, without a traceback."""

from __future__ import annotations


class CrmError(Exception):
    pass


class BatchFailed(CrmError):
    """A source's delivery failed a batch-level check; its silver table was left untouched."""

    def __init__(self, source: str, problems: list, *, batch_id: str | None = None, files: list | None = None,
                 results: list | None = None):
        self.source = source
        self.problems = problems
        self.batch_id = batch_id
        self.files = files or []
        self.results = results or []  # per-source outcomes of the run, when a whole ingest run failed
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))
