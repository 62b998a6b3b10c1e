"""One local Spark session for the whole run, sized for tests (2 shuffle partitions, UI off)."""

from __future__ import annotations

import pytest

from jobs.config import load_settings


def settings_for(root, *overrides: str):
    """The embedded default with its lake, landing, truth and local state under `root`, sized for tests."""
    return load_settings(
        "local",
        [
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
        ],
    )


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
