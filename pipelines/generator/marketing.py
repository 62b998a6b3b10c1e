"""Campaign offers and responses, driven by each customer's latent affinity for the offered product."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.generator.context import Context
from pipelines.generator.customers import aff_col
from pipelines.generator.products import CATALOGUE
from pipelines.generator.randomness import scrambled_id, sql_col
from pipelines.generator.timeline import with_later_version

_CATEGORY = {r[0]: r[2] for r in CATALOGUE}
#            campaign          product  channel       start (share of the period)
CAMPAIGNS = (("CMP-SAVE-01", "P0004", "SMS", 0.0), ("CMP-TD-01", "P0007", "MOBILE_APP", 0.1),
             ("CMP-CARD-01", "P0009", "EMAIL", 0.15), ("CMP-TRAVEL-01", "P0010", "MOBILE_APP", 0.3),
             ("CMP-LOAN-01", "P0012", "SMS", 0.35), ("CMP-MORT-01", "P0014", "PHONE", 0.4),
             ("CMP-FUND-01", "P0018", "MOBILE_APP", 0.5), ("CMP-FUND-02", "P0021", "EMAIL", 0.6),
             ("CMP-WEALTH-01", "P0023", "PHONE", 0.55), ("CMP-INS-01", "P0027", "BRANCH", 0.65),
             ("CMP-BOND-01", "P0030", "SMS", 0.75), ("CMP-SME-01", "P0032", "PHONE", 0.2),
             ("CMP-TF-01", "P0035", "PHONE", 0.7))


def campaign_responses_landing(pop: DataFrame, ctx: Context) -> DataFrame:
    """Offers go only to customers who consented; a response is re-sent as a new version when it comes."""
    p, t, d = ctx.p, ctx.t, ctx.d
    i = sql_col("idx")
    n = F.floor(p.days / 40.0 * (0.5 + d.u("n_offers_scale", i)) + d.u("n_offers", i)).cast("int")
    x = pop.where(sql_col("marketing_consent")).select("*", n.alias("n")).where(sql_col("n") > 0)
    x = x.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    # SME campaigns go to SMEs, retail campaigns to retail customers
    retail = [c for c in CAMPAIGNS if _CATEGORY[c[1]] not in ("SME_LOAN", "TRADE_FINANCE")]
    sme = [c for c in CAMPAIGNS if _CATEGORY[c[1]] in ("SME_LOAN", "TRADE_FINANCE")]

    def pick(cs, field):
        arr = F.array(*[F.lit(c[field]) for c in cs])
        return F.element_at(arr, (d.below(len(cs), "campaign", i, k) + 1).cast("int"))

    x = x.select("*", *[F.when(sql_col("is_sme"), pick(sme, f)).otherwise(pick(retail, f)).alias(name)
                        for f, name in ((0, "campaign_id"), (1, "product_id"), (2, "channel"), (3, "cstart"))])
    cat = F.element_at(F.create_map(*[x for k_, v in _CATEGORY.items() for x in (F.lit(k_), F.lit(v))]), sql_col("product_id"))
    aff = F.element_at(F.create_map(*[x for c in set(_CATEGORY.values()) for x in (F.lit(c), sql_col(aff_col(c)))]), cat)
    end = F.coalesce(sql_col("churn_day") - 1, F.lit(p.last_day))
    start = F.floor(sql_col("cstart") * p.days).cast("int")
    day = start + F.floor(d.u("offer_day", i, k) * (p.days - start)).cast("int")
    x = x.select("*", aff.alias("aff"), day.alias("day")).where(sql_col("day") <= end)
    responded = d.u("responded", i, k) < 0.03 + 0.35 * sql_col("aff")
    converted = responded & (d.u("converted", i, k) < 0.1 + 0.5 * sql_col("aff"))
    offer_sec = sql_col("day").cast("long") * 86400 + 9 * 3600 + d.below(10 * 3600, "offer_s", i, k)
    resp_sec = offer_sec + d.between(600, 7 * 86400, "resp_lag", i, k)
    x = x.select("*", responded.alias("resp"), converted.alias("conv"), offer_sec.alias("offer_sec"), resp_sec.alias("resp_sec"))
    x = with_later_version(x, sql_col("resp"), sql_col("offer_sec") + d.below(300, "offer_upd", i, k),
                           sql_col("resp_sec"), p.last_day)
    after = sql_col("v") == 1
    return x.select(
        scrambled_id("R", i * 1000 + k, 10).alias("response_id"), "campaign_id", "customer_id", "product_id",
        t.ts(0, sql_col("offer_sec")).alias("offer_ts"), "channel",
        (after & sql_col("resp")).alias("responded"), (after & sql_col("conv")).alias("converted"),
        F.when(after, t.ts(0, sql_col("resp_sec"))).alias("response_ts"),
        t.ts(0, sql_col("upd")).alias("updated_at"), t.date(t.extract_day(sql_col("vday"))).alias("extract_date"),
    )
