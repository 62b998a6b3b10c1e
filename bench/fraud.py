"""Card-fraud benchmark: one business day's transactions featurised and scored, at a tier of the generated bank,
and how well the models catch the injected fraud episodes.

    .venv/bin/python bench/fraud.py --tier XS              # 2k customers: a quick check of the script
    .venv/bin/python bench/fraud.py --tier M               # 100k customers: the target
    .venv/bin/python bench/fraud.py --tier M --reuse       # skip preparation and training

    .venv/bin/python bench/fraud.py --tier M --prepare-only  # the lake alone (the AML benchmark reuses it)

The lake lives under bench/results/fraud/<tier> (`--root`) and is kept, so `--reuse` can skip preparation.
1. Preparation (reported, not a target): generate `--days` days (default 92) of the sources fraud reads
   (customers, products, accounts, transactions, fraud_labels), the truth, and aml_cases, interactions and
   nav_prices for the AML and tasks benchmarks; ingest every extract before the last business date, then the
   last one, as a night would.
2. Training (reported): `crm train --model fraud`, which first backfills gold.txn_features for the training and
   evaluation days. Its evaluation window is then scored against the generator's truth: recall at the daily
   alert budget per injected episode type and PR-AUC, for the blend and for the rules baseline.
3. The night of the latest day, timed once: `crm score --model fraud` as the nightly run calls it, i.e. the
   day's gold.txn_features, the restatement of the `restate_days` before it for the customers the last
   extract's late records and corrections reached, and the scoring of every transaction of the day into
   serving.fraud_scores. Before it, the earlier days are put back in the state a night starts from (built from
   silver before the last extract). The target is this one step. Yardstick: a bare scan of the silver rows the
   night reads (the day and its lookback).
Each timed step records the CPU other processes took meanwhile; over 10% of the machine is flagged CONTENDED.

Target (BENCHMARKS.md): one day of M-tier transactions scored, with features, under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from bench.machine import (QUIET_WAIT, code_fingerprint, contended, jvm_peak_heap_bytes, lake_settings, progress,  # noqa: E402
                           report, reset_jvm_peak, timed_step)
from jobs.features import latest_business_date  # noqa: E402
from jobs.fraud import FEATURES_TABLE, SOURCE_VERSION, TRANSACTIONS, score_fraud, train_fraud  # noqa: E402
from jobs.generate import generate  # noqa: E402
from jobs.ingest import ingest  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402
from models.fraud.model import evaluate  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}  # customers
# aml_cases, interactions and nav_prices are not read by fraud: the AML and tasks benchmarks reuse this lake
# (--prepare-only)
SOURCES = ("customers", "products", "accounts", "transactions", "fraud_labels", "aml_cases", "interactions",
           "nav_prices")
DAYS = 92
M_TARGET_S = 120.0             # features + scoring of one day, M tier
ROOT = Path(__file__).resolve().parent / "results" / "fraud"


def prepare(spark, settings, root: Path, customers: int, days: int) -> dict:
    """Generates the bank and ingests it in two loads: every extract before the last business date, then the
    last one, as a night would, so the nightly step can start from the state it starts from in production
    (the earlier days' features built from silver before the last extract brought its late records)."""
    progress(f"generating {customers:,} customers x {days} days ({', '.join(SOURCES)})")
    gen = generate(spark, settings, customers=customers, days=days, sources=list(SOURCES))
    progress(f"generated {sum(gen['rows'].values()):,} landing rows in {gen['seconds']}s; ingesting")
    end = date.fromisoformat(str(gen["end_date"]))
    m = timed_step()
    ingest(spark, settings, as_of=end - timedelta(1), sources=list(SOURCES))
    before_last = build_catalog(settings).version(spark, TRANSACTIONS)
    progress(f"ingested up to {end - timedelta(1)} (silver.transactions v{before_last}); ingesting {end}")
    ingest(spark, settings, sources=list(SOURCES))
    prep = {"customers": customers, "days": days, "sources": list(SOURCES), "landing_rows": gen["rows"],
            "generate_s": gen["seconds"], "ingest_s": m.stop()["s"], "end_date": gen["end_date"],
            "transactions_version_before_last_extract": before_last, "prepared_on": date.today().isoformat()}
    (root / "prepared.json").write_text(json.dumps(prep, indent=2, default=str))
    return prep


def start_of_night(spark, catalog, end: date, restate_days: int, before_last: int) -> str:
    """Puts gold.txn_features in the state the night of `end` starts from in production: the days before it were
    built the night before, from silver.transactions as it was before the last extract (`before_last`), so the
    nightly finds the late records and corrections that extract brought. (The training backfill built them after
    every extract was in; their rows are marked as holding for `before_last` only.)"""
    first = end - timedelta(restate_days)
    if restate_days:
        catalog.delta(spark, FEATURES_TABLE).update(
            (F.col("txn_date") >= F.lit(first)) & (F.col("txn_date") < F.lit(end)),
            {SOURCE_VERSION: F.lit(before_last).cast("bigint")})
    return f"{first}..{end - timedelta(1)} as built from v{before_last}" if restate_days else "nothing"


def against_truth(spark, settings, evaluation, budget: float) -> dict:
    """Recall at the budget per injected episode type and PR-AUC, blend and rules, on the evaluation window."""
    truth = spark.read.parquet(settings.path(settings.lake.truth) + "/fraud_episodes").select(
        "txn_id", "episode_type").toPandas()
    frame = evaluation.merge(truth, on="txn_id", how="left")
    y = frame["episode_type"].notna().astype(int)
    m = evaluate(y, frame["txn_date"], frame["score"], frame["baseline"], budget, frame["episode_type"])
    return {k: (round(v, 4) if isinstance(v, float) and not np.isnan(v) else v) for k, v in m.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="XS")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--root", default=str(ROOT), help="parent folder of the per-tier lakes (default bench/results/fraud)")
    ap.add_argument("--reuse", action="store_true", help="reuse the lake and champion of an earlier run of this tier")
    ap.add_argument("--prepare-only", action="store_true",
                    help="generate and ingest the lake (or check a reused one), then stop")
    ap.add_argument("--driver-memory", default="12g")
    ap.add_argument("--set", action="append", default=[], help="config override, as on the crm command line")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before each timed step, wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    QUIET_WAIT["s"] = args.quiet_wait
    customers = TIERS[args.tier]
    root = Path(args.root) / args.tier
    prepared = root / "prepared.json"
    if not args.reuse and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = lake_settings(root, "spark.jars_cache=.local/jars", f"spark.driver_memory={args.driver_memory}",
                             "generator.daily_extract_days=5", "models.fraud.training_days=30", *args.set)
    setup_logging(settings)
    spark = build_session(settings)
    code = code_fingerprint(spark, ["features/txn.py", "features/merchant_risk.py", "models/fraud/*.py",
                                    "jobs/fraud.py"], "features.txn")
    progress(f"code: {code['root']} (fraud sources {code['sources_sha256']})")
    trained = None
    if args.reuse and prepared.exists():
        prep = json.loads(prepared.read_text())
        if prep["customers"] != customers or prep["days"] != args.days:
            raise SystemExit(f"{root} holds {prep['customers']:,} x {prep['days']}; run without --reuse")
        progress(f"reusing the lake prepared on {prep['prepared_on']} under {root}")
    else:
        prep = prepare(spark, settings, root, customers, args.days)
    if args.prepare_only:
        progress(f"prepared {root}: generate {prep['generate_s']}s, ingest {prep['ingest_s']}s")
        return 0
    cfg = settings.models.fraud
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    steps = {}
    truth = None
    if not (args.reuse and (root / "trained.json").exists()):
        progress("training (backfills txn_features for the training and evaluation days first)")
        m = timed_step()
        trained = train_fraud(spark, settings)
        steps["train_fraud"] = m.stop()
        for line in trained.lines():
            progress(line)
        truth = against_truth(spark, settings, trained.evaluation, cfg.alert_budget)
        (root / "trained.json").write_text(json.dumps({"metrics": trained.metrics, "truth": truth,
                                                       "train_s": steps["train_fraud"]["s"],
                                                       "rows": trained.rows, "positives": trained.positives},
                                                      indent=2, default=str))
    else:
        saved = json.loads((root / "trained.json").read_text())
        truth = saved["truth"]
        progress(f"reusing the champion trained earlier ({saved.get('train_s', '?')}s)")
    reset_jvm_peak(spark)
    night = start_of_night(spark, catalog, end, cfg.restate_days, prep["transactions_version_before_last_extract"])
    progress(f"nightly score_fraud of {end} (its features, restating {night}), timed")
    m = timed_step()
    scored = score_fraud(spark, settings, as_of=end)
    steps["nightly_score_fraud"] = m.stop()
    build = scored.features
    progress(build.line())
    progress("yardstick: a bare scan of the silver transactions the night reads (the day and its lookback)")
    m = timed_step()
    lookback = cfg.features.lookback_days
    txns = catalog.read(spark, TRANSACTIONS)
    scanned = txns.where((F.col("txn_ts") >= F.lit(end - timedelta(lookback)).cast("timestamp"))
                         & (F.col("txn_ts") < F.lit(end + timedelta(1)).cast("timestamp"))).count()
    steps["yardstick_scan"] = m.stop()
    day_rows = scored.transactions
    total = steps["nightly_score_fraud"]["s"]
    alerts = catalog.read(spark, "serving.fraud_scores").where(F.col("run_date") == F.lit(end))
    sample = [r["reasons"] for r in alerts.where(F.col("decision") == "ALERT").orderBy("alert_rank").limit(5).collect()]
    out = {
        "tier": args.tier, "customers": customers, "days": args.days, "run_date": date.today().isoformat(),
        "preparation": prep, "code": code, "scored_date": str(end), "day_transactions": day_rows,
        "alerts": scored.alerts, "steps": steps, "nightly_s": round(total, 1),
        "features_s": round(build.seconds, 1),
        "restated_days": [str(d) for d in build.restated], "restated_customers": build.restated_customers,
        "restated_transactions": build.restated_rows, "transactions_per_s": round(day_rows / total, 1),
        "yardstick_rows_scanned": scanned,
        "training": ({"metrics": trained.metrics, "rows": trained.rows, "positives": trained.positives}
                     if trained else "reused"),
        "against_truth": truth, "top_alert_reasons": sample,
        "peak_heap_gib": round(jvm_peak_heap_bytes(spark) / 2**30, 2),
        "contended": [name for name, s in steps.items() if contended(s)],
    }
    if args.tier == "M":
        out["target_m_under_2_min"] = "met" if total < M_TARGET_S else "MISSED"
    rows = [("tier / customers / days", f"{args.tier} / {customers:,} / {args.days}"),
            ("prepare: generate / ingest s", f"{prep['generate_s']} / {prep['ingest_s']}"
             + (" (reused)" if args.reuse else "")),
            ("train_fraud s (incl. feature backfill)",
             f"{steps['train_fraud']['s']:.1f}" if "train_fraud" in steps
             else f"{saved.get('train_s', '?')} (reused)"),
            (f"transactions on {end}", f"{day_rows:,}"),
            ("nightly score_fraud (features + scoring) s",
             f"{total:.1f}" + (f" (target < {M_TARGET_S:.0f})" if args.tier == "M" else "")),
            ("  features s (the day and the restatement: one pass)", f"{build.seconds:.1f}"),
            ("  restated: days / customers / transactions",
             f"{len(build.restated)} / {build.restated_customers:,} / {build.restated_rows:,}"),
            ("  scoring and write s", f"{total - build.seconds:.1f}"),
            (f"yardstick: bare scan of {scanned:,} silver rows s", f"{steps['yardstick_scan']['s']:.1f}"),
            ("transactions per second", f"{out['transactions_per_s']:,}"),
            ("alerts", f"{scored.alerts:,}")]
    if truth:
        rows += [("vs truth: PR-AUC blend / rules", f"{truth['pr_auc']} / {truth['baseline_pr_auc']}"),
                 ("vs truth: recall@budget blend / rules",
                  f"{truth['recall_at_budget']} / {truth['baseline_recall_at_budget']}")]
        rows += [(f"  recall {k.removeprefix('recall_at_budget_')} blend / rules", f"{v} / {truth['baseline_' + k]}")
                 for k, v in truth.items() if k.startswith("recall_at_budget_")]
    if "target_m_under_2_min" in out:
        rows.append(("target: one day with features under 2 min", out["target_m_under_2_min"]))
    report(rows, out, args.out, f"fraud_{args.tier}", width=48)
    return 0


if __name__ == "__main__":
    sys.exit(main())
