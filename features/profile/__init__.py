"""`customer_profile`: the Customer 360 snapshot, one row per customer per as-of date.

Each feature group lives in its own module with its documented columns; this module only joins them onto the
customers known on each as-of date. Many as-of dates are built in one pass (the dates are a DataFrame).
A customer with no rows in a group gets 0 for its counts and amounts, and null for what has no value without
activity (recencies, next dates, shares, ratios, averages, scores).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable, conform
from features.profile.activity import ACTIVITY, ECOMMERCE, activity_features
from features.profile.demographics import DEMOGRAPHICS, demographic_features
from features.profile.holdings import HOLDINGS, holding_features
from features.profile.service import SERVICE, service_features

KEY = ("customer_id", "as_of_date")
KEYS = FeatureGroup("key", "Who and as of when.", (
    Feature("customer_id", "string", "Bank customer number."),
    Feature("as_of_date", "date", "The profile describes the customer as the bank knew them at the end of this day."),
))
CUSTOMER_PROFILE = FeatureTable(
    "gold.customer_profile",
    "Customer 360: one row per customer per as-of date, from data known by that date.",
    KEY, (KEYS, DEMOGRAPHICS, HOLDINGS, ACTIVITY, ECOMMERCE, SERVICE))

_NO_VALUE_PREFIXES = ("days_since", "months_since", "next_", "last_", "mean_")
_NO_VALUE_PARTS = ("share", "trend", "basket")


def zero_when_absent(f: Feature) -> bool:
    numeric = f.type in ("int", "bigint", "double")
    return numeric and not f.name.startswith(_NO_VALUE_PREFIXES) and not any(p in f.name for p in _NO_VALUE_PARTS)


def customer_profile(customers_known: DataFrame, accounts_known: DataFrame, products: DataFrame,
                     daily: DataFrame, interactions: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """The profile for every as-of date in `as_of_dates` (one column `as_of_date`).

    `customers_known` and `accounts_known` are record versions known on each as-of date
    (features.history.known_on); `daily` is gold.customer_daily; `interactions` is silver.interactions.
    """
    out = demographic_features(customers_known)
    for part in (holding_features(accounts_known, products), activity_features(daily, as_of_dates),
                 service_features(interactions, as_of_dates)):
        out = out.join(part, list(KEY), "left")
    filled = [F.coalesce(F.col(f.name), F.lit(0)).alias(f.name) if zero_when_absent(f) else F.col(f.name)
              for f in CUSTOMER_PROFILE.features]
    return conform(out.select(*filled), CUSTOMER_PROFILE)
