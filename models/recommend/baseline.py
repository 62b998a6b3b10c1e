"""The named baseline every recommender is measured against, and what cold-start customers are offered:
the products most often opened by customers of the same segment in the year before the as-of date."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.profile.holdings import is_open

NAME = "popularity_by_segment"


def popularity_by_segment(accounts_known: DataFrame, customers_known: DataFrame, as_of: date,
                          window_days: int = 365) -> DataFrame:
    """(segment, product_id, share, rank): openings in (as_of - window, as_of] per segment customer, with
    current holdings as the tie-breaker (and the whole ranking for a segment that opened nothing)."""
    d = F.lit(as_of)
    seg = customers_known.select("customer_id", "segment")
    acc = accounts_known.where(F.col("open_date") <= d).join(seg, "customer_id")
    recent = F.col("open_date") > F.date_sub(d, window_days)
    held = is_open(d)
    counts = acc.groupBy("segment", "product_id").agg(
        F.countDistinct(F.when(recent, F.col("customer_id"))).alias("opened"),
        F.countDistinct(F.when(held, F.col("customer_id"))).alias("held"))
    size = seg.groupBy("segment").agg(F.count(F.lit(1)).alias("customers"))
    w = Window.partitionBy("segment").orderBy(F.desc("opened"), F.desc("held"), "product_id")
    return (counts.join(size, "segment")
            .select("segment", "product_id", (F.col("opened") / F.col("customers")).alias("share"),
                    F.row_number().over(w).alias("rank")))


def as_mapping(baseline: DataFrame) -> dict[str, list[tuple[str, float]]]:
    """The baseline as the model stores it: segment -> products in rank order (a few hundred rows at most)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for r in baseline.orderBy("segment", "rank").collect():
        out.setdefault(r["segment"], []).append((r["product_id"], float(r["share"])))
    return out
