"""What the synthetic bank looks like: the generator section of the configuration, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Any, Mapping


@dataclass(frozen=True)
class GeneratorParams:
    customers: int = 2000
    days: int = 120
    seed: int = 42
    start_date: date = date(2026, 1, 1)
    daily_extract_days: int = 30
    sme_share: float = 0.12
    trading_partners_per_firm: int = 6
    ecommerce_share: float = 0.55
    txn_per_customer_day: float = 1.6
    late_record_share: float = 0.02
    correction_share: float = 0.005
    fraud_episodes: int = 30
    aml_cases_per_typology: int = 8
    churn_share: float = 0.08
    max_records_per_file: int = 1_000_000

    def __post_init__(self) -> None:
        if self.customers < 20:
            raise ValueError("the synthetic bank needs at least 20 customers")
        if self.days < 2:
            raise ValueError("the synthetic bank needs at least 2 days")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any], **overrides: Any) -> "GeneratorParams":
        """From the config's generator section (a mapping or a pydantic model), with None overrides ignored."""
        data = section.model_dump() if hasattr(section, "model_dump") else dict(section)
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> "GeneratorParams":
        return replace(self, **changes)

    # -- the calendar: day numbers count from start_date (day 0) to last_day (days - 1) ------------------
    @property
    def daily_days(self) -> int:
        """Days delivered as daily extracts; at least the first day always goes into the bulk extract."""
        return max(0, min(self.daily_extract_days, self.days - 1))

    @property
    def last_day(self) -> int:
        return self.days - 1

    @property
    def bulk_day(self) -> int:
        """Day number of the initial bulk extract, which holds everything that happened up to it."""
        return self.days - self.daily_days - 1

    def date_of(self, day: int) -> date:
        return self.start_date + timedelta(days=day)

    @property
    def bulk_date(self) -> date:
        return self.date_of(self.bulk_day)

    @property
    def end_date(self) -> date:
        return self.date_of(self.last_day)

    @property
    def extract_dates(self) -> list[date]:
        return [self.date_of(d) for d in range(self.bulk_day, self.last_day + 1)]

    # -- how many special customers a bank of this size can hold -------------------------------------------
    @property
    def episodes_per_type(self) -> int:
        return min(self.fraud_episodes, max(1, self.customers // 40)) if self.fraud_episodes else 0

    @property
    def cases_per_typology(self) -> int:
        return min(self.aml_cases_per_typology, max(1, self.customers // 60)) if self.aml_cases_per_typology else 0
