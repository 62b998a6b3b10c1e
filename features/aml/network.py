"""Network position: the group of customers linked through shared devices, addresses or transfer
counterparties, and how close a customer is to one with a past AML case.

Links, per as-of date, from its 90-day window:
- two customers who used the same device, live at the same address (the pseudonymised token), or moved at
  least link_min_cny to or from the same account at another bank are linked. An attribute shared by more than
  hub_max_customers customers (a biller, a payroll provider, a branch terminal) is a hub and links nobody:
  otherwise one utility company would put the whole bank in one group;
- an account of this bank (counterparty_bank OWN) is not a shared counterparty: its owner is our customer, and
  the transfers to it are direct links below. Two customers who both pay the same friend are not a group;
- a masked account number (one with a `*`, as other banks' accounts usually arrive: 6222****0417) is not an
  identity either: thousands of different accounts share each masked form, so two customers paying
  "6222****0417" have most likely paid two different people. Counted as shared, these two kinds joined four in
  five of a generated bank's 100,000 customers into one group;
- for closeness to past cases only, a transfer of at least link_min_cny between two of our customers links
  them directly as well (money moved to or from a reported customer is the closest tie there is). Groups do not
  use those: ordinary payments between customers would join most of the bank into one group.

`network_group_size` is the size of the connected component (label propagation: each customer takes the
smallest id among its neighbours until nothing changes, at most max_group_iterations rounds, each round
checkpointed so the plan stays small). `hops_to_past_case` is the breadth-first distance, in customer links, to
a customer with a past case known on the as-of date (0: the customer's own), up to max_case_hops. All of it is
DataFrame joins keyed by as-of date; nothing is collected to the driver.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.aml.flows import KEY, paired
from features.aml.params import DEFAULTS, AmlFeatureParams

log = logging.getLogger(__name__)


def shared_attributes(txns: DataFrame, customers: DataFrame, as_of_dates: DataFrame,
                      params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """(as_of_date, customer_id, attribute) for devices, addresses and large-transfer counterparties at other
    banks whose account number is not masked."""
    p = paired(txns, as_of_dates)
    devices = p.where(F.col("device_id").isNotNull()).select(
        *KEY, F.concat(F.lit("device:"), F.col("device_id")).alias("attribute"))
    transfers = p.where(F.col("txn_type").isin("TRANSFER_IN", "TRANSFER_OUT") & F.col("counterparty_account").isNotNull()
                        & (F.col("cny") >= params.link_min_cny)
                        & ~F.coalesce(F.col("counterparty_bank") == F.lit("OWN"), F.lit(False))
                        & ~F.col("counterparty_account").contains("*"))
    counterparties = transfers.select(*KEY, F.concat(F.lit("account:"), F.col("counterparty_account")).alias("attribute"))
    addresses = customers.where(F.col("address_token").isNotNull()).select(
        *KEY, F.concat(F.lit("address:"), F.col("address_token")).alias("attribute"))
    return devices.unionByName(counterparties).unionByName(addresses).distinct()


def attribute_links(attributes: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """(as_of_date, a, b), a < b: customers sharing an attribute that is not a hub."""
    sizes = attributes.groupBy("as_of_date", "attribute").agg(F.count(F.lit(1)).alias("_n"))
    kept = attributes.join(sizes.where((F.col("_n") >= 2) & (F.col("_n") <= params.hub_max_customers)),
                           ["as_of_date", "attribute"], "left_semi")
    a = kept.select("as_of_date", "attribute", F.col("customer_id").alias("a"))
    b = kept.select("as_of_date", "attribute", F.col("customer_id").alias("b"))
    return a.join(b, ["as_of_date", "attribute"]).where(F.col("a") < F.col("b")).select("as_of_date", "a", "b").distinct()


def transfer_links(edges: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """(as_of_date, a, b), a < b: customers with a large transfer between them in the window (`edges`:
    `cycles.transfer_edges` rows, day from their timestamp)."""
    e = edges.withColumn("txn_date", F.to_date(F.timestamp_seconds("ts")))
    p = paired(e, as_of_dates).where(F.col("src_customer") != F.col("dst_customer"))
    return p.select("as_of_date", F.least("src_customer", "dst_customer").alias("a"),
                    F.greatest("src_customer", "dst_customer").alias("b")).distinct()


def _both_ways(links: DataFrame) -> DataFrame:
    return links.select("as_of_date", F.col("a").alias("node"), F.col("b").alias("other")).unionByName(
        links.select("as_of_date", F.col("b").alias("node"), F.col("a").alias("other")))


def connected_groups(links: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """(as_of_date, customer_id, network_group_size, linked_customers) for every linked customer; a customer
    without links is a group of one (left to the caller)."""
    adj = _both_ways(links).localCheckpoint()
    labels = adj.groupBy("as_of_date", "node").agg(F.least(F.col("node"), F.min("other")).alias("label"))
    labels = labels.localCheckpoint()
    for i in range(params.max_group_iterations):
        nb = adj.join(labels.withColumnRenamed("node", "other").withColumnRenamed("label", "_l"), ["as_of_date", "other"])
        best = nb.groupBy("as_of_date", "node").agg(F.min("_l").alias("_best"))
        new = (labels.join(best, ["as_of_date", "node"], "left")
               .select("as_of_date", "node", F.least("label", F.coalesce("_best", "label")).alias("label"),
                       (F.coalesce(F.col("_best"), F.col("label")) < F.col("label")).alias("_changed"))
               .localCheckpoint())
        changed = new.where("_changed").count()
        labels = new.drop("_changed")
        if changed == 0:
            break
    else:
        log.warning("network groups: labels still moving after %d rounds (models.aml.features."
                    "max_group_iterations); group sizes are lower bounds", params.max_group_iterations)
    size = labels.groupBy("as_of_date", "label").agg(F.count(F.lit(1)).alias("network_group_size"))
    degree = adj.groupBy("as_of_date", "node").agg(F.countDistinct("other").alias("linked_customers"))
    return (labels.join(size, ["as_of_date", "label"]).join(degree, ["as_of_date", "node"])
            .select("as_of_date", F.col("node").alias("customer_id"), "network_group_size", "linked_customers"))


def hops_to_cases(links: DataFrame, cases: DataFrame, as_of_dates: DataFrame,
                  params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """(as_of_date, customer_id, hops_to_past_case) within max_case_hops of a past case. `cases`: (customer_id,
    known_date) of the customers whose case counts, from the date it became known."""
    seeds = cases.join(F.broadcast(as_of_dates.select("as_of_date")), F.col("known_date") <= F.col("as_of_date"))
    reached = seeds.select("as_of_date", F.col("customer_id").alias("node"), F.lit(0).alias("hops")).distinct()
    reached = reached.localCheckpoint()
    adj = _both_ways(links).localCheckpoint()
    frontier = reached
    for h in range(1, params.max_case_hops + 1):
        nxt = (frontier.join(adj, ["as_of_date", "node"]).select("as_of_date", F.col("other").alias("node"))
               .distinct().join(reached, ["as_of_date", "node"], "left_anti")
               .select("as_of_date", "node", F.lit(h).alias("hops")).localCheckpoint())
        if nxt.isEmpty():
            break
        reached = reached.unionByName(nxt).localCheckpoint()
        frontier = nxt
    return reached.select("as_of_date", F.col("node").alias("customer_id"), F.col("hops").alias("hops_to_past_case"))
