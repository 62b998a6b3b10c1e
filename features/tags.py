"""`customer_tags`: business-defined tags over the profile, one row per customer, as-of date and tag held.

Tags live in configuration (name, description, Spark SQL condition, owner), so the business adds one without
code. Every condition is checked against the profile's columns before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable
from features.conditions import ConditionError, check_condition

CUSTOMER_TAGS = FeatureTable(
    "gold.customer_tags",
    "One row per customer, as-of date and tag held; tags are defined in conf (features.tags).",
    ("customer_id", "as_of_date", "tag"),
    (FeatureGroup("tag", "The tag a customer holds on an as-of date.", (
        Feature("customer_id", "string", "Bank customer number."),
        Feature("as_of_date", "date", "As-of date of the profile the tag was evaluated on."),
        Feature("tag", "string", "Tag name."),
        Feature("owner", "string", "Team that owns the tag's definition."),
    )),))


@dataclass(frozen=True)
class Tag:
    name: str
    condition: str
    owner: str
    description: str = ""


class TagError(ConditionError):
    pass


def check_tags(profile: DataFrame, tags: list[Tag]) -> None:
    """Raises TagError naming the first tag whose condition does not parse, resolve or yield true/false."""
    for t in tags:
        if not t.name.replace("_", "").isalnum():
            raise TagError(f"tag {t.name!r}: a tag name is letters, digits and underscores")
        try:
            check_condition(profile, f"tag {t.name!r}", t.condition)
        except ConditionError as e:
            raise TagError(str(e)) from None


def customer_tags(profile: DataFrame, tags: list[Tag]) -> DataFrame:
    """Tags held per customer and as-of date; a condition that is null for a customer does not tag them."""
    check_tags(profile, tags)
    if not tags:
        return profile.sparkSession.createDataFrame([], CUSTOMER_TAGS.ddl())
    # one pass: the names of the tags held, joined and split (no per-tag scan, no interpreted lambda)
    held = F.concat_ws(",", *[F.when(F.expr(t.condition), F.lit(t.name)) for t in tags])
    owners = F.create_map(*[x for t in tags for x in (F.lit(t.name), F.lit(t.owner))])
    return (profile.select("customer_id", "as_of_date", held.alias("_held"))
            .where(F.col("_held") != "")
            .select("customer_id", "as_of_date", F.explode(F.split("_held", ",")).alias("tag"))
            .withColumn("owner", owners[F.col("tag")]))
