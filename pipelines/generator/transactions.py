"""Transactions: everyday spending, scheduled credits and repayments, the transfer network, and how each
record arrives (on time, late, or corrected in a later extract).

All kinds share one internal layout (TXN_COLS) and are finished together by `transactions_landing`.
`abs_sec` counts seconds from start_date 00:00 UTC; `kind` and `num` make the (scrambled) txn_id.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.generator.accounts import instalment, principal, prod_col
from pipelines.generator.context import Context, account_id, customer_id
from pipelines.generator.randomness import money, pick_weighted, round_hundreds, scrambled_id, sql_col

TXN_COLS = ("kind", "num", "customer_id", "account_id", "abs_sec", "amount", "currency", "direction", "txn_type",
            "channel", "merchant_id", "mcc", "counterparty_account", "counterparty_bank", "country", "device_id",
            "balance_after", "status", "special")
KIND_REGULAR, KIND_MIRROR, KIND_SCHEDULED, KIND_FRAUD, KIND_AML, KIND_FRAUD_SETUP = 1, 2, 3, 4, 5, 6
MAX_PER_CUSTOMER = 9999

#        mcc     weight  median  sigma
MCCS = (("5411", 0.20, 120, 0.7), ("5812", 0.14, 150, 0.7), ("5814", 0.10, 40, 0.5), ("5541", 0.06, 300, 0.4),
        ("5311", 0.05, 400, 0.8), ("5732", 0.03, 1500, 1.0), ("5691", 0.07, 350, 0.8), ("4111", 0.08, 10, 0.6),
        ("4511", 0.015, 2500, 0.6), ("7011", 0.02, 900, 0.6), ("5912", 0.04, 90, 0.7), ("8062", 0.02, 600, 1.0),
        ("8220", 0.015, 3000, 0.9), ("5999", 0.07, 200, 1.0), ("4814", 0.03, 100, 0.4), ("5944", 0.01, 4000, 0.9),
        ("5399", 0.06, 180, 0.9))
MCC_INDEX = {m[0]: k for k, m in enumerate(MCCS)}
BANKS = ("ICBKCNBJ", "PCBCCNBJ", "ABOCCNBJ", "BKCHCNBJ", "COMMCNSH", "CMBCCNBS", "SPDBCNSH", "CIBKCNBJ")
FOREIGN = (("US", "USD"), ("GB", "GBP"), ("JP", "JPY"), ("HK", "HKD"), ("FR", "EUR"), ("DE", "EUR"),
           ("SG", "USD"), ("TH", "USD"), ("KR", "USD"), ("AU", "USD"))
DOW_RETAIL = (0.78, 0.78, 0.8, 0.82, 0.95, 1.0, 0.9)
DOW_SME = (1.0, 1.0, 1.0, 1.0, 0.95, 0.3, 0.15)
HOURS_RETAIL = (0.3, 0.15, 0.1, 0.08, 0.08, 0.15, 0.5, 1.5, 2.5, 3, 3.5, 4.5, 6, 5, 4, 4, 4.5, 5.5, 6.5, 6.5, 6,
                5, 3, 1.2)
HOURS_SME = (0.05, 0.02, 0.02, 0.02, 0.02, 0.05, 0.2, 1, 4, 7, 8, 8, 5, 6, 8, 8, 7, 5, 2, 0.8, 0.5, 0.3, 0.2, 0.1)
RETAIL_TYPES = (("CARD_PURCHASE", 0.58), ("TRANSFER_OUT", 0.11), ("TRANSFER_IN", 0.07), ("BILL_PAYMENT", 0.08),
                ("CASH_WITHDRAWAL", 0.07), ("CASH_DEPOSIT", 0.03), ("FEE", 0.015), ("FUND_PURCHASE", 0.02),
                ("FUND_REDEMPTION", 0.01), ("INTEREST", 0.005))
SME_TYPES = (("TRANSFER_IN", 0.32), ("TRANSFER_OUT", 0.32), ("CARD_PURCHASE", 0.12), ("BILL_PAYMENT", 0.10),
             ("CASH_DEPOSIT", 0.07), ("CASH_WITHDRAWAL", 0.05), ("FEE", 0.02))
DEBITS = ("CARD_PURCHASE", "TRANSFER_OUT", "BILL_PAYMENT", "CASH_WITHDRAWAL", "FEE", "FUND_PURCHASE",
          "LOAN_REPAYMENT", "CARD_REPAYMENT")


def merchants_per_mcc(ctx: Context) -> int:
    return max(20, min(50_000, ctx.p.customers // 40))


def merchant_id(mcc: Column, slot: Column, ctx: Context) -> Column:
    idx = F.element_at(F.create_map(*[x for k, v in MCC_INDEX.items() for x in (F.lit(k), F.lit(v))]), mcc)
    num = idx * F.lit(merchants_per_mcc(ctx)) + F.pmod(slot, F.lit(merchants_per_mcc(ctx))) + 1
    return F.concat(F.lit("M"), F.lpad(num.cast("string"), 6, "0"))


def external_account(d, *keys) -> Column:
    return F.concat(F.lit("6222****"), F.lpad(d.below(10000, "ext_acct", *keys).cast("string"), 4, "0"))


def device_of(idx: Column, k: Column) -> Column:
    return scrambled_id("D", idx.cast("long") * 4 + k, 12)


def _weights_by_index(values, i: Column) -> Column:
    return F.element_at(F.array(*[F.lit(float(v)) for v in values]), i.cast("int"))


def current_balance(ctx: Context, *keys) -> Column:
    base = F.when(sql_col("is_sme"), sql_col("income") / 25).otherwise(sql_col("income") / 10) * sql_col("balance_factor")
    return money(base * F.exp(0.3 * ctx.d.normal("bal_after", *keys)))


def regular_transactions(pop: DataFrame, ctx: Context) -> DataFrame:
    """Everyday activity: one explode over each customer's candidate events, thinned by weekday and fade-out."""
    p, t, d = ctx.p, ctx.t, ctx.d
    i = sql_col("idx")
    active_from = F.coalesce(sql_col("dormant_until"), F.lit(0))
    active_to = F.coalesce(sql_col("churn_day") - 1, F.lit(p.last_day))
    span = F.greatest(F.lit(0), active_to - active_from + 1)
    rate = F.lit(p.txn_per_customer_day) * sql_col("activity")
    n = F.least(F.lit(MAX_PER_CUSTOMER), F.floor(rate * span * 1.2 + d.u("n_txn", i))).cast("int")
    base = pop.select("*", active_from.alias("active_from"), span.alias("span"), n.alias("n"))
    base = base.where(sql_col("n") > 0)
    x = base.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    day = sql_col("active_from") + F.floor(d.u("t_day", i, k) * sql_col("span")).cast("int")
    dow = t.dow(day)
    w = F.when(sql_col("is_sme"), _weights_by_index(DOW_SME, dow)).otherwise(_weights_by_index(DOW_RETAIL, dow))
    fade = F.when(sql_col("churn_start_day").isNotNull() & (day > sql_col("churn_start_day")),
                  (sql_col("churn_day") - day) / F.greatest(F.lit(1), sql_col("churn_day") - sql_col("churn_start_day"))
                  ).otherwise(F.lit(1.0))
    x = x.select("*", day.alias("day")).where(d.u("t_accept", i, k) < w * fade)
    day = sql_col("day")
    ttype = F.when(sql_col("is_sme"), d.weighted(SME_TYPES, "t_type", i, k)).otherwise(d.weighted(RETAIL_TYPES, "t_type", i, k))
    hour = F.when(sql_col("is_sme"), pick_weighted(d.u("t_hour", i, k), list(enumerate(HOURS_SME)))) \
        .otherwise(pick_weighted(d.u("t_hour", i, k), list(enumerate(HOURS_RETAIL))))
    mcc_col = pick_weighted(d.u("t_mcc", i, k), [(m[0], m[1]) for m in MCCS])
    x = x.select("*", ttype.alias("txn_type"), (day.cast("long") * 86400 + hour * 3600 + d.below(3600, "t_sec", i, k)).alias("abs_sec"),
                 F.when(ttype == "CARD_PURCHASE", mcc_col).alias("mcc"))
    tt, mcc = sql_col("txn_type"), sql_col("mcc")
    med = F.element_at(F.create_map(*[x for m in MCCS for x in (F.lit(m[0]), F.lit(float(m[2])))]), mcc)
    sig = F.element_at(F.create_map(*[x for m in MCCS for x in (F.lit(m[0]), F.lit(float(m[3])))]), mcc)
    affl = F.least(F.lit(3.0), F.greatest(F.lit(0.5), F.pow(sql_col("income") / 150_000, 0.3)))
    z = d.normal("t_amt", i, k)
    amount = (F.when(tt == "CARD_PURCHASE", med * F.exp(sig * z) * affl)
              .when(tt.isin("TRANSFER_OUT", "TRANSFER_IN"),
                    F.when(sql_col("is_sme"), sql_col("income") / 300 * F.exp(1.0 * z)).otherwise(2000 * affl * F.exp(1.1 * z)))
              .when(tt == "BILL_PAYMENT", 250 * F.exp(0.6 * z) * F.when(sql_col("is_sme"), 8).otherwise(1))
              .when(tt == "CASH_WITHDRAWAL", F.greatest(F.lit(100.0), round_hundreds(800 * affl * F.exp(0.6 * z))))
              .when(tt == "CASH_DEPOSIT", F.greatest(F.lit(100.0), round_hundreds(3000 * affl * F.exp(0.8 * z))))
              .when(tt == "FEE", 15 * F.exp(0.8 * z))
              .when(tt.isin("FUND_PURCHASE", "FUND_REDEMPTION"), F.greatest(F.lit(100.0), round_hundreds(15000 * affl * F.exp(0.8 * z))))
              .otherwise(30 * F.exp(z)))
    # travellers spend abroad during one trip of ten days
    trip_start = d.below(F.greatest(F.lit(1), sql_col("span")), "trip", i) + sql_col("active_from")
    abroad = (tt == "CARD_PURCHASE") & (
        (sql_col("traveler") & (day >= trip_start) & (day < trip_start + 10) & d.bernoulli(0.8, "t_abroad", i, k))
        | d.bernoulli(0.003, "t_abroad_rare", i, k))
    dest = d.below(len(FOREIGN), "trip_dest", i) + 1
    country = F.when(abroad, F.element_at(F.array(*[F.lit(c) for c, _ in FOREIGN]), dest.cast("int"))).otherwise("CN")
    ccy = F.when(abroad, F.element_at(F.array(*[F.lit(c) for _, c in FOREIGN]), dest.cast("int"))).otherwise("CNY")
    ecom = (tt == "CARD_PURCHASE") & ((mcc == "5399") | d.bernoulli(sql_col("ecom_pref"), "t_ecom", i, k))
    u_ch = d.u("t_channel", i, k)
    channel = (F.when(tt == "CARD_PURCHASE", F.when(ecom, "ECOM").otherwise("POS"))
               .when(tt.isin("TRANSFER_OUT", "TRANSFER_IN"),
                     F.when(sql_col("is_sme"), pick_weighted(u_ch, (("ONLINE", .6), ("BRANCH", .2), ("MOBILE", .2))))
                     .otherwise(pick_weighted(u_ch, (("MOBILE", .6), ("ONLINE", .25), ("BRANCH", .15)))))
               .when(tt == "BILL_PAYMENT", pick_weighted(u_ch, (("MOBILE", .7), ("ONLINE", .3))))
               .when(tt == "CASH_WITHDRAWAL", pick_weighted(u_ch, (("ATM", .8), ("BRANCH", .2))))
               .when(tt == "CASH_DEPOSIT", pick_weighted(u_ch, (("ATM", .5), ("BRANCH", .5))))
               .when(tt.isin("FUND_PURCHASE", "FUND_REDEMPTION"), pick_weighted(u_ch, (("MOBILE", .6), ("ONLINE", .2), ("BRANCH", .2))))
               .otherwise("ONLINE"))
    fav = d.u("t_fav", i, k) < 0.6
    slot = F.when(fav, d.hash("fav_merchant", i, mcc, d.below(3, "t_fav_k", i, k))).otherwise(d.hash("t_merchant", i, k))
    is_transfer = tt.isin("TRANSFER_OUT", "TRANSFER_IN")
    contact = F.pmod(i + 1 + d.below(p.customers - 1, "contact", i, d.below(5, "t_contact", i, k)), F.lit(p.customers))
    # a transfer to another of our customers is posted on their account too, so only while they bank with us:
    # after their churn, or before a dormant account wakes up, the payee banks elsewhere as far as we know
    contacts = pop.select(sql_col("idx").alias("_contact"), sql_col("churn_day").alias("_contact_churn"),
                          sql_col("dormant_until").alias("_contact_dormant"))
    x = x.select("*", contact.alias("_contact")).join(F.broadcast(contacts), "_contact", "left")
    contact = sql_col("_contact")
    banks_with_us = ((sql_col("_contact_churn").isNull() | (day < sql_col("_contact_churn")))
                     & (sql_col("_contact_dormant").isNull() | (day >= sql_col("_contact_dormant"))))
    own = is_transfer & d.bernoulli(0.25, "t_own", i, k) & banks_with_us
    payee = d.below(8, "t_payee", i, k)
    on_card = (tt == "CARD_PURCHASE") & sql_col(prod_col("CREDIT_CARD")).isNotNull() & d.bernoulli(0.65, "t_on_card", i, k)
    acct = F.when(on_card, account_id(i, "CREDIT_CARD")).otherwise(account_id(i, "CURRENT"))
    cp_acct = (F.when(own, account_id(contact, "CURRENT"))
               .when(is_transfer, external_account(d, i, payee))
               .when(tt == "BILL_PAYMENT", F.concat(F.lit("9558****"), F.lpad(d.below(40, "biller", i, k).cast("string"), 4, "0")))
               .when(tt.isin("FUND_PURCHASE", "FUND_REDEMPTION") & sql_col(prod_col("FUND")).isNotNull(), account_id(i, "FUND")))
    cp_bank = (F.when(own | (tt.isin("FUND_PURCHASE", "FUND_REDEMPTION") & cp_acct.isNotNull()), "OWN")
               .when(is_transfer, F.element_at(F.array(*[F.lit(b) for b in BANKS]), (d.below(len(BANKS), "payee_bank", i, payee) + 1).cast("int")))
               .when(tt == "BILL_PAYMENT", "ICBKCNBJ"))
    digital = channel.isin("ECOM", "MOBILE", "ONLINE")
    balance = F.when(on_card, money(sql_col("card_limit") * 0.3 * d.u("t_card_bal", i, k))).otherwise(current_balance(ctx, i, k))
    status = F.when((tt == "CARD_PURCHASE") & d.bernoulli(0.01, "t_declined", i, k), "DECLINED").otherwise("POSTED")
    x = x.select(
        F.lit(KIND_REGULAR).alias("kind"), (i * 10_000 + k).alias("num"), "idx", "customer_id", acct.alias("account_id"),
        "abs_sec", money(amount).alias("amount"), ccy.alias("currency"),
        F.when(tt.isin(*DEBITS), "DEBIT").otherwise("CREDIT").alias("direction"), "txn_type", channel.alias("channel"),
        F.when(tt == "CARD_PURCHASE", merchant_id(mcc, slot, ctx)).alias("merchant_id"), "mcc",
        cp_acct.alias("counterparty_account"), cp_bank.alias("counterparty_bank"), country.alias("country"),
        F.when(digital, device_of(i, d.below(2, "t_device", i, k))).alias("device_id"),
        balance.alias("balance_after"), status.alias("status"), own.alias("own"), contact.alias("contact"),
    )
    # a transfer between two of our customers is posted on both accounts
    x = x.select("*", F.explode(F.when(sql_col("own"), F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))).alias("side"))
    m = sql_col("side") == 1
    c = sql_col("contact")
    return x.select(
        F.when(m, F.lit(KIND_MIRROR)).otherwise(sql_col("kind")).alias("kind"), "num",
        F.when(m, customer_id(c)).otherwise(sql_col("customer_id")).alias("customer_id"),
        F.when(m, account_id(c, "CURRENT")).otherwise(sql_col("account_id")).alias("account_id"),
        (sql_col("abs_sec") + F.when(m, d.between(1, 5, "mirror_lag", sql_col("num"))).otherwise(0)).alias("abs_sec"),
        "amount", "currency",
        F.when(m, F.when(sql_col("direction") == "DEBIT", "CREDIT").otherwise("DEBIT")).otherwise(sql_col("direction")).alias("direction"),
        F.when(m, F.when(sql_col("txn_type") == "TRANSFER_OUT", "TRANSFER_IN").otherwise("TRANSFER_OUT")).otherwise(sql_col("txn_type")).alias("txn_type"),
        "channel", "merchant_id", "mcc",
        F.when(m, sql_col("account_id")).otherwise(sql_col("counterparty_account")).alias("counterparty_account"),
        "counterparty_bank", "country",
        F.when(m, F.lit(None).cast("string")).otherwise(sql_col("device_id")).alias("device_id"),
        F.when(m, money(20_000 * F.exp(0.8 * d.normal("mirror_bal", sql_col("num"))))).otherwise(sql_col("balance_after")).alias("balance_after"),
        "status", F.lit(False).alias("special"),
    )


SCHEDULED = ("SALARY", "CARD_REPAYMENT", "PERSONAL_LOAN", "MORTGAGE", "SME_LOAN", "INTEREST", "PAYROLL")


def scheduled_transactions(pop: DataFrame, ctx: Context) -> DataFrame:
    """Monthly salary and pension credits, card and loan repayments, savings interest, SME payroll."""
    p, t, d = ctx.p, ctx.t, ctx.d
    i = sql_col("idx")
    months = p.days // 28 + 2
    x = pop.select("*", F.explode(F.sequence(F.lit(0), F.lit(months - 1))).alias("m"))
    x = x.select("*", F.explode(F.array(*[F.lit(s) for s in SCHEDULED])).alias("what"))
    what = sql_col("what")
    month_start = F.add_months(F.trunc(F.lit(p.start_date), "month"), sql_col("m"))
    dom = (F.when(what.isin("SALARY", "PAYROLL"), sql_col("payday"))
           .when(what == "CARD_REPAYMENT", F.least(F.lit(28), sql_col("card_statement_dom")))
           .when(what == "INTEREST", F.lit(21)).otherwise(sql_col("loan_due_dom")))
    date = F.make_date(F.year(month_start), F.month(month_start), dom)
    date = F.when(what == "CARD_REPAYMENT", F.date_add(date, 18)).otherwise(date)
    day = t.day_of_date(date)
    loan_overdue_day = F.when(d.bernoulli(0.05, "overdue", i, what), d.between(-60, p.last_day, "overdue_day", i, what))
    eligible = (F.when(what == "SALARY", ~sql_col("is_sme") & sql_col("occupation").isin("EMPLOYEE", "PROFESSIONAL", "CIVIL_SERVANT", "RETIRED"))
                .when(what == "CARD_REPAYMENT", sql_col(prod_col("CREDIT_CARD")).isNotNull())
                .when(what == "INTEREST", sql_col(prod_col("SAVINGS")).isNotNull())
                .otherwise(F.coalesce(
                    F.element_at(F.create_map(*[x for c in ("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN", "PAYROLL")
                                                for x in (F.lit(c), sql_col(prod_col(c)))]), what).isNotNull(), F.lit(False))))
    active_from = F.coalesce(sql_col("dormant_until"), F.lit(0))
    active_to = F.coalesce(sql_col("churn_day") - 1, F.lit(p.last_day))
    paid = ~(what.isin("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN") & loan_overdue_day.isNotNull() & (day >= loan_overdue_day))
    x = x.where(eligible & (day >= active_from) & (day <= active_to) & (day >= 0) & paid)
    day = t.day_of_date(date)
    loan_prod = F.element_at(F.create_map(*[x for c in ("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN")
                                            for x in (F.lit(c), sql_col(prod_col(c)))]), what)
    amount = (F.when(what == "SALARY", sql_col("income") / 12 * (1 + 0.02 * d.normal("salary", i, sql_col("m"))))
              .when(what == "CARD_REPAYMENT", sql_col("card_limit") * (0.05 + 0.3 * d.u("card_rep", i, sql_col("m"))))
              .when(what == "INTEREST", 60_000 * sql_col("balance_factor") * 0.011 / 12)
              .when(what == "PAYROLL", sql_col("income") / 12 * 0.25)
              .otherwise(instalment(principal(what, i, ctx), loan_prod)))
    hour = F.when(what.isin("SALARY", "PAYROLL", "INTEREST"), F.lit(1)).otherwise(F.lit(8) + d.below(12, "sched_h", i, sql_col("m"), what))
    cp_acct = (F.when(what == "CARD_REPAYMENT", account_id(i, "CREDIT_CARD"))
               .when(what.isin("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN"), account_id(i, what))
               .when(what == "SALARY", external_account(d, i, F.lit("employer")))
               .when(what == "PAYROLL", F.lit("PAYROLL-BATCH")))
    cp_bank = (F.when(what.isin("CARD_REPAYMENT", "PERSONAL_LOAN", "MORTGAGE", "SME_LOAN", "PAYROLL"), "OWN")
               .when(what == "SALARY", F.element_at(F.array(*[F.lit(b) for b in BANKS]), (d.below(len(BANKS), "employer_bank", i) + 1).cast("int"))))
    ttype = (F.when(what == "SALARY", "SALARY").when(what == "CARD_REPAYMENT", "CARD_REPAYMENT")
             .when(what == "INTEREST", "INTEREST").when(what == "PAYROLL", "TRANSFER_OUT").otherwise("LOAN_REPAYMENT"))
    what_i = F.element_at(F.create_map(*[x for k_, s in enumerate(SCHEDULED) for x in (F.lit(s), F.lit(k_))]), what)
    return x.select(
        F.lit(KIND_SCHEDULED).alias("kind"), (i * 10_000 + sql_col("m") * 10 + what_i).alias("num"), "customer_id",
        account_id(i, "CURRENT").alias("account_id"),
        (day.cast("long") * 86400 + hour * 3600 + d.below(3600, "sched_s", i, sql_col("m"), what)).alias("abs_sec"),
        money(amount).alias("amount"), F.lit("CNY").alias("currency"),
        F.when(ttype.isin(*DEBITS), "DEBIT").otherwise("CREDIT").alias("direction"), ttype.alias("txn_type"),
        F.when(what.isin("CARD_REPAYMENT", "PERSONAL_LOAN", "MORTGAGE", "SME_LOAN"), "MOBILE").otherwise("ONLINE").alias("channel"),
        F.lit(None).cast("string").alias("merchant_id"), F.lit(None).cast("string").alias("mcc"),
        cp_acct.alias("counterparty_account"), cp_bank.alias("counterparty_bank"), F.lit("CN").alias("country"),
        F.lit(None).cast("string").alias("device_id"), current_balance(ctx, i, sql_col("m"), what).alias("balance_after"),
        F.lit("POSTED").alias("status"), F.lit(False).alias("special"),
    )


def transactions_landing(all_txns: DataFrame, ctx: Context) -> DataFrame:
    """Ids, times and arrival: late records land 1-3 extracts later; corrections re-sent with a later
    updated_at and status REVERSED. Fraud and AML transactions always arrive on time, uncorrected."""
    p, t, d = ctx.p, ctx.t, ctx.d
    num = sql_col("kind").cast("long") * F.lit(10**11) + sql_col("num")
    x = all_txns.select("*", scrambled_id("T", num, 12).alias("txn_id"),
                        F.floor(sql_col("abs_sec") / 86400).cast("int").alias("day"))
    x = x.where((sql_col("day") >= 0) & (sql_col("day") <= p.last_day))
    tid, day = sql_col("txn_id"), sql_col("day")
    late = ~sql_col("special") & d.bernoulli(p.late_record_share, "late", tid)
    lag = F.when(late, d.between(1, 3, "late_lag", tid)).otherwise(F.lit(0))
    ext0 = t.extract_day(day, lag)
    corr = ~sql_col("special") & (sql_col("status") == "POSTED") & d.bernoulli(p.correction_share, "correction", tid)
    corr_day = day + lag + d.between(1, 5, "corr_lag", tid)
    corr_ext = F.greatest(corr_day, F.lit(p.bulk_day))
    versions = F.array(F.struct(F.lit(0).alias("v"), ext0.alias("ext")),
                       F.when(corr, F.struct(F.lit(1).alias("v"), corr_ext.alias("ext"))))
    x = x.select("*", lag.alias("lag"), corr_day.alias("corr_day"), F.explode(versions).alias("ver"))
    x = x.where(sql_col("ver").isNotNull() & (sql_col("ver.ext") <= p.last_day))
    ext = sql_col("ver.ext")
    first = sql_col("ver.v") == 0
    upd0 = F.least(sql_col("abs_sec") + sql_col("lag") * 86400 + d.between(1, 900, "posting", tid), ext.cast("long") * 86400 + 86399)
    upd1 = sql_col("corr_day").cast("long") * 86400 + d.between(3600, 80000, "corr_s", tid)
    return x.select(
        "txn_id", "account_id", "customer_id", t.ts(0, sql_col("abs_sec")).alias("txn_ts"), "amount", "currency",
        "direction", "txn_type", "channel", "merchant_id", "mcc", "counterparty_account", "counterparty_bank",
        "country", "device_id", "balance_after",
        F.when(first, sql_col("status")).otherwise(F.lit("REVERSED")).alias("status"),
        t.ts(0, F.when(first, upd0).otherwise(upd1)).alias("updated_at"), t.date(ext).alias("extract_date"),
    )


def txn_ids(df: DataFrame) -> DataFrame:
    """txn_id for rows in the internal layout (for truth tables built from fraud and AML transactions)."""
    num = sql_col("kind").cast("long") * F.lit(10**11) + sql_col("num")
    return df.select("*", scrambled_id("T", num, 12).alias("txn_id"))
