"""One local Spark session for the whole run, sized for tests (2 shuffle partitions, UI off)."""

from __future__ import annotations

import pytest

from jobs.config import load_settings


def local_overrides(root, *overrides: str) -> list[str]:
    """The `--set` overrides behind `settings_for` (for a test that drives the `crm` command line)."""
    return [
        f"lake.root={root}/lake",
        f"lake.landing={root}/landing",
        f"lake.truth={root}/truth",
        f"lake.local_data={root}/local",
        "spark.shuffle_partitions=2",
        "spark.driver_memory=4g",
        "spark.show_progress=false",
        # The Delta jars cache is shared across runs so tests start offline after the first run.
        "spark.jars_cache=.local/jars",
        *overrides,
    ]


def settings_for(root, *overrides: str):
    """The embedded default with its lake, landing, truth and local state under `root`, sized for tests."""
    return load_settings("local", local_overrides(root, *overrides))


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory):
    """Settings for tests: the embedded default with the lake in a temporary folder."""
    return settings_for(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def spark(test_settings):
    from jobs.spark import build_session

    session = build_session(test_settings)
    yield session
    session.stop()


# what the profile, the lifecycle, the fraud and the AML models read (no e-commerce, marketing or supply-chain feeds:
# a bank without them)
BANK_SOURCES = ["customers", "products", "accounts", "transactions", "nav_prices", "interactions", "fraud_labels",
                "aml_cases"]


@pytest.fixture(scope="session")
def ingested_bank(spark, tmp_path_factory):
    """A generated bank (1,500 customers, 150 days) ingested into silver, shared by the end-to-end model tests:
    (settings, generate summary, root folder). Each test module builds its own gold tables and models on it."""
    from jobs.generate import generate
    from jobs.ingest import ingest

    root = tmp_path_factory.mktemp("bank")
    settings = settings_for(root, *BANK_SETTINGS)
    summary = generate(spark, settings, customers=1500, days=150, seed=21, sources=BANK_SOURCES)
    ingest(spark, settings, sources=BANK_SOURCES)
    return settings, summary, root


BANK_SETTINGS = ("generator.daily_extract_days=3", "features.snapshot_cadence=weekly",
                 "models.clv.holdout_days=42", "models.churn.horizon_days=28", "models.churn.tolerance_days=0",
                 "models.churn.evaluation_dates=2", "models.churn.gbm.max_iter=150",
                 "models.churn.gbm.min_samples_leaf=20")
