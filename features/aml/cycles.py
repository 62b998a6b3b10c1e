"""Round tripping: funds that leave an account and come back to it through 2..4 hops, found as temporal paths in
the graph of transfers between the bank's own accounts.

An edge is a posted TRANSFER_OUT of at least cycle_min_cny to another account of this bank (counterparty_bank
OWN, the counterparty found in `accounts`). A path extends only with an edge leaving the account the last one
reached, later than it and within cycle_max_hop_gap_hours, carrying between (1 - hop_loss) and (1 + hop_gain)
of its amount (layering skims a little at each hop; it does not add money), and never revisiting an account.
A cycle is a path that returns to its origin account within cycle_window_hours of its first transfer. Because
every hop is later than the one before, a cycle is found once, from the account where the money started.

External accounts are not nodes: the bank sees only the one hop of a transfer that touches it, so a path
through another bank cannot be followed. The search is DataFrame joins on the edges (large transfers between
own accounts, a small part of the transactions); nothing is collected to the driver.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.aml.flows import KEY, paired
from features.aml.params import DEFAULTS, AmlFeatureParams

CYCLE_COLUMNS = ("customer_id", "origin_account", "hops", "txn_ids", "account_path", "customer_path",
                 "first_ts", "last_ts", "cycle_date", "start_cny", "end_cny", "known_date")


def transfer_edges(txns: DataFrame, accounts: DataFrame, min_cny: float) -> DataFrame:
    """Posted transfers of at least `min_cny` between own accounts: (txn_id, src, dst, src_customer, dst_customer,
    ts, cny, known_date). `txns`: `flows.prepared` rows; `accounts`: (account_id, customer_id)."""
    owners = accounts.select(F.col("account_id").alias("dst"), F.col("customer_id").alias("dst_customer"))
    out = txns.where((F.col("txn_type") == "TRANSFER_OUT") & (F.col("counterparty_bank") == "OWN")
                     & (F.col("cny") >= min_cny) & F.col("counterparty_account").isNotNull())
    out = out.select("txn_id", F.col("account_id").alias("src"), F.col("counterparty_account").alias("dst"),
                     F.col("customer_id").alias("src_customer"), "ts", "cny", "known_date")
    return out.join(owners, "dst").where(F.col("src") != F.col("dst"))


def find_cycles(edges: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """Every cycle of 2..cycle_max_hops hops in `edges` (`transfer_edges`), one row each (CYCLE_COLUMNS)."""
    e = edges.select(*[F.col(c).alias(f"e_{c}") for c in edges.columns])
    paths = edges.select(
        F.col("src").alias("origin_account"), F.col("src_customer").alias("customer_id"),
        F.col("dst").alias("last"), F.col("ts").alias("first_ts"), F.col("ts").alias("last_ts"),
        F.col("cny").alias("start_cny"), F.col("cny").alias("last_cny"), F.array("txn_id").alias("txn_ids"),
        F.array("src", "dst").alias("account_path"), F.array("src_customer", "dst_customer").alias("customer_path"),
        F.col("known_date"), F.lit(1).alias("hops"))
    cycles = []
    for hops in range(2, params.cycle_max_hops + 1):
        step = paths.join(e, (F.col("e_src") == F.col("last")) & (F.col("e_ts") > F.col("last_ts"))
                          & (F.col("e_ts") <= F.col("last_ts") + params.cycle_max_hop_gap_hours * 3600)
                          & (F.col("e_ts") <= F.col("first_ts") + params.cycle_window_hours * 3600)
                          & (F.col("e_cny") >= F.col("last_cny") * (1 - params.cycle_hop_loss))
                          & (F.col("e_cny") <= F.col("last_cny") * (1 + params.cycle_hop_gain)))
        step = step.select(
            "origin_account", "customer_id", F.col("e_dst").alias("last"), "first_ts", F.col("e_ts").alias("last_ts"),
            "start_cny", F.col("e_cny").alias("last_cny"), F.concat("txn_ids", F.array("e_txn_id")).alias("txn_ids"),
            F.concat("account_path", F.array("e_dst")).alias("account_path"),
            F.concat("customer_path", F.array("e_dst_customer")).alias("customer_path"),
            F.greatest("known_date", "e_known_date").alias("known_date"), F.lit(hops).alias("hops"),
            F.array_contains(F.col("account_path"), F.col("e_dst")).alias("_revisits"))
        back = F.col("last") == F.col("origin_account")
        cycles.append(step.where(back))
        paths = step.where(~back & ~F.col("_revisits"))
    out = cycles[0]
    for c in cycles[1:]:
        out = out.unionByName(c)
    return out.select(
        "customer_id", "origin_account", "hops", "txn_ids", "account_path", "customer_path", "first_ts", "last_ts",
        F.to_date(F.timestamp_seconds("last_ts")).alias("cycle_date"), "start_cny",
        F.col("last_cny").alias("end_cny"), "known_date")


def cycle_features(cycles: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Per (as_of_date, customer_id): cycles from the customer's accounts completed in 30 and 90 days (and
    known by the as-of date), the largest one's starting amount and the fewest hops."""
    p = paired(cycles, as_of_dates, day="cycle_date")
    in30 = F.col("age") < 30
    return p.groupBy(*KEY).agg(
        F.count(F.when(in30, F.lit(1))).alias("cycle_count_30d"), F.count(F.lit(1)).alias("cycle_count_90d"),
        F.max(F.when(in30, F.col("start_cny"))).alias("cycle_max_cny_30d"),
        F.min(F.when(in30, F.col("hops"))).alias("cycle_min_hops_30d"))
