"""Great Expectations suites derived from the source contracts, run on every accepted batch.

The row rules (pipelines/ingest/rules.py) sort rows into accepted and quarantined; the suite then checks
the accepted, silver-shaped batch as a whole (schema, nulls, codes, ranges, formats, unique keys), so a
defect in the rules themselves cannot publish to silver unseen.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark.sql import DataFrame

from pipelines.contracts import SourceContract

TOKEN_REGEX = r"^[0-9a-f]{64}$"
# One data context serves the process; its batch and metric bookkeeping is not made for concurrent use, so
# suites are built and run one at a time even when several sources load in parallel.
_CONTEXT_LOCK = threading.RLock()


def expectation_suite(contract: SourceContract, extra_columns: list[str]) -> gx.ExpectationSuite:
    """The suite for a source's silver-shaped batch: contract columns (PII as tokens) plus `extra_columns`."""
    with _CONTEXT_LOCK:
        _batch_definition()  # suites can only be built inside a data context
        return _suite(contract, extra_columns)


def _suite(contract: SourceContract, extra_columns: list[str]) -> gx.ExpectationSuite:
    E = gx.expectations
    suite = gx.ExpectationSuite(name=f"{contract.name}.silver.v{contract.version}")
    suite.add_expectation(E.ExpectTableColumnsToMatchSet(
        column_set=[c.silver_name for c in contract.columns] + list(extra_columns), exact_match=True))
    for c in contract.columns:
        col = c.silver_name
        if not c.nullable:
            suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
        if c.pii:
            suite.add_expectation(E.ExpectColumnValuesToMatchRegex(column=col, regex=TOKEN_REGEX))
            continue
        if c.allowed:
            suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col, value_set=list(c.allowed)))
        if c.pattern:
            suite.add_expectation(E.ExpectColumnValuesToMatchRegex(column=col, regex=f"^(?:{c.pattern})$"))
        if c.min is not None or c.max is not None:
            suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=c.min, max_value=c.max))
    key = contract.silver_key
    if len(key) == 1:
        suite.add_expectation(E.ExpectColumnValuesToBeUnique(column=key[0]))
    else:
        suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=key))
    return suite


@dataclass
class SuiteResult:
    suite: str
    success: bool
    evaluated: int
    failures: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: {self.evaluated} expectations met"
        shown = "; ".join(f"{f['expectation']}({f.get('column') or ''}): {f.get('unexpected_count')} unexpected"
                          for f in self.failures[:5])
        return f"{self.suite}: {len(self.failures)} of {self.evaluated} expectations failed: {shown}"


@lru_cache(maxsize=1)
def _batch_definition():
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # Nightly logs are read by people and schedulers: no tqdm bars per metric.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # persist=False: by default the Spark source caches every batch it is given, and never lets it go; a batch
    # here is already a cheap columnar read (the load's staged Parquet), and caching it cost more than the suite.
    source = context.data_sources.add_spark(name="crm_lakehouse", persist=False)
    asset = source.add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe("whole_batch")




def validate(df: DataFrame, suite: gx.ExpectationSuite) -> SuiteResult:
    with _CONTEXT_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
        # Pass/fail first (fewest Spark jobs); only a failing suite is run again for unexpected counts.
        result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        if not result.success:
            result = batch.validate(suite, result_format="BASIC")
    failures = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            failures.append({
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                "unexpected_count": (r.result or {}).get("unexpected_count"),
                "exception": (r.exception_info or {}).get("exception_message"),
            })
    return SuiteResult(suite=suite.name, success=bool(result.success), evaluated=len(result.results),
                       failures=failures)
