"""Maintenance-task benchmark: `crm tasks` for the latest business date at a tier of the generated bank, next to
a bare scan of the profile and accounts it reads.

    .venv/bin/python bench/tasks.py --tier XS                       # 2k customers: a quick check of the script
    .venv/bin/python bench/tasks.py --tier M --reuse                # 100k customers, the lake of an earlier run
    .venv/bin/python bench/tasks.py --tier M --lake bench/results/fraud/M --offers   # the fraud benchmark's lake

1. Preparation (reported, not a target): generate `--days` days of the sources the engine reads (customers,
   products, accounts, transactions, nav_prices, interactions) and ingest them, or take a prepared lake
   (`--lake`, e.g. the fraud benchmark's, which holds those sources); build gold.customer_profile (and tags)
   for the latest business date D and the `--nights` days before it, in one daily-cadence pass. With
   `--offers`, train the recommender and score serving.next_best_offer for the first night and for D.
2. The nights before D (reported): `crm tasks` for each of the `--nights` days before D, so D starts from a
   worklist history as a nightly run does (tasks already planned, deferred tasks rolling over and ageing).
3. Timed: `build_tasks` for D (every rule, planning, reading the history, the Delta write) and its rerun (which
   must give the same counts), and the yardstick measured in the same run: a bare scan of the date's profile
   and of silver.accounts.
No lifecycle, AML or fraud tables (and no offers without `--offers`): the rules and suppressions that need them
have nothing to work on; the output lists them as absent.

Target (BENCHMARKS.md): task generation for the M tier under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F  # noqa: E402

from bench.machine import (QUIET_WAIT, code_fingerprint, contended, generate_and_ingest, jvm_peak_heap_bytes,  # noqa: E402
                           lake_settings, progress, report, timed_step)
from jobs.features import PROFILE, latest_business_date, run_features  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.recommend import score_recommender, train_recommender  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import MAINTENANCE_TASKS, build_catalog  # noqa: E402
from jobs.tasks import build_tasks  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}
SOURCES = ("customers", "products", "accounts", "transactions", "nav_prices", "interactions")
DAYS = 60
M_TARGET_S = 120.0
ROOT = Path(__file__).resolve().parent / "results" / "tasks"


def yardstick(spark, catalog, end: date) -> dict:
    m = timed_step()
    catalog.read(spark, PROFILE).where(F.col("as_of_date") == F.lit(end)).agg(F.sum("aum"), F.count(F.lit(1))).first()
    catalog.read(spark, "silver.accounts").agg(F.sum("balance"), F.count(F.lit(1))).first()
    return m.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="XS")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--reuse", action="store_true", help="reuse the lake (and profile) of an earlier run of this tier")
    ap.add_argument("--lake", help="a prepared folder (lake/, landing/, truth/, local/) to use instead of <root>/<tier>")
    ap.add_argument("--nights", type=int, default=5, help="nightly task runs before the timed date (its history)")
    ap.add_argument("--offers", action="store_true", help="train the recommender and score next_best_offer first")
    ap.add_argument("--driver-memory", default="12g")
    ap.add_argument("--set", action="append", default=[], help="config override, as on the crm command line")
    ap.add_argument("--quiet-wait", type=float, default=0.0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    QUIET_WAIT["s"] = args.quiet_wait
    customers = TIERS[args.tier]
    root = Path(args.lake) if args.lake else Path(args.root) / args.tier
    if args.lake and (root / "prepared.json").exists():     # the other benchmark's record of the lake
        lake = json.loads((root / "prepared.json").read_text())
        customers, args.days = lake["customers"], lake["days"]
    if not (args.reuse or args.lake) and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = lake_settings(root, "spark.jars_cache=.local/jars", f"spark.driver_memory={args.driver_memory}",
                             "generator.daily_extract_days=5", "features.snapshot_cadence=daily", *args.set)
    setup_logging(settings)
    spark = build_session(settings)
    code = code_fingerprint(spark, ["models/maintenance/*.py", "jobs/tasks.py"], "models.maintenance")
    catalog = build_catalog(settings)
    prepared = root / "tasks_prepared.json"
    if (args.reuse or args.lake) and prepared.exists():
        prep = json.loads(prepared.read_text())
        progress(f"reusing the lake and profiles prepared on {prep['prepared_on']} under {root}")
    else:
        if args.lake:
            prep = {"lake": "prepared elsewhere", "prepared_on": date.today().isoformat()}
        else:
            prep = generate_and_ingest(spark, settings, prepared, customers, args.days, list(SOURCES))
        end = latest_business_date(spark, catalog)
        m = timed_step()
        run_features(spark, settings, start=end - timedelta(args.nights), end=end)
        prep["profiles"] = {"dates": args.nights + 1, **m.stop()}
        if args.offers:
            m = timed_step()
            train_recommender(spark, settings)
            for d in sorted({end - timedelta(args.nights), end}):   # the nights read the first, D its own
                score_recommender(spark, settings, as_of=d)
            prep["offers"] = m.stop()
        m = timed_step()
        for k in range(args.nights, 0, -1):
            night = build_tasks(spark, settings, as_of=end - timedelta(k), catalog=catalog)
            progress(f"night {end - timedelta(k)}: {night.line()}")
        prep["nights"] = {"count": args.nights, **m.stop()}
        prepared.write_text(json.dumps(prep, indent=2, default=str))
    end = latest_business_date(spark, catalog)
    steps = {"yardstick_scan": yardstick(spark, catalog, end)}
    m = timed_step()
    first = build_tasks(spark, settings, as_of=end, catalog=catalog)
    steps["tasks"] = m.stop()
    m = timed_step()
    again = build_tasks(spark, settings, as_of=end, catalog=catalog)
    steps["tasks_rerun"] = m.stop()
    same = first.by_status == again.by_status
    managers = catalog.read(spark, MAINTENANCE_TASKS.name).where(F.col("run_date") == F.lit(end)).select(
        "manager_id").distinct().count()
    out = {"tier": args.tier, "customers": customers, "days": args.days, "run_date": date.today().isoformat(),
           "code": code, "as_of_date": str(end), "preparation": prep, "steps": steps, "tasks_s": steps["tasks"]["s"],
           "rows": first.rows, "by_status": first.by_status, "planned_by_family": first.by_family,
           "worklists": managers, "rerun_identical_counts": same, "absent": first.absent,
           "history_nights": args.nights, "with_offers": bool(args.offers),
           "peak_heap_gib": round(jvm_peak_heap_bytes(spark) / 2**30, 2)}
    out["contended"] = [name for name, s in steps.items() if contended(s)]
    if args.tier == "M":
        out["target_m_under_2_min"] = "met" if out["tasks_s"] < M_TARGET_S else "MISSED"
    rows = [("tier / customers / days", f"{args.tier} / {customers:,} / {args.days}"),
            ("run date / nights of history before it", f"{end} / {args.nights}"),
            ("absent inputs", ", ".join(first.absent) or "none"),
            ("yardstick: scan of profile and accounts s", f"{steps['yardstick_scan']['s']:.1f}"),
            ("crm tasks s", f"{out['tasks_s']:.1f}" + (f" (target < {M_TARGET_S:.0f})" if args.tier == "M" else "")),
            ("rerun s (same counts)", f"{steps['tasks_rerun']['s']:.1f} ({same})"),
            ("tasks written / worklists", f"{first.rows:,} / {managers:,}"),
            ("by status", ", ".join(f"{k} {v:,}" for k, v in sorted(first.by_status.items()))),
            ("planned by family", ", ".join(f"{k} {v:,}" for k, v in sorted(first.by_family.items())))]
    if "target_m_under_2_min" in out:
        rows.append(("target: M-tier task generation under 2 min", out["target_m_under_2_min"]))
    report(rows, out, args.out, f"tasks_{args.tier}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
