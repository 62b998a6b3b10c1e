"""Explainable typology rules and the threshold-rules baseline, applied in Spark over gold.aml_features.

A rule (models.aml.rules in conf/) names a typology, a Spark SQL condition, a strength (1 at the rule's
threshold, growing the further over it) and an explanation with {column} placeholders. When the condition
holds, the hit's severity is 1 - 0.5 / strength: 0.5 at the threshold, approaching 1 far over it, so a rule
hit always outranks anything without one at the same weight, and a stronger hit outranks a weaker one. The
customer's rules score is the largest severity of their hits.

The baseline is what a legacy monitoring system runs: a list of threshold conditions, one point each; it has
no typologies and no explanations (ties go to the larger 30-day inflow).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import FractionalType, IntegralType, NumericType

from features.conditions import ConditionError, check_condition

PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")
HIT = "struct<typology:string,severity:double,explanation:string,evidence:string>"


@dataclass(frozen=True)
class TypologyRule:
    typology: str
    condition: str
    strength: str
    explanation: str
    evidence: str


def check_rules(features: DataFrame, rules: Sequence[TypologyRule], baseline: Sequence[str]) -> None:
    """ConditionError naming the rule when a condition, strength or placeholder does not fit the features."""
    seen = set()
    for r in rules:
        what = f"models.aml.rules[{r.typology}]"
        if r.typology in seen:
            raise ConditionError(f"{what}: a second rule for the same typology")
        seen.add(r.typology)
        check_condition(features, what, r.condition)
        try:
            dtype = features.select(F.expr(r.strength).alias("s")).schema["s"].dataType
        except Exception as e:  # noqa: BLE001 - any analysis error is the rule's
            raise ConditionError(f"{what}: strength {r.strength!r} is not valid: {str(e).splitlines()[0][:300]}") from None
        if not isinstance(dtype, NumericType):
            raise ConditionError(f"{what}: strength {r.strength!r} gives {dtype.simpleString()}, not a number")
        unknown = [p for p in PLACEHOLDER.findall(r.explanation) if p not in features.columns]
        if unknown:
            raise ConditionError(f"{what}: explanation names unknown column(s) {', '.join(unknown)}")
    for i, condition in enumerate(baseline):
        check_condition(features, f"models.aml.baseline[{i}]", condition)


def _rendered(features: DataFrame, template: str) -> Column:
    """The template with each {column} replaced by the row's value: whole numbers as they are, other numbers
    with thousands separators and 2 decimals, 'n/a' for null."""
    types = {f.name: f.dataType for f in features.schema.fields}
    parts: list[Column] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(F.lit(template[pos:m.start()]))
        c, t = F.col(m.group(1)), types[m.group(1)]
        if isinstance(t, IntegralType):
            text = c.cast("string")
        elif isinstance(t, FractionalType):
            text = F.when(F.abs(c) >= 1000, F.format_number(c, 0)).otherwise(F.format_number(c, 2))
        else:
            text = c.cast("string")
        parts.append(F.coalesce(text, F.lit("n/a")))
        pos = m.end()
    if pos < len(template):
        parts.append(F.lit(template[pos:]))
    return F.concat(*parts) if parts else F.lit("")


def with_rule_hits(features: DataFrame, rules: Sequence[TypologyRule], baseline: Sequence[str]) -> DataFrame:
    """`features` with `rule_hits` (array of the typologies hit, strongest first: typology, severity,
    explanation, evidence kind), `rules_score` (largest severity, 0 without a hit) and `baseline_score`
    (baseline conditions met)."""
    hits = []
    for r in rules:
        strength = F.greatest(F.expr(r.strength).cast("double"), F.lit(1.0))
        hit = F.struct(F.lit(r.typology).alias("typology"), (1 - 0.5 / strength).alias("severity"),
                       _rendered(features, r.explanation).alias("explanation"), F.lit(r.evidence).alias("evidence"))
        hits.append(F.when(F.coalesce(F.expr(r.condition), F.lit(False)), hit).otherwise(F.lit(None).cast(HIT)))
    arr = F.filter(F.array(*hits), lambda h: h.isNotNull())
    arr = F.array_sort(arr, lambda a, b: F.when(a["severity"] > b["severity"], -1)
                       .when(a["severity"] < b["severity"], 1).otherwise(0))
    # ties between customers meeting as many conditions go to the larger 30-day inflow
    base = sum((F.coalesce(F.expr(c), F.lit(False)).cast("int") for c in baseline), F.lit(0)) + F.least(
        F.coalesce(F.col("inflow_cny_30d"), F.lit(0.0)) / 1e10, F.lit(0.99))
    out = features.withColumn("rule_hits", arr)
    return out.select("*", F.coalesce(F.array_max(F.transform("rule_hits", lambda h: h["severity"])), F.lit(0.0))
                      .alias("rules_score"), base.cast("double").alias("baseline_score"))
