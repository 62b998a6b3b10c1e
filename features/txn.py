"""`txn_features`: every transaction of a business day against its own customer's history before it.

Point in time. A transaction's features come only from the same customer's transactions strictly before it in
the order (txn_ts, txn_id): never from itself, from a later transaction, or from one of the same instant with a
higher txn_id. So the values the scorer computes for a transaction of day D are the ones the model is trained
on, whichever day they are rebuilt. Merchant risk counts only fraud labels known before D
(`merchant_fraud_counts`): a label arrives days after its transaction, and one dated D or later would leak the
outcome into D's features.

Bounded history. The caller reads the transactions to score (`day_txns`) and the lookback before them (e.g. the
dates D-90 .. D); nothing here scans beyond what it is given. A customer's history is read only up to their
first transaction to score: from there on `day_txns` is the record, so a history that includes the day counts
nothing twice. Time is epoch microseconds throughout: windows do not depend on the session time zone, and a
24 h window at 00:30 on D reaches back to 00:30 on D-1 like any other. Each scored customer's first instant
reaches the reads as a broadcast table (one row per customer scored; nothing is collected to the driver).

Two mechanisms, each where it is cheap:
- the short windows (velocity over 1 h / 24 h / 7 d, small authorisations on the account in the last minutes)
  are Spark range windows over the order key `_ord` (epoch microseconds, then the rank of txn_id among the
  customer's rows of that microsecond), on the rows of the 7 days before the customer's first scored row;
- the lookback profile (the customer's usual amount, this amount's percentile, merchants, countries, devices
  seen, the previous transaction) joins each scored transaction to its customer's earlier rows of the lookback
  and aggregates with sums, counts and maxima. Its cost grows with the rows scored times the customer's
  lookback rows, not with the history alone: a sliding 90-day window frame is recomputed for every history row,
  and gives no percentile without collecting lists.
The lookback is shuffled once (by customer, for the join); the last 7 days and the scored rows are small.

What counts:
- amounts are in CNY at reference rates; the customer's usual amount is the geometric mean of their earlier
  posted debits (the median of log-normal payment amounts, unmoved by the odd rent payment, and a plain sum);
- "posted" means not DECLINED: a transaction REVERSED later was posted when it happened, and counting it so
  keeps a correction arriving after D from changing D's features when they are rebuilt;
- velocity counts money-out attempts, declined ones included: a burst of attempts is the signal;
- first-seen compares with the customer's earlier posted transactions of the lookback. A null attribute (no
  merchant on a transfer, no device at a branch) is never new, and nothing is new for a customer without an
  earlier transaction in the lookback: there is nothing to compare with (`prior_txn_count` is 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable, conform
from features.merchant_risk import merchant_fraud_by_day
from features.reference import to_cny


@dataclass(frozen=True)
class TxnFeatureParams:
    lookback_days: int = 90        # the customer history a transaction is compared with
    min_history: int = 5           # earlier posted debits needed for the amount z-score, percentile and ratio
    min_std_cny: float = 1.0       # floor under the standard deviation: a customer who always pays the same
    utc_offset_minutes: int = 480  # local time for the night flag (UTC+8)
    night_start_hour: int = 0      # night is [start, end) in local hours, and may wrap midnight (22 -> 6)
    night_end_hour: int = 6
    small_auth_cny: float = 50.0   # a card authorisation below this amount is small (card testing)
    card_test_minutes: int = 10
    merchant_risk_days: int = 30   # the window `merchant_fraud_counts` is built with (for the reasons' wording)

    def __post_init__(self) -> None:
        if self.lookback_days < 7:
            raise ValueError("lookback_days must cover the 7-day velocity window")
        if self.min_history < 2:
            raise ValueError("min_history must be at least 2 (a standard deviation needs two amounts)")
        if self.min_std_cny <= 0:
            raise ValueError("min_std_cny must be positive")
        if not (0 <= self.night_start_hour < 24 and 0 <= self.night_end_hour < 24):
            raise ValueError("night hours are 0..23")
        if not 0 < self.card_test_minutes <= 7 * 24 * 60:
            raise ValueError("card_test_minutes must be between 1 minute and 7 days")


DEFAULTS = TxnFeatureParams()
VELOCITY = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400))
# (feature suffix, silver column) of the attributes whose first appearance is flagged
SEEN = (("merchant", "merchant_id"), ("mcc", "mcc"), ("country", "country"), ("device", "device_id"),
        ("channel", "channel"))
INPUT = ("txn_id", "account_id", "customer_id", "txn_ts", "amount", "currency", "direction", "txn_type", "channel",
         "merchant_id", "mcc", "country", "device_id", "status")

_US = 1_000_000
_DAY_US = 86400 * _US
# Order key = epoch microseconds * _TIE_SLOTS + rank of txn_id among the customer's rows of that microsecond:
# strictly increasing per customer, and time differences stay plain multiples (good until the year 2255).
_TIE_SLOTS = 1024

_L = f"{DEFAULTS.lookback_days}d"
_CT = f"{DEFAULTS.card_test_minutes}min"
_MR = f"{DEFAULTS.merchant_risk_days}d"

KEY = ("txn_id",)
TRANSACTION = FeatureGroup("transaction", "The transaction scored.", (
    Feature("txn_id", "string", "Transaction reference."),
    Feature("customer_id", "string", "Account holder (as in silver; may be a pseudonymous token)."),
    Feature("account_id", "string", "Account debited or credited."),
    Feature("txn_ts", "timestamp", "When the transaction happened (UTC)."),
    Feature("txn_date", "date", "Business day of the transaction (UTC)."),
    Feature("txn_type", "string", "Kind of movement."),
    Feature("direction", "string", "DEBIT (money out) or CREDIT (money in)."),
    Feature("channel", "string", "Where it was initiated."),
    Feature("status", "string", "Posting status (POSTED, REVERSED, DECLINED)."),
    Feature("amount_cny", "double", "Amount in CNY at the reference rate (null: a currency without a rate)."),
))
AMOUNT = FeatureGroup(
    "amount", "This amount against the customer's earlier posted debits of the lookback. Money out only: the "
              "comparisons are null for credits, and while the customer has fewer than min_history (default "
              f"{DEFAULTS.min_history}) earlier debits.", (
        Feature("prior_debit_count", "bigint", "Earlier posted debits of the customer.", _L),
        Feature("usual_amount_cny", "double", "Usual amount: geometric mean of the earlier posted debits, the "
                                              "median of log-normal payment amounts, robust to the odd large "
                                              "payment (null: none).", _L),
        Feature("amount_zscore", "double", "(amount - mean) / standard deviation of the earlier posted debits "
                                           "(sample deviation, floored at min_std_cny).", _L),
        Feature("amount_percentile", "double", "Share of the earlier posted debits with an amount at or below "
                                               "this one (1.0: never paid this much).", _L),
        Feature("amount_to_usual_ratio", "double", "Amount divided by the usual amount.", _L),
    ))
VELOCITY_GROUP = FeatureGroup(
    "velocity", "The customer's money-out attempts (declined ones included) in the window before this "
                "transaction, in CNY. Windows run on timestamps and cross midnight.", tuple(
        f for name, _ in VELOCITY for f in (
            Feature(f"debit_count_{name}", "bigint", "Money-out attempts.", name),
            Feature(f"debit_amount_{name}", "double", "Money-out attempts, amount.", name))))
NOVELTY = FeatureGroup(
    "novelty", "First time seen: the attribute is set and never appeared on the customer's earlier posted "
               "transactions of the lookback (false while there are none).", (
        Feature("prior_txn_count", "bigint", "Earlier posted transactions of the customer, either direction.", _L),
        Feature("is_new_merchant", "boolean", "First transaction at this merchant.", _L),
        Feature("is_new_mcc", "boolean", "First transaction in this merchant category.", _L),
        Feature("is_new_country", "boolean", "First transaction in this country.", _L),
        Feature("is_new_device", "boolean", "First transaction from this device.", _L),
        Feature("is_new_channel", "boolean", "First transaction through this channel.", _L),
    ))
TIMING = FeatureGroup("timing", "When the transaction happened.", (
    Feature("local_hour", "int", f"Hour of day in local time (UTC offset utc_offset_minutes, default "
                                 f"{DEFAULTS.utc_offset_minutes} min)."),
    Feature("is_night", "boolean", f"Local hour in the night window (default {DEFAULTS.night_start_hour:02d}:00 to "
                                   f"{DEFAULTS.night_end_hour - 1:02d}:59)."),
    Feature("seconds_since_prev_txn", "double", "Seconds since the customer's previous transaction of any kind "
                                                "(null: none in the lookback).", _L),
))
CARD_TESTING = FeatureGroup(
    "card_testing", "Small card authorisations (under small_auth_cny, default "
                    f"{DEFAULTS.small_auth_cny:.0f} CNY; declined ones included) on the same account in the "
                    "card_test_minutes before this transaction.", (
        Feature("card_test_auth_count", "int", "Small authorisations.", _CT),
        Feature("card_test_merchant_count", "int", "Distinct merchants among them.", _CT),
    ))
MERCHANT = FeatureGroup(
    "merchant", "Confirmed fraud at the merchant: its transactions of the window before the day whose fraud label "
                "was known before the day (0: no merchant, or no known fraud).", (
        Feature("merchant_fraud_count", "bigint", "Confirmed fraudulent transactions at the merchant.", _MR),
        Feature("merchant_fraud_share", "double", "Their share of the merchant's transactions.", _MR),
    ))

TXN_FEATURES = FeatureTable(
    "gold.txn_features",
    "One row per transaction of the day scored: point-in-time fraud features from the same customer's "
    "transactions before it (windows above are the defaults of TxnFeatureParams).",
    KEY, (TRANSACTION, AMOUNT, VELOCITY_GROUP, NOVELTY, TIMING, CARD_TESTING, MERCHANT))


def transaction_features(day_txns: DataFrame, history: DataFrame, merchant_fraud: DataFrame | None = None,
                         params: TxnFeatureParams = DEFAULTS) -> DataFrame:
    """Features of each row of `day_txns` (silver transactions, usually one business day) in `txn_features` shape.

    `history` holds the same customers' silver transactions of the lookback before the day. Of each customer, only
    its rows before the customer's first transaction in `day_txns` are read: from there on `day_txns` is the
    record, so `history` may include the day itself, and `day_txns` must hold every transaction of each of its
    customers from that customer's first one in it to the end of the period it covers (to score a subset of
    them, filter the output). Customers may start on different days: the nightly build scores the day for
    everyone and the days before it for the customers late records reached, in one pass. `merchant_fraud` is
    `merchant_fraud_counts` as of the day, or such counts per day with a `txn_date` column when `day_txns` spans
    several days; without it merchant risk is 0.
    """
    day = _prepared(day_txns, scored=True)
    # each customer's history is read up to its first scored transaction: from there on day_txns is the record
    first = day.groupBy("customer_id").agg(F.min("_us").alias("_first"))
    reach = max(max(s for _, s in VELOCITY), params.card_test_minutes * 60) * _US
    since = F.col("_first") - params.lookback_days * _DAY_US
    before = (_prepared(history, scored=False).join(F.broadcast(first), "customer_id")
              .where((F.col("_us") < F.col("_first")) & (F.col("_us") >= since)))
    recent = _recent_activity(before.where(F.col("_us") >= F.col("_first") - reach).drop("_first").unionByName(day),
                              params)
    profile = _lookback_profile(day, before.drop("_first").unionByName(day), params)
    out = _compared(recent.join(profile, ["customer_id", "txn_id"]), params)
    return conform(_with_merchant_risk(_timing(out, params), merchant_fraud), TXN_FEATURES)


def merchant_fraud_counts(fraud_labels: DataFrame, transactions: DataFrame, as_of: date,
                          days: int = DEFAULTS.merchant_risk_days) -> DataFrame:
    """(merchant_id, merchant_fraud_count, merchant_fraud_share) for merchants with confirmed fraud, as of `as_of`.

    Among the merchant's `transactions` of the `days` days before `as_of` (as_of itself excluded), the ones
    whose fraud label's label_ts lies before `as_of` (UTC): a label confirmed on the day or later was not known
    when the day's transactions happened. `transactions` must cover those days for every customer. A range of
    days in one pass: `features.merchant_risk.merchant_fraud_by_day`.
    """
    return merchant_fraud_by_day(fraud_labels, transactions, as_of, as_of, days).drop("txn_date")


def _midnight_us(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp()) * _US


# -- the rows to work on --------------------------------------------------------------------------------------

def _prepared(txns: DataFrame, scored: bool) -> DataFrame:
    """Silver rows with what every feature needs: epoch microseconds, the CNY amount, debit and declined."""
    return txns.select(
        *INPUT, F.lit(scored).alias("_scored"), F.unix_micros("txn_ts").alias("_us"),
        to_cny(F.col("amount"), F.col("currency")).alias("_cny"),
        (F.col("direction") == "DEBIT").alias("_debit"),
        (F.col("status") == "DECLINED").alias("_declined"),
    )


# -- short windows --------------------------------------------------------------------------------------------

def _before(window: WindowSpec, seconds: int) -> WindowSpec:
    """The rows from `seconds` before this one up to, not including, this one (in the order key)."""
    return window.rangeBetween(-seconds * _US * _TIE_SLOTS, -1)


def _recent_activity(rows: DataFrame, p: TxnFeatureParams) -> DataFrame:
    """The scored rows, with velocity and card-testing counts over the rows of the days before them."""
    # the order key: epoch microseconds, then the rank of txn_id among the customer's rows of that microsecond
    same_instant = Window.partitionBy("customer_id", "_us").orderBy("txn_id")
    tie = F.least(F.row_number().over(same_instant) - 1, F.lit(_TIE_SLOTS - 1))
    customer_scored = F.max("_scored").over(Window.partitionBy("customer_id"))
    rows = (rows.select("*", (F.col("_us") * _TIE_SLOTS + tie).alias("_ord"), customer_scored.alias("_customer_scored"))
            .where(F.col("_customer_scored")))
    by_customer = Window.partitionBy("customer_id").orderBy("_ord")
    # accounts belong to one customer: partitioning by both keeps the rows partitioned by customer
    by_account = Window.partitionBy("customer_id", "account_id").orderBy("_ord")
    debit = F.col("_debit")
    small_auth = debit & (F.col("txn_type") == "CARD_PURCHASE") & (F.col("_cny") < p.small_auth_cny)
    cols = []
    for name, seconds in VELOCITY:
        w = _before(by_customer, seconds)
        cols += [F.count(F.when(debit, 1)).over(w).alias(f"debit_count_{name}"),
                 F.coalesce(F.sum(F.when(debit, F.col("_cny"))).over(w), F.lit(0.0)).alias(f"debit_amount_{name}")]
    w = _before(by_account, p.card_test_minutes * 60)
    cols += [F.count(F.when(small_auth, 1)).over(w).alias("card_test_auth_count"),
             F.size(F.collect_set(F.when(small_auth, F.col("merchant_id"))).over(w)).alias("card_test_merchant_count")]
    return rows.select(*INPUT, "_us", "_cny", "_debit", *cols, "_scored").where(F.col("_scored")).drop("_scored")


# -- the lookback ---------------------------------------------------------------------------------------------

def _lookback_profile(day: DataFrame, rows: DataFrame, p: TxnFeatureParams) -> DataFrame:
    """Per scored row, aggregates over its customer's earlier rows of the lookback. The join carries only the
    columns compared, and every aggregate is a sum, count or maximum (a median would make Spark sort the pairs:
    half the cost of the features at M tier), hence the geometric mean as the usual amount."""
    lookback = p.lookback_days * _DAY_US
    past = rows.select(
        F.col("customer_id").alias("_h_customer_id"), F.col("txn_id").alias("_h_txn_id"), F.col("_us").alias("_h_us"),
        (~F.col("_declined")).alias("_h_posted"),
        F.when(F.col("_debit") & ~F.col("_declined"), F.col("_cny")).alias("_h_debit_cny"),
        *[F.col(c).alias(f"_h_{c}") for _, c in SEEN])
    current = day.select("customer_id", "txn_id", "_us", "_cny", *[c for _, c in SEEN])
    h_us, us = F.col("_h_us"), F.col("_us")
    earlier = (h_us < us) | ((h_us == us) & (F.col("_h_txn_id") < F.col("txn_id")))
    pairs = current.join(past, (F.col("customer_id") == F.col("_h_customer_id")) & earlier & (h_us >= us - lookback),
                         "left")
    usual = F.col("_h_debit_cny")
    posted = F.col("_h_posted")

    def seen(c: str) -> Column:
        return F.coalesce(F.max(posted & (F.col(f"_h_{c}") == F.col(c))), F.lit(False))

    return pairs.groupBy("customer_id", "txn_id").agg(
        F.count(usual).alias("prior_debit_count"),
        F.avg(usual).alias("_mean"), F.stddev_samp(usual).alias("_std"),
        F.exp(F.avg(F.when(usual > 0, F.log(usual)))).alias("usual_amount_cny"),
        F.count(F.when(usual <= F.col("_cny"), 1)).alias("_at_or_below"),
        F.count(F.when(posted, 1)).alias("prior_txn_count"),
        F.max(h_us).alias("_prev_us"),
        *[seen(c).alias(f"_seen_{name}") for name, c in SEEN])


def _compared(df: DataFrame, p: TxnFeatureParams) -> DataFrame:
    """The lookback aggregates turned into the amount, novelty and previous-transaction features."""
    amount, n = F.col("_cny"), F.col("prior_debit_count")
    comparable = F.col("_debit") & amount.isNotNull() & (n >= p.min_history)
    return df.select(
        "*",
        F.when(comparable, (amount - F.col("_mean")) / F.greatest(F.col("_std"), F.lit(p.min_std_cny)))
        .alias("amount_zscore"),
        F.when(comparable, F.col("_at_or_below") / n).alias("amount_percentile"),
        F.when(comparable & (F.col("usual_amount_cny") > 0), amount / F.col("usual_amount_cny"))
        .alias("amount_to_usual_ratio"),
        *[(F.col(c).isNotNull() & (F.col("prior_txn_count") > 0) & ~F.col(f"_seen_{name}")).alias(f"is_new_{name}")
          for name, c in SEEN],
        ((F.col("_us") - F.col("_prev_us")) / _US).alias("seconds_since_prev_txn"),
    )


# -- the transaction itself and its merchant ------------------------------------------------------------------

def _timing(df: DataFrame, p: TxnFeatureParams) -> DataFrame:
    us = F.col("_us")
    local_hour = F.floor(F.pmod(us + p.utc_offset_minutes * 60 * _US, F.lit(_DAY_US)) / (3600 * _US)).cast("int")
    start, end = p.night_start_hour, p.night_end_hour
    after_start, before_end = local_hour >= start, local_hour < end
    night = (after_start & before_end) if start <= end else (after_start | before_end)   # a window across midnight
    return df.select("*", local_hour.alias("local_hour"), night.alias("is_night"),
                     F.date_from_unix_date(F.floor(us / _DAY_US).cast("int")).alias("txn_date"),
                     F.col("_cny").alias("amount_cny"))


def _with_merchant_risk(df: DataFrame, merchant_fraud: DataFrame | None) -> DataFrame:
    """Merchant risk by merchant_id, and by txn_date too when `merchant_fraud` has one (a table per day)."""
    if merchant_fraud is None:
        return df.select("*", F.lit(0).cast("bigint").alias("merchant_fraud_count"),
                         F.lit(0.0).alias("merchant_fraud_share"))
    keys = ["merchant_id"] + (["txn_date"] if "txn_date" in merchant_fraud.columns else [])
    risk = merchant_fraud.select(*[F.col(k).alias(f"_m_{k}") for k in keys], "merchant_fraud_count",
                                 "merchant_fraud_share")
    on = [F.col(k) == F.col(f"_m_{k}") for k in keys]
    joined = df.join(F.broadcast(risk), on, "left")
    return joined.select(
        *df.columns,
        F.coalesce(F.col("merchant_fraud_count"), F.lit(0)).alias("merchant_fraud_count"),
        F.coalesce(F.col("merchant_fraud_share"), F.lit(0.0)).alias("merchant_fraud_share"))


# -- reasons --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReasonThresholds:
    """When a feature value is worth telling an analyst. A numeric reason's strength is value / threshold (at
    least 1 once it fires); a flag's is 1. Equal strengths keep the order of `_reason_candidates`."""
    amount_ratio: float = 5.0       # "amount 14x usual"
    card_test_auths: int = 3        # "7 small authorisations in 10 min"
    debits_1h: int = 5              # "6 payments in the last hour"
    debits_24h: int = 15            # "18 payments in the last 24 h"
    merchant_frauds: int = 1        # "merchant had 2 confirmed frauds in 30 days"

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"reason threshold {name} must be positive, got {value}")


def _plural(n: Column, one: str, many: str) -> Column:
    return F.when(n == 1, F.lit(one)).otherwise(F.lit(many))


def _reason_candidates(t: ReasonThresholds, p: TxnFeatureParams) -> list[tuple[Column, Column, Column]]:
    """(fires, strength, text) per reason, in priority order for equal strengths."""
    ratio = F.col("amount_to_usual_ratio")
    auths, h1, h24 = F.col("card_test_auth_count"), F.col("debit_count_1h"), F.col("debit_count_24h")
    frauds = F.col("merchant_fraud_count")
    one = F.lit(1.0)
    return [
        (ratio >= t.amount_ratio, ratio / t.amount_ratio,
         F.concat(F.lit("amount "), F.when(ratio >= 10, F.format_string("%.0f", ratio))
                  .otherwise(F.format_string("%.1f", ratio)), F.lit("x usual"))),
        (auths >= t.card_test_auths, auths / t.card_test_auths,
         F.format_string("%d small %s in %d min", auths, _plural(auths, "authorisation", "authorisations"),
                         F.lit(p.card_test_minutes))),
        (h1 >= t.debits_1h, h1 / t.debits_1h,
         F.format_string("%d %s in the last hour", h1, _plural(h1, "payment", "payments"))),
        (h24 >= t.debits_24h, h24 / t.debits_24h,
         F.format_string("%d %s in the last 24 h", h24, _plural(h24, "payment", "payments"))),
        (frauds >= t.merchant_frauds, frauds / t.merchant_frauds,
         F.format_string("merchant had %d confirmed %s in %d days", frauds, _plural(frauds, "fraud", "frauds"),
                         F.lit(p.merchant_risk_days))),
        (F.col("is_new_country"), one, F.lit("new country")),
        (F.col("is_new_device"), one, F.lit("new device")),
        (F.col("is_new_channel"), one, F.lit("new channel")),
        (F.col("is_new_mcc"), one, F.lit("new merchant category")),
        (F.col("is_new_merchant"), one, F.lit("new merchant")),
        (F.col("is_night"), one, F.lit("night-time")),
    ]


def reasons(features: DataFrame, top_n: int = 3, thresholds: ReasonThresholds = ReasonThresholds(),
            params: TxnFeatureParams = DEFAULTS) -> DataFrame:
    """`features` (txn_features columns) with `reasons`: up to `top_n` short texts, strongest first, for the
    feature values past their threshold ("amount 14x usual", "new country", "7 small authorisations in 10 min").
    `params` must be the ones the features were built with: the texts name their windows."""
    fired = F.array(*[F.when(fires, F.struct((-strength.cast("double")).alias("order"), F.lit(i).alias("rank"),
                                             text.alias("text")))
                      for i, (fires, strength, text) in enumerate(_reason_candidates(thresholds, params))])
    ranked = F.sort_array(F.filter(fired, lambda r: r.isNotNull()))
    return features.withColumn("reasons", F.transform(F.slice(ranked, 1, top_n), lambda r: r["text"]))
