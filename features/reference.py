"""Reference data the feature builders need: merchant category groups and conversion rates to CNY.

Both are deliberately small and explicit. A bank that has its own MCC grouping or an FX rates feed replaces
these tables; the builders take them as arguments' defaults, never as hidden globals in the logic.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# ISO 18245 merchant category codes grouped the way relationship managers talk about spending.
MERCHANT_GROUPS: dict[str, tuple[str, ...]] = {
    "grocery": ("5411", "5422", "5441", "5451", "5462", "5499"),
    "dining": ("5812", "5813", "5814"),
    "fuel_transport": ("4111", "4121", "4131", "4789", "5541", "5542"),
    "travel": ("3000-3999", "4411", "4511", "4722", "7011", "7512"),
    "shopping": ("5311", "5399", "5651", "5691", "5732", "5944", "5999"),
    "health": ("5912", "8011", "8021", "8062"),
    "education": ("8211", "8220", "8241", "8299"),
    "utilities_telecom": ("4814", "4899", "4900"),
}
OTHER_GROUP = "other"
MERCHANT_GROUP_NAMES = (*MERCHANT_GROUPS, OTHER_GROUP)

# Reference rates to CNY for aggregating amounts across currencies (features, not accounting).
RATES_TO_CNY: dict[str, float] = {"CNY": 1.0, "USD": 7.10, "EUR": 7.70, "HKD": 0.91, "GBP": 9.00, "JPY": 0.047}


def merchant_group(mcc: Column) -> Column:
    """The group of a merchant category code; `other` for a code in no group, null for no code."""
    expr = None
    for group, codes in MERCHANT_GROUPS.items():
        conds = []
        for code in codes:
            if "-" in code:
                lo, hi = code.split("-")
                conds.append(mcc.between(lo, hi) & (F.length(mcc) == 4))
            else:
                conds.append(mcc == code)
        cond = conds[0]
        for c in conds[1:]:
            cond = cond | c
        expr = F.when(cond, F.lit(group)) if expr is None else expr.when(cond, F.lit(group))
    return F.when(mcc.isNull(), F.lit(None).cast("string")).otherwise(expr.otherwise(F.lit(OTHER_GROUP)))


def to_cny(amount: Column, currency: Column) -> Column:
    """Amount in CNY at the reference rate; null for a currency without a rate (never a silent 1:1)."""
    rate = F.try_element_at(F.create_map(*[x for k, v in RATES_TO_CNY.items() for x in (F.lit(k), F.lit(v))]), currency)
    return amount.cast("double") * rate
