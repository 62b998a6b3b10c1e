"""The product catalogue (a fixed reference list) and its changes during the period."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.generator.context import Context
from pipelines.generator.randomness import sql_col

ALL = "MASS|AFFLUENT|PRIVATE"
RICH = "AFFLUENT|PRIVATE"
SME = "SME"
#        id      name                          category        risk  min max  segments       min_inv   rate   term launched
CATALOGUE = [
    ("P0001", "Everyday Current Account",     "CURRENT",       "R1", 16, 120, ALL + "|SME", 0,        0.20, None, "2005-01-01"),
    ("P0002", "Youth Current Account",        "CURRENT",       "R1", 16, 25,  "MASS",       0,        0.25, None, "2015-06-01"),
    ("P0003", "Flexi Savings",                "SAVINGS",       "R1", 16, 120, ALL,          0,        1.10, None, "2008-03-01"),
    ("P0004", "Premier Savings",              "SAVINGS",       "R1", 18, 120, RICH,         50000,    1.55, None, "2012-09-01"),
    ("P0005", "Time Deposit 3M",              "TIME_DEPOSIT",  "R1", 18, 120, ALL,          1000,     1.25, 3,    "2006-01-01"),
    ("P0006", "Time Deposit 6M",              "TIME_DEPOSIT",  "R1", 18, 120, ALL,          1000,     1.45, 6,    "2006-01-01"),
    ("P0007", "Time Deposit 12M",             "TIME_DEPOSIT",  "R1", 18, 120, ALL,          1000,     1.65, 12,   "2006-01-01"),
    ("P0008", "Time Deposit 36M",             "TIME_DEPOSIT",  "R1", 18, 120, ALL,          10000,    2.15, 36,   "2010-01-01"),
    ("P0009", "Classic Credit Card",          "CREDIT_CARD",   "R2", 18, 70,  ALL,          0,        18.25, None, "2009-04-01"),
    ("P0010", "Platinum Travel Card",         "CREDIT_CARD",   "R2", 22, 70,  RICH,         0,        18.25, None, "2016-05-01"),
    ("P0011", "Student Credit Card",          "CREDIT_CARD",   "R2", 18, 26,  "MASS",       0,        18.25, None, "2018-09-01"),
    ("P0012", "Personal Cash Loan",           "PERSONAL_LOAN", "R2", 22, 60,  ALL,          0,        6.50, 36,   "2011-01-01"),
    ("P0013", "Car Loan",                     "PERSONAL_LOAN", "R2", 22, 60,  ALL,          0,        4.80, 60,   "2013-01-01"),
    ("P0014", "First Home Mortgage",          "MORTGAGE",      "R2", 22, 60,  ALL,          0,        3.45, 300,  "2007-01-01"),
    ("P0015", "Premier Mortgage",             "MORTGAGE",      "R2", 25, 60,  RICH,         0,        3.20, 240,  "2014-01-01"),
    ("P0016", "Money Market Fund",            "FUND",          "R1", 18, 120, ALL,          1,        None, None, "2014-03-01"),
    ("P0017", "Bond Income Fund",             "FUND",          "R2", 18, 120, ALL,          1000,     None, None, "2015-01-01"),
    ("P0018", "Balanced Growth Fund",         "FUND",          "R3", 18, 75,  ALL,          1000,     None, None, "2016-01-01"),
    ("P0019", "China Equity Fund",            "FUND",          "R4", 18, 70,  ALL,          1000,     None, None, "2017-01-01"),
    ("P0020", "Global Tech Fund",             "FUND",          "R5", 18, 65,  RICH,         10000,    None, None, "2019-01-01"),
    ("P0021", "Dividend Select Fund",         "FUND",          "R3", 18, 120, ALL,          1000,     None, None, "2018-06-01"),
    ("P0022", "Wealth Steady 90D",            "WEALTH_MGMT",   "R2", 18, 120, ALL,          10000,    3.00, 3,    "2016-01-01"),
    ("P0023", "Wealth Enhanced 1Y",           "WEALTH_MGMT",   "R3", 18, 120, RICH,         50000,    3.60, 12,   "2017-01-01"),
    ("P0024", "Private Alpha Portfolio",      "WEALTH_MGMT",   "R4", 18, 120, "PRIVATE",    1000000,  None, 24,   "2019-01-01"),
    ("P0025", "Structured Note Series",       "WEALTH_MGMT",   "R5", 18, 70,  "PRIVATE",    1000000,  None, 12,   "2020-01-01"),
    ("P0026", "Term Life Cover",              "INSURANCE",     "R1", 18, 60,  ALL,          0,        None, 240,  "2010-01-01"),
    ("P0027", "Critical Illness Plan",        "INSURANCE",     "R2", 18, 55,  ALL,          0,        None, 240,  "2012-01-01"),
    ("P0028", "Education Savings Plan",       "INSURANCE",     "R2", 25, 50,  ALL,          0,        2.50, 180,  "2013-01-01"),
    ("P0029", "Retirement Annuity",           "INSURANCE",     "R2", 40, 65,  ALL,          0,        2.80, 240,  "2013-01-01"),
    ("P0030", "Government Bond 3Y",           "BOND",          "R1", 18, 120, ALL,          100,      2.38, 36,   "2015-01-01"),
    ("P0031", "Corporate Bond 5Y",            "BOND",          "R3", 18, 120, RICH,         10000,    3.40, 60,   "2018-01-01"),
    ("P0032", "SME Working Capital Loan",     "SME_LOAN",      "R3", 0,  120, SME,          0,        4.35, 12,   "2010-01-01"),
    ("P0033", "SME Equipment Loan",           "SME_LOAN",      "R3", 0,  120, SME,          0,        4.75, 48,   "2012-01-01"),
    ("P0034", "Letter of Credit",             "TRADE_FINANCE", "R3", 0,  120, SME,          0,        3.90, 6,    "2011-01-01"),
    ("P0035", "Invoice Financing",            "TRADE_FINANCE", "R3", 0,  120, SME,          0,        4.10, 3,    "2017-01-01"),
    ("P0036", "Payroll Service",              "PAYROLL",       "R1", 0,  120, SME,          0,        None, None, "2009-01-01"),
    ("P0037", "Green Energy Fund",            "FUND",          "R4", 18, 70,  ALL,          1000,     None, None, None),  # launched in the period
]
NAV_CATEGORIES = ("FUND", "WEALTH_MGMT")
RETIRED_IN_PERIOD = "P0011"


def catalogue_rows(launch_day_of_new: date) -> list[dict]:
    rows = []
    for pid, name, cat, risk, lo, hi, segs, mininv, rate, term, launched in CATALOGUE:
        rows.append(dict(product_id=pid, product_name=name, category=cat, risk_level=risk, min_age=lo, max_age=hi,
                         eligible_segments=segs, min_investment=float(mininv), interest_rate=rate, term_months=term,
                         launch_date=date.fromisoformat(launched) if launched else launch_day_of_new))
    return rows


def catalogue_frame(spark: SparkSession, ctx: Context) -> DataFrame:
    schema = ("product_id string, product_name string, category string, risk_level string, min_age int, "
              "max_age int, eligible_segments string, min_investment double, interest_rate double, "
              "term_months int, launch_date date")
    return spark.createDataFrame(catalogue_rows(ctx.p.date_of(ctx.new_product_day)), schema)


def products_landing(spark: SparkSession, ctx: Context) -> DataFrame:
    """The catalogue as of the bulk extract, then re-sent rows: rate changes, a retirement, a launch."""
    p, t, d = ctx.p, ctx.t, ctx.d
    cat = catalogue_frame(spark, ctx)
    launch_day = t.day_of_date(sql_col("launch_date"))
    rate_change_day = F.lit(p.bulk_day + 1) + d.below(max(1, p.daily_days), "prod_rate_day", "product_id")
    has_rate_change = (sql_col("interest_rate").isNotNull() & d.bernoulli(0.35, "prod_rate", "product_id")
                       & F.lit(p.daily_days > 0))
    retire_day = F.lit(p.bulk_day + max(1, p.daily_days // 2))
    versions = F.array(
        F.struct(F.greatest(launch_day, F.lit(p.bulk_day)).alias("day"), F.lit(0).alias("v")),
        F.struct(F.when(has_rate_change, rate_change_day).alias("day"), F.lit(1).alias("v")),
        F.struct(F.when(sql_col("product_id") == RETIRED_IN_PERIOD, retire_day).alias("day"), F.lit(2).alias("v")),
    )
    v = cat.select("*", F.explode(versions).alias("ver")).where(sql_col("ver.day").isNotNull())
    v = v.where(sql_col("ver.day") <= p.last_day)
    new_rate = F.round(sql_col("interest_rate") + d.between(-2, 2, "prod_rate_step", "product_id") * 0.05 + 0.05, 2)
    rate_now = F.when(has_rate_change & (sql_col("ver.day") >= rate_change_day), new_rate).otherwise(sql_col("interest_rate"))
    retired = (sql_col("product_id") == RETIRED_IN_PERIOD) & (sql_col("ver.day") >= retire_day)
    status = F.when(retired, "RETIRED").otherwise("ACTIVE")
    # a version's time: launch versions at their launch, bulk versions some time before the bulk date
    upd_day = F.when(sql_col("ver.v") == 0, F.least(F.lit(p.bulk_day), F.greatest(launch_day, F.lit(p.bulk_day) - d.below(400, "prod_upd", "product_id")))).otherwise(sql_col("ver.day"))
    upd = t.ts(upd_day, d.between(3600, 20000, "prod_upd_s", "product_id", sql_col("ver.v")))
    out = v.select(
        "product_id", "product_name", "category", "risk_level", "min_age", "max_age", "eligible_segments",
        "min_investment", rate_now.alias("interest_rate"), "term_months", "launch_date", status.alias("status"),
        upd.alias("updated_at"), t.date(sql_col("ver.day")).alias("extract_date"),
    )
    return out
