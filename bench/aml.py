"""AML benchmark: the network and typology features of one as-of date over its 90-day window, at a tier of the
generated bank, next to a bare scan of the same transactions; optionally the model's recall against the
injected typologies.

    .venv/bin/python bench/aml.py --tier XS                       # 2k customers: a quick check of the script
    .venv/bin/python bench/aml.py --tier S --train                # 10k customers, with training and scoring
    .venv/bin/python bench/aml.py --tier M --lake bench/results/fraud/M   # 100k customers on a lake prepared already

The lake lives under bench/results/aml/<tier> (`--root`) and is kept, so `--reuse` skips preparation; `--lake`
points at any prepared folder holding lake/, truth/ and local/ (e.g. the fraud benchmark's, which ingests the
sources AML reads when run with --days 92).
1. Preparation (reported, not a target): generate `--days` days (default 92) of customers, products, accounts,
   transactions and aml_cases with the truth, and ingest them.
2. Timed: gold.aml_features for the latest business date (`build_aml_features`: flows, structuring, fan-in/out,
   pass-through, transfer cycles, network groups and hops to past cases, dormancy, peers), and the yardstick
   measured in the same run: a bare Spark scan of the window's transactions aggregated per customer.
3. With --train: `crm train --model aml` and `crm score --model aml` (recall per injected typology at the 1%
   budget against the threshold-rules baseline).
Each timed step records the CPU other processes took meanwhile; over 10% of the machine is flagged CONTENDED.
When the other tiers' results are in the output folder, the table shows how the time grows with the tier.

Target (BENCHMARKS.md): the network features for the M tier (100k customers, 90-day window) under 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import functions as F  # noqa: E402

from bench.machine import QUIET_WAIT, code_fingerprint, generate_and_ingest, contended, jvm_peak_heap_bytes, lake_settings, progress, report, timed_step  # noqa: E402,E501
from jobs.aml import TRANSACTIONS, build_aml_features, score_aml, train_aml  # noqa: E402
from jobs.features import latest_business_date  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}  # customers
SOURCES = ("customers", "products", "accounts", "transactions", "aml_cases")
DAYS = 92
M_TARGET_S = 300.0
ROOT = Path(__file__).resolve().parent / "results" / "aml"


def prepare(spark, settings, root: Path, customers: int, days: int) -> dict:
    return generate_and_ingest(spark, settings, root / "aml_prepared.json", customers, days, list(SOURCES))


def yardstick(spark, catalog, end: date) -> tuple[dict, int]:
    """A bare scan of the 90 days' transactions, summed per customer: what reading the window costs."""
    lo = F.lit(end - timedelta(89)).cast("timestamp")
    hi = F.lit(end + timedelta(1)).cast("timestamp")
    m = timed_step()
    txns = catalog.read(spark, TRANSACTIONS).where((F.col("txn_ts") >= lo) & (F.col("txn_ts") < hi))
    n = txns.groupBy("customer_id").agg(F.sum("amount").alias("s"), F.count(F.lit(1)).alias("n")).agg(
        F.sum("n")).first()[0]
    return m.stop(), int(n or 0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="XS")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--root", default=str(ROOT), help="parent folder of the per-tier lakes (default bench/results/aml)")
    ap.add_argument("--lake", help="a prepared folder (lake/, truth/, local/) to use instead of <root>/<tier>")
    ap.add_argument("--reuse", action="store_true", help="reuse the lake of an earlier run of this tier")
    ap.add_argument("--train", action="store_true", help="also train and score, and report recall against truth")
    ap.add_argument("--driver-memory", default="12g")
    ap.add_argument("--set", action="append", default=[], help="config override, as on the crm command line")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before each timed step, wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    QUIET_WAIT["s"] = args.quiet_wait
    customers = TIERS[args.tier]
    root = Path(args.lake) if args.lake else Path(args.root) / args.tier
    if not (args.reuse or args.lake) and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = lake_settings(root, "spark.jars_cache=.local/jars", f"spark.driver_memory={args.driver_memory}",
                             "generator.daily_extract_days=5", f"models.aml.evaluation_truth={root}/truth", *args.set)
    setup_logging(settings)
    spark = build_session(settings)
    code = code_fingerprint(spark, ["features/aml/*.py", "models/aml/*.py", "jobs/aml.py"], "features.aml")
    progress(f"code: {code['root']} (aml sources {code['sources_sha256']})")
    catalog = build_catalog(settings)
    if args.lake or (args.reuse and catalog.exists(spark, TRANSACTIONS)):
        prep = "reused"
        progress(f"reusing the lake under {root}")
    else:
        prep = prepare(spark, settings, root, customers, args.days)
    end = latest_business_date(spark, catalog)
    steps = {}
    steps["yardstick_scan"], window_rows = yardstick(spark, catalog, end)
    progress(f"aml features of {end} (90 days, {window_rows:,} transactions)")
    m = timed_step()
    run = build_aml_features(spark, settings, [end], catalog=catalog)
    steps["aml_features"] = m.stop()
    run.build.release()
    feats = catalog.read(spark, "gold.aml_features").where(F.col("as_of_date") == F.lit(end))
    shape = feats.agg(F.max("network_group_size").alias("largest_group"),
                      F.sum((F.col("network_group_size") > 1).cast("int")).alias("grouped"),
                      F.sum(F.col("cycle_count_30d")).alias("cycles_30d"),
                      F.sum(F.col("hops_to_past_case").isNotNull().cast("int")).alias("near_cases")).first().asDict()
    out = {"tier": args.tier, "customers": customers, "days": args.days, "run_date": date.today().isoformat(),
           "preparation": prep, "code": code, "as_of_date": str(end), "window_transactions": window_rows,
           "customer_rows": run.rows, "steps": steps, "features_s": steps["aml_features"]["s"],
           "features_over_yardstick": round(steps["aml_features"]["s"] / max(0.1, steps["yardstick_scan"]["s"]), 2),
           "feature_shape": shape, "peak_heap_gib": round(jvm_peak_heap_bytes(spark) / 2**30, 2)}
    if args.train:
        m = timed_step()
        trained = train_aml(spark, settings)
        steps["train_aml"] = m.stop()
        for line in trained.lines():
            progress(line)
        m = timed_step()
        scored = score_aml(spark, settings, as_of=end)
        steps["score_aml"] = m.stop()
        out["training"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in trained.metrics.items()}
        out["alerts"] = scored.alerts
    out["contended"] = [name for name, s in steps.items() if contended(s)]
    if args.tier == "M":
        out["target_m_under_5_min"] = "met" if out["features_s"] < M_TARGET_S else "MISSED"
    rows = [("tier / customers / days", f"{args.tier} / {customers:,} / {args.days}"),
            ("as-of date / transactions in the 90 days", f"{end} / {window_rows:,}"),
            ("customers with features", f"{run.rows:,}"),
            ("yardstick: bare scan of the window s", f"{steps['yardstick_scan']['s']:.1f}"),
            ("aml features of the date s", f"{out['features_s']:.1f}"
             + (f" (target < {M_TARGET_S:.0f})" if args.tier == "M" else "")),
            ("features / yardstick", f"{out['features_over_yardstick']}x"),
            ("largest network group / customers grouped", f"{shape['largest_group']} / {shape['grouped']:,}"),
            ("cycles in 30 days / customers near a past case", f"{shape['cycles_30d']} / {shape['near_cases']:,}")]
    for other in sorted(TIERS, key=TIERS.get):
        path = Path(args.out) / f"aml_{other}.json"
        if other != args.tier and path.exists():
            prev = json.loads(path.read_text())
            rows.append((f"vs {other}: customers x / transactions x / time x",
                         f"{customers / prev['customers']:.1f} / {window_rows / max(1, prev['window_transactions']):.1f}"
                         f" / {out['features_s'] / max(0.1, prev['features_s']):.1f}"))
    if args.train:
        t = out["training"]
        rows += [("train_aml s / score_aml s", f"{steps['train_aml']['s']:.0f} / {steps['score_aml']['s']:.0f}"),
                 ("recall@1% model / rules", f"{t.get('recall_at_budget')} / {t.get('baseline_recall_at_budget')}"),
                 ("precision@1% model / rules",
                  f"{t.get('precision_at_budget')} / {t.get('baseline_precision_at_budget')}")]
        rows += [(f"  recall {k.removeprefix('recall_at_budget_')} model / rules", f"{v} / {t.get('baseline_' + k)}")
                 for k, v in t.items() if k.startswith("recall_at_budget_")]
    if "target_m_under_5_min" in out:
        rows.append(("target: M-tier network features under 5 min", out["target_m_under_5_min"]))
    report(rows, out, args.out, f"aml_{args.tier}", width=52)
    return 0


if __name__ == "__main__":
    sys.exit(main())
