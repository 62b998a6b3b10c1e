"""Card-fraud benchmark: one business day's transactions featurised and scored, at a tier of the generated bank,
and how well the models catch the injected fraud episodes.

    .venv/bin/python bench/fraud.py --tier XS              # 2k customers: a quick check of the script
    .venv/bin/python bench/fraud.py --tier M               # 100k customers: the target
    .venv/bin/python bench/fraud.py --tier M --reuse       # skip preparation and training

The lake lives under /tmp/bench_fraud/<tier> (`--root`) and is kept, so `--reuse` can skip preparation.
1. Preparation (reported, not a target): generate `--days` days (default 62) of the sources fraud reads
   (customers, products, accounts, transactions, fraud_labels) and the truth, and ingest them.
2. Training (reported): `crm train --model fraud`, which first backfills gold.txn_features for the training and
   evaluation days. Its evaluation window is then scored against the generator's truth: recall at the daily
   alert budget per injected episode type and PR-AUC, for the blend and for the rules baseline.
3. The nightly scoring of the latest day, timed: (a) gold.txn_features for that day alone, then (b) scoring
   every transaction of the day into serving.fraud_scores (`crm score --model fraud`, with models.fraud.
   restate_days=0 so it builds nothing else). The target is (a) + (b).
Each timed step records the CPU other processes took meanwhile; over 10% of the machine is flagged CONTENDED.

Target (BENCHMARKS.md): one day of M-tier transactions scored, with features, under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from bench.machine import (QUIET_WAIT, code_fingerprint, contended, jvm_peak_heap_bytes, progress,  # noqa: E402
                           report, reset_jvm_peak, timed_step)
from jobs.config import load_settings  # noqa: E402
from jobs.features import latest_business_date  # noqa: E402
from jobs.fraud import build_txn_features, score_fraud, train_fraud  # noqa: E402
from jobs.generate import generate  # noqa: E402
from jobs.ingest import ingest  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402
from models.fraud.model import evaluate  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}  # customers
SOURCES = ("customers", "products", "accounts", "transactions", "fraud_labels")
DAYS = 62
M_TARGET_S = 120.0             # features + scoring of one day, M tier
ROOT = Path("/tmp/bench_fraud")


def prepare(spark, settings, root: Path, customers: int, days: int) -> dict:
    progress(f"generating {customers:,} customers x {days} days ({', '.join(SOURCES)})")
    gen = generate(spark, settings, customers=customers, days=days, sources=list(SOURCES))
    progress(f"generated {sum(gen['rows'].values()):,} landing rows in {gen['seconds']}s; ingesting")
    m = timed_step()
    ingest(spark, settings, sources=list(SOURCES))
    prep = {"customers": customers, "days": days, "landing_rows": gen["rows"], "generate_s": gen["seconds"],
            "ingest_s": m.stop()["s"], "end_date": gen["end_date"], "prepared_on": date.today().isoformat()}
    (root / "prepared.json").write_text(json.dumps(prep, indent=2))
    return prep


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
    ap.add_argument("--root", default=str(ROOT), help="parent folder of the per-tier lakes (default /tmp/bench_fraud)")
    ap.add_argument("--reuse", action="store_true", help="reuse the lake and champion of an earlier run of this tier")
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
    overrides = [f"lake.root={root}/lake", f"lake.landing={root}/landing", f"lake.truth={root}/truth",
                 f"lake.local_data={root}/local", "spark.jars_cache=.local/jars",
                 f"spark.driver_memory={args.driver_memory}", "spark.show_progress=false",
                 "generator.daily_extract_days=5", "models.fraud.training_days=30", *args.set]
    settings = load_settings("local", overrides)
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
                                                       "rows": trained.rows, "positives": trained.positives},
                                                      indent=2, default=str))
    else:
        saved = json.loads((root / "trained.json").read_text())
        truth = saved["truth"]
    reset_jvm_peak(spark)
    progress(f"features of {end}")
    m = timed_step()
    build_txn_features(spark, settings, end, end, catalog=catalog)
    steps["features_one_day"] = m.stop()
    progress(f"scoring {end}")
    nightly = load_settings("local", [*overrides, "models.fraud.restate_days=0"])
    m = timed_step()
    scored = score_fraud(spark, nightly, as_of=end)
    steps["score_one_day"] = m.stop()
    day_rows = scored.transactions
    # score_fraud rebuilt the day's features too (restate_days=0: that day only)
    total = steps["score_one_day"]["s"]
    alerts = catalog.read(spark, "serving.fraud_scores").where(F.col("run_date") == F.lit(end))
    sample = [r["reasons"] for r in alerts.where(F.col("decision") == "ALERT").orderBy("alert_rank").limit(5).collect()]
    out = {
        "tier": args.tier, "customers": customers, "days": args.days, "run_date": date.today().isoformat(),
        "preparation": prep, "code": code, "scored_date": str(end), "day_transactions": day_rows,
        "alerts": scored.alerts, "steps": steps, "features_plus_score_s": round(total, 1),
        "transactions_per_s": round(day_rows / total, 1),
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
             f"{steps['train_fraud']['s']:.1f}" if "train_fraud" in steps else "reused"),
            (f"transactions on {end}", f"{day_rows:,}"),
            ("features of the day alone s", f"{steps['features_one_day']['s']:.1f}"),
            ("nightly score_fraud (features + scoring) s",
             f"{total:.1f}" + (f" (target < {M_TARGET_S:.0f})" if args.tier == "M" else "")),
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
