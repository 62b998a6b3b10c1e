"""Product holdings and what falls due: accounts as known on the as-of date, joined to the product catalogue."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, slug
from features.reference import to_cny
from pipelines.contracts.core_banking import PRODUCT_CATEGORIES

DEPOSITS = ("CURRENT", "SAVINGS", "TIME_DEPOSIT")
LOANS = ("CREDIT_CARD", "PERSONAL_LOAN", "MORTGAGE")
INVESTMENTS = ("FUND", "WEALTH_MGMT")
DUE_HORIZON_DAYS = 30

HOLDINGS = FeatureGroup("holdings", "Accounts open on the as-of date, by product category; balances in CNY.", (
    Feature("accounts_open", "int", "Open accounts."),
    Feature("products_held", "int", "Distinct products held."),
    Feature("categories_held", "int", "Distinct product categories held (product depth)."),
    *[Feature(f"holds_{slug(c)}", "int", f"Open {c} accounts.") for c in PRODUCT_CATEGORIES],
    *[Feature(f"balance_{slug(c)}", "double", f"Balance of open {c} accounts (investments at cost).")
      for c in PRODUCT_CATEGORIES],
    Feature("deposit_balance", "double", "Current, savings and time-deposit balances."),
    Feature("loan_balance", "double", "Card, personal-loan and mortgage balances outstanding."),
    Feature("months_since_last_new_product", "int", "Whole months since the latest account opening."),
    Feature("next_maturity_date", "date", "Earliest maturity after the as-of date of a deposit, loan or "
                                          "closed-end product."),
    Feature("maturing_30d_amount", "double", "Balance maturing within 30 days."),
    Feature("next_due_date", "date", "Earliest loan instalment or card repayment due on or after the as-of date."),
    Feature("due_30d_amount", "double", "Amount due within 30 days."),
    Feature("overdue_accounts", "int", "Accounts in OVERDUE status."),
))


def open_accounts(accounts_known: DataFrame) -> DataFrame:
    """Account versions known on each as-of date, restricted to accounts open on it."""
    as_of = F.col("as_of_date")
    return accounts_known.where((F.col("open_date") <= as_of) & is_open(as_of))


def is_open(as_of: Column) -> Column:
    """Open on the as-of date: judged by the close date when there is one (a bulk version of an account closed
    later already says CLOSED), by the status otherwise."""
    return F.when(F.col("close_date").isNotNull(), F.col("close_date") > as_of).otherwise(F.col("status") != "CLOSED")


def holding_features(accounts_known: DataFrame, products: DataFrame) -> DataFrame:
    """Accounts known on each as-of date (known_on) and the current product catalogue -> HOLDINGS."""
    as_of = F.col("as_of_date")
    cat = products.select("product_id", "category")
    acc = (open_accounts(accounts_known).join(F.broadcast(cat), "product_id", "left")
           .withColumn("_bal", F.coalesce(to_cny(F.coalesce(F.col("balance"), F.col("cost_basis")),
                                                  F.col("currency")), F.lit(0.0)))
           .withColumn("_invest_bal", F.coalesce(to_cny(F.col("cost_basis"), F.col("currency")), F.lit(0.0))))
    bal = F.when(F.col("category").isin(*INVESTMENTS), F.col("_invest_bal")).otherwise(F.col("_bal"))
    soon_maturity = (F.col("maturity_date") > as_of) & (F.col("maturity_date") <= F.date_add(as_of, DUE_HORIZON_DAYS))
    soon_due = (F.col("next_due_date") >= as_of) & (F.col("next_due_date") <= F.date_add(as_of, DUE_HORIZON_DAYS))
    out = acc.groupBy("customer_id", "as_of_date").agg(
        F.count(F.lit(1)).cast("int").alias("accounts_open"),
        F.countDistinct("product_id").cast("int").alias("products_held"),
        F.countDistinct("category").cast("int").alias("categories_held"),
        *[F.count(F.when(F.col("category") == c, True)).cast("int").alias(f"holds_{slug(c)}")
          for c in PRODUCT_CATEGORIES],
        *[F.coalesce(F.sum(F.when(F.col("category") == c, bal)), F.lit(0.0)).alias(f"balance_{slug(c)}")
          for c in PRODUCT_CATEGORIES],
        F.coalesce(F.sum(F.when(F.col("category").isin(*DEPOSITS), bal)), F.lit(0.0)).alias("deposit_balance"),
        F.coalesce(F.sum(F.when(F.col("category").isin(*LOANS), bal)), F.lit(0.0)).alias("loan_balance"),
        F.floor(F.months_between(as_of, F.max("open_date"))).cast("int").alias("months_since_last_new_product"),
        F.min(F.when(F.col("maturity_date") > as_of, F.col("maturity_date"))).alias("next_maturity_date"),
        F.coalesce(F.sum(F.when(soon_maturity, bal)), F.lit(0.0)).alias("maturing_30d_amount"),
        F.min(F.when(F.col("next_due_date") >= as_of, F.col("next_due_date"))).alias("next_due_date"),
        F.coalesce(F.sum(F.when(soon_due, to_cny(F.col("due_amount"), F.col("currency")))), F.lit(0.0))
        .alias("due_30d_amount"),
        F.count(F.when(F.col("status") == "OVERDUE", True)).cast("int").alias("overdue_accounts"),
    )
    return out
