"""`customer_profile`: the Customer 360 snapshot, one row per customer per as-of date.

Each feature group lives in its own module with its documented columns; this module only joins them onto the
customers known on each as-of date. Many as-of dates are built in one pass (the dates are a DataFrame).
A customer with no rows in a group gets 0 for its counts and amounts, and null for what has no value without
activity (recencies, next dates, shares, ratios, averages, scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable, conform
from features.profile.activity import ACTIVITY, ECOMMERCE, activity_features
from features.profile.demographics import DEMOGRAPHICS, demographic_features
from features.profile.holdings import HOLDINGS, holding_features
from features.profile.relationship import RELATIONSHIP, Rule, relationship_features
from features.profile.service import SERVICE, service_features
from features.profile.supply_chain import SUPPLY_CHAIN, supply_chain_features
from features.profile.value import VALUE, ValueRules, value_features
from features.profile.wealth import WEALTH, wealth_features

KEY = ("customer_id", "as_of_date")
KEYS = FeatureGroup("key", "Who and as of when.", (
    Feature("customer_id", "string", "Bank customer number."),
    Feature("as_of_date", "date", "The profile describes the customer as the bank knew them at the end of this day."),
))
# Groups built from the sources, then the groups derived from their columns.
SOURCE_GROUPS = (DEMOGRAPHICS, HOLDINGS, WEALTH, ACTIVITY, ECOMMERCE, SUPPLY_CHAIN, SERVICE)
DERIVED_GROUPS = (VALUE, RELATIONSHIP)
CUSTOMER_PROFILE = FeatureTable(
    "gold.customer_profile",
    "Customer 360: one row per customer per as-of date, from data known by that date.",
    KEY, (KEYS, *SOURCE_GROUPS, *DERIVED_GROUPS))

_NO_VALUE_PREFIXES = ("days_since", "months_since", "next_", "last_", "mean_")
_NO_VALUE_PARTS = ("share", "trend", "basket", "dso_")


def zero_when_absent(f: Feature) -> bool:
    numeric = f.type in ("int", "bigint", "double")
    return numeric and not f.name.startswith(_NO_VALUE_PREFIXES) and not any(p in f.name for p in _NO_VALUE_PARTS)


@dataclass(frozen=True)
class ProfileSources:
    """What the profile reads. `*_known` are record versions known on each as-of date
    (features.history.known_on); the rest are silver tables
    (`daily` is gold.customer_daily). `previous` is the latest snapshot before the first as-of date, if any.
    `year` is gold.customer_activity_365d on the as-of dates; without it the 365-day totals are summed from
    `daily`, which must then hold the whole year before each as-of date (else its last 120 days suffice)."""
    as_of_dates: DataFrame          # one column, as_of_date
    customers_known: DataFrame
    accounts_known: DataFrame
    products: DataFrame
    nav: DataFrame
    daily: DataFrame
    interactions: DataFrame
    firms_known: DataFrame
    invoices_known: DataFrame       # features.profile.supply_chain.known_invoices or latest_invoices
    previous: DataFrame | None = None
    previous_date: date | None = None
    year: DataFrame | None = None


@dataclass(frozen=True)
class ProfileRules:
    value: ValueRules
    orientation: tuple[Rule, ...] = ()
    loyalty: tuple[Rule, ...] = ()


def customer_profile(src: ProfileSources, rules: ProfileRules) -> DataFrame:
    """The profile for every as-of date in `src.as_of_dates`, in one pass."""
    dates = src.as_of_dates
    out = demographic_features(src.customers_known)
    for part in (holding_features(src.accounts_known, src.products),
                 wealth_features(src.accounts_known, src.products, src.nav, src.customers_known, dates),
                 activity_features(src.daily, dates, src.year),
                 supply_chain_features(src.firms_known, src.invoices_known),
                 service_features(src.interactions, dates)):
        out = out.join(part, list(KEY), "left")
    source_features = [f for g in SOURCE_GROUPS for f in g.features]
    out = out.select(*KEY, *[F.coalesce(F.col(f.name), F.lit(0)).alias(f.name) if zero_when_absent(f)
                             else F.col(f.name) for f in source_features])
    out = value_features(out, src.daily, dates, src.previous, src.previous_date, rules.value)
    out = relationship_features(out, list(rules.orientation), list(rules.loyalty))
    return conform(out, CUSTOMER_PROFILE)
