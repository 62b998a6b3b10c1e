"""Row-level rules derived from a source contract, and the typed projection of a raw (all-string) batch.

Every landing row is kept as strings first, so a value that does not fit its type is evidence, not an
exception. Each rule yields a violation struct (rule, column, detail); a row with any violation goes to
quarantine under its first violation, in the order below, which runs from "cannot read it" to "does not fit".

The rules are generated as Spark SQL text and parsed once per source: a contract has a hundred or more
checks, and building them call by call through the Python API costs seconds of driver time per load.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.contracts import Column, SourceContract

RULES = (
    "malformed_record",   # the line could not be parsed into fields
    "null_key",           # a business-key column is empty
    "bad_type",           # a value does not parse as the column's type
    "not_null",           # a required column is empty
    "not_allowed",        # a code outside the contract's allowed values
    "bad_pattern",        # a value that does not match the column's format
    "out_of_range",       # a number outside the contract's bounds
    "future_date",        # an event date after the extract's business date
    "unknown_reference",  # a foreign key whose parent is not known
)

# A violation is "<rule>:<column>"; quarantine spells out the detail for the few rows that need it.
VIOLATION_TYPE = "array<string>"


# The default formats. A plain cast reads every value they read, and reads it the same: for them the formatted
# parse adds nothing to the cast it falls back to, and costs three times as much (6 s of two timestamp columns
# over 11M rows).
ISO_TIMESTAMP = "yyyy-MM-dd HH:mm:ss"
ISO_DATE = "yyyy-MM-dd"


@dataclass(frozen=True)
class ParseOptions:
    timestamp_format: str = ISO_TIMESTAMP
    date_format: str = ISO_DATE
    future_date_tolerance_days: int = 1


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _q(name: str) -> str:
    return f"`{name}`"


def typed_sql(c: Column, raw: str, opts: ParseOptions) -> str:
    """The raw string parsed as the contract type; null when it does not parse (never an exception). A date or
    time in the configured format parses, and so does anything Spark's cast reads (ISO 8601 forms)."""
    if c.type == "timestamp":
        if opts.timestamp_format == ISO_TIMESTAMP:
            return f"try_cast({raw} AS timestamp)"
        return f"coalesce(try_to_timestamp({raw}, {sql_string(opts.timestamp_format)}), try_cast({raw} AS timestamp))"
    if c.type == "date":
        if opts.date_format == ISO_DATE:
            return f"try_cast({raw} AS date)"
        return (f"coalesce(cast(try_to_timestamp({raw}, {sql_string(opts.date_format)}) AS date), "
                f"try_cast({raw} AS date))")
    if c.type == "boolean":
        return f"try_cast(lower({raw}) AS boolean)"
    if c.type == "string":
        return raw
    return f"try_cast({raw} AS {c.type})"


def _violation(rule: str, column: str) -> str:
    return sql_string(f"{rule}:{column}")


def _check(cond: str, rule: str, column: str) -> tuple[int, str]:
    return RULES.index(rule), f"CASE WHEN {cond} THEN {_violation(rule, column)} END"


def column_checks(c: Column, contract: SourceContract, opts: ParseOptions, typed: str) -> list[tuple[int, str]]:
    """(rule rank, SQL producing a violation struct or null) for every rule the column carries."""
    raw = _q(c.name)
    out = []
    if c.name in contract.key:
        out.append(_check(f"{raw} IS NULL", "null_key", c.name))
    elif not c.nullable:
        out.append(_check(f"{raw} IS NULL", "not_null", c.name))
    if c.type != "string":
        out.append(_check(f"{raw} IS NOT NULL AND {typed} IS NULL", "bad_type", c.name))
    if c.allowed:
        values = ", ".join(sql_string(a) for a in c.allowed)
        out.append(_check(f"{raw} IS NOT NULL AND NOT {raw} IN ({values})", "not_allowed", c.name))
    if c.pattern:
        out.append(_check(f"{raw} IS NOT NULL AND NOT {raw} RLIKE {sql_string(f'^(?:{c.pattern})$')}",
                          "bad_pattern", c.name))
    if c.min is not None or c.max is not None:
        bounds = [f"{typed} < {c.min!r}"] if c.min is not None else []
        bounds += [f"{typed} > {c.max!r}"] if c.max is not None else []
        out.append(_check(" OR ".join(bounds), "out_of_range", c.name))
    if c.event_time:
        limit = f"cast(date_add(`_extract_date`, {opts.future_date_tolerance_days + 1}) AS timestamp)"
        out.append(_check(f"cast({typed} AS timestamp) >= {limit}", "future_date", c.name))
    return out


def violation_detail(contract: SourceContract) -> str:
    """SQL spelling out a violation code for a person, from the code and the raw record (quarantine only)."""
    cases = []
    for c in contract.columns:
        rules = {"bad_type": f"not a {c.type}", "not_allowed": "unknown code",
                 "bad_pattern": f"does not match {c.pattern}", "future_date": "after the extract date",
                 "out_of_range": "outside " + (f"[{c.min:g}" if c.min is not None else "(-inf") + ", "
                                 + (f"{c.max:g}]" if c.max is not None else "inf)"),
                 "null_key": "key is empty", "not_null": "required value is empty"}
        for rule, text in rules.items():
            cases.append(f"WHEN {_violation(rule, c.name)} THEN {sql_string(text)}")
    for c in contract.foreign_keys:
        cases.append(f"WHEN {_violation('unknown_reference', c.name)} THEN {sql_string(f'no such {c.references}')}")
    cases.append(f"WHEN {_violation('malformed_record', '*')} THEN 'the line could not be parsed into fields'")
    return "CASE `_code` " + " ".join(cases) + " END"


def with_known_parents(raw: DataFrame, contract: SourceContract, parent_keys: dict[str, DataFrame],
                       too_big_to_broadcast: frozenset[str] = frozenset()) -> DataFrame:
    """Marks, per foreign key, whether a parent row with that key exists: adds `_fk_known_<column>` (true or null).

    `parent_keys` maps "<source>.<column>" to a one-column DataFrame of known key values (named `key`); a
    foreign key without an entry is not checked. A parent's key set is usually small next to a batch, so it is
    broadcast and the batch is not shuffled; references named in `too_big_to_broadcast` join the usual way.
    """
    out = raw
    for c in contract.foreign_keys:
        known = parent_keys.get(c.references)
        if known is None:
            continue
        key, flag = f"_fk_key_{c.name}", fk_flag(c.name)
        keys = known.select(F.col("key").alias(key)).distinct().withColumn(flag, F.lit(True))
        keys = keys if c.references in too_big_to_broadcast else F.broadcast(keys)
        out = out.join(keys, out[c.name] == keys[key], "left").drop(key)
    return out


def fk_flag(column: str) -> str:
    return f"_fk_known_{column}"


def apply_row_rules(raw: DataFrame, contract: SourceContract, opts: ParseOptions) -> DataFrame:
    """Types the contract columns (replacing the raw strings) and adds `_violations` and `_raw_record`.

    `raw` holds every contract column as a trimmed string (empty -> null), plus `_extract_date` (date)
    and `_malformed` (boolean), and may hold `_raw_record`, the line as received when the parser could
    not split it, and the `_fk_known_<column>` flags of `with_known_parents`. `_violations` lists every
    rule the row breaks (empty for a good row); `_raw_record` is filled only for a row that breaks one: the
    received line, or the fields as JSON.
    """
    typed_name = {c.name: f"__typed_{i}" for i, c in enumerate(contract.columns)}
    flags = {c.name: fk_flag(c.name) for c in contract.foreign_keys if fk_flag(c.name) in raw.columns}
    passthrough = [c for c in raw.columns
                   if c not in contract.column_names and c != "_raw_record" and c not in flags.values()]
    fields_json = "to_json(named_struct(" + ", ".join(f"{sql_string(n)}, {_q(n)}" for n in contract.column_names) + "))"
    raw_record = f"coalesce(`_raw_record`, {fields_json})" if "_raw_record" in raw.columns else fields_json

    # Stage 1: parse every value once; the checks below refer to the parsed columns by name.
    stage1 = raw.selectExpr(
        *[_q(c) for c in raw.columns if c != "_raw_record"],
        *[f"{typed_sql(c, _q(c.name), opts)} AS {typed_name[c.name]}" for c in contract.columns],
        *(["`_raw_record`"] if "_raw_record" in raw.columns else []),
    )
    checks = [_check("`_malformed`", "malformed_record", "*")]
    for c in contract.columns:
        checks += column_checks(c, contract, opts, typed_name[c.name])
    for column, flag in flags.items():
        checks.append(_check(f"{_q(column)} IS NOT NULL AND {flag} IS NULL", "unknown_reference", column))
    ordered = [sql for _, sql in sorted(checks, key=lambda t: t[0])]
    # concat_ws skips nulls and compiles to Java with the rest of the stage; array_compact would filter with a
    # lambda, which Spark evaluates row by row in interpreted mode (twice the cost of the whole rule set).
    joined = f"concat_ws(',', {', '.join(ordered)})"
    violations = f"CASE WHEN _joined = '' THEN cast(array() AS {VIOLATION_TYPE}) ELSE split(_joined, ',') END"
    stage2 = stage1.selectExpr("*", f"{joined} AS _joined").selectExpr("*", f"{violations} AS _violations")
    # The record as received is kept only where it is needed (quarantine): rebuilding it for every good row
    # would cost a JSON serialisation per row.
    return stage2.selectExpr(
        *[f"{typed_name[c.name]} AS {_q(c.name)}" for c in contract.columns],
        *[_q(c) for c in passthrough],
        f"CASE WHEN _joined != '' THEN {raw_record} END AS _raw_record", "_violations",
    )
