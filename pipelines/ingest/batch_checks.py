"""Batch-level checks: facts about a delivery that make the whole load untrustworthy.

These decide from small facts (headers, sizes, counts) already gathered by the job; a problem here stops
the source's load before anything is written, so silver never publishes from a broken delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from statistics import median

from pipelines.contracts import SourceContract


@dataclass(frozen=True)
class BatchProblem:
    rule: str       # schema_drift | empty_file | truncated_file | unreadable_file | row_count_collapse | ...
    file: str | None
    message: str

    def __str__(self) -> str:
        where = f" in {self.file}" if self.file else ""
        return f"{self.rule}{where}: {self.message}"


def schema_problems(contract: SourceContract, file: str, columns: list[str], *, keys_seen_only: bool = False) -> list[BatchProblem]:
    """Missing or unexpected columns. For JSON lines, absent keys may just be nulls: only required ones count."""
    expected = contract.column_names
    unexpected = [c for c in columns if c not in expected]
    if keys_seen_only:
        missing = [c.name for c in contract.columns if not c.nullable and c.name not in columns]
    else:
        missing = [c for c in expected if c not in columns]
    problems = []
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected))
        hint = " (a renamed column?)" if missing and unexpected else ""
        problems.append(BatchProblem("schema_drift", file, f"{'; '.join(parts)}{hint}; contract {contract.name} "
                                                           f"v{contract.version} expects {', '.join(expected)}"))
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        problems.append(BatchProblem("schema_drift", file, f"duplicate columns {', '.join(dupes)}"))
    return problems


def file_problems(file: str, size: int, ends_with_newline: bool | None, data_rows: int | None,
                  *, min_rows: int, require_trailing_newline: bool) -> list[BatchProblem]:
    if size == 0:
        return [BatchProblem("empty_file", file, "the file is empty")]
    problems = []
    if require_trailing_newline and ends_with_newline is False:
        problems.append(BatchProblem("truncated_file", file, "the file does not end with a line break: "
                                                             "the delivery was cut short"))
    if data_rows is not None and data_rows < min_rows:
        problems.append(BatchProblem("empty_file", file, f"{data_rows} data rows (at least {min_rows} expected)"))
    return problems


def row_count_problems(rows_by_date: dict[date, int], history: list[int], *, ratio: float,
                       window: int, min_history: int = 3) -> list[BatchProblem]:
    """A daily extract with far fewer rows than the recent ones is a partial delivery.

    `history` lists the row counts of earlier daily extracts, oldest first; each date of this batch is
    compared with the median of the `window` extracts before it (this batch's earlier dates included).
    """
    problems = []
    seen = list(history)
    for d in sorted(rows_by_date):
        n = rows_by_date[d]
        recent = seen[-window:]
        if len(recent) >= min_history:
            typical = median(recent)
            if typical > 0 and n < ratio * typical:
                problems.append(BatchProblem("row_count_collapse", None,
                                             f"extract {d} has {n} rows against a recent median of {typical:g} "
                                             f"(threshold {ratio:.0%})"))
        seen.append(n)
    return problems


def share_problem(rule: str, count: int, total: int, limit: float, what: str) -> list[BatchProblem]:
    if total and count / total > limit:
        return [BatchProblem(rule, None, f"{count} of {total} rows ({count / total:.1%}) {what}, "
                                         f"above the {limit:.0%} limit")]
    return []
