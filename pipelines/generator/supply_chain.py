"""Supply chain: SME customers' firms and their trading partners (some of them bank customers too),
and the invoices between them with due and paid dates (some paid late, some overdue)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.generator.context import Context, firm_id_of_customer
from pipelines.generator.customers import CITIES, FIRM_INDUSTRIES, INDUSTRY_WORD, TRADE_WORDS
from pipelines.generator.randomness import padded_id, scrambled_id, sql_col

EXTERNAL_OFFSET = 90_000_000


def partner_pairs(spark: SparkSession, ctx: Context) -> DataFrame:
    """(sme_idx, partner_firm_id, partner is a bank customer, j): every SME's trading partners."""
    p, d = ctx.p, ctx.d
    n_sme, k = ctx.n_sme, p.trading_partners_per_firm
    if n_sme == 0 or k == 0:
        return spark.createDataFrame([], "sme_rank long, sme_idx long, j int, partner_idx long, partner_firm_id string")
    x = spark.range(n_sme).select(sql_col("id").alias("sme_rank"))
    x = x.select("*", ctx.sme.index(sql_col("sme_rank")).alias("sme_idx"), F.explode(F.sequence(F.lit(0), F.lit(k - 1))).alias("j"))
    internal = F.lit(n_sme > 1) & d.bernoulli(0.3, "partner_internal", sql_col("sme_rank"), sql_col("j"))
    other_rank = F.pmod(sql_col("sme_rank") + 1 + d.below(max(1, n_sme - 1), "partner_rank", sql_col("sme_rank"), sql_col("j")), F.lit(n_sme))
    partner_idx = F.when(internal, ctx.sme.index(other_rank))
    ext_id = padded_id("F", F.lit(EXTERNAL_OFFSET) + sql_col("sme_rank") * k + sql_col("j"), 8)
    x = x.select("*", partner_idx.alias("partner_idx"),
                 F.when(internal, firm_id_of_customer(partner_idx)).otherwise(ext_id).alias("partner_firm_id"))
    return x.dropDuplicates(["sme_idx", "partner_firm_id"])


def firms_landing(spark: SparkSession, pop: DataFrame, pairs: DataFrame, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    own = pop.where(sql_col("is_sme")).select(
        firm_id_of_customer(sql_col("idx")).alias("firm_id"), sql_col("full_name").alias("firm_name"), "industry", "city",
        sql_col("birth_day").alias("founded_day"), sql_col("income").alias("annual_revenue"),
        F.greatest(F.lit(1), F.round(sql_col("income") / 400_000 * d.lognormal(1.0, 0.4, "employees", sql_col("idx")))).cast("int").alias("employee_count"),
        "customer_id")
    ext = pairs.where(sql_col("partner_idx").isNull()).select("partner_firm_id").distinct()
    f = sql_col("partner_firm_id")
    city = F.element_at(F.array(*[F.lit(c[0]) for c in CITIES]), (d.below(len(CITIES), "ext_city", f) + 1).cast("int"))
    industry = d.choice(FIRM_INDUSTRIES, "ext_industry", f)
    revenue = F.round(d.lognormal(20_000_000, 1.2, "ext_rev", f), -3)
    ext = ext.select(
        f.alias("firm_id"),
        F.concat_ws(" ", city, d.choice(TRADE_WORDS, "ext_trade", f),
                    F.element_at(F.create_map(*[x for k, v in INDUSTRY_WORD.items() for x in (F.lit(k), F.lit(v))]), industry),
                    F.lit("Group Co., Ltd.")).alias("firm_name"),
        industry.alias("industry"), city.alias("city"),
        (-(365 + d.below(30 * 365, "ext_founded", f))).cast("int").alias("founded_day"),
        revenue.alias("annual_revenue"),
        F.greatest(F.lit(5), F.round(revenue / 500_000)).cast("int").alias("employee_count"),
        F.lit(None).cast("string").alias("customer_id"))
    firms = own.unionByName(ext)
    fid = sql_col("firm_id")
    changes = F.lit(p.daily_days > 0) & d.bernoulli(0.1, "firm_change", fid)
    change_day = p.bulk_day + 1 + d.below(max(1, p.daily_days), "firm_change_day", fid)
    v = firms.select("*", F.explode(F.when(changes, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))).alias("v"))
    after = sql_col("v") == 1
    day = F.when(after, change_day).otherwise(F.lit(p.bulk_day))
    upd_day = F.when(after, change_day).otherwise(F.lit(p.bulk_day) - d.below(300, "firm_upd", fid))
    return v.select(
        "firm_id", "firm_name", "industry", "city", t.date(sql_col("founded_day")).alias("founded_date"),
        F.round(F.when(after, sql_col("annual_revenue") * (1 + 0.1 * d.normal("firm_rev", fid))).otherwise(sql_col("annual_revenue")), 2).alias("annual_revenue"),
        F.when(after, sql_col("employee_count") + d.between(-3, 5, "firm_emp", fid)).otherwise(sql_col("employee_count")).alias("employee_count"),
        "customer_id", t.ts(upd_day, d.between(3600, 60000, "firm_upd_s", fid, sql_col("v"))).alias("updated_at"),
        t.date(day).alias("extract_date"),
    ).select(*[F.when(sql_col("employee_count") < 0, 0).otherwise(sql_col(c)).alias(c) if c == "employee_count" else c
               for c in ("firm_id", "firm_name", "industry", "city", "founded_date", "annual_revenue", "employee_count",
                         "customer_id", "updated_at", "extract_date")])


def invoices_landing(pairs: DataFrame, pop: DataFrame, ctx: Context) -> DataFrame:
    """Roughly two invoices a month per trading relationship; even partners buy from the SME, odd ones sell."""
    p, t, d = ctx.p, ctx.t, ctx.d
    x = pairs.join(F.broadcast(pop.where(sql_col("is_sme")).select(sql_col("idx").alias("sme_idx"), "income")), "sme_idx") \
        if ctx.n_sme < 200_000 else pairs.join(pop.select(sql_col("idx").alias("sme_idx"), "income"), "sme_idx")
    key = (sql_col("sme_idx"), sql_col("j"))
    n = F.floor(p.days / 15.0 * (0.5 + d.u("inv_rate", *key)) + d.u("inv_n", *key)).cast("int")
    x = x.select("*", n.alias("n")).where(sql_col("n") > 0)
    x = x.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    ik = (*key, k)
    sme_firm = firm_id_of_customer(sql_col("sme_idx"))
    sells = F.pmod(sql_col("j"), F.lit(2)) == 0
    issue = d.below(p.days, "inv_issue", *ik).cast("int")
    terms = F.element_at(F.array(F.lit(30), F.lit(45), F.lit(60), F.lit(90)), (d.below(4, "inv_terms", *key) + 1).cast("int"))
    due = issue + terms
    fate = d.weighted((("ON_TIME", 0.72), ("LATE", 0.18), ("UNPAID", 0.07), ("CANCELLED", 0.03)), "inv_fate", *ik)
    paid = F.when(fate == "ON_TIME", issue + F.floor(terms * (0.4 + 0.6 * d.u("inv_pay", *ik)))).when(
        fate == "LATE", due + d.between(3, 60, "inv_late", *ik))
    cancel = F.when(fate == "CANCELLED", issue + d.between(1, 10, "inv_cancel", *ik))
    x = x.select("*", issue.alias("issue"), due.alias("due"), paid.cast("int").alias("paid"), cancel.cast("int").alias("cancel"),
                 fate.alias("fate"))
    x = x.select("*", F.explode(F.sequence(F.lit(0), F.lit(3))).alias("v"))
    vday = (F.when(sql_col("v") == 0, sql_col("issue")).when(sql_col("v") == 1, sql_col("paid"))
            .when((sql_col("v") == 2) & sql_col("fate").isin("LATE", "UNPAID"), sql_col("due") + 1)
            .when(sql_col("v") == 3, sql_col("cancel")))
    x = x.select("*", vday.alias("vday")).where(sql_col("vday").isNotNull() & (sql_col("vday") <= p.last_day))
    vd = sql_col("vday")
    is_paid = sql_col("paid").isNotNull() & (sql_col("paid") <= vd)
    status = (F.when(sql_col("cancel").isNotNull() & (sql_col("cancel") <= vd), "CANCELLED").when(is_paid, "PAID")
              .when(vd > sql_col("due"), "OVERDUE").otherwise("ISSUED"))
    amount = F.round(sql_col("income") / 60 * d.lognormal(1.0, 0.7, "inv_amt", *ik), 2)
    return x.select(
        scrambled_id("V", sql_col("sme_idx") * 100_000 + sql_col("j") * 1000 + k, 10).alias("invoice_id"),
        F.when(sells, sme_firm).otherwise(sql_col("partner_firm_id")).alias("seller_firm_id"),
        F.when(sells, sql_col("partner_firm_id")).otherwise(sme_firm).alias("buyer_firm_id"),
        t.date(sql_col("issue")).alias("issue_date"), t.date(sql_col("due")).alias("due_date"),
        F.when(is_paid, t.date(sql_col("paid"))).alias("paid_date"), amount.alias("amount"),
        F.when(d.bernoulli(0.05, "inv_ccy", *key), "USD").otherwise("CNY").alias("currency"), status.alias("status"),
        t.ts(vd, d.between(8 * 3600, 20 * 3600, "inv_upd", *ik, sql_col("v"))).alias("updated_at"),
        t.date(t.extract_day(vd)).alias("extract_date"),
    )
