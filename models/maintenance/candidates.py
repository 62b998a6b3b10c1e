"""What every task rule produces: a candidate task.

A rule is a pure function from DataFrames (the customer's accounts, profile, interactions...) to candidate rows
(CANDIDATE_COLUMNS): whose task it is, its type, the trigger it is about (an account and due date, a complaint
and its stage, a birthday's year), when it is due, the money at stake, and the facts behind it as text. The
trigger is what makes the task id stable: the same maturity of the same deposit is the same task on every day
it is due, so a rerun or the next morning updates it rather than adding another.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

CANDIDATE_COLUMNS = ("customer_id", "task_type", "trigger_key", "due_date", "amount_cny", "facts")
CANDIDATE_SCHEMA = ("customer_id string, task_type string, trigger_key string, due_date date, amount_cny double, "
                    "facts map<string,string>")


def candidates(df: DataFrame, task_type: str, trigger: list[Column | str], due: Column, amount: Column | None,
               facts: dict[str, Column]) -> DataFrame:
    """Candidate rows of `task_type` from `df` (one per row). `facts`: the text the message template and the
    worklist show, by name; a null fact shows as '-'."""
    pairs = [x for k, v in facts.items() for x in (F.lit(k), F.coalesce(v.cast("string"), F.lit("-")))]
    return df.select(
        F.col("customer_id"), F.lit(task_type).alias("task_type"),
        F.concat_ws("|", *[F.col(t) if isinstance(t, str) else t for t in trigger]).alias("trigger_key"),
        due.cast("date").alias("due_date"),
        (amount if amount is not None else F.lit(None)).cast("double").alias("amount_cny"),
        F.create_map(*pairs).alias("facts"))


def empty(spark) -> DataFrame:
    return spark.createDataFrame([], CANDIDATE_SCHEMA)


def money(c: Column) -> Column:
    """An amount as the worklist shows it: thousands separated, no decimals (14,250)."""
    return F.format_number(c.cast("double"), 0)


def share(c: Column) -> Column:
    """A share as a signed percentage (+12.5%)."""
    pct = F.format_number(F.abs(c) * 100, 1)
    return F.concat(F.when(c < 0, F.lit("-")).otherwise(F.lit("+")), pct, F.lit("%"))


def lookup(values: dict, key: Column, default=None) -> Column:
    """`values[key]` for a column of keys, from a literal map (a setting by tier, by risk level...); `default`
    for a key the map lacks."""
    value = F.try_element_at(F.create_map(*[x for k, v in values.items() for x in (F.lit(k), F.lit(v))]), key) \
        if values else F.lit(None)
    return value if default is None else F.coalesce(value, F.lit(default))


def pct(c: Column) -> Column:
    """A share as a percentage (12.5%)."""
    return F.concat(F.format_number(c * 100, 1), F.lit("%"))
