"""Fraud episodes (account takeover, card testing, compromised merchant), their truth and the labels
that confirm most of them days or weeks later."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.generator.accounts import prod_col
from pipelines.generator.context import CM_VICTIMS, FRAUD_TYPES, Context, account_id
from pipelines.generator.randomness import money, scrambled_id, sql_col
from pipelines.generator.transactions import (FOREIGN, KIND_FRAUD, KIND_FRAUD_SETUP, external_account,
                                              merchant_id, txn_ids)

ATO_COUNTRIES = ("NG", "RU", "BR", "VN", "US", "GB", "ID")


def _victims(spark: SparkSession, pop: DataFrame, ctx: Context) -> DataFrame:
    p, d = ctx.p, ctx.d
    nf = p.episodes_per_type
    ep = spark.range(3 * nf).select(sql_col("id").alias("episode"))
    e = sql_col("episode")
    ftype = F.element_at(F.array(*[F.lit(x) for x in FRAUD_TYPES]), (F.floor(e / nf) + 1).cast("int"))
    ep = ep.select("*", ftype.alias("episode_type"), F.pmod(e, F.lit(nf)).alias("case"))
    ep = ep.select("*", F.explode(F.when(sql_col("episode_type") == "COMPROMISED_MERCHANT",
                                         F.sequence(F.lit(0), F.lit(CM_VICTIMS - 1))).otherwise(F.array(F.lit(0)))).alias("member"))
    idx = F.lit(None)
    for ft in FRAUD_TYPES:
        idx = F.when(sql_col("episode_type") == ft, ctx.member_idx(ft, sql_col("case"), sql_col("member"))).otherwise(idx)
    ep = ep.select("*", idx.alias("idx"))
    # the compromise (CM) or the attack (ATO, CT) happens after the first tenth of the period
    lo, hi = max(0, p.days // 10), max(0, p.last_day - 1)
    start_day = F.least(F.lit(hi), F.lit(lo) + F.floor(d.u("fraud_start", e) * (hi - lo + 1))).cast("int")
    cm_lag = d.between(2, max(2, min(20, p.days // 4)), "cm_lag", e)
    ep = ep.select("*", start_day.alias("start_day"), cm_lag.alias("cm_lag"),
                   (d.below(86400 - 5 * 3600, "fraud_sec", e)).alias("start_sec"))
    cols = pop.select("idx", "customer_id", prod_col("CREDIT_CARD"), "card_limit")
    return cols.join(F.broadcast(ep), "idx")


def fraud_transactions(spark: SparkSession, pop: DataFrame, ctx: Context) -> DataFrame:
    """The fraud and set-up transactions in the internal layout, with episode columns kept for the truth."""
    p, d = ctx.p, ctx.d
    v = _victims(spark, pop, ctx)
    e, ft = sql_col("episode"), sql_col("episode_type")
    n = (F.when(ft == "ACCOUNT_TAKEOVER", d.between(3, 8, "ato_n", e))
         .when(ft == "CARD_TESTING", d.between(8, 25, "ct_n", e) + 1)
         .otherwise(d.between(1, 4, "cm_n", e, sql_col("member")) + 1))  # CM: j = 0 is the legitimate purchase
    x = v.select("*", F.explode(F.sequence(F.lit(0), n - 1)).alias("j"), n.alias("n"))
    j = sql_col("j")
    key = (e, sql_col("member"), j)
    is_setup = (ft == "COMPROMISED_MERCHANT") & (j == 0)
    last_ct = (ft == "CARD_TESTING") & (j == sql_col("n") - 1)
    has_card = sql_col(prod_col("CREDIT_CARD")).isNotNull()
    ato_transfer = (ft == "ACCOUNT_TAKEOVER") & (~has_card | d.bernoulli(0.5, "ato_kind", *key))
    start_abs = sql_col("start_day").cast("long") * 86400 + sql_col("start_sec")
    abs_sec = (F.when(ft == "ACCOUNT_TAKEOVER", start_abs + j * 900 + d.below(600, "ato_t", *key))
               .when(ft == "CARD_TESTING", start_abs + j * 40 + d.below(30, "ct_t", *key) + F.when(last_ct, 900).otherwise(0))
               .otherwise(F.when(is_setup, start_abs).otherwise(
                   (F.least(F.lit(p.last_day), sql_col("start_day") + sql_col("cm_lag") + j - 1)).cast("long") * 86400
                   + 3600 + d.below(80000, "cm_t", *key))))
    amount = (F.when(ft == "ACCOUNT_TAKEOVER", d.lognormal(9000, 0.6, "ato_amt", *key))
              .when(last_ct, d.lognormal(6000, 0.5, "ct_big", *key))
              .when(ft == "CARD_TESTING", 0.5 + 4.5 * d.u("ct_amt", *key))
              .when(is_setup, d.lognormal(300, 0.5, "cm_setup", *key))
              .otherwise(d.lognormal(3000, 0.7, "cm_amt", *key)))
    abroad = d.below(len(FOREIGN), "fraud_country", e) + 1
    country = (F.when(is_setup, F.lit("CN"))
               .when(ft == "ACCOUNT_TAKEOVER", F.element_at(F.array(*[F.lit(c) for c in ATO_COUNTRIES]),
                                                            (d.below(len(ATO_COUNTRIES), "ato_country", e) + 1).cast("int")))
               .otherwise(F.element_at(F.array(*[F.lit(c) for c, _ in FOREIGN]), abroad.cast("int"))))
    ccy = F.when(is_setup | ato_transfer, "CNY").otherwise(
        F.when(ft == "ACCOUNT_TAKEOVER", "USD").otherwise(F.element_at(F.array(*[F.lit(c) for _, c in FOREIGN]), abroad.cast("int"))))
    ttype = F.when(ato_transfer, "TRANSFER_OUT").otherwise("CARD_PURCHASE")
    mcc = (F.when(ato_transfer, F.lit(None)).when(is_setup, F.lit("5541"))
           .when(last_ct | (ft == "ACCOUNT_TAKEOVER"), F.element_at(F.array(F.lit("5732"), F.lit("5944"), F.lit("5399")),
                                                                   (d.below(3, "fraud_mcc", *key) + 1).cast("int")))
           .otherwise(F.lit("5399")))
    slot = (F.when(is_setup, d.hash("cm_merchant", sql_col("case")))
            .when(ft == "CARD_TESTING", d.hash("ct_merchant", e, d.below(3, "ct_m", *key)))
            .otherwise(d.hash("fraud_merchant", *key)))
    on_card = has_card & ~ato_transfer
    acct = F.when(on_card, account_id(sql_col("idx"), "CREDIT_CARD")).otherwise(account_id(sql_col("idx"), "CURRENT"))
    channel = F.when(is_setup, "POS").when(ato_transfer, "MOBILE").otherwise("ECOM")
    new_device = scrambled_id("D", F.lit(9 * 10**11) + e * 10 + sql_col("member"), 12)
    status = F.when((ft == "CARD_TESTING") & ~last_ct & d.bernoulli(0.3, "ct_declined", *key), "DECLINED").otherwise("POSTED")
    bal = F.when(on_card, money(sql_col("card_limit") * (0.3 + 0.5 * d.u("fraud_bal", *key)))) \
        .otherwise(money(d.lognormal(15000, 0.8, "fraud_bal2", *key)))
    out = x.select(
        F.when(is_setup, F.lit(KIND_FRAUD_SETUP)).otherwise(F.lit(KIND_FRAUD)).alias("kind"),
        (e * 10_000 + sql_col("member") * 100 + j).alias("num"), "customer_id", acct.alias("account_id"),
        abs_sec.alias("abs_sec"), money(amount).alias("amount"), ccy.alias("currency"),
        F.lit("DEBIT").alias("direction"), ttype.alias("txn_type"), channel.alias("channel"),
        F.when(ttype == "CARD_PURCHASE", merchant_id(mcc, slot, ctx)).alias("merchant_id"), mcc.cast("string").alias("mcc"),
        F.when(ato_transfer, external_account(d, e, F.lit("ato"))).alias("counterparty_account"),
        F.when(ato_transfer, F.lit("CMBCCNBS")).alias("counterparty_bank"), country.alias("country"),
        F.when(is_setup, F.lit(None).cast("string")).otherwise(new_device).alias("device_id"),
        bal.alias("balance_after"), status.alias("status"), F.lit(True).alias("special"),
        # kept for the truth
        e.alias("episode"), ft.alias("episode_type"), is_setup.alias("is_setup"),
        (sql_col("start_day").cast("long") * 86400 + sql_col("start_sec")).alias("episode_start_sec"),
    )
    return out


def fraud_truth(fraud: DataFrame, ctx: Context) -> DataFrame:
    t = ctx.t
    x = txn_ids(fraud).where(~sql_col("is_setup"))
    setup = txn_ids(fraud).where(sql_col("is_setup")).select(
        "episode", sql_col("merchant_id").alias("compromised_merchant_id")).distinct()
    first = x.groupBy("episode").agg(F.min("abs_sec").alias("first_sec"))
    x = x.join(first, "episode").join(setup, "episode", "left")
    start = F.when(sql_col("episode_type") == "COMPROMISED_MERCHANT", sql_col("episode_start_sec")).otherwise(sql_col("first_sec"))
    return x.select(
        "txn_id", "customer_id", F.concat(F.lit("FE"), F.lpad(sql_col("episode").cast("string"), 6, "0")).alias("episode_id"),
        "episode_type", t.ts(0, start).alias("start_ts"), t.ts(0, sql_col("abs_sec")).alias("txn_ts"),
        "compromised_merchant_id",
    )


def fraud_labels_landing(fraud: DataFrame, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    x = txn_ids(fraud).where(~sql_col("is_setup"))
    tid = sql_col("txn_id")
    x = x.where(d.bernoulli(0.85, "labelled", tid))
    delay = F.floor((1 + d.lognormal(6, 0.7, "label_delay", tid)) * 86400).cast("long")
    label_sec = sql_col("abs_sec") + delay
    x = x.select("*", label_sec.alias("label_sec"), F.floor(label_sec / 86400).cast("int").alias("label_day"))
    x = x.where(sql_col("label_day") <= p.last_day)
    ft = sql_col("episode_type")
    source = (F.when(ft == "CARD_TESTING", d.weighted((("CHARGEBACK", .7), ("INVESTIGATION", .3)), "label_src", tid))
              .when(ft == "ACCOUNT_TAKEOVER", d.weighted((("CUSTOMER_DISPUTE", .8), ("INVESTIGATION", .2)), "label_src", tid))
              .otherwise(d.weighted((("CHARGEBACK", .5), ("CUSTOMER_DISPUTE", .3), ("INVESTIGATION", .2)), "label_src", tid)))
    return x.select("txn_id", t.ts(0, sql_col("label_sec")).alias("label_ts"), ft.alias("fraud_type"),
                    source.alias("label_source"), t.date(t.extract_day(sql_col("label_day"))).alias("extract_date"))
