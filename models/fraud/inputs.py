"""The model's view of gold.txn_features: every numeric feature, plus flags for the transaction's kind."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# numeric and boolean columns of gold.txn_features the models read as they are
NUMERIC = ("amount_cny", "prior_debit_count", "usual_amount_cny", "amount_zscore", "amount_percentile",
           "amount_to_usual_ratio", "debit_count_1h", "debit_amount_1h", "debit_count_24h", "debit_amount_24h",
           "debit_count_7d", "debit_amount_7d", "prior_txn_count", "is_new_merchant", "is_new_mcc", "is_new_country",
           "is_new_device", "is_new_channel", "local_hour", "is_night", "seconds_since_prev_txn",
           "card_test_auth_count", "card_test_merchant_count", "merchant_fraud_count", "merchant_fraud_share")


# flags for the transaction's kind: (name, column, values that set it)
FLAGS = (("is_debit", "direction", ("DEBIT",)), ("is_card_purchase", "txn_type", ("CARD_PURCHASE",)),
         ("is_transfer_out", "txn_type", ("TRANSFER_OUT",)), ("is_cash", "txn_type", ("CASH_WITHDRAWAL", "CASH_DEPOSIT")),
         ("is_remote", "channel", ("ECOM", "ONLINE", "MOBILE")), ("is_declined", "status", ("DECLINED",)))
FEATURES = NUMERIC + tuple(name for name, _, _ in FLAGS)


def _flags() -> dict[str, Column]:
    return {name: F.col(column).isin(*values) for name, column, values in FLAGS}


def model_inputs(features: DataFrame, keep: tuple[str, ...] = ("txn_id",)) -> DataFrame:
    """`keep` columns and the model's features (booleans as 0/1 integers; nulls stay null, i.e. missing)."""
    flags = _flags()
    cols = [F.col(c) for c in keep]
    for name in FEATURES:
        c = flags[name] if name in flags else F.col(name)
        cols.append((c.cast("int") if name.startswith("is_") else c.cast("double")).alias(name))
    return features.select(*cols)
