"""Service relationship: contacts, complaints and satisfaction up to the as-of date.

Interactions are events: one counts once it happened and was delivered by the as-of date. A complaint is open on the as-of
date when it was raised by then and not resolved by then (resolved_ts later or not yet).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup

LOOKBACK = 365

SERVICE = FeatureGroup("service", "Contacts, complaints and satisfaction.", (
    Feature("contacts_90d", "int", "Interactions of any kind.", "90d"),
    Feature("days_since_last_contact", "int", "Days from the last interaction to the as-of date."),
    Feature("complaints_365d", "int", "Complaints raised.", "365d"),
    Feature("complaints_open", "int", "Complaints raised in the last 365 days and not resolved by the as-of date."),
    Feature("complaints_resolved_365d", "int", "Complaints resolved.", "365d"),
    Feature("mean_resolution_days_365d", "double", "Mean days from complaint to resolution, over complaints "
                                                   "resolved in the window.", "365d"),
    Feature("care_contacts_365d", "int", "Care calls and advisory meetings.", "365d"),
    Feature("events_attended_365d", "int", "Client events attended.", "365d"),
    Feature("last_satisfaction_score", "int", "Score of the latest survey answered by the as-of date (1-5)."),
))


def service_features(interactions: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Silver interactions and the as-of dates -> SERVICE, per customer with any interaction in a year."""
    as_of = F.col("as_of_date")
    day = F.to_date("interaction_ts")
    pairs = interactions.join(F.broadcast(as_of_dates),
                              (day <= as_of) & (day > F.date_sub(as_of, LOOKBACK)) & (F.col("_extract_date") <= as_of))
    age = F.datediff(as_of, day)
    complaint = F.col("interaction_type") == "COMPLAINT"
    resolved_by = F.col("resolved_ts").isNotNull() & (F.to_date("resolved_ts") <= as_of)
    survey = (F.col("interaction_type") == "SURVEY") & F.col("satisfaction_score").isNotNull()
    latest_survey = F.max_by(F.col("satisfaction_score"), F.when(survey, F.col("interaction_ts")))
    out = pairs.groupBy("customer_id", "as_of_date").agg(
        F.count(F.when(age < 90, True)).cast("int").alias("contacts_90d"),
        F.min(age).cast("int").alias("days_since_last_contact"),
        F.count(F.when(complaint, True)).cast("int").alias("complaints_365d"),
        F.count(F.when(complaint & ~resolved_by, True)).cast("int").alias("complaints_open"),
        F.count(F.when(complaint & resolved_by, True)).cast("int").alias("complaints_resolved_365d"),
        F.avg(F.when(complaint & resolved_by,
                     (F.unix_timestamp("resolved_ts") - F.unix_timestamp("interaction_ts")) / 86400.0))
        .alias("mean_resolution_days_365d"),
        F.count(F.when(F.col("interaction_type").isin("CARE_CALL", "ADVISORY"), True)).cast("int")
        .alias("care_contacts_365d"),
        F.count(F.when(F.col("interaction_type") == "EVENT_ATTENDANCE", True)).cast("int")
        .alias("events_attended_365d"),
        latest_survey.cast("int").alias("last_satisfaction_score"),
    )
    return out
