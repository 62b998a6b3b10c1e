"""Events: invitations to upcoming client events matched to the customer's tags and interests (tasks.events).

An event is open for invitations from invite_days before it to the day before it. It invites the consenting
customers of its tiers (empty: any) and city (null: any) who hold any of its tags on the as-of date (no tags:
everyone), at most `capacity` of them: the most valuable first, ranked the same way every day so that the
invitations planned over the days never exceed it. The invitation is due the day before the event.
`profile`: gold.customer_profile rows of the as-of date; `tags`: gold.customer_tags rows of the as-of date.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from models.maintenance.candidates import candidates, empty


def open_events(events, as_of: date) -> list:
    return [e for e in events if e.date - timedelta(e.invite_days) <= as_of < e.date]


def event_invitations(profile: DataFrame, tags: DataFrame, as_of: date, events) -> DataFrame:
    out = empty(profile.sparkSession)
    for e in open_events(events, as_of):
        p = profile.where(F.col("marketing_consent"))
        if e.tiers:
            p = p.where(F.col("value_tier").isin(*e.tiers))
        if e.city:
            p = p.where(F.col("city") == e.city)
        if e.tags:
            held = (tags.where(F.col("tag").isin(*e.tags)).groupBy("customer_id")
                    .agg(F.concat_ws(", ", F.array_sort(F.collect_set("tag"))).alias("_matched")))
            p = p.join(held, "customer_id").withColumn("_matched", F.concat(F.lit("tags: "), F.col("_matched")))
        else:
            p = p.withColumn("_matched", F.lit("open to all"))
        ranked = p.withColumn("_rank", F.row_number().over(
            Window.orderBy(F.desc_nulls_last("customer_value"), "customer_id"))).where(F.col("_rank") <= e.capacity)
        out = out.unionByName(candidates(
            ranked, "EVENT_INVITATION", [F.lit(e.event_id)], F.lit(e.date - timedelta(1)), None,
            {"event_id": F.lit(e.event_id), "event_name": F.lit(e.name), "event_kind": F.lit(e.kind),
             "event_date": F.lit(str(e.date)), "matched": F.col("_matched")}))
    return out
