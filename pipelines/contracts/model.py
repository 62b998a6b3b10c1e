"""What a source contract is: columns with types and rules, a business key, PII, foreign keys.

One definition per source serves ingestion (parsing and row rules), validation (Great Expectations suites),
the synthetic generator (what to write) and docs/sources.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Format = Literal["csv", "json", "parquet"]
PiiKind = Literal["name", "id_number", "phone", "email", "address"]

# Spark SQL type names a contract may use.
TYPES = ("string", "int", "bigint", "double", "decimal(18,2)", "decimal(18,6)", "date", "timestamp", "boolean")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None  # a Java regex the whole value must match
    pii: PiiKind | None = None
    references: str | None = None  # "<source>.<column>" whose values must already be known
    event_time: bool = False  # a business date or time that cannot lie beyond the extract date

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {TYPES}")

    @property
    def silver_name(self) -> str:
        """Direct identifiers reach silver only as keyed-hash tokens, under a name that says so."""
        return f"{self.name}_token" if self.pii else self.name


@dataclass(frozen=True)
class SourceContract:
    name: str
    domain: str
    version: str
    format: Format
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # The column that orders versions of one business key (latest wins); None: the latest extract wins.
    version_column: str | None = None
    # "events": each extract brings new happenings, so a sudden drop in volume means a partial delivery;
    # "changes": each extract re-sends the records that changed, whose volume naturally swings.
    delivery: Literal["events", "changes"] = "events"
    # Keep silver.<name>_versions (every version with the date it became known) for point-in-time reads even
    # though deliveries are events; "changes" sources always keep them.
    point_in_time: bool = False
    # The column saying when a record came into being (an account's open_date). A bulk extract has no history
    # of a record's earlier attribute values, so under the initial-load policy its first version stands for
    # them back to this date (see features.arrival).
    record_start: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name}: duplicate column names")
        for k in self.key:
            if k not in names:
                raise ValueError(f"source {self.name}: key column {k} is not a column")
            if self.column(k).nullable:
                raise ValueError(f"source {self.name}: key column {k} must be non-nullable")
            if self.column(k).pii:  # a token is not the raw value: two spellings can share one
                raise ValueError(f"source {self.name}: key column {k} cannot be a PII column")
        if self.record_start and self.record_start not in names:
            raise ValueError(f"source {self.name}: record start column {self.record_start} is not a column")
        if self.version_column and self.version_column not in names:
            raise ValueError(f"source {self.name}: version column {self.version_column} is not a column")

    @property
    def keeps_versions(self) -> bool:
        return self.delivery == "changes" or self.point_in_time

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name} has no column {name}")

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii]

    @property
    def foreign_keys(self) -> list[Column]:
        return [c for c in self.columns if c.references]

    @property
    def parents(self) -> set[str]:
        return {c.references.split(".")[0] for c in self.foreign_keys if c.references.split(".")[0] != self.name}

    @property
    def silver_key(self) -> list[str]:
        return [self.column(k).silver_name for k in self.key]

    def spark_ddl(self) -> str:
        """The typed schema as a DDL string, with silver names (tokens for PII)."""
        return ", ".join(f"`{c.silver_name}` {'string' if c.pii else c.type}" for c in self.columns)


# The column most feeds carry to order versions of one record (the contracts' version_column).
UPDATED_AT = Column("updated_at", "timestamp", "When this version of the record was produced.", nullable=False,
                    event_time=True)
