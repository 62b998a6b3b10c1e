"""Business rules written as Spark SQL conditions over a feature table, checked before anything runs."""

from __future__ import annotations

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType


class ConditionError(ValueError):
    pass


def check_condition(table: DataFrame, what: str, condition: str) -> None:
    """Raises ConditionError naming `what` when `condition` does not parse, resolve or yield true/false."""
    try:
        dtype = table.select(F.expr(condition).alias("c")).schema["c"].dataType
    except PySparkException as e:
        first = str(e).strip().splitlines()[0][:300]
        raise ConditionError(f"{what}: condition {condition!r} is not valid over the profile: {first}") from None
    if not isinstance(dtype, BooleanType):
        raise ConditionError(f"{what}: condition {condition!r} gives {dtype.simpleString()}, not true/false")
