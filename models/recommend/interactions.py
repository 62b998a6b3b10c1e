"""The customer x item confidence matrix the recommender learns from, as known on an as-of date.

Items are the bank's products; e-commerce categories enter as side items (`ecom:<CATEGORY>`) that shape the
customer factors but are never offered. Each signal adds a strength, weighted by its kind (holding, recent
opening, closed product, campaign response or conversion, e-commerce purchase day) and halved every
`half_life_days` of age, so a product opened last month says more than one opened ten years ago. All
weights come from `conf/` (models.recommender.weights). Nothing after the as-of date is read: a record counts
only when it happened and was delivered by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import slug
from features.profile.holdings import is_open
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

SIDE_PREFIX = "ecom:"
COLUMNS = ("customer_id", "item", "strength", "signal")


@dataclass(frozen=True)
class InteractionWeights:
    held: float = 1.0               # a product held on the as-of date
    opened: float = 2.0             # extra for the opening, decaying with its age
    closed: float = 0.3             # a product held once, closed since (decaying from the close)
    responded: float = 0.5          # responded to an offer of the product
    converted: float = 2.0          # took the offered product
    ecommerce_day: float = 0.2      # each day with a completed order in a category
    half_life_days: float = 180.0
    ecommerce_window_days: int = 365

    def __post_init__(self):
        for name in ("held", "opened", "closed", "responded", "converted", "ecommerce_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0, got {getattr(self, name)}")
        if self.half_life_days <= 0 or self.ecommerce_window_days <= 0:
            raise ValueError("half_life_days and ecommerce_window_days must be > 0")


def side_item(category: str) -> str:
    return SIDE_PREFIX + category


def is_side_item(item: Column) -> Column:
    return item.startswith(SIDE_PREFIX)


def _decay(days: Column, half_life: float) -> Column:
    return F.exp(F.lit(-math.log(2) / half_life) * F.greatest(days, F.lit(0)).cast("double"))


def product_signals(accounts_known: DataFrame, as_of: date, w: InteractionWeights) -> DataFrame:
    """Accounts as known on `as_of` (one version per account) -> holding, opening and closed-product signals."""
    d = F.lit(as_of)
    acc = accounts_known.where(F.col("open_date") <= d)
    open_now = is_open(d)
    age_open = F.datediff(d, F.col("open_date"))
    age_closed = F.datediff(d, F.coalesce(F.col("close_date"), F.col("updated_at").cast("date")))
    strength = F.when(open_now, F.lit(w.held) + F.lit(w.opened) * _decay(age_open, w.half_life_days)) \
        .otherwise(F.lit(w.closed) * _decay(age_closed, w.half_life_days))
    return acc.select("customer_id", F.col("product_id").alias("item"), strength.alias("strength"),
                      F.when(open_now, F.lit("holds")).otherwise(F.lit("held")).alias("signal"))


def campaign_signals(responses: DataFrame, as_of: date, w: InteractionWeights) -> DataFrame:
    """Campaign responses delivered by `as_of` -> response and conversion signals (offers ignored stay silent)."""
    d = F.lit(as_of)
    r = responses.where((F.col("_extract_date") <= d) & (F.to_date("offer_ts") <= d) & F.col("responded"))
    age = F.datediff(d, F.to_date(F.coalesce(F.col("response_ts"), F.col("offer_ts"))))
    weight = F.when(F.col("converted"), F.lit(w.converted)).otherwise(F.lit(w.responded))
    return r.select("customer_id", F.col("product_id").alias("item"),
                    (weight * _decay(age, w.half_life_days)).alias("strength"),
                    F.when(F.col("converted"), F.lit("converted")).otherwise(F.lit("responded")).alias("signal"))


def ecommerce_signals(daily: DataFrame, as_of: date, w: InteractionWeights) -> DataFrame:
    """gold.customer_daily rows known by `as_of` -> one side item per e-commerce category bought in the window."""
    d = F.lit(as_of)
    rows = daily.where((F.col("known_date") <= d) & (F.col("activity_date") <= d)
                       & (F.col("activity_date") > F.date_sub(d, w.ecommerce_window_days)))
    # the day as known then: corrections are signed rows, so sum before asking whether anything was bought
    days = rows.groupBy("customer_id", "activity_date").agg(
        *[F.sum(f"ecom_amount_{slug(c)}").alias(c) for c in ECOM_CATEGORIES])
    bought = F.array(*[F.when(F.col(c) > 0.005, F.lit(c)) for c in ECOM_CATEGORIES])
    per_day = days.select("customer_id", "activity_date", F.explode(F.array_compact(bought)).alias("category"))
    decay = _decay(F.datediff(d, F.col("activity_date")), w.half_life_days)
    return per_day.select("customer_id", F.concat(F.lit(SIDE_PREFIX), F.col("category")).alias("item"),
                          (F.lit(w.ecommerce_day) * decay).alias("strength"), F.lit("shops").alias("signal"))


def interactions(accounts_known: DataFrame, responses: DataFrame, daily: DataFrame, as_of: date,
                 weights: InteractionWeights) -> DataFrame:
    """One row per customer and item with any signal by `as_of`: COLUMNS, `signal` the strongest one's kind."""
    parts = (product_signals(accounts_known, as_of, weights), campaign_signals(responses, as_of, weights),
             ecommerce_signals(daily, as_of, weights))
    signals = parts[0].unionByName(parts[1]).unionByName(parts[2]).where(F.col("strength") > 0)
    return signals.groupBy("customer_id", "item").agg(
        F.sum("strength").alias("strength"),
        F.max_by("signal", "strength").alias("signal"))


def opened_between(accounts_known: DataFrame, after: date, until: date) -> DataFrame:
    """(customer_id, item) for products first opened in (after, until]: what the time-based holdout asks for."""
    first = accounts_known.groupBy("customer_id", F.col("product_id").alias("item")).agg(
        F.min("open_date").alias("first_open"))
    return first.where((F.col("first_open") > F.lit(after)) & (F.col("first_open") <= F.lit(until))) \
        .select("customer_id", "item")
