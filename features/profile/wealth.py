"""Wealth: what the customer's deposits and investments are worth, how risky they are, and against their tolerance.

Investment holdings are the open accounts that carry units (funds and wealth-management products; the category
alone counts too, so a FUND account whose units are missing is still an investment). They are valued at
units x NAV in the account currency, then converted to CNY at the reference rate; the NAV is assumed quoted
in the account's currency.

Point in time, for each as-of date D:
- accounts and the customer's risk tolerance are the versions known on D (features.history.known_on);
- the NAV used is the latest with nav_date <= D that had been delivered by D (_extract_date <= D), looked back
  at most NAV_MAX_AGE_DAYS: a NAV delivered after D never leaks backwards, and a stale price is not passed off
  as a current one. A holding without a usable NAV (or without units) is valued at its cost basis and counted
  in holdings_at_cost. silver.nav_prices keeps one row per product and date, so a NAV corrected after D hides
  that date from D, which then falls back to the previous known NAV;
- dividends_30d is approximate: the units held on D times the dividends per unit paid in the last 30 days as
  known on D, i.e. as if the units had been held all month.

One row per customer known on D or holding an open account on D; a customer holding nothing gets zeros for
counts and amounts and nulls for shares and means, as the profile fills absent customers, but keeps their
risk tolerance level (which a fill with 0 would lose).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, slug
from features.profile.holdings import DEPOSITS, INVESTMENTS, open_accounts
from features.reference import to_cny
from pipelines.contracts.core_banking import RISK_LEVELS, RISK_TOLERANCE

NAV_MAX_AGE_DAYS = 31
DIVIDEND_WINDOW_DAYS = 30
KEY = ["customer_id", "as_of_date"]

WEALTH = FeatureGroup("wealth", "Deposits and investments at market value (CNY), portfolio risk and suitability.", (
    Feature("investment_holdings", "int", "Open investment holdings (accounts with units: funds, wealth management)."),
    Feature("investment_value", "double", "Market value of open investment holdings: units x latest known NAV "
                                          f"(at most {NAV_MAX_AGE_DAYS} days old), cost basis without one."),
    Feature("investment_cost", "double", "Cost basis of open investment holdings."),
    Feature("aum", "double", "Assets under management: current, savings and time-deposit balances plus "
                             "investment_value."),
    Feature("unrealised_gain", "double", "Market value less cost of the investment holdings valued at a NAV."),
    Feature("unrealised_gain_share", "double", "unrealised_gain as a share of those holdings' cost (0.05 = +5%); "
                                               "null without a holding valued at a NAV."),
    Feature("holdings_at_cost", "int", f"Investment holdings valued at cost for lack of a NAV (none known, or "
                                       f"older than {NAV_MAX_AGE_DAYS} days) or of units."),
    *[Feature(f"investment_share_{slug(r)}", "double", f"Share of investment_value in {r} products.")
      for r in RISK_LEVELS],
    Feature("mean_portfolio_risk", "double", "Value-weighted mean product risk level (1-5) of the investments."),
    Feature("max_risk_level_held", "int", "Highest product risk level (1-5) of the investments; 0: none held."),
    Feature("risk_tolerance_level", "int", "KYC risk tolerance C1-C5 as 1-5 (null: customer record not known)."),
    Feature("risk_mismatch", "boolean", "Holds an investment whose risk level exceeds the risk tolerance."),
    Feature("above_tolerance_value", "double", "Value of investments whose risk level exceeds the risk tolerance."),
    Feature("above_tolerance_share", "double", "Share of investment_value above the risk tolerance."),
    Feature("top_holding_share", "double", "Largest single holding's share of investment_value (concentration)."),
    Feature("dividends_30d", "double", "Dividends paid in the last 30 days on the units held on the as-of date "
                                       "(approximation: as if held all month).", "30d"),
))


def _level(code: Column, codes: tuple[str, ...]) -> Column:
    """'R3' or 'C3' -> 3, by position in the contract's allowed values; null for anything else."""
    return F.try_element_at(F.create_map(*[x for i, c in enumerate(codes) for x in (F.lit(c), F.lit(i + 1))]), code)


def _share(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, F.coalesce(part, F.lit(0.0)) / whole)


def _amount(total: Column) -> Column:
    return F.coalesce(total, F.lit(0.0))


def nav_known(nav: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Per product and as-of date: the latest usable NAV (`nav`) and the dividends per unit of the last 30 days.

    A product with no NAV delivered in the look-back window has no row.
    """
    as_of = F.col("as_of_date")
    usable = nav.join(F.broadcast(as_of_dates), (F.col("nav_date") <= as_of) & (F.col("_extract_date") <= as_of)
                      & (F.col("nav_date") >= F.date_sub(as_of, NAV_MAX_AGE_DAYS)))
    recent = F.col("nav_date") > F.date_sub(as_of, DIVIDEND_WINDOW_DAYS)
    return usable.groupBy("product_id", "as_of_date").agg(
        F.max_by(F.col("nav"), F.col("nav_date")).cast("double").alias("nav"),
        F.sum(F.when(recent, F.col("dividend_per_unit"))).cast("double").alias("dividends_per_unit_30d"))


def wealth_features(accounts_known: DataFrame, products: DataFrame, nav: DataFrame, customers_known: DataFrame,
                    as_of_dates: DataFrame) -> DataFrame:
    """Account and customer versions known on each as-of date (known_on), the product catalogue,
    silver.nav_prices and the as-of dates (one column `as_of_date`) -> WEALTH."""
    prod = products.select("product_id", "category", _level(F.col("risk_level"), RISK_LEVELS).alias("_risk"))
    acc = (open_accounts(accounts_known).join(F.broadcast(prod), "product_id", "left")
           .join(nav_known(nav, as_of_dates), ["product_id", "as_of_date"], "left"))
    invest = F.col("units").isNotNull() | F.col("category").isin(*INVESTMENTS)
    at_nav = F.col("units").isNotNull() & F.col("nav").isNotNull()
    units = F.col("units").cast("double")
    acc = acc.select(
        "customer_id", "as_of_date", "_risk", invest.alias("_invest"), at_nav.alias("_at_nav"),
        F.when(F.col("category").isin(*DEPOSITS), to_cny(F.col("balance"), F.col("currency"))).alias("_deposit"),
        to_cny(F.when(at_nav, units * F.col("nav")).otherwise(F.col("cost_basis").cast("double")),
               F.col("currency")).alias("_value"),
        to_cny(F.col("cost_basis"), F.col("currency")).alias("_cost"),
        to_cny(units * F.col("dividends_per_unit_30d"), F.col("currency")).alias("_dividend"))
    inv, value, cost, risk = F.col("_invest"), F.col("_value"), F.col("_cost"), F.col("_risk")
    valued = inv & F.col("_at_nav")
    held = acc.groupBy(*KEY).agg(
        F.count(F.when(inv, True)).cast("int").alias("investment_holdings"),
        F.sum("_deposit").alias("_deposits"),
        F.sum(F.when(inv, value)).alias("_investments"),
        F.sum(F.when(inv, cost)).alias("_investment_cost"),
        F.sum(F.when(valued, value - cost)).alias("_gain"),
        F.sum(F.when(valued, cost)).alias("_valued_cost"),
        F.count(F.when(inv & ~F.col("_at_nav"), True)).cast("int").alias("holdings_at_cost"),
        *[F.sum(F.when(inv & (risk == k), value)).alias(f"_value_r{k}") for k in range(1, len(RISK_LEVELS) + 1)],
        F.sum(F.when(inv, value * risk)).alias("_risk_weighted"),
        F.sum(F.when(inv & risk.isNotNull(), value)).alias("_rated_value"),
        F.max(F.when(inv, risk)).alias("_max_risk"),
        F.max(F.when(inv, value)).alias("_top_value"),
        F.sum(F.when(inv, F.col("_dividend"))).alias("_dividends"),
    )
    tolerance = customers_known.select(
        *KEY, _level(F.col("risk_tolerance"), RISK_TOLERANCE).alias("risk_tolerance_level"))
    # Customers holding nothing are kept so that their tolerance level survives the profile's fill with 0.
    out = held.join(tolerance, KEY, "full")
    tol = F.col("risk_tolerance_level")
    total = _amount(F.col("_investments"))
    max_risk = F.coalesce(F.col("_max_risk"), F.lit(0))
    # Summed from the per-level values, so the tolerance is joined once per customer rather than per holding.
    above = F.lit(0.0)
    for k in range(1, len(RISK_LEVELS) + 1):
        above = above + F.when(tol < k, _amount(F.col(f"_value_r{k}"))).otherwise(F.lit(0.0))
    return out.select(
        *KEY,
        F.coalesce(F.col("investment_holdings"), F.lit(0)).alias("investment_holdings"),
        total.alias("investment_value"),
        _amount(F.col("_investment_cost")).alias("investment_cost"),
        (_amount(F.col("_deposits")) + total).alias("aum"),
        _amount(F.col("_gain")).alias("unrealised_gain"),
        _share(F.col("_gain"), F.col("_valued_cost")).alias("unrealised_gain_share"),
        F.coalesce(F.col("holdings_at_cost"), F.lit(0)).alias("holdings_at_cost"),
        *[_share(F.col(f"_value_r{k}"), total).alias(f"investment_share_{slug(r)}")
          for k, r in enumerate(RISK_LEVELS, start=1)],
        F.when(F.col("_rated_value") > 0, F.col("_risk_weighted") / F.col("_rated_value")).alias("mean_portfolio_risk"),
        max_risk.cast("int").alias("max_risk_level_held"),
        tol.cast("int").alias("risk_tolerance_level"),
        F.when(tol.isNotNull(), max_risk > tol).alias("risk_mismatch"),
        F.when(tol.isNotNull(), above).alias("above_tolerance_value"),
        F.when(tol.isNotNull(), _share(above, total)).alias("above_tolerance_share"),
        _share(F.col("_top_value"), total).alias("top_holding_share"),
        _amount(F.col("_dividends")).alias("dividends_30d"),
    )
