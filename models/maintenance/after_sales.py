"""After-sales tracking: what the customer already holds needs a call (tasks.after_sales in conf/).

- DEPOSIT_MATURITY: a time deposit maturing within deposit_maturity_days;
- CARD_REPAYMENT_DUE: a card repayment due within card_due_days and still unpaid (due_amount > 0);
- LOAN_INSTALMENT_DUE / LOAN_MATURITY: a loan instalment due within loan_due_days, a loan maturing within
  loan_maturity_days; LOAN_OVERDUE: a loan in OVERDUE status (a compliance task);
- NAV_MOVE: a holding's NAV moved beyond +/- nav_move_band over nav_move_days (at most one a week per holding);
- DIVIDEND_PAID: a dividend paid on a holding within dividend_lookback_days;
- TAKE_PROFIT / STOP_LOSS: a holding's return on cost past its line (per customer, else per product risk level);
  the same line of the same purchase alerts once (a new purchase changes the cost and may alert again).

`accounts`: the account versions known on the as-of date and open on it, with the product's category,
product_name and risk_level. `nav`: nav_prices rows known by the as-of date.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.reference import to_cny
from models.maintenance.candidates import candidates, lookup, money, share

LOANS = ("PERSONAL_LOAN", "MORTGAGE", "SME_LOAN", "TRADE_FINANCE")
NAV_MAX_AGE_DAYS = 31   # as the profile values holdings: an older NAV says nothing about today


def _account_facts(amount_col: str = "balance") -> dict:
    return {"account_id": F.col("account_id"), "product_name": F.col("product_name"),
            "amount": money(F.col(amount_col)), "currency": F.col("currency")}


def deposit_maturity(accounts: DataFrame, as_of: date, cfg) -> DataFrame:
    d = accounts.where((F.col("category") == "TIME_DEPOSIT")
                       & F.col("maturity_date").between(as_of, as_of + timedelta(cfg.deposit_maturity_days)))
    return candidates(d, "DEPOSIT_MATURITY", ["account_id", F.col("maturity_date").cast("string")],
                      F.col("maturity_date"), to_cny(F.col("balance"), F.col("currency")),
                      {**_account_facts(), "maturity_date": F.col("maturity_date")})


def _due(accounts: DataFrame, categories, days: int, as_of: date) -> DataFrame:
    return accounts.where(F.col("category").isin(*categories) & (F.col("due_amount") > 0)
                          & (F.col("status") != "OVERDUE")
                          & F.col("next_due_date").between(as_of, as_of + timedelta(days)))


def card_repayment_due(accounts: DataFrame, as_of: date, cfg) -> DataFrame:
    d = _due(accounts, ("CREDIT_CARD",), cfg.card_due_days, as_of)
    return candidates(d, "CARD_REPAYMENT_DUE", ["account_id", F.col("next_due_date").cast("string")],
                      F.col("next_due_date"), to_cny(F.col("due_amount"), F.col("currency")),
                      {**_account_facts("due_amount"), "due_date": F.col("next_due_date")})


def loan_instalment_due(accounts: DataFrame, as_of: date, cfg) -> DataFrame:
    d = _due(accounts, LOANS, cfg.loan_due_days, as_of)
    return candidates(d, "LOAN_INSTALMENT_DUE", ["account_id", F.col("next_due_date").cast("string")],
                      F.col("next_due_date"), to_cny(F.col("due_amount"), F.col("currency")),
                      {**_account_facts("due_amount"), "due_date": F.col("next_due_date")})


def loan_maturity(accounts: DataFrame, as_of: date, cfg) -> DataFrame:
    d = accounts.where(F.col("category").isin(*LOANS)
                       & F.col("maturity_date").between(as_of, as_of + timedelta(cfg.loan_maturity_days)))
    return candidates(d, "LOAN_MATURITY", ["account_id", F.col("maturity_date").cast("string")],
                      F.col("maturity_date"), to_cny(F.col("balance"), F.col("currency")),
                      {**_account_facts(), "maturity_date": F.col("maturity_date")})


def loan_overdue(accounts: DataFrame, as_of: date, cfg) -> DataFrame:
    d = accounts.where(F.col("category").isin(*LOANS) & (F.col("status") == "OVERDUE"))
    owed = F.coalesce(F.when(F.col("due_amount") > 0, F.col("due_amount")), F.col("balance"))
    return candidates(d.withColumn("_owed", owed), "LOAN_OVERDUE",
                      ["account_id", F.coalesce(F.col("next_due_date").cast("string"), F.lit("-"))],
                      F.lit(as_of), to_cny(F.col("_owed"), F.col("currency")),
                      {**_account_facts("_owed"), "due_date": F.col("next_due_date")})


def _latest_nav(nav: DataFrame, on: date) -> DataFrame:
    """(product_id, nav_date, nav) of the latest NAV on or before `on`, at most NAV_MAX_AGE_DAYS old."""
    w = Window.partitionBy("product_id").orderBy(F.desc("nav_date"))
    recent = nav.where(F.col("nav_date").between(on - timedelta(NAV_MAX_AGE_DAYS), on))
    return recent.withColumn("_k", F.row_number().over(w)).where("_k = 1").select("product_id", "nav_date", "nav")


def holding_returns(accounts: DataFrame, nav: DataFrame, as_of: date, cfg) -> DataFrame:
    """NAV_MOVE, DIVIDEND_PAID, TAKE_PROFIT and STOP_LOSS candidates for the holdings with units."""
    held = accounts.where(F.col("units") > 0)
    now = _latest_nav(nav, as_of)
    then = _latest_nav(nav, as_of - timedelta(cfg.nav_move_days)).select(
        "product_id", F.col("nav").alias("_nav_then"))
    valued = (held.join(now, "product_id").join(then, "product_id", "left")
              .withColumn("_value", F.col("units") * F.col("nav"))
              .withColumn("_value_cny", to_cny(F.col("_value"), F.col("currency")))
              .withColumn("_change", F.col("nav") / F.col("_nav_then") - 1)
              .withColumn("_return", F.when(F.col("cost_basis") > 0, F.col("_value") / F.col("cost_basis") - 1)))
    base = {"account_id": F.col("account_id"), "product_name": F.col("product_name"),
            "amount": money(F.col("_value_cny"))}

    moved = valued.where(F.abs(F.col("_change")) >= cfg.nav_move_band)
    week = F.lit(f"week-of-{as_of - timedelta(as_of.weekday())}")   # Monday of the week: one alert a week
    nav_move = candidates(moved, "NAV_MOVE", ["account_id", week], F.lit(as_of), F.col("_value_cny"),
                          {**base, "nav_change": share(F.col("_change")), "nav": F.format_number("nav", 4),
                           "nav_move_days": F.lit(str(cfg.nav_move_days))})

    paid = (held.join(nav.where((F.col("dividend_per_unit") > 0)
                                & F.col("nav_date").between(as_of - timedelta(cfg.dividend_lookback_days), as_of))
                      .select("product_id", "nav_date", "dividend_per_unit"), "product_id")
            .withColumn("_dividend_cny", to_cny(F.col("units") * F.col("dividend_per_unit"), F.col("currency"))))
    dividend = candidates(paid, "DIVIDEND_PAID", ["account_id", F.col("nav_date").cast("string")], F.lit(as_of),
                          F.col("_dividend_cny"),
                          {"account_id": F.col("account_id"), "product_name": F.col("product_name"),
                           "amount": money(F.col("_dividend_cny")), "nav_date": F.col("nav_date"),
                           "dividend_per_unit": F.format_number("dividend_per_unit", 4),
                           "dividend": money(F.col("_dividend_cny")), "units": F.format_number("units", 2)})

    lines = _lines(valued, cfg)
    out = nav_move.unionByName(dividend)
    for task_type, line, hit in (("TAKE_PROFIT", "_take_profit", F.col("_return") >= F.col("_take_profit")),
                                 ("STOP_LOSS", "_stop_loss", F.col("_return") <= -F.col("_stop_loss"))):
        crossed = lines.where(hit)
        out = out.unionByName(candidates(
            crossed, task_type, ["account_id", F.lit(task_type), F.format_number("cost_basis", 2)], F.lit(as_of),
            F.col("_value_cny"), {**base, "holding_return": share(F.col("_return")),
                                  "line": share(F.col(line) * (1 if task_type == "TAKE_PROFIT" else -1))}))
    return out


def _lines(valued: DataFrame, cfg) -> DataFrame:
    """Each holding's take-profit and stop-loss lines: the customer's own (customer_lines), else its risk level's."""
    def pick(field: str):
        own = lookup({c: getattr(ln, field) for c, ln in cfg.customer_lines.items()}, F.col("customer_id"))
        return F.coalesce(own, lookup({lvl: getattr(ln, field) for lvl, ln in cfg.lines.items()}, F.col("risk_level")))
    return valued.where(F.col("_return").isNotNull()).withColumn("_take_profit", pick("take_profit")).withColumn(
        "_stop_loss", pick("stop_loss"))


def after_sales(accounts: DataFrame, nav: DataFrame, as_of: date, cfg) -> DataFrame:
    out = deposit_maturity(accounts, as_of, cfg)
    for rule in (card_repayment_due, loan_instalment_due, loan_maturity, loan_overdue):
        out = out.unionByName(rule(accounts, as_of, cfg))
    return out.unionByName(holding_returns(accounts, nav, as_of, cfg))
