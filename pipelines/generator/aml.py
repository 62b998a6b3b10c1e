"""Money-laundering typologies planted among the customers, their truth, and the investigations
(some on planted cases, some dismissed false alarms on ordinary customers)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.generator.context import AML_TYPOLOGIES, RT_MEMBERS, Context, account_id, customer_id
from pipelines.generator.randomness import money, scrambled_id, sql_col
from pipelines.generator.transactions import BANKS, KIND_AML, external_account, txn_ids

THRESHOLD = 50_000
WINDOW_DAYS = {"STRUCTURING": 14, "FAN_IN": 5, "FAN_OUT": 5, "ROUND_TRIPPING": 4, "PASS_THROUGH": 10,
               "DORMANT_REACTIVATION": 5}


def _cases(spark: SparkSession, pop: DataFrame, ctx: Context) -> DataFrame:
    p, d = ctx.p, ctx.d
    na = p.cases_per_typology
    cases = spark.range(len(AML_TYPOLOGIES) * na).select(sql_col("id").alias("case_group"))
    g = sql_col("case_group")
    typ = F.element_at(F.array(*[F.lit(x) for x in AML_TYPOLOGIES]), (F.floor(g / na) + 1).cast("int"))
    cases = cases.select("*", typ.alias("typology"), F.pmod(g, F.lit(na)).alias("case"))
    idx = F.lit(None)
    for ty in AML_TYPOLOGIES:
        idx = F.when(sql_col("typology") == ty, ctx.member_idx(ty, sql_col("case"), 0)).otherwise(idx)
    cases = cases.select("*", idx.alias("idx"))
    length = F.element_at(F.create_map(*[x for k, v in WINDOW_DAYS.items() for x in (F.lit(k), F.lit(v))]), sql_col("typology"))
    lo = max(0, p.days // 5)
    hi = F.greatest(F.lit(lo), F.lit(p.last_day - 1) - length)
    start = F.lit(lo) + F.floor(d.u("aml_start", g) * (hi - lo + 1))
    dormant = pop.select("idx", "dormant_until")
    cases = cases.join(F.broadcast(dormant.join(F.broadcast(cases.select("idx")), "idx")), "idx", "left")
    start = F.when(sql_col("typology") == "DORMANT_REACTIVATION", sql_col("dormant_until")).otherwise(start)
    hops = F.when(sql_col("typology") == "ROUND_TRIPPING", d.between(2, RT_MEMBERS, "rt_hops", g))
    return cases.select("*", start.cast("int").alias("start_day"), length.alias("length"), hops.alias("hops"))


def _member(ctx: Context, k: Column) -> Column:
    return ctx.member_idx("ROUND_TRIPPING", sql_col("case"), F.pmod(k, sql_col("hops")))


def aml_transactions(spark: SparkSession, pop: DataFrame, ctx: Context) -> DataFrame:
    """The typologies' transactions in the internal layout, with case columns kept for the truth."""
    d = ctx.d
    c = _cases(spark, pop, ctx)
    g, ty = sql_col("case_group"), sql_col("typology")
    n = (F.when(ty == "STRUCTURING", d.between(6, 12, "st_n", g))
         .when(ty.isin("FAN_IN", "FAN_OUT"), d.between(15, 30, "fan_n", g) + 1)
         .when(ty == "ROUND_TRIPPING", sql_col("hops") * 2)
         .when(ty == "PASS_THROUGH", d.between(3, 5, "pt_n", g) * 2)
         .otherwise(d.between(6, 10, "dr_n", g)))
    x = c.select("*", F.explode(F.sequence(F.lit(0), n - 1)).alias("j"), n.alias("n"))
    j, key = sql_col("j"), (g, sql_col("j"))
    start = sql_col("start_day").cast("long") * 86400 + 9 * 3600
    span = sql_col("length").cast("long") * 86400 - 12 * 3600
    hop = F.floor(j / 2)
    side_in = F.pmod(j, F.lit(2)) == 1          # round tripping and pass-through: pairs of (out, in) / (in, out)
    pair_lag = d.between(24 * 3600, 72 * 3600, "pt_lag", g, hop)
    abs_sec = (F.when(ty == "STRUCTURING", start + F.floor(d.u("st_t", *key) * span).cast("long"))
               .when(ty.isin("FAN_IN", "FAN_OUT"),
                     F.when(j == 0, F.when(ty == "FAN_IN", start + span + 3600).otherwise(start))
                     .otherwise(start + 3600 + F.floor(d.u("fan_t", *key) * (span - 7200)).cast("long")))
               .when(ty == "ROUND_TRIPPING", start + hop * (12 * 3600) + d.below(3 * 3600, "rt_t", g, hop)
                     + F.when(side_in, d.between(5, 120, "rt_in", g, hop)).otherwise(0))
               .when(ty == "PASS_THROUGH", start + hop * (2 * 86400) + F.when(side_in, pair_lag).otherwise(0))
               .otherwise(start + F.floor(d.u("dr_t", *key) * span).cast("long")))
    # round tripping: transfer `hop` goes from member hop to member hop+1 (mod hops); even j = the debit
    rt_from, rt_to = _member(ctx, hop), _member(ctx, hop + 1)
    idx = F.when(ty == "ROUND_TRIPPING", F.when(side_in, rt_to).otherwise(rt_from)).otherwise(sql_col("idx"))
    cp_idx = F.when(side_in, rt_from).otherwise(rt_to)
    rt_amount = d.lognormal(300_000, 0.5, "rt_amt", g) * F.pow(F.lit(0.985), hop)
    pt_amount = d.lognormal(250_000, 0.5, "pt_amt", g, hop)
    amount = (F.when(ty == "STRUCTURING", THRESHOLD - 5000 + 100 * d.below(50, "st_amt", *key))
              .when(ty.isin("FAN_IN", "FAN_OUT") & (j == 0), (sql_col("n") - 1) * 8000.0)
              .when(ty.isin("FAN_IN", "FAN_OUT"), d.lognormal(8000, 0.5, "fan_amt", *key))
              .when(ty == "ROUND_TRIPPING", rt_amount)
              .when(ty == "PASS_THROUGH", F.when(side_in, pt_amount * (0.985 + 0.01 * d.u("pt_keep", g, hop))).otherwise(pt_amount))
              .otherwise(d.lognormal(120_000, 0.5, "dr_amt", *key)))
    st_cash = d.bernoulli(0.6, "st_cash", *key)
    incoming = (F.when(ty == "STRUCTURING", F.lit(True))
                .when(ty == "FAN_IN", j > 0).when(ty == "FAN_OUT", j == 0)
                .when(ty == "ROUND_TRIPPING", side_in)
                .when(ty == "PASS_THROUGH", ~side_in)
                .otherwise(F.pmod(j, F.lit(2)) == 0))
    ttype = F.when((ty == "STRUCTURING") & st_cash, "CASH_DEPOSIT").when(incoming, "TRANSFER_IN").otherwise("TRANSFER_OUT")
    channel = (F.when(ttype == "CASH_DEPOSIT", F.when(d.bernoulli(0.7, "st_branch", *key), "BRANCH").otherwise("ATM"))
               .otherwise(F.element_at(F.array(F.lit("ONLINE"), F.lit("MOBILE"), F.lit("BRANCH")),
                                       (d.below(3, "aml_ch", *key) + 1).cast("int"))))
    cp_acct = (F.when(ttype == "CASH_DEPOSIT", F.lit(None).cast("string"))
               .when(ty == "ROUND_TRIPPING", account_id(cp_idx, "CURRENT"))
               .otherwise(external_account(d, g, j, F.lit("aml"))))
    cp_bank = (F.when(ttype == "CASH_DEPOSIT", F.lit(None).cast("string")).when(ty == "ROUND_TRIPPING", F.lit("OWN"))
               .otherwise(F.element_at(F.array(*[F.lit(b) for b in BANKS]), (d.below(len(BANKS), "aml_bank", *key) + 1).cast("int"))))
    balance = (F.when(ty == "PASS_THROUGH", F.when(incoming, pt_amount + d.below(500, "pt_bal", *key)).otherwise(d.below(800, "pt_bal0", *key)))
               .when(ty == "STRUCTURING", amount * (j + 1) + d.below(5000, "st_bal", *key))
               .otherwise(d.lognormal(60_000, 0.8, "aml_bal", *key)))
    digital = channel.isin("ONLINE", "MOBILE")
    return x.select(
        F.lit(KIND_AML).alias("kind"), (g * 10_000 + j).alias("num"), customer_id(idx).alias("customer_id"),
        account_id(idx, "CURRENT").alias("account_id"), abs_sec.alias("abs_sec"), money(amount).alias("amount"),
        F.lit("CNY").alias("currency"), F.when(incoming, "CREDIT").otherwise("DEBIT").alias("direction"),
        ttype.alias("txn_type"), channel.alias("channel"), F.lit(None).cast("string").alias("merchant_id"),
        F.lit(None).cast("string").alias("mcc"), cp_acct.alias("counterparty_account"), cp_bank.alias("counterparty_bank"),
        F.lit("CN").alias("country"),
        F.when(digital, scrambled_id("D", idx.cast("long") * 4 + d.below(2, "aml_dev", *key), 12)).alias("device_id"),
        money(balance).alias("balance_after"), F.lit("POSTED").alias("status"), F.lit(True).alias("special"),
        g.alias("case_group"), ty.alias("typology"), sql_col("idx").alias("subject_idx"), "hops", "case",
    )


def aml_truth(aml: DataFrame, ctx: Context) -> DataFrame:
    t = ctx.t
    x = txn_ids(aml)
    agg = x.groupBy("case_group", "typology", "subject_idx", "hops", "case").agg(
        F.sort_array(F.collect_list("txn_id")).alias("txn_ids"), F.min("abs_sec").alias("s"), F.max("abs_sec").alias("e"))
    path = F.when(sql_col("typology") == "ROUND_TRIPPING", F.transform(
        F.sequence(F.lit(0), sql_col("hops")), lambda k: customer_id(_member(ctx, k))))
    return agg.select(
        customer_id(sql_col("subject_idx")).alias("customer_id"), "typology",
        F.concat(F.lit("AG"), F.lpad(sql_col("case_group").cast("string"), 5, "0")).alias("case_group"),
        "txn_ids", t.ts(0, sql_col("s")).alias("window_start"), t.ts(0, sql_col("e")).alias("window_end"),
        path.alias("cycle_path"),
    )


def aml_cases_landing(spark: SparkSession, truth: DataFrame, ctx: Context) -> DataFrame:
    """Investigations: a part of the planted cases (mostly reported) and dismissed false alarms."""
    p, t, d = ctx.p, ctx.t, ctx.d
    planted = truth.select("customer_id", "typology", sql_col("case_group").alias("key"),
                           t.day_of_ts(sql_col("window_end")).alias("trigger_day"), F.lit(False).alias("false_alarm"))
    planted = planted.where(d.bernoulli(0.6, "aml_investigated", sql_col("key")))
    fr = ctx.role_range("AML_FALSE_ALARM")
    false = spark.range(fr.cases).select(
        customer_id(ctx.roles.index(F.lit(fr.start) + sql_col("id"))).alias("customer_id"),
        d.choice(AML_TYPOLOGIES + ("OTHER",), "false_typ", sql_col("id")).alias("typology"),
        F.concat(F.lit("FA"), sql_col("id").cast("string")).alias("key"),
        d.below(p.days, "false_day", sql_col("id")).cast("int").alias("trigger_day"), F.lit(True).alias("false_alarm"))
    cases = planted.unionByName(false)
    key = sql_col("key")
    opened = sql_col("trigger_day") + d.between(3, 20, "aml_open", key)
    closed = opened + d.between(10, 45, "aml_close", key)
    outcome = F.when(sql_col("false_alarm"), "DISMISSED").otherwise(
        d.weighted((("REPORTED", 0.8), ("DISMISSED", 0.2)), "aml_outcome", key))
    case_num = F.pmod(F.xxhash64(key), F.lit(10**8))
    cases = cases.select("*", opened.alias("opened"), closed.alias("closed"), outcome.alias("final"),
                         scrambled_id("K", case_num, 8).alias("case_id"))
    v = cases.select("*", F.explode(F.array(F.lit(0), F.lit(1))).alias("v"))
    day = F.when(sql_col("v") == 0, sql_col("opened")).otherwise(sql_col("closed"))
    v = v.select("*", day.alias("day")).where(sql_col("day") <= p.last_day)
    done = sql_col("v") == 1
    return v.select(
        "case_id", "customer_id", t.date(sql_col("opened")).alias("opened_date"),
        F.when(done, t.date(sql_col("closed"))).alias("closed_date"), "typology",
        F.when(done, sql_col("final")).otherwise("OPEN").alias("outcome"),
        t.ts(sql_col("day"), d.between(8 * 3600, 18 * 3600, "aml_upd", key, sql_col("v"))).alias("updated_at"),
        t.date(t.extract_day(sql_col("day"))).alias("extract_date"),
    )
