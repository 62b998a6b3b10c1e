"""Lifetime-value benchmark: the repeat-purchase summary in Spark, the BG/NBD and Gamma-Gamma fit, and scoring
every customer in Spark, at a tier of the generated bank.

    .venv/bin/python bench/lifecycle.py --tier XS             # 2k customers: a quick check of the script
    .venv/bin/python bench/lifecycle.py --tier M              # 100k customers: the target
    .venv/bin/python bench/lifecycle.py --tier M --reuse --quiet-wait 600   # skip preparation, on a shared machine

The lake lives under bench/results/lifecycle/<tier> (`--root`) and is kept, so `--reuse` can skip preparation.
1. Preparation (reported, not a target): generate `--days` days (default 120) of the sources the CLV path reads
   (customers, products, accounts, transactions) and the truth tables, and ingest them.
2. Summary: every customer's repeat-purchase summary at the calibration end (the latest business date minus
   models.clv.holdout_days) with their purchases after it, as `crm train --model clv` builds it (Spark, then
   collected to the driver: one row per customer).
3. Fit: BG/NBD and Gamma-Gamma by maximum likelihood on that summary.
4. Scoring: P(alive), expected purchases and their present value for every customer at the latest date, as
   `crm score --model lifecycle` computes them (summary and mapInPandas on the executors), written to Parquet.
Also reported: the whole `train_clv` (MLflow run and registration included), the holdout error next to the
run-rate baseline, and how well 1 - P(alive) ranks the customers the generator made churn (ROC-AUC).
Each timed step records the CPU other processes took meanwhile; over 10% of the machine is flagged CONTENDED.

Target (BENCHMARKS.md): summary + fit + scoring of the M tier under 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import functions as F  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from bench.machine import (QUIET_WAIT, code_fingerprint, generate_and_ingest, contended, jvm_peak_heap_bytes, progress,  # noqa: E402
                           lake_settings, report, reset_jvm_peak, timed_step)
from jobs.features import PointInTime, latest_business_date  # noqa: E402
from jobs.lifecycle import clv_scores, holdout_frame, horizon, train_clv  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402
from models.lifecycle.clv import fit_clv, holdout_metrics  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}  # customers
SOURCES = ("customers", "products", "accounts", "transactions")
DAYS = 120
DAILY_EXTRACT_DAYS = 5
M_TARGET_S = 180.0             # summary + fit + scoring, M tier
ROOT = Path(__file__).resolve().parent / "results" / "lifecycle"


def prepare(spark, settings, root: Path, customers: int, days: int) -> dict:
    return generate_and_ingest(spark, settings, root / "prepared.json", customers, days, list(SOURCES))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="XS")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--root", default=str(ROOT), help="parent folder of the per-tier lakes (default bench/results/lifecycle)")
    ap.add_argument("--reuse", action="store_true", help="reuse a lake prepared by an earlier run of this tier")
    ap.add_argument("--driver-memory", default="12g")
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
                             f"generator.daily_extract_days={DAILY_EXTRACT_DAYS}")
    setup_logging(settings)
    spark = build_session(settings)
    code = code_fingerprint(spark, ["models/lifecycle/*.py", "jobs/lifecycle.py"], "models.lifecycle.btyd")
    progress(f"code: {code['root']} (lifecycle sources {code['sources_sha256']})")
    if args.reuse and prepared.exists():
        prep = json.loads(prepared.read_text())
        if prep["customers"] != customers or prep["days"] != args.days:
            raise SystemExit(f"{root} holds {prep['customers']:,} x {prep['days']}; run without --reuse")
        progress(f"reusing the lake prepared on {prep['prepared_on']} under {root}")
    else:
        prep = prepare(spark, settings, root, customers, args.days)
    cfg = settings.models.clv
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    calibration_end = end - timedelta(days=cfg.holdout_days)
    pit = PointInTime(spark, settings, catalog)
    reset_jvm_peak(spark)

    progress(f"summary at {calibration_end} with the holdout to {end}")
    m = timed_step()
    frame = holdout_frame(spark, settings, catalog, pit, calibration_end, end, cfg.time_unit)
    summary = m.stop()
    progress(f"{len(frame):,} customers summarised in {summary['s']:.1f}s; fitting")
    m = timed_step()
    model, stats = fit_clv(frame, cfg.time_unit, horizon(cfg))
    fit = m.stop()
    metrics, baseline, _ = holdout_metrics(model, frame)
    progress(f"fitted in {fit['s']:.1f}s; scoring every customer at {end}")
    scratch = root / "scores"
    m = timed_step()
    clv_scores(spark, settings, catalog, pit, model, end).write.mode("overwrite").parquet(str(scratch))
    score = m.stop()
    scores = spark.read.parquet(str(scratch))
    scored = scores.count()
    progress(f"scored {scored:,} customers in {score['s']:.1f}s; the whole train_clv with MLflow")
    m = timed_step()
    trained = train_clv(spark, settings)
    train = m.stop()

    truth = spark.read.parquet(settings.path(settings.lake.truth) + "/churn")
    gone = truth.where(F.col("churn_date") <= F.lit(end)).select("customer_id", F.lit(1).alias("gone"))
    ranked = scores.join(gone, "customer_id", "left").select("p_alive", F.coalesce("gone", F.lit(0)).alias("gone")) \
        .toPandas()
    auc = float(roc_auc_score(ranked["gone"], 1 - ranked["p_alive"])) if 0 < ranked["gone"].sum() < len(ranked) \
        else float("nan")

    total = summary["s"] + fit["s"] + score["s"]
    steps = {"summary": summary, "fit": fit, "score": score, "train_clv": train}
    out = {
        "tier": args.tier, "customers": customers, "days": args.days, "run_date": date.today().isoformat(),
        "preparation": prep, "code": code, "calibration_end": str(calibration_end), "end": str(end),
        "time_unit": cfg.time_unit, "summarised_customers": len(frame), "repeat_buyers": int(stats["repeat_buyers"]),
        "scored_customers": scored, "params": model.params(), "holdout": metrics, "baseline_run_rate": baseline,
        "p_alive_churn_auc": auc, "steps": steps, "summary_fit_score_s": round(total, 1),
        "customers_per_s_scoring": round(scored / score["s"], 1),
        "peak_heap_gib": round(jvm_peak_heap_bytes(spark) / 2**30, 2),
        "python_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "registered": f"{trained.promotion.model_name} v{trained.promotion.version}",
        "contended": [name for name, s in steps.items() if contended(s)],
    }
    if args.tier == "M":
        out["target_m_under_3_min"] = "met" if total < M_TARGET_S else "MISSED"
    rows = [("tier / customers / days", f"{args.tier} / {customers:,} / {args.days}"),
            ("prepare: generate / ingest s",
             f"{prep['generate_s']} / {prep['ingest_s']}" + (" (reused)" if args.reuse else "")),
            ("summarised customers (repeat buyers)", f"{len(frame):,} ({int(stats['repeat_buyers']):,})"),
            ("summary s", f"{summary['s']:.1f}"), ("fit s", f"{fit['s']:.1f}"), ("score s", f"{score['s']:.1f}"),
            ("summary + fit + score s", f"{total:.1f}" + (f" (target < {M_TARGET_S:.0f})" if args.tier == "M" else "")),
            ("scoring customers/s", f"{out['customers_per_s_scoring']:,}"),
            ("train_clv end to end s", f"{train['s']:.1f}"),
            ("BG/NBD r, alpha, a, b", ", ".join(f"{out['params'][k]:.4g}"
                                                for k in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b"))),
            ("Gamma-Gamma p, q, v", ", ".join(f"{out['params'][k]:.4g}" for k in ("gg_p", "gg_q", "gg_v"))),
            ("holdout MAE purchases, BG/NBD / run rate",
             f"{metrics['mae_purchases']:.3f} / {baseline['mae_purchases']:.3f}"),
            ("holdout total purchases ratio, BG/NBD / run rate",
             f"{metrics['total_purchases_ratio']:.3f} / {baseline['total_purchases_ratio']:.3f}"),
            ("ROC-AUC of 1 - P(alive) for the generator's churners", f"{auc:.3f}"),
            ("peak JVM heap GiB", f"{out['peak_heap_gib']}")]
    if "target_m_under_3_min" in out:
        rows.append(("target: summary + fit + score under 3 min", out["target_m_under_3_min"]))
    report(rows, out, args.out, f"lifecycle_{args.tier}", width=55)
    return 0


if __name__ == "__main__":
    sys.exit(main())
