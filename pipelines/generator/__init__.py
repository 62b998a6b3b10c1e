"""The synthetic bank: every landing source plus the ground truth the pipeline never sees.

`generate_bank(spark, params)` only builds DataFrames (lazily); `jobs.generate` writes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.contracts import CONTRACTS
from pipelines.contracts.core_banking import PRODUCT_CATEGORIES
from pipelines.generator.accounts import account_facts, accounts_landing, with_holdings
from pipelines.generator.aml import aml_cases_landing, aml_transactions, aml_truth
from pipelines.generator.context import Context
from pipelines.generator.customers import aff_col, customers_landing, population
from pipelines.generator.ecommerce import (ecommerce_events_landing, ecommerce_orders_landing, ecommerce_users_truth,
                                           platform_users)
from pipelines.generator.faults import EXPECTED_RULE, FAULT_KINDS
from pipelines.generator.fraud import fraud_labels_landing, fraud_transactions, fraud_truth
from pipelines.generator.marketing import campaign_responses_landing
from pipelines.generator.nav import nav_prices_landing
from pipelines.generator.params import GeneratorParams
from pipelines.generator.products import products_landing
from pipelines.generator.randomness import sql_col
from pipelines.generator.service import interactions_landing
from pipelines.generator.supply_chain import firms_landing, invoices_landing, partner_pairs
from pipelines.generator.transactions import TXN_COLS, regular_transactions, scheduled_transactions, transactions_landing

EXTRACT_DATE = "extract_date"
BIG_SOURCES = ("transactions", "ecommerce_events", "ecommerce_orders", "accounts", "interactions")


class LazyFrames(Mapping):
    """Named DataFrames, each built on first access (and once): building one costs Python-to-JVM calls and the
    analysis of its plan, so a writer can start on the first while the next is built."""

    def __init__(self, builders: dict[str, Callable[[], DataFrame]]):
        self._builders, self._built, self._lock = builders, {}, threading.RLock()

    def __getitem__(self, name: str) -> DataFrame:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._builders[name]()
            return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


@dataclass
class SyntheticBank:
    params: GeneratorParams
    landing: Mapping[str, DataFrame]
    truth: Mapping[str, DataFrame]
    size_hint: dict[str, int] = field(default_factory=dict)

    @property
    def bulk_date(self) -> date:
        return self.params.bulk_date

    @property
    def extract_dates(self) -> list[date]:
        return self.params.extract_dates


def conform(df: DataFrame, source: str) -> DataFrame:
    """The contract's columns, in its order and with its types, plus extract_date."""
    c = CONTRACTS[source]
    return df.select(*[sql_col(col.name).cast(col.type).alias(col.name) for col in c.columns],
                     sql_col(EXTRACT_DATE).cast("date").alias(EXTRACT_DATE))


def generate_bank(spark: SparkSession, params: GeneratorParams, sources: list[str] | None = None,
                  with_truth: bool = True) -> SyntheticBank:
    """The bank's landing sources (all, or only `sources`) and truth tables, as lazy DataFrames (each also built
    on first access)."""
    return _generate_bank(spark, params, sources, with_truth)


def _generate_bank(spark: SparkSession, params: GeneratorParams, sources, with_truth: bool) -> SyntheticBank:
    ctx = Context(params)
    pop = with_holdings(population(spark, ctx), ctx).cache()
    # parts several sources (and the truth) are built from, each built once
    shared = LazyFrames({
        "fraud": lambda: fraud_transactions(spark, pop, ctx).cache(),
        "aml": lambda: aml_transactions(spark, pop, ctx).cache(),
        "aml_truth": lambda: aml_truth(shared["aml"], ctx),
        "users": lambda: platform_users(spark, pop, ctx),
        "pairs": lambda: partner_pairs(spark, ctx),
    })

    def txns():
        return (regular_transactions(pop, ctx).unionByName(scheduled_transactions(pop, ctx))
                .unionByName(shared["fraud"].select(*TXN_COLS)).unionByName(shared["aml"].select(*TXN_COLS)))

    builders = {
        "customers": lambda: customers_landing(pop, ctx),
        "products": lambda: products_landing(spark, ctx),
        "firms": lambda: firms_landing(spark, pop, shared["pairs"], ctx),
        "accounts": lambda: accounts_landing(account_facts(pop, ctx), ctx),
        "transactions": lambda: transactions_landing(txns(), ctx),
        "nav_prices": lambda: nav_prices_landing(spark, ctx),
        "interactions": lambda: interactions_landing(pop, ctx),
        "campaign_responses": lambda: campaign_responses_landing(pop, ctx),
        "ecommerce_orders": lambda: ecommerce_orders_landing(shared["users"], ctx),
        "ecommerce_events": lambda: ecommerce_events_landing(shared["users"], ctx),
        "invoices": lambda: invoices_landing(shared["pairs"], pop, ctx),
        "fraud_labels": lambda: fraud_labels_landing(shared["fraud"], ctx),
        "aml_cases": lambda: aml_cases_landing(spark, shared["aml_truth"], ctx),
    }
    wanted = list(builders) if sources is None else [s for s in builders if s in sources]
    landing = LazyFrames({name: (lambda name=name: conform(builders[name](), name)) for name in wanted})
    truth = LazyFrames({
        "fraud_episodes": lambda: fraud_truth(shared["fraud"], ctx),
        "aml_typologies": lambda: shared["aml_truth"],
        "product_affinity": lambda: _affinity_truth(pop),
        "churn": lambda: _churn_truth(pop, ctx),
        "ecommerce_users": lambda: ecommerce_users_truth(shared["users"]),
    } if with_truth else {})
    n, d = params.customers, params.days
    hint = {"transactions": int(n * d * params.txn_per_customer_day * 1.15),
            "ecommerce_events": int(n * params.ecommerce_share * 0.65 * d * 0.5),
            "ecommerce_orders": int(n * params.ecommerce_share * 0.65 * d * 0.08), "accounts": n * 12,
            "interactions": int(n * d / 30 * 0.7)}
    return SyntheticBank(params, landing, truth, hint)


def _affinity_truth(pop: DataFrame) -> DataFrame:
    cats = F.create_map(*[x for c in PRODUCT_CATEGORIES for x in (F.lit(c), sql_col(aff_col(c)))])
    return pop.select("customer_id", "life_stage", "affinity_group", cats.alias("category_affinity"),
                      *[sql_col(aff_col(c)) for c in PRODUCT_CATEGORIES])


def _churn_truth(pop: DataFrame, ctx: Context) -> DataFrame:
    t = ctx.t
    return pop.where(sql_col("churn_day").isNotNull()).select(
        "customer_id", t.date(sql_col("churn_start_day")).alias("churn_start_date"),
        t.date(sql_col("churn_day")).alias("churn_date"), sql_col("churn_kind").alias("kind"))


__all__ = ["BIG_SOURCES", "EXTRACT_DATE", "EXPECTED_RULE", "FAULT_KINDS", "GeneratorParams", "LazyFrames", "SyntheticBank", "conform", "generate_bank"]
