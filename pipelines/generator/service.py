"""Service interactions: contacts, complaints that move OPEN -> ACKNOWLEDGED -> RESOLVED -> CLOSED,
surveys, birthday and anniversary care calls, event attendance and advisory meetings."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.generator.accounts import prod_col
from pipelines.generator.context import Context
from pipelines.generator.randomness import pick_weighted, scrambled_id, sql_col

TYPES = ("SERVICE_CONTACT", "COMPLAINT", "SURVEY", "CARE_CALL", "EVENT_ATTENDANCE", "ADVISORY")
STEPS = ("OPEN", "ACKNOWLEDGED", "RESOLVED", "CLOSED")


def interactions_landing(pop: DataFrame, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    i = sql_col("idx")
    months = p.days / 30.0
    managed = sql_col("manager_num").isNotNull()
    churner = sql_col("churn_day").isNotNull()
    rates = {  # expected interactions per month, by type
        "SERVICE_CONTACT": F.lit(0.35) * sql_col("activity"),
        "COMPLAINT": F.lit(0.03) + F.when(churner, 0.12).otherwise(0.0),
        "SURVEY": F.lit(0.08),
        "CARE_CALL": F.when(managed, 0.15).otherwise(0.0),
        "EVENT_ATTENDANCE": F.when(sql_col("affinity_group") == "RELATIONSHIP", 0.2)
                            .when(sql_col("segment").isin("PRIVATE", "AFFLUENT"), 0.06).otherwise(0.005),
        "ADVISORY": F.when(sql_col(prod_col("FUND")).isNotNull() | sql_col(prod_col("WEALTH_MGMT")).isNotNull(), 0.12)
                    .otherwise(0.02),
    }
    counts = [F.floor(r * months + d.u("n_" + ty, i)).cast("int").alias("n_" + ty) for ty, r in rates.items()]
    x = pop.select("*", *counts)
    total = sum((sql_col("n_" + ty) for ty in TYPES), F.lit(0))
    x = x.select("*", total.alias("n")).where(sql_col("n") > 0)
    x = x.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    ty, acc = None, F.lit(0)
    for name in TYPES:
        acc = acc + sql_col("n_" + name)
        ty = F.when(k < acc, F.lit(name)) if ty is None else ty.when(k < acc, F.lit(name))
    x = x.select("*", ty.alias("itype"))
    it = sql_col("itype")
    end = F.coalesce(sql_col("churn_day"), F.lit(p.last_day))
    day = F.floor(d.u("i_day", i, k) * (end + 1)).cast("int")
    # care calls land on the customer's birthday or wedding anniversary when one falls in the period
    bday = t.day_of_date(F.make_date(F.year(t.date(day)), F.month(t.date(sql_col("birth_day"))), F.least(F.lit(28), F.dayofmonth(t.date(sql_col("birth_day"))))))
    day = F.when((it == "CARE_CALL") & (bday >= 0) & (bday <= end), bday).otherwise(day)
    sec = F.when(it == "EVENT_ATTENDANCE", 18 * 3600 + d.below(7200, "i_s", i, k)).otherwise(9 * 3600 + d.below(11 * 3600, "i_s", i, k))
    channel = (F.when(it == "EVENT_ATTENDANCE", F.lit("EVENT"))
               .when(it == "CARE_CALL", pick_weighted(d.u("i_ch", i, k), (("PHONE", .7), ("MESSAGING", .2), ("VISIT", .1))))
               .when(it == "ADVISORY", pick_weighted(d.u("i_ch", i, k), (("BRANCH", .6), ("VISIT", .2), ("PHONE", .2))))
               .when(it == "SURVEY", pick_weighted(d.u("i_ch", i, k), (("MOBILE_APP", .5), ("EMAIL", .3), ("MESSAGING", .2))))
               .otherwise(pick_weighted(d.u("i_ch", i, k), (("PHONE", .4), ("MOBILE_APP", .25), ("BRANCH", .2),
                                                            ("MESSAGING", .1), ("EMAIL", .05)))))
    x = x.select("*", day.alias("day"), sec.alias("sec"), channel.alias("channel"))
    # a complaint is re-sent at each step: acknowledged in 0-2 days, resolved 1-10 days later, closed 1-3 after
    ack = d.between(0, 2, "c_ack", i, k)
    res = ack + d.between(1, 10, "c_res", i, k)
    clo = res + d.between(1, 3, "c_clo", i, k)
    offsets = F.array(F.lit(0), ack, res, clo)
    steps = F.when(it == "COMPLAINT", F.sequence(F.lit(0), F.lit(3))).otherwise(F.array(F.lit(0)))
    x = x.select("*", F.explode(steps).alias("step"), offsets.alias("offsets"), (sql_col("day") + res).alias("res_day"))
    step = sql_col("step")
    vday = sql_col("day") + F.element_at(sql_col("offsets"), (step + 1).cast("int"))
    x = x.select("*", vday.alias("vday")).where(sql_col("vday") <= p.last_day)
    is_c = it == "COMPLAINT"
    resolved_sec = sql_col("res_day").cast("long") * 86400 + 10 * 3600 + d.below(7 * 3600, "c_res_s", i, k)
    score = F.least(F.lit(5), F.greatest(F.lit(1), F.round(4.1 + 0.9 * d.normal("score", i, k)
                                                           - F.when(churner, 1.4).otherwise(0.0)
                                                           - F.when(sql_col("n_COMPLAINT") > 0, 0.8).otherwise(0.0)))).cast("int")
    ts = sql_col("day").cast("long") * 86400 + sql_col("sec")
    upd = F.when(step == 0, ts + d.below(600, "i_upd", i, k)).otherwise(
        sql_col("vday").cast("long") * 86400 + 9 * 3600 + d.below(8 * 3600, "c_upd", i, k, step))
    upd = F.when((step == 2), F.greatest(upd, resolved_sec)).otherwise(upd)
    return x.select(
        scrambled_id("I", i * 1000 + k, 10).alias("interaction_id"), "customer_id",
        t.ts(0, ts).alias("interaction_ts"), "channel", it.alias("interaction_type"),
        F.when(is_c, d.weighted((("FEES", .25), ("SERVICE", .25), ("CARD", .15), ("LOAN", .1), ("WEALTH", .08),
                                 ("DIGITAL", .12), ("OTHER", .05)), "c_cat", i, k)).alias("complaint_category"),
        F.when(is_c, F.element_at(F.array(*[F.lit(s) for s in STEPS]), (step + 1).cast("int"))).alias("resolution_status"),
        F.when(is_c & (step >= 2), t.ts(0, resolved_sec)).alias("resolved_ts"),
        F.when(it == "SURVEY", score).alias("satisfaction_score"),
        F.when(it.isin("CARE_CALL", "ADVISORY", "EVENT_ATTENDANCE") & sql_col("manager_num").isNotNull(),
               F.concat(F.lit("AM"), F.lpad(sql_col("manager_num").cast("string"), 4, "0")))
        .otherwise(F.concat(F.lit("E"), F.lpad((d.below(2000, "emp", i, k) + 1).cast("string"), 5, "0"))).alias("employee_id"),
        t.ts(0, upd).alias("updated_at"), t.date(t.extract_day(sql_col("vday"))).alias("extract_date"),
    )
