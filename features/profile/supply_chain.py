"""Supply chain: an SME customer's trade with other firms, read from the invoices between them; amounts in CNY.

One row per bank customer and as-of date, for customers whose firm (firm -> customer through firms.customer_id)
issued or received an invoice in the 365 days up to the as-of date. Point in time, on as-of date D:

- the firm is its version known on D, so a firm that becomes a customer later is not linked to it yet;
- an invoice is its newest version (by updated_at) among those delivered by D: a payment, overdue notice or
  cancellation delivered later is not seen, and an invoice first delivered after D is absent;
- a paid date after D means unpaid on D, whatever the version says;
- only invoices issued in (D-365, D] are read, for what is outstanding as well: an invoice unpaid after a year
  is a matter for collections, and bounding every as-of date by the window keeps the cost independent of how
  much history the lake holds.

An invoice cancelled as known on D counts nowhere: not in partners, volumes, outstanding amounts or counts.
Windows end on the as-of date itself (the 30-day window is D-29 .. D).

The caller gives the firms and invoices as known on each as-of date: `known_invoices` pairs the invoice
versions with the dates whose window holds them; on a nightly date, by which every version has been delivered,
silver's latest invoices are those versions already (`latest_invoices`), and no version history is ranked.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup
from features.reference import to_cny
from pipelines.contracts import contract

LOOKBACK = 365
TREND_RECENT, TREND_PRIOR = 30, 90        # the last 30 days against the 90 days before them

SUPPLY_CHAIN = FeatureGroup("supply_chain", "Trade with other firms through invoices, for SME customers; in CNY.", (
    Feature("downstream_partners_365d", "int", "Distinct buyers the customer's firm invoiced.", "365d"),
    Feature("upstream_partners_365d", "int", "Distinct sellers that invoiced the customer's firm.", "365d"),
    Feature("sales_invoiced_365d", "double", "Amount invoiced to buyers.", "365d"),
    Feature("purchases_invoiced_365d", "double", "Amount invoiced by sellers.", "365d"),
    Feature("top_buyer_share_365d", "double", "Largest single buyer's share of sales (null: no sales).", "365d"),
    Feature("top_supplier_share_365d", "double", "Largest single seller's share of purchases (null: no purchases).",
            "365d"),
    Feature("receivables_outstanding", "double", "Sales invoices issued in the last 365 days and unpaid on the "
                                                 "as-of date."),
    Feature("overdue_receivables", "double", "Outstanding receivables past their due date on the as-of date."),
    Feature("payables_outstanding", "double", "Purchase invoices issued in the last 365 days and unpaid on the "
                                              "as-of date."),
    Feature("overdue_payables", "double", "Outstanding payables past their due date on the as-of date."),
    Feature("dso_days", "double", "Days sales outstanding: receivables outstanding over sales invoiced, times 365 "
                                  "(null: no sales).", "365d"),
    Feature("mean_days_to_collect_365d", "double", "Mean days from issue to payment over sales invoices paid by the "
                                                   "as-of date (null: none paid).", "365d"),
    Feature("mean_payment_delay_days_365d", "double", "Mean days paid after the due date (0 when on time) over "
                                                      "purchase invoices paid by the as-of date (null: none paid).",
            "365d"),
    Feature("late_payment_share_365d", "double", "Share of purchase invoices paid by the as-of date that were paid "
                                                 "after their due date (null: none paid).", "365d"),
    Feature("invoices_30d", "int", "Invoices issued or received.", "30d"),
    Feature("invoice_trend_30d_vs_prior_90d", "double", "Invoices in the last 30 days divided by the average 30 days "
                                                        "of the 90 before them (null: none before)."),
))


def known_invoices(invoice_versions: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Per as-of date, the version known then of each invoice issued in its lookback.

    known_on's rule and order, but each version is paired only with the as-of dates whose window holds its issue
    date: known_on would pair it with every later date, which grows with the history, and then drop nearly all.
    An invoice keeps its issue date across versions, so the window picks the same invoices either way.
    """
    c = contract("invoices")
    as_of = F.col("as_of_date")
    pairs = invoice_versions.join(F.broadcast(as_of_dates),
                                  (F.col("_extract_date") <= as_of) & (F.col("issue_date") <= as_of)
                                  & (F.col("issue_date") > F.date_sub(as_of, LOOKBACK)))
    w = Window.partitionBy("as_of_date", *c.silver_key).orderBy(
        F.col(c.version_column).desc(), F.col("_extract_date").desc(), F.col("_source_file").desc())
    return pairs.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def latest_invoices(invoices: DataFrame, as_of: date) -> DataFrame:
    """`known_invoices` for one as-of date by which every invoice version had been delivered: silver.invoices
    (each invoice's latest version) issued in the lookback, with the as-of date."""
    issued = F.col("issue_date")
    return (invoices.where((issued <= F.lit(as_of)) & (issued > F.lit(as_of - timedelta(days=LOOKBACK))))
            .withColumn("as_of_date", F.lit(as_of)))


def _sides(invoices: DataFrame) -> DataFrame:
    """Each invoice twice: as the seller's sale to the buyer and as the buyer's purchase from the seller."""
    def side(firm: str, partner: str, is_sale: bool) -> Column:
        return F.struct(F.col(firm).alias("firm_id"), F.col(partner).alias("partner_firm_id"),
                        F.lit(is_sale).alias("is_sale"))
    return invoices.select("*", F.inline(F.array(side("seller_firm_id", "buyer_firm_id", True),
                                                  side("buyer_firm_id", "seller_firm_id", False))))


def _total(col: str, when: Column) -> Column:
    return F.coalesce(F.sum(F.when(when, F.col(col))), F.lit(0.0))


def _count(col: str, when: Column) -> Column:
    return F.coalesce(F.sum(F.when(when, F.col(col))), F.lit(0))


def supply_chain_features(firms_known: DataFrame, invoices_known: DataFrame) -> DataFrame:
    """Firm versions known on each as-of date (features.history.known_on) and the invoices known then
    (`known_invoices` or `latest_invoices`) -> SUPPLY_CHAIN, per customer whose firm has an uncancelled invoice
    in the lookback, per as-of date."""
    as_of = F.col("as_of_date")
    bank_firms = (firms_known.where(F.col("customer_id").isNotNull())
                  .select("firm_id", "as_of_date", "customer_id"))
    invoices = invoices_known.where(F.col("status") != "CANCELLED")
    rows = (_sides(invoices).join(bank_firms, ["firm_id", "as_of_date"])
            .withColumns({"_cny": to_cny(F.col("amount"), F.col("currency")),
                          "_age": F.datediff(as_of, F.col("issue_date")),
                          # the paid date is event time: a version known on D may carry a payment value-dated later
                          "_paid": F.coalesce(F.col("paid_date") <= as_of, F.lit(False))}))
    paid, unpaid = F.col("_paid"), ~F.col("_paid")
    # Per trading partner first: the top partner's share needs each partner's total, the rest add up.
    per_partner = rows.groupBy("customer_id", "as_of_date", "is_sale", "partner_firm_id").agg(
        F.sum("_cny").alias("_amount"),
        F.sum(F.when(unpaid, F.col("_cny"))).alias("_outstanding"),
        F.sum(F.when(unpaid & (F.col("due_date") < as_of), F.col("_cny"))).alias("_overdue"),
        F.count(F.when(paid, True)).alias("_paid_n"),
        F.sum(F.when(paid, F.datediff("paid_date", "issue_date"))).alias("_days_to_pay"),
        F.sum(F.when(paid, F.greatest(F.datediff("paid_date", "due_date"), F.lit(0)))).alias("_days_late"),
        F.count(F.when(paid & (F.col("paid_date") > F.col("due_date")), True)).alias("_late_n"),
        F.count(F.when(F.col("_age") < TREND_RECENT, True)).alias("_recent_n"),
        F.count(F.when((F.col("_age") >= TREND_RECENT) & (F.col("_age") < TREND_RECENT + TREND_PRIOR), True))
        .alias("_prior_n"),
    )
    sale, purchase = F.col("is_sale"), ~F.col("is_sale")
    out = per_partner.groupBy("customer_id", "as_of_date").agg(
        F.count(F.when(sale, True)).alias("downstream_partners_365d"),
        F.count(F.when(purchase, True)).alias("upstream_partners_365d"),
        _total("_amount", sale).alias("sales_invoiced_365d"),
        _total("_amount", purchase).alias("purchases_invoiced_365d"),
        F.max(F.when(sale, F.col("_amount"))).alias("_top_buyer"),
        F.max(F.when(purchase, F.col("_amount"))).alias("_top_supplier"),
        _total("_outstanding", sale).alias("receivables_outstanding"),
        _total("_overdue", sale).alias("overdue_receivables"),
        _total("_outstanding", purchase).alias("payables_outstanding"),
        _total("_overdue", purchase).alias("overdue_payables"),
        _count("_paid_n", sale).alias("_collected_n"),
        F.sum(F.when(sale, F.col("_days_to_pay"))).alias("_days_to_collect"),
        _count("_paid_n", purchase).alias("_settled_n"),
        F.sum(F.when(purchase, F.col("_days_late"))).alias("_days_late"),
        _count("_late_n", purchase).alias("_late_n"),
        F.sum("_recent_n").alias("invoices_30d"),
        F.sum("_prior_n").alias("_prior_n"),
    )
    sales, purchases = F.col("sales_invoiced_365d"), F.col("purchases_invoiced_365d")
    prior_month = F.col("_prior_n") / (TREND_PRIOR / TREND_RECENT)
    derived = {
        "top_buyer_share_365d": F.when(sales > 0, F.col("_top_buyer") / sales),
        "top_supplier_share_365d": F.when(purchases > 0, F.col("_top_supplier") / purchases),
        "dso_days": F.when(sales > 0, F.col("receivables_outstanding") / sales * LOOKBACK),
        "mean_days_to_collect_365d": F.when(F.col("_collected_n") > 0,
                                            F.col("_days_to_collect") / F.col("_collected_n")),
        "mean_payment_delay_days_365d": F.when(F.col("_settled_n") > 0, F.col("_days_late") / F.col("_settled_n")),
        "late_payment_share_365d": F.when(F.col("_settled_n") > 0, F.col("_late_n") / F.col("_settled_n")),
        "invoice_trend_30d_vs_prior_90d": F.when(prior_month > 0, F.col("invoices_30d") / prior_month),
    }
    out = out.withColumns(derived)
    return out.select("customer_id", "as_of_date",
                      *[F.col(f.name).cast(f.type).alias(f.name) for f in SUPPLY_CHAIN.features])
