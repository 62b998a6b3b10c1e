"""Feature column definitions: one place for each gold column's name, type, meaning and window.

The builders select their output through `conform`, so a table's columns, the Delta column comments and the
generated `docs/features.md` all come from the same definitions and cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Feature:
    name: str
    type: str            # Spark SQL type
    description: str
    window: str = ""     # e.g. "day", "30d"; empty for attributes


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    description: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


@dataclass(frozen=True)
class FeatureTable:
    name: str            # logical table name, e.g. gold.customer_daily
    description: str
    key: tuple[str, ...]
    groups: tuple[FeatureGroup, ...]

    @property
    def features(self) -> list[Feature]:
        return [f for g in self.groups for f in g.features]

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def comments(self) -> dict[str, str]:
        return {f.name: f.description + (f" ({f.window})" if f.window else "") for f in self.features}

    def ddl(self) -> str:
        return ", ".join(f"`{f.name}` {f.type}" for f in self.features)


def conform(df: DataFrame, table: FeatureTable) -> DataFrame:
    """The table's columns in their defined order and types; a missing column is a bug in its builder."""
    missing = [n for n in table.column_names if n not in df.columns]
    if missing:
        raise ValueError(f"{table.name}: builder did not produce {', '.join(missing)}")
    return df.select(*[F.col(f.name).cast(f.type).alias(f.name) for f in table.features])


def slug(value: str) -> str:
    """A code as a column-name part: 'MOBILE_APP' -> 'mobile_app'."""
    return value.lower().replace("-", "_").replace(" ", "_")


def signed_sum(sign: Column, value: Column, when: Column | None = None) -> Column:
    """Sum of `value` weighted by the change sign (+1 added, -1 retracted), over the rows where `when` holds."""
    term = sign * value
    return F.coalesce(F.sum(term if when is None else F.when(when, term)), F.lit(0))
