"""`customer_daily`: what each customer did on each day, as signed, additive aggregates.

Rows are keyed by (customer_id, activity_date, known_date): `known_date` is when the bank learned of the
records behind the row (see `features.changes`). Every measure is a signed sum, so the rows of several
deliveries — a late record, a correction retracting an earlier version — add up to the day as known on any
date: `as_known(daily, D)` collapses them. Amounts are in CNY at reference rates; only POSTED transactions
and COMPLETED orders count toward amounts.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable, conform, signed_sum, slug
from features.reference import MERCHANT_GROUP_NAMES, merchant_group, to_cny
from pipelines.contracts.core_banking import CHANNELS
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

KEY = ("customer_id", "activity_date", "known_date")

KEYS = FeatureGroup("key", "Who, which day, and when it was known.", (
    Feature("customer_id", "string", "Bank customer number."),
    Feature("activity_date", "date", "Day of the activity (UTC)."),
    Feature("known_date", "date", "Business date of the delivery that brought these records (late records and "
                                  "corrections carry a later date than the activity)."),
))

_D = "day"
TRANSACTIONS = FeatureGroup("transactions", "Posted money movements of the day, in CNY.", (
    Feature("txn_count", "bigint", "Posted transactions.", _D),
    Feature("debit_amount", "double", "Money out.", _D),
    Feature("credit_amount", "double", "Money in.", _D),
    *[Feature(f"debit_amount_{slug(c)}", "double", f"Money out through channel {c}.", _D) for c in CHANNELS],
    *[Feature(f"credit_amount_{slug(c)}", "double", f"Money in through channel {c}.", _D) for c in CHANNELS],
    Feature("card_spend_amount", "double", "Card purchases.", _D),
    Feature("card_spend_count", "bigint", "Card purchases (count).", _D),
    *[Feature(f"card_spend_{g}", "double", f"Card purchases at {g.replace('_', ' ')} merchants.", _D)
      for g in MERCHANT_GROUP_NAMES],
    Feature("bill_payment_amount", "double", "Bill payments.", _D),
    Feature("fee_amount", "double", "Fees and charges the bank collected.", _D),
    Feature("salary_amount", "double", "Salary credited.", _D),
    Feature("income_amount", "double", "Salary, interest and incoming transfers.", _D),
    Feature("cash_in_amount", "double", "Cash deposited.", _D),
    Feature("cash_in_count", "bigint", "Cash deposits.", _D),
    Feature("cash_out_amount", "double", "Cash withdrawn.", _D),
    Feature("cash_out_count", "bigint", "Cash withdrawals.", _D),
    Feature("transfer_in_amount", "double", "Transfers received.", _D),
    Feature("transfer_in_count", "bigint", "Transfers received (count).", _D),
    Feature("transfer_out_amount", "double", "Transfers sent.", _D),
    Feature("transfer_out_count", "bigint", "Transfers sent (count).", _D),
    Feature("transfer_counterparties", "array<string>", "Distinct counterparty accounts of the day's transfers "
                                                        "(pseudonymous account references).", _D),
    Feature("fund_purchase_amount", "double", "Fund and wealth-product purchases.", _D),
    Feature("fund_redemption_amount", "double", "Fund and wealth-product redemptions.", _D),
    Feature("loan_repayment_amount", "double", "Loan and card repayments.", _D),
    Feature("abroad_amount", "double", "Money out in a country other than CN.", _D),
    Feature("abroad_count", "bigint", "Transactions in a country other than CN.", _D),
    Feature("declined_count", "bigint", "Declined transactions.", _D),
))

ECOMMERCE = FeatureGroup("ecommerce", "Completed e-commerce orders of the day, linked by phone or e-mail, in CNY.", (
    Feature("ecom_order_count", "bigint", "Completed orders.", _D),
    Feature("ecom_order_amount", "double", "Completed order value.", _D),
    Feature("ecom_item_count", "bigint", "Items in completed orders.", _D),
    *[Feature(f"ecom_amount_{slug(c)}", "double", f"Completed order value in category {c}.", _D)
      for c in ECOM_CATEGORIES],
))

CUSTOMER_DAILY = FeatureTable(
    "gold.customer_daily",
    "One row per customer, activity day and delivery date: additive daily aggregates of transactions and "
    "e-commerce orders. Sum the rows with known_date <= D to see a day as the bank knew it on D.",
    KEY, (KEYS, TRANSACTIONS, ECOMMERCE))

MEASURES = [f for f in CUSTOMER_DAILY.features if f.name not in KEY]


def transaction_activity(txns: DataFrame) -> DataFrame:
    """Signed transaction rows (silver columns + `_sign`, `known_date`) -> daily aggregates per customer."""
    s = F.col("_sign")
    posted = F.col("status") == "POSTED"
    debit, credit = F.col("direction") == "DEBIT", F.col("direction") == "CREDIT"
    t = F.col("txn_type")
    cny = F.col("_cny")
    group = F.col("_merchant_group")

    def amount(when: Column) -> Column:
        return signed_sum(s, cny, posted & when)

    def count(when: Column) -> Column:
        return signed_sum(s, F.lit(1), posted & when)

    card = t == "CARD_PURCHASE"
    measures = [
        count(F.lit(True)).alias("txn_count"),
        amount(debit).alias("debit_amount"), amount(credit).alias("credit_amount"),
        *[amount(debit & (F.col("channel") == c)).alias(f"debit_amount_{slug(c)}") for c in CHANNELS],
        *[amount(credit & (F.col("channel") == c)).alias(f"credit_amount_{slug(c)}") for c in CHANNELS],
        amount(card).alias("card_spend_amount"), count(card).alias("card_spend_count"),
        *[amount(card & (group == g)).alias(f"card_spend_{g}") for g in MERCHANT_GROUP_NAMES],
        amount(t == "BILL_PAYMENT").alias("bill_payment_amount"),
        amount(debit & (t == "FEE")).alias("fee_amount"),
        amount(t == "SALARY").alias("salary_amount"),
        amount(credit & t.isin("SALARY", "INTEREST", "TRANSFER_IN")).alias("income_amount"),
        amount(t == "CASH_DEPOSIT").alias("cash_in_amount"), count(t == "CASH_DEPOSIT").alias("cash_in_count"),
        amount(t == "CASH_WITHDRAWAL").alias("cash_out_amount"),
        count(t == "CASH_WITHDRAWAL").alias("cash_out_count"),
        amount(t == "TRANSFER_IN").alias("transfer_in_amount"), count(t == "TRANSFER_IN").alias("transfer_in_count"),
        amount(t == "TRANSFER_OUT").alias("transfer_out_amount"),
        count(t == "TRANSFER_OUT").alias("transfer_out_count"),
        # a set, not a sum: a correction that changes the counterparty keeps the old one in the day's set
        F.array_sort(F.collect_set(F.when(posted & (s > 0) & t.isin("TRANSFER_IN", "TRANSFER_OUT"),
                                          F.col("counterparty_account")))).alias("transfer_counterparties"),
        amount(t == "FUND_PURCHASE").alias("fund_purchase_amount"),
        amount(t == "FUND_REDEMPTION").alias("fund_redemption_amount"),
        amount(t.isin("LOAN_REPAYMENT", "CARD_REPAYMENT")).alias("loan_repayment_amount"),
        amount(debit & (F.col("country") != "CN")).alias("abroad_amount"),
        count(F.col("country") != "CN").alias("abroad_count"),
        signed_sum(s, F.lit(1), F.col("status") == "DECLINED").alias("declined_count"),
    ]
    prepared = (txns.withColumn("activity_date", F.to_date("txn_ts"))
                .withColumn("_cny", to_cny(F.col("amount"), F.col("currency")))
                .withColumn("_merchant_group", merchant_group(F.col("mcc"))))
    return prepared.groupBy(*KEY).agg(*measures)


def customer_links(customers: DataFrame) -> DataFrame:
    """(token, customer_id) for phone and e-mail tokens that identify exactly one customer.

    A token shared by several customers (a family phone, a company e-mail) links nobody: an order is never
    attributed to a guess.
    """
    tokens = (customers.select(F.col("phone_token").alias("token"), "customer_id")
              .unionByName(customers.select(F.col("email_token").alias("token"), "customer_id"))
              .where(F.col("token").isNotNull()).distinct())
    return (tokens.groupBy("token").agg(F.count(F.lit(1)).alias("_n"), F.min("customer_id").alias("customer_id"))
            .where(F.col("_n") == 1).drop("_n"))


def ecommerce_activity(orders: DataFrame, links: DataFrame) -> DataFrame:
    """Signed order rows -> daily aggregates per linked customer (phone first, then e-mail)."""
    by_phone = links.select(F.col("token").alias("phone_token"), F.col("customer_id").alias("_by_phone"))
    by_email = links.select(F.col("token").alias("email_token"), F.col("customer_id").alias("_by_email"))
    linked = (orders.join(by_phone, "phone_token", "left").join(by_email, "email_token", "left")
              .withColumn("customer_id", F.coalesce("_by_phone", "_by_email"))
              .where(F.col("customer_id").isNotNull())
              .withColumn("activity_date", F.to_date("order_ts"))
              .withColumn("_cny", to_cny(F.col("amount"), F.col("currency"))))
    s, done = F.col("_sign"), F.col("status") == "COMPLETED"
    return linked.groupBy(*KEY).agg(
        signed_sum(s, F.lit(1), done).alias("ecom_order_count"),
        signed_sum(s, F.col("_cny"), done).alias("ecom_order_amount"),
        signed_sum(s, F.col("item_count"), done).alias("ecom_item_count"),
        *[signed_sum(s, F.col("_cny"), done & (F.col("category") == c)).alias(f"ecom_amount_{slug(c)}")
          for c in ECOM_CATEGORIES],
    )


def customer_daily(txns: DataFrame | None, orders: DataFrame | None, links: DataFrame | None) -> DataFrame:
    """Both activity kinds side by side in the customer_daily shape (a measure with no source is 0)."""
    parts = []
    if txns is not None:
        parts.append(transaction_activity(txns))
    if orders is not None and links is not None:
        parts.append(ecommerce_activity(orders, links))
    if not parts:
        raise ValueError("customer_daily needs transactions or e-commerce orders")
    out = parts[0]
    for p in parts[1:]:
        out = out.join(p, list(KEY), "full")
    return conform(_fill(out), CUSTOMER_DAILY)


def _fill(df: DataFrame) -> DataFrame:
    cols = []
    for f in MEASURES:
        if f.type.startswith("array"):
            value = F.coalesce(F.col(f.name), F.array().cast(f.type)) if f.name in df.columns \
                else F.array().cast(f.type)
        else:
            value = F.coalesce(F.col(f.name), F.lit(0)) if f.name in df.columns else F.lit(0)
        cols.append(value.cast(f.type).alias(f.name))
    return df.select(*KEY, *cols)


def collapse(daily: DataFrame, keys: list[str]) -> DataFrame:
    """Rows summed over everything but `keys` (counterparty sets are united)."""
    aggs = []
    for f in MEASURES:
        if f.type.startswith("array"):
            aggs.append(F.array_sort(F.array_distinct(F.flatten(F.collect_list(f.name)))).alias(f.name))
        else:
            aggs.append(F.sum(f.name).cast(f.type).alias(f.name))
    return daily.groupBy(*keys).agg(*aggs)


def as_known(daily: DataFrame, as_of: date | Column) -> DataFrame:
    """One row per customer and activity day, as the bank knew it on `as_of` (rows known later are left out).

    Days whose activity was entirely retracted (every count back to zero) disappear.
    """
    cutoff = F.lit(as_of) if isinstance(as_of, date) else as_of
    out = collapse(daily.where(F.col("known_date") <= cutoff), ["customer_id", "activity_date"])
    counts = [F.col(f.name) != 0 for f in MEASURES if f.name.endswith("_count")]
    any_activity = counts[0]
    for c in counts[1:]:
        any_activity = any_activity | c
    return out.where(any_activity)
