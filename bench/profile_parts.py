"""Where a nightly profile build goes: each feature group of customer_profile computed alone, on a kept lake.

    .venv/bin/python bench/features.py --tier M --keep                  # leaves bench/results/features_M
    .venv/bin/python bench/profile_parts.py --lake bench/results/features_M --date 2027-01-01 [--repeats 2]

For the as-of date given (one that has a profile snapshot before it, as a nightly date does), each part is
computed from the inputs `build_profiles` gives it and reduced to a hash of every column, so it runs whole
and writes nothing: the 365-day running totals carried from the previous snapshot, then each feature group, then the
whole profile. With `--build`, the real nightly build (`build_profiles`: totals, profile and tags written) is
timed after the parts; it replaces that date's snapshot with the same rows. Best of `--repeats` runs each,
after one warm-up of the whole profile.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from bench.machine import lake_settings, progress  # noqa: E402
from features.profile import customer_profile  # noqa: E402
from features.profile.activity import _counterparties, activity_features  # noqa: E402
from features.profile.demographics import demographic_features  # noqa: E402
from features.profile.holdings import holding_features  # noqa: E402
from features.profile.service import service_features  # noqa: E402
from features.profile.supply_chain import supply_chain_features  # noqa: E402
from features.profile.wealth import wealth_features  # noqa: E402
from features.profile.year_window import carried_totals  # noqa: E402
from jobs.features import (DAILY, YEAR, _watermarks, build_profiles, previous_snapshot,  # noqa: E402
                           profile_rules, profile_sources)
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402


def run(part: Callable[[], DataFrame]) -> float:
    """Seconds to plan `part` and compute every column of it (a hash of each row, summed: Spark's no-op sink
    refuses the silver tables that carry deletion vectors); planning counts, as the running totals compute
    themselves there."""
    t = time.time()
    df = part()
    df.agg(F.sum(F.hash(*df.columns))).first()
    return time.time() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True, help="a benchmark's kept root (holds lake/, landing/, local/)")
    ap.add_argument("--date", required=True, type=date.fromisoformat, help="the nightly as-of date")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--build", action="store_true", help="also time the real build of that date")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    settings = lake_settings(Path(args.lake).resolve(), "logging.level=WARNING")
    setup_logging(settings)
    spark = build_session(settings)
    catalog = build_catalog(settings)
    as_of = args.date
    dates = spark.createDataFrame([(as_of,)], "as_of_date date")
    daily = catalog.read(spark, DAILY)
    previous, previous_date = previous_snapshot(spark, catalog, as_of)
    if previous_date is None:
        raise SystemExit(f"no profile snapshot before {as_of}: not a nightly date on this lake")
    before = catalog.read(spark, YEAR).where(F.col("as_of_date") == F.lit(previous_date)).drop("daily_watermarks")
    year = catalog.read(spark, YEAR).where(F.col("as_of_date") == F.lit(as_of)).drop("daily_watermarks")
    src = profile_sources(spark, settings, catalog, [as_of], dates, daily, previous, previous_date, year)
    rules = profile_rules(settings)
    parts = {
        "365-day totals, carried": lambda: carried_totals(daily, before, previous_date, as_of),
        "demographics": lambda: demographic_features(src.customers_known),
        "holdings": lambda: holding_features(src.accounts_known, src.products),
        "wealth": lambda: wealth_features(src.accounts_known, src.products, src.nav, src.customers_known, dates),
        "activity (from the totals)": lambda: activity_features(src.daily, dates, src.year),
        "  of which distinct counterparties": lambda: _counterparties(src.daily, dates),
        "supply chain": lambda: supply_chain_features(src.firms_known, src.invoices_known),
        "service": lambda: service_features(src.interactions, dates),
        "whole profile (no write)": lambda: customer_profile(src, rules),
    }
    progress(f"{args.lake}: as of {as_of}, previous snapshot {previous_date}; warm-up")
    run(lambda: customer_profile(src, rules))
    out = {}
    for label, part in parts.items():
        times = [run(part) for _ in range(args.repeats)]
        out[label] = round(min(times), 1)
        progress(f"{label:<40} {out[label]:>6.1f}s  ({', '.join(f'{t:.1f}' for t in times)})")
    if args.build:
        times = []
        for _ in range(args.repeats):
            t = time.time()
            build_profiles(spark, settings, catalog, [as_of])
            times.append(time.time() - t)
        out["nightly build (totals, profile, tags written)"] = round(min(times), 1)
        progress(f"{'nightly build':<40} {min(times):>6.1f}s  ({', '.join(f'{t:.1f}' for t in times)})")
    if args.json:
        Path(args.json).write_text(json.dumps({"lake": args.lake, "date": as_of.isoformat(), "best_s": out,
                                               "daily_watermarks": _watermarks(spark, catalog)}, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
