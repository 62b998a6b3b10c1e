"""Service: complaint follow-up on a service-level clock, and survey follow-up after a low score
(tasks.service).

A complaint raised on day R, as known on the as-of date D:
- COMPLAINT_ACKNOWLEDGE from R while it is not acknowledged, due R + acknowledge_days (a compliance task);
- COMPLAINT_RESOLVE from R + resolve_days - resolve_warning_days while it is not resolved, due R + resolve_days
  (a compliance task);
- COMPLAINT_FOLLOW_UP from resolution + follow_up_days, for follow_up_window_days.
A survey scored at or below low_satisfaction raises SURVEY_FOLLOW_UP for survey_window_days after it.
What D knew: a complaint is resolved when its resolved_ts is on or before D, acknowledged when resolved or when
a version saying ACKNOWLEDGED (or later) was produced by D. `interactions`: silver rows that happened by D.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.maintenance.candidates import candidates

_ACKNOWLEDGED = ("ACKNOWLEDGED", "RESOLVED", "CLOSED")


def complaint_tasks(interactions: DataFrame, as_of: date, cfg) -> DataFrame:
    d = F.lit(as_of)
    c = (interactions.where(F.col("interaction_type") == "COMPLAINT")
         .withColumn("_raised", F.to_date("interaction_ts"))
         .withColumn("_resolved", F.when(F.to_date("resolved_ts") <= d, F.to_date("resolved_ts"))))
    acknowledged = F.col("_resolved").isNotNull() | (F.col("resolution_status").isin(*_ACKNOWLEDGED)
                                                      & (F.to_date("updated_at") <= d))
    facts = {"interaction_id": F.col("interaction_id"), "complaint_category": F.col("complaint_category"),
             "raised_date": F.col("_raised")}
    ack = c.where(~acknowledged & (F.col("_raised") <= d))
    out = candidates(ack, "COMPLAINT_ACKNOWLEDGE", ["interaction_id", F.lit("acknowledge")],
                     F.date_add(F.col("_raised"), cfg.acknowledge_days), None, facts)
    unresolved = c.where(F.col("_resolved").isNull()
                         & (F.date_add(F.col("_raised"), cfg.resolve_days - cfg.resolve_warning_days) <= d))
    due = F.date_add(F.col("_raised"), cfg.resolve_days)
    out = out.unionByName(candidates(unresolved, "COMPLAINT_RESOLVE", ["interaction_id", F.lit("resolve")], due,
                                     None, {**facts, "due_date": due}))
    start = F.date_add(F.col("_resolved"), cfg.follow_up_days)
    follow = c.where(F.col("_resolved").isNotNull() & (start <= d)
                     & (d < F.date_add(start, cfg.follow_up_window_days)))
    return out.unionByName(candidates(follow, "COMPLAINT_FOLLOW_UP", ["interaction_id", F.lit("follow_up")], start,
                                      None, {**facts, "resolved_date": F.col("_resolved")}))


def survey_follow_up(interactions: DataFrame, as_of: date, cfg) -> DataFrame:
    d = F.lit(as_of)
    s = (interactions.where((F.col("interaction_type") == "SURVEY")
                            & (F.col("satisfaction_score") <= cfg.low_satisfaction))
         .withColumn("_on", F.to_date("interaction_ts"))
         .where((F.col("_on") <= d) & (d < F.date_add(F.col("_on"), cfg.survey_window_days))))
    return candidates(s, "SURVEY_FOLLOW_UP", ["interaction_id"], F.date_add(F.col("_on"), cfg.survey_window_days - 1),
                      None, {"interaction_id": F.col("interaction_id"), "survey_date": F.col("_on"),
                             "score": F.col("satisfaction_score")})


def service(interactions: DataFrame, as_of: date, cfg) -> DataFrame:
    return complaint_tasks(interactions, as_of, cfg).unionByName(survey_follow_up(interactions, as_of, cfg))
