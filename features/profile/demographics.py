"""Who the customer is and how the bank is organised around them, from the customer master as known then."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup

AGE_BANDS = ((25, "<25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
OLDEST_BAND = "65+"

DEMOGRAPHICS = FeatureGroup("demographics", "Demographics and relationship, from the KYC master as known then.", (
    Feature("customer_type", "string", "RETAIL or SME."),
    Feature("segment", "string", "Bank segment (MASS, AFFLUENT, PRIVATE, SME)."),
    Feature("age", "int", "Completed years since birth (SME: since incorporation)."),
    Feature("age_band", "string", "Age band: <25, 25-34, 35-44, 45-54, 55-64, 65+ (SME: null)."),
    Feature("gender", "string", "F, M or U."),
    Feature("marital_status", "string", "Marital status."),
    Feature("occupation", "string", "Occupation group."),
    Feature("annual_income", "double", "Declared annual income (retail) or turnover (SME), CNY."),
    Feature("city", "string", "City of residence or registration."),
    Feature("onboarding_date", "date", "Date the relationship started."),
    Feature("tenure_months", "int", "Whole months since onboarding."),
    Feature("branch_id", "string", "Home branch."),
    Feature("account_manager_id", "string", "Assigned relationship manager (null: none)."),
    Feature("risk_tolerance", "string", "KYC investment risk tolerance C1 (lowest) to C5."),
    Feature("kyc_risk_rating", "string", "AML customer risk rating."),
    Feature("marketing_consent", "boolean", "Agreed to marketing contact."),
    Feature("relationship_status", "string", "ACTIVE or CLOSED."),
))


def demographic_features(customers_known: DataFrame) -> DataFrame:
    """Customer versions known on each as-of date (see features.history.known_on) -> DEMOGRAPHICS."""
    as_of = F.col("as_of_date")
    age = F.floor(F.months_between(as_of, F.col("birth_date")) / 12).cast("int")
    band = F.when(age.isNull() | (F.col("customer_type") == "SME"), F.lit(None).cast("string"))
    for limit, name in AGE_BANDS:
        band = band.when(age < limit, F.lit(name))
    band = band.otherwise(F.lit(OLDEST_BAND))
    return customers_known.where(F.col("onboarding_date") <= as_of).select(
        "customer_id", "as_of_date", "customer_type", "segment", age.alias("age"), band.alias("age_band"),
        "gender", "marital_status", "occupation", F.col("annual_income").cast("double").alias("annual_income"),
        "city", "onboarding_date", F.floor(F.months_between(as_of, F.col("onboarding_date"))).cast("int").alias("tenure_months"),
        "branch_id", "account_manager_id", "risk_tolerance", "kyc_risk_rating", "marketing_consent",
        F.col("status").alias("relationship_status"),
    )
