"""One more night on a kept benchmark lake: ingest the next day's extracts, then `crm features` for it, timed.

    .venv/bin/python bench/features.py --tier M --keep                   # leaves bench/results/features_M
    .venv/bin/python bench/nightly.py --lake bench/results/features_M --date 2027-01-02

bench/features.py generates two days past its last nightly date and never ingests them, so a kept lake has two
more real nights to measure the nightly increment on, with code changed since: the same steps, figures and
split (customer_daily fold, profile and tags) as that benchmark's nightly increment.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import timed_features, timed_ingest  # noqa: E402
from bench.machine import lake_settings, progress  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True, help="a benchmark's kept root (holds lake/, landing/, local/)")
    ap.add_argument("--date", required=True, type=date.fromisoformat, help="the night to load and build")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    settings = lake_settings(Path(args.lake).resolve(), "logging.level=WARNING")
    setup_logging(settings)
    spark = build_session(settings)
    progress(f"{args.lake}: nightly ingestion of {args.date}")
    night = timed_ingest(spark, settings, args.date)
    progress(f"ingested {night['rows']:,} rows of {night['sources_loaded']} sources in {night['s']}s; features")
    f = timed_features(spark, settings, as_of=args.date)
    out = {"lake": args.lake, "date": args.date.isoformat(), "nightly_ingest_s": night["s"],
           "increment_s": f["s"], "fold_s": f["fold_s"], "profile_s": f["profile_s"],
           "daily_rows_added": f["daily_rows_added"], "profile_rows": f["profile_rows"], "tags": f["tags"]}
    progress(f"nightly increment {out['increment_s']}s (fold {out['fold_s']}s, profile and tags "
             f"{out['profile_s']}s); {out['daily_rows_added']:,} daily rows, {out['profile_rows']:,} profile rows")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
