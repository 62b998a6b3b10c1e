"""`gold.aml_features`: money-laundering typology features per customer and as-of date, over 7, 30 and 90 days.

One row per customer with a posted transaction in the 90 days ending on the as-of date. The builders are
pure DataFrame functions (flows, cycles, network); `aml_features` puts them together. What each typology
counts is set by `AmlFeatureParams` (models.aml.features in conf/).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.aml.cycles import cycle_features, find_cycles, transfer_edges
from features.aml.flows import (KEY, dormancy_features, fan_features, flow_features, joined, pass_through_features,
                                peer_zscore, prepared)
from features.aml.network import attribute_links, connected_groups, hops_to_cases, shared_attributes, transfer_links
from features.aml.params import DEFAULTS, AmlFeatureParams
from features.columns import Feature, FeatureGroup, FeatureTable, conform

_T = f"{DEFAULTS.reporting_thresholds['CNY']:,.0f} CNY"
IDENTITY = FeatureGroup("identity", "The customer and the as-of date.", (
    Feature("as_of_date", "date", "Business date the features are as of (windows end on it, inclusive)."),
    Feature("customer_id", "string", "Bank customer number."),
))
FLOWS = FeatureGroup(
    "flows", "Flows of funds: posted transfers, cash deposits and withdrawals (flow_types), in CNY at reference "
             "rates.", (
        *[Feature(f"{d}_cny_{w}d", "double", f"Money {'in' if d == 'inflow' else 'out'}.", f"{w}d")
          for d in ("inflow", "outflow") for w in (7, 30, 90)],
        Feature("flow_count_30d", "bigint", "Flows.", "30d"),
        Feature("cash_deposit_cny_30d", "double", "Cash deposited.", "30d"),
    ))
STRUCTURING = FeatureGroup(
    "structuring", "Cash deposits and transfers just under the reporting threshold of their own currency: in "
                   f"[threshold x (1 - threshold_band), threshold) (default {_T}, band "
                   f"{DEFAULTS.threshold_band:.0%}).", (
        *[Feature(f"near_threshold_count_{w}d", "bigint", "Flows just under the threshold.", f"{w}d")
          for w in (7, 30, 90)],
        Feature("near_threshold_cny_30d", "double", "Their amount.", "30d"),
        Feature("over_threshold_count_30d", "bigint", "Flows at or over the threshold (reported anyway: a customer "
                                                      "who simply moves large sums has many of these too).", "30d"),
        Feature("below_band_count_30d", "bigint", "Flows in the band of the same width below the band just under "
                                                  "the threshold: an ordinary spread of amounts fills both bands "
                                                  "alike, structuring only the upper one.", "30d"),
    ))
PASS_THROUGH = FeatureGroup(
    "pass_through", f"Rapid movement: large incoming flows (pass_through_min_cny, default "
                    f"{DEFAULTS.pass_through_min_cny:,.0f} CNY) that leave again within pass_through_hours "
                    f"(default {DEFAULTS.pass_through_hours} h).", (
        Feature("pass_through_share_30d", "double", "Share of the large incoming amount that left within the hours "
                                                    "after each (null: no large incoming flow).", "30d"),
        Feature("pass_through_share_90d", "double", "The same over 90 days.", "90d"),
        Feature("large_inflow_cny_30d", "double", "The large incoming amount.", "30d"),
        Feature("closing_balance_to_inflow_30d", "double", "Balance after the window's last flow divided by its "
                                                           "inflow: near 0 when large sums flow through an account "
                                                           "that keeps nothing (null: no inflow).", "30d"),
    ))
FAN = FeatureGroup(
    "fan", "Fan-in and fan-out: distinct counterparty accounts of transfers.", (
        *[f for w in (7, 30) for f in (
            Feature(f"distinct_senders_{w}d", "bigint", "Accounts that sent money in.", f"{w}d"),
            Feature(f"new_senders_{w}d", "bigint", "Accounts that sent money in the window and never before it "
                                                   "within the 90 days.", f"{w}d"),
            Feature(f"distinct_receivers_{w}d", "bigint", "Accounts paid.", f"{w}d"),
            Feature(f"new_receivers_{w}d", "bigint", "Accounts paid in the window and never before it within the "
                                                     "90 days.", f"{w}d"))],
    ))
ROUND_TRIPPING = FeatureGroup(
    "round_tripping", "Cycles: transfers of at least cycle_min_cny (default "
                      f"{DEFAULTS.cycle_min_cny:,.0f} CNY) between the bank's own accounts that return to the "
                      f"origin account through 2..{DEFAULTS.cycle_max_hops} hops within "
                      f"{DEFAULTS.cycle_window_hours} h (features.aml.cycles), counted on the origin's customer.", (
        Feature("cycle_count_30d", "bigint", "Cycles completed.", "30d"),
        Feature("cycle_count_90d", "bigint", "Cycles completed.", "90d"),
        Feature("cycle_max_cny_30d", "double", "Largest first transfer of a cycle.", "30d"),
        Feature("cycle_min_hops_30d", "int", "Fewest hops of a cycle (null: none).", "30d"),
    ))
NETWORK = FeatureGroup(
    "network", "Customers linked by a shared device, address or large-transfer counterparty at another bank "
               "(an unmasked account number) in the 90 days "
               f"(attributes shared by more than hub_max_customers, default {DEFAULTS.hub_max_customers}, are "
               "hubs and link nobody; features.aml.network).", (
        Feature("network_group_size", "bigint", "Customers in the connected group (1: no link).", "90d"),
        Feature("linked_customers", "bigint", "Customers linked directly.", "90d"),
        Feature("hops_to_past_case", "int", "Links to the nearest customer with a reported AML case known on the "
                                            "date, large transfers between customers counting as links too (0: "
                                            f"the customer's own; null: none within {DEFAULTS.max_case_hops}).",
                "90d"),
    ))
BEHAVIOUR = FeatureGroup(
    "behaviour", "Change against the customer's own past and peers, dormancy and high-risk countries.", (
        Feature("dormant_gap_days", "int", "Longest quiet spell (no customer-initiated transaction) ending in a "
                                           "transaction of the last 30 days, counted within the 90-day window.",
                "30d"),
        Feature("active_days_30d", "bigint", "Days with a customer-initiated transaction.", "30d"),
        Feature("inflow_change_ratio_30d", "double", "30-day inflow over the customer's own previous 60 days' "
                                                     "inflow per 30 days (floored at change_floor_cny).", "90d"),
        Feature("peer_inflow_zscore_30d", "double", "z-score of log(1 + 30-day inflow) among customers of the same "
                                                    "segment and occupation (null: a group under "
                                                    "peer_min_customers).", "30d"),
        Feature("high_risk_country_count_90d", "bigint", "Transactions in a high-risk country "
                                                         "(high_risk_countries).", "90d"),
        Feature("high_risk_country_cny_90d", "double", "Their amount.", "90d"),
    ))

AML_FEATURES = FeatureTable(
    "gold.aml_features",
    "One row per customer with a posted transaction in the 90 days to the as-of date: point-in-time "
    "anti-money-laundering typology features (structuring, pass-through, fan-in/out, round tripping, network "
    "position, dormancy, sudden change, high-risk countries).",
    KEY, (IDENTITY, FLOWS, STRUCTURING, PASS_THROUGH, FAN, ROUND_TRIPPING, NETWORK, BEHAVIOUR))
NUMERIC = tuple(f.name for f in AML_FEATURES.features if f.name not in KEY)
_ZERO_IF_MISSING = ("distinct_senders_7d", "new_senders_7d", "distinct_receivers_7d", "new_receivers_7d",
                    "distinct_senders_30d", "new_senders_30d", "distinct_receivers_30d", "new_receivers_30d", "cycle_count_30d", "cycle_count_90d",
                    "linked_customers", "active_days_30d")


@dataclass
class AmlFeatureBuild:
    features: DataFrame   # AML_FEATURES rows
    cycles: DataFrame     # features.aml.cycles.CYCLE_COLUMNS rows behind the cycle counts (evidence)
    transactions: DataFrame = None   # the window's transactions as `flows.prepared` rows (cached)
    cached: tuple[DataFrame, ...] = ()

    def release(self) -> None:
        """Drop the cached inputs (the window's transactions, transfer edges and links) once the caller is done."""
        for df in self.cached:
            df.unpersist()


def aml_features(txns: DataFrame, customers: DataFrame, accounts: DataFrame, cases: DataFrame,
                 as_of_dates: DataFrame, params: AmlFeatureParams = DEFAULTS) -> AmlFeatureBuild:
    """Features for every as-of date in `as_of_dates` (one column, as_of_date).

    - `txns`: silver transactions of the 90 days to the latest as-of date, with `known_date` (the date each row
      became known);
    - `customers`: (as_of_date, customer_id, segment, occupation, onboarding_date, address_token) as known;
    - `accounts`: (account_id, customer_id) of the bank's accounts, to follow transfers between them;
    - `cases`: (customer_id, known_date) of the customers with a past case that counts (e.g. reported).
    """
    # every part reads the window's transactions, and cycles and links the transfer edges: cached once each
    # (released by AmlFeatureBuild.release) instead of re-reading silver for each
    t = prepared(txns).persist()
    flows = flow_features(t, as_of_dates, params)
    edges = transfer_edges(t, accounts, min(params.cycle_min_cny, params.link_min_cny)).persist()
    cycles = find_cycles(edges.where(F.col("cny") >= params.cycle_min_cny), params)
    # groups and closeness both walk the attribute links: built once (a self-join over the 90-day window)
    links = attribute_links(shared_attributes(t, customers, as_of_dates, params), params).persist()
    groups = connected_groups(links, params)
    direct = transfer_links(edges.where(F.col("cny") >= params.link_min_cny), as_of_dates)
    hops = hops_to_cases(links.unionByName(direct).distinct(), cases, as_of_dates, params)
    out = joined([flows, fan_features(t, as_of_dates, params), pass_through_features(t, as_of_dates, params),
                  cycle_features(cycles, as_of_dates), groups, hops,
                  dormancy_features(t, customers, as_of_dates, params)])
    out = peer_zscore(out, customers, params)
    out = out.select(*[F.coalesce(F.col(c), F.lit(0)).alias(c) if c in _ZERO_IF_MISSING else F.col(c)
                       for c in out.columns])
    out = out.withColumn("network_group_size", F.coalesce(F.col("network_group_size"), F.lit(1)))
    return AmlFeatureBuild(conform(out, AML_FEATURES), cycles, t, (t, edges, links))
