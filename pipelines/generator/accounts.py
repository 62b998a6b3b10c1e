"""Which products each customer holds (driven by life stage and latent affinity) and the accounts extract."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.contracts.core_banking import PRODUCT_CATEGORIES
from pipelines.generator.context import Context, account_id
from pipelines.generator.customers import aff_col
from pipelines.generator.products import CATALOGUE
from pipelines.generator.randomness import pick_from, sql_col

INVESTMENT = ("FUND", "WEALTH_MGMT", "BOND")
HOLD_SCALE = {"CURRENT": None, "SAVINGS": 0.9, "TIME_DEPOSIT": 0.7, "CREDIT_CARD": 0.85, "PERSONAL_LOAN": 0.45,
              "MORTGAGE": 0.6, "FUND": 0.7, "WEALTH_MGMT": 0.6, "INSURANCE": 0.5, "BOND": 0.4, "SME_LOAN": 0.8,
              "TRADE_FINANCE": 0.6, "PAYROLL": 0.9}
LOANS = ("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN", "TRADE_FINANCE")
OPENABLE_IN_PERIOD = ("TIME_DEPOSIT", "FUND", "INSURANCE", "BOND")
_TERM = {r[0]: r[9] for r in CATALOGUE}
_RATE = {r[0]: r[8] for r in CATALOGUE}


def prod_col(cat: str) -> str:
    return f"prod_{cat}"


def _lookup(mapping: dict, key: Column) -> Column:
    pairs = [x for k, v in mapping.items() if v is not None for x in (F.lit(k), F.lit(v))]
    return F.element_at(F.create_map(*pairs), key)


def term_of(product: Column) -> Column:
    return _lookup(_TERM, product).cast("int")


def rate_of(product: Column) -> Column:
    return _lookup(_RATE, product).cast("double")


def with_holdings(pop: DataFrame, ctx: Context) -> DataFrame:
    """Adds prod_<CATEGORY> (the product held, or null) and the facts transactions need about them."""
    d, i = ctx.d, sql_col("idx")
    cols = []
    for cat in PRODUCT_CATEGORIES:
        cands = [r for r in CATALOGUE if r[2] == cat and r[10] is not None]
        arr = F.array(*[F.struct(F.lit(r[0]).alias("pid"), F.lit(r[6]).alias("segs"), F.lit(r[4]).alias("lo"),
                                 F.lit(r[5]).alias("hi"), F.lit(int(r[3][1])).alias("risk")) for r in cands])
        eligible = F.filter(arr, lambda x: F.array_contains(F.split(x["segs"], r"\|"), sql_col("segment"))
                            & ((sql_col("age") >= x["lo"]) & (sql_col("age") <= x["hi"]) | sql_col("is_sme"))
                            & ((x["risk"] <= sql_col("risk_score")) if cat in INVESTMENT else F.lit(True)))
        chosen = pick_from(eligible, d.u("product_" + cat, i))
        if HOLD_SCALE[cat] is None:
            holds = F.lit(True)
        else:
            holds = d.u("holds_" + cat, i) < sql_col(aff_col(cat)) * HOLD_SCALE[cat]
        cols.append(F.when(holds, chosen["pid"]).alias(prod_col(cat)))
    df = pop.select("*", *cols)
    limit = F.least(F.lit(500_000.0), F.greatest(F.lit(5_000.0),
                    F.round(sql_col("income") * (0.1 + 0.3 * d.u("card_limit", i)), -3)))
    return df.select(
        "*", limit.alias("card_limit"),
        (1 + d.below(28, "card_stmt_dom", i)).cast("int").alias("card_statement_dom"),
        (1 + d.below(28, "loan_due_dom", i)).cast("int").alias("loan_due_dom"),
        (10 + d.below(16, "payday", i)).cast("int").alias("payday"),
        d.lognormal(1.0, 0.7, "current_bal", i).alias("balance_factor"),
    )


def principal(cat: Column, i: Column, ctx: Context) -> Column:
    d = ctx.d
    med = (F.when(cat == "PERSONAL_LOAN", 80_000).when(cat == "MORTGAGE", 1_400_000).when(cat == "SME_LOAN", 2_000_000)
           .when(cat == "TRADE_FINANCE", 800_000).when(cat == "TIME_DEPOSIT", 100_000).when(cat == "SAVINGS", 60_000)
           .when(cat == "FUND", 80_000).when(cat == "WEALTH_MGMT", 300_000).when(cat == "BOND", 100_000)
           .when(cat == "INSURANCE", 30_000).when(cat == "PAYROLL", 200_000).otherwise(20_000))
    wealth = F.when(cat.isin(*LOANS), F.lit(1.0)).otherwise(
        F.least(F.lit(20.0), F.greatest(F.lit(0.1), sql_col("assets") / 800_000)))
    return F.round(d.lognormal(med, 0.6, "principal", i, cat) * F.sqrt(wealth), -2)


def instalment(principal_c: Column, product: Column) -> Column:
    term = F.greatest(F.lit(1), F.coalesce(term_of(product), F.lit(12)))
    rate = F.coalesce(rate_of(product), F.lit(4.0))
    return F.round(principal_c / term * (1 + rate / 100 * term / 24), 2)


def account_facts(pop: DataFrame, ctx: Context) -> DataFrame:
    """One row per account: product, open/close/maturity days, size, and the day it fell overdue (if)."""
    p, d = ctx.p, ctx.d
    i = sql_col("idx")
    held = F.array(*[F.struct(F.lit(c).alias("cat"), sql_col(prod_col(c)).alias("pid")) for c in PRODUCT_CATEGORIES])
    acc = pop.select("*", F.explode(F.filter(held, lambda x: x["pid"].isNotNull())).alias("h"))
    cat, pid = sql_col("h.cat"), sql_col("h.pid")
    term = term_of(pid)
    in_period = (cat.isin(*OPENABLE_IN_PERIOD) & d.bernoulli(0.06, "open_in_period", i, cat))
    regular_open = sql_col("onboarding_day") + F.floor(d.u("open_day", i, cat) * (-1 - sql_col("onboarding_day")))
    open_day = (F.when(cat == "CURRENT", sql_col("onboarding_day"))
                .when(in_period, d.between(1, p.last_day, "open_day_p", i, cat)).otherwise(regular_open))
    acc = acc.select("*", open_day.cast("int").alias("open_day"), in_period.alias("opened_in_period"))
    # a share of time deposits mature inside the daily window, the rest some time after the period
    mature_in_window = (cat == "TIME_DEPOSIT") & ~sql_col("opened_in_period") & d.bernoulli(0.4, "td_mature", i) \
        & F.lit(p.daily_days > 0)
    mat_day = d.between(p.bulk_day + 1, p.last_day, "td_mat_day", i)
    td_open = ctx.t.day_of_date(F.add_months(ctx.t.date(mat_day), -term))
    open_day = F.when(mature_in_window, td_open).otherwise(sql_col("open_day"))
    acc = acc.withColumn("open_day", F.least(open_day, F.lit(p.last_day)).cast("int"))
    maturity_day = F.when(term.isNotNull() & (cat != "INSURANCE"),
                          ctx.t.day_of_date(F.add_months(ctx.t.date(sql_col("open_day")), term)))
    closes_with_churn = sql_col("churn_kind") == "CLOSED"
    td_matures = (cat == "TIME_DEPOSIT") & (sql_col("maturity_day") <= p.last_day)
    close_day = F.least(F.when(closes_with_churn, sql_col("churn_day")),
                        F.when(td_matures | (cat.isin(*LOANS) & (sql_col("maturity_day") <= p.last_day)), sql_col("maturity_day")))
    overdue_day = F.when(cat.isin(*LOANS) & d.bernoulli(0.05, "overdue", i, cat),
                         d.between(-60, p.last_day, "overdue_day", i, cat))
    acc = acc.select("*", maturity_day.cast("int").alias("maturity_day"))
    acc = acc.select("*", close_day.cast("int").alias("close_day"), overdue_day.cast("int").alias("overdue_day"),
                     principal(cat, i, ctx).alias("principal"))
    acc = acc.where(sql_col("close_day").isNull() | (sql_col("close_day") > sql_col("open_day")))
    return acc.select("*", account_id(i, cat).alias("account_id"))


def accounts_landing(facts: DataFrame, ctx: Context) -> DataFrame:
    """Each account as of the bulk extract (or its opening), re-sent when its balance or status changes."""
    p, t, d = ctx.p, ctx.t, ctx.d
    aid, cat, pid = sql_col("account_id"), sql_col("h.cat"), sql_col("h.pid")
    change_p = (F.when(cat == "CURRENT", 0.9).when(cat == "CREDIT_CARD", 0.8).when(cat.isin(*LOANS), 0.7)
                .otherwise(0.25))
    n_slots = 6
    window = p.daily_days > 0
    change_days = [F.when(F.lit(window) & d.bernoulli(change_p, "acct_change", aid, k),
                          d.between(p.bulk_day + 1, p.last_day, "acct_change_day", aid, k)) for k in range(n_slots)]
    events = [sql_col("close_day"), sql_col("overdue_day"), sql_col("dormant_until"), sql_col("maturity_day")]
    first = F.greatest(sql_col("open_day"), F.lit(p.bulk_day))
    days = F.array(first, *change_days, *[F.when(e > F.lit(p.bulk_day), e) for e in events])
    days = F.array_distinct(F.filter(days, lambda x: x.isNotNull() & (x >= first) & (x <= p.last_day)))
    last_day_alive = F.greatest(F.coalesce(sql_col("close_day"), F.lit(p.last_day + 1)), F.lit(p.bulk_day))
    v = facts.select("*", F.explode(days).alias("day")).where(sql_col("day") <= last_day_alive)
    day = sql_col("day")
    closed = sql_col("close_day").isNotNull() & (sql_col("close_day") <= day)
    overdue = sql_col("overdue_day").isNotNull() & (sql_col("overdue_day") <= day) & ~closed
    dormant = sql_col("dormant_until").isNotNull() & (day < sql_col("dormant_until")) & ~closed
    status = F.when(closed, "CLOSED").when(overdue, "OVERDUE").when(dormant, "DORMANT").otherwise("ACTIVE")
    vdate = t.date(day)
    noise = F.exp(0.15 * d.normal("acct_bal", aid, day))
    elapsed = F.greatest(F.lit(0.0), F.months_between(vdate, t.date(sql_col("open_day"))))
    term = F.greatest(F.lit(1), F.coalesce(term_of(pid), F.lit(12)))
    remaining = F.greatest(F.lit(0.02), 1 - elapsed / term)
    current_base = F.when(sql_col("is_sme"), sql_col("income") / 25).otherwise(sql_col("income") / 10) * sql_col("balance_factor")
    units = F.round(sql_col("principal") / (0.9 + 0.2 * d.u("unit_cost", aid)), 6)
    balance = (F.when(closed, F.lit(0.0))
               .when(cat == "CURRENT", F.when(sql_col("role") == "PASS_THROUGH", 200 * noise).otherwise(current_base * noise))
               .when(cat == "CREDIT_CARD", sql_col("card_limit") * F.least(F.lit(0.95), 0.25 * noise * d.u("card_use", aid)))
               .when(cat.isin(*LOANS), sql_col("principal") * remaining)
               .when(cat.isin("FUND", "WEALTH_MGMT"), sql_col("principal") * (1 + 0.04 * d.normal("fund_val", aid, day)))
               .when(cat == "SAVINGS", sql_col("principal") * noise)
               .otherwise(sql_col("principal")))
    stmt_this = F.make_date(F.year(vdate), F.month(vdate), sql_col("card_statement_dom"))
    statement = F.when(cat == "CREDIT_CARD", F.when(F.dayofmonth(vdate) >= sql_col("card_statement_dom"), stmt_this)
                       .otherwise(F.add_months(stmt_this, -1)))
    due_this = F.make_date(F.year(vdate), F.month(vdate), sql_col("loan_due_dom"))
    loan_due = F.when(F.dayofmonth(vdate) < sql_col("loan_due_dom"), due_this).otherwise(F.add_months(due_this, 1))
    overdue_due = t.date(sql_col("overdue_day"))
    next_due = (F.when(closed, F.lit(None).cast("date"))
                .when(cat == "CREDIT_CARD", F.date_add(statement, 20))
                .when(cat.isin(*LOANS), F.when(overdue, overdue_due).otherwise(loan_due)))
    inst = instalment(sql_col("principal"), pid)
    months_overdue = F.greatest(F.lit(1), F.ceil(F.months_between(vdate, overdue_due)))
    due_amount = (F.when(closed, F.lit(None).cast("double"))
                  .when(cat == "CREDIT_CARD", F.round(balance * 0.9, 2))
                  .when(cat.isin(*LOANS), F.when(overdue, inst * months_overdue).otherwise(inst)))
    spread = F.when(cat.isin(*LOANS), F.round(d.between(-3, 6, "rate_spread", aid) * 0.05, 2)).otherwise(F.lit(0.0))
    currency = F.when((cat == "SAVINGS") & sql_col("traveler") & d.bernoulli(0.35, "fx_savings", aid),
                      d.choice(("USD", "HKD", "EUR"), "fx_ccy", aid)).otherwise(F.lit("CNY"))
    upd_day = F.when(day == F.lit(p.bulk_day), F.greatest(sql_col("open_day"), F.lit(p.bulk_day) - d.below(15, "acct_upd", aid))
                     ).otherwise(day)
    upd_day = F.when(closed, sql_col("close_day")).otherwise(upd_day)
    return v.select(
        "account_id", "customer_id", pid.alias("product_id"), currency.alias("currency"),
        t.date(sql_col("open_day")).alias("open_date"), F.when(closed, t.date(sql_col("close_day"))).alias("close_date"),
        t.date(sql_col("maturity_day")).alias("maturity_date"),
        F.round(balance, 2).alias("balance"),
        F.when(cat == "CREDIT_CARD", sql_col("card_limit")).alias("credit_limit"),
        F.round(rate_of(pid) + spread, 2).alias("interest_rate"),
        next_due.alias("next_due_date"), F.round(due_amount, 2).alias("due_amount"),
        F.when(statement <= vdate, statement).alias("statement_date"),
        F.when(cat.isin("FUND", "WEALTH_MGMT") & ~closed, units).alias("units"),
        F.when(cat.isin("FUND", "WEALTH_MGMT") & ~closed, sql_col("principal")).alias("cost_basis"),
        status.alias("status"),
        t.ts(upd_day, d.between(3600, 20 * 3600, "acct_upd_s", aid, day)).alias("updated_at"),
        t.date(day).alias("extract_date"),
    )
