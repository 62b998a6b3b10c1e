"""Daily net asset values of the fund and wealth products: a random walk per business day, with dividends."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from pipelines.generator.context import Context
from pipelines.generator.products import CATALOGUE, NAV_CATEGORIES
from pipelines.generator.randomness import sql_col

VOL = {"R1": 0.0002, "R2": 0.002, "R3": 0.006, "R4": 0.012, "R5": 0.018}


def nav_prices_landing(spark: SparkSession, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    rows = [(r[0], VOL[r[3]], r[10] is None, r[2] == "FUND" and r[3] in ("R2", "R3")) for r in CATALOGUE if r[2] in NAV_CATEGORIES]
    prods = spark.createDataFrame(rows, "product_id string, vol double, launched_in_period boolean, pays_dividend boolean")
    x = prods.select("*", F.explode(F.sequence(F.lit(0), F.lit(p.last_day))).alias("day"))
    first = F.when(sql_col("launched_in_period"), F.lit(ctx.new_product_day)).otherwise(F.lit(0))
    x = x.where((t.dow(sql_col("day")) <= 5) & (sql_col("day") >= first))
    pid, day = sql_col("product_id"), sql_col("day")
    step = sql_col("vol") * d.normal("nav_step", pid, day) + sql_col("vol") * 0.05
    w = Window.partitionBy("product_id").orderBy("day").rowsBetween(Window.unboundedPreceding, 0)
    start = F.when(sql_col("launched_in_period"), F.lit(1.0)).otherwise(0.8 + 1.6 * d.u("nav0", pid))
    dividend = F.when(sql_col("pays_dividend") & d.bernoulli(0.02, "dividend", pid, day), F.round(0.005 + 0.02 * d.u("div", pid, day), 6))
    x = x.select("*", F.sum(step).over(w).alias("walk"), dividend.alias("dividend_per_unit"), start.alias("start"))
    return x.select(
        "product_id", t.date(day).alias("nav_date"), F.round(sql_col("start") * F.exp(sql_col("walk")), 6).alias("nav"),
        "dividend_per_unit", t.date(t.extract_day(day)).alias("extract_date"),
    )
