"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class CrmError(Exception):
    pass


class BatchFailed(CrmError):
    """A source's delivery failed a batch-level check; its silver table was left untouched."""

    def __init__(self, source: str, problems: list):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))
