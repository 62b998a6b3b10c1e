"""Benchmark: the cross-sell recommender. Holdout quality, `implicit` ALS against Spark MLlib ALS, recovery of
the generator's latent affinities, and batch scoring throughput.

    .venv/bin/python bench/recommender.py --tier XS            # 2k customers: a quick check of the script
    .venv/bin/python bench/recommender.py --tier S             # 10k customers: the quality figures
    .venv/bin/python bench/recommender.py --tier M             # 100k customers: the scoring target
    .venv/bin/python bench/recommender.py --tier S --reuse     # skip preparation, reuse bench/results/recommender/S
    .venv/bin/python bench/recommender.py --tier M --reuse --quiet-wait 600   # on a shared machine

The lake lives under bench/results/recommender/<tier> (`--root`) and is kept, so `--reuse` can skip preparation. Steps:
1. Preparation (reported, not a target): generate a bank of `--days` days (default 120; the last 30 as daily
   extracts) with only the sources the recommender reads (customers, products, accounts, campaign_responses,
   ecommerce_orders) and the truth tables, ingest them, fold gold.customer_daily. Transactions are
   not generated: the recommender never reads them.
2. Quality: `train_recommender` (the real MLflow store under the lake's local_data): ALS, BPR and the
   popularity-by-segment baseline on the time-based holdout (cut-off = latest date - holdout_days).
3. `implicit` ALS against Spark MLlib ALS on the same training matrix (the holdout's interactions at the
   cut-off), same factors, iterations, alpha, regularization and seed. Fits timed `--repeats` times (the first
   run includes warm-up). MLlib's item factors become a FactorModel, so both are evaluated through the same
   `Holdout.evaluate` path (least-squares fold-in of each customer, then eligibility and top-k in Spark).
   MLlib differs in two definitions: confidence is 1 + alpha * r (implicit: alpha * r) and regParam is
   scaled by each user's and item's number of ratings (ALS-WR). A third, informational row refits MLlib with
   regParam divided by the mean number of ratings per item.
4. Affinity recovery: for every customer with signals at the cut-off (the training matrix's rows), each
   product category's score is the max over its products of the model's score (the FactorModel fold-in,
   vectorised here and checked against `FactorModel.score`; held products included); the per-customer
   Spearman correlation between those scores and the generator's latent aff_<CATEGORY>, over the retail
   categories for retail customers and the SME ones for SMEs (CURRENT skipped), averaged over customers. The
   popularity baseline scores a category by its best product's opening share in the customer's segment.
   Only this benchmark reads the truth table.
5. Scoring: `score_recommender` end to end at the latest business date (serving.next_best_offer), customers
   per second, and the JVM heap peak of that step.
Every timed step also records the CPU seconds other processes took meanwhile (`other_cpu_s`, out of 2 cores x
wall seconds) and the hypervisor's steal; a step where others took over 10% of the machine is flagged
CONTENDED. `--quiet-wait N` waits up to N seconds for a quiet machine before each timed step.

Targets (BENCHMARKS.md): implicit fits at least 10x faster than MLlib at equal or better precision@10; the M
tier's 100k customers scored in under 2 minutes; at S, ALS beats the popularity baseline on precision@5 and
MAP@5, and its category scores track the latent affinities better than the baseline's.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from bench.machine import (QUIET_WAIT, code_fingerprint, contended, jvm_peak_heap_bytes,  # noqa: E402
                           lake_settings, progress, reset_jvm_peak, timed_step)
from jobs.features import PointInTime, latest_business_date, update_customer_daily  # noqa: E402
from jobs.generate import generate  # noqa: E402
from jobs.ingest import ingest  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.recommend import SOURCES, holdout, score_recommender, train_recommender  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from jobs.tables import build_catalog  # noqa: E402
from models.recommend import baseline as popularity  # noqa: E402
from models.recommend.model import FactorModel  # noqa: E402
from models.recommend.train import AlsParams, fit_als, matrix  # noqa: E402
from pipelines.generator.customers import RETAIL_ONLY, SME_ONLY, aff_col  # noqa: E402

TIERS = {"XS": 2_000, "S": 10_000, "M": 100_000}  # customers
DAYS = 120
DAILY_EXTRACT_DAYS = 30
HOLDOUT_DAYS = 60
SPEEDUP_TARGET = 10.0          # MLlib fit seconds / implicit fit seconds
M_SCORE_TARGET_S = 120.0       # score_recommender for the M tier's 100k customers
ROOT = Path(__file__).resolve().parent / "results" / "recommender"


# -- 1. preparation ----------------------------------------------------------------------------------------

def prepare(spark, settings, root: Path, customers: int, days: int) -> dict:
    progress(f"generating {customers:,} customers x {days} days ({', '.join(SOURCES)})")
    gen = generate(spark, settings, customers=customers, days=days, sources=list(SOURCES))
    progress(f"generated {sum(gen['rows'].values()):,} landing rows in {gen['seconds']}s; ingesting")
    t = time.time()
    results = ingest(spark, settings, sources=list(SOURCES))
    ingest_s = round(time.time() - t, 1)
    progress(f"ingested {sum(r.rows_received for r in results):,} rows in {ingest_s}s; folding customer_daily")
    t = time.time()
    folds = update_customer_daily(spark, build_catalog(settings))
    fold_s = round(time.time() - t, 1)
    prep = {"customers": customers, "days": days, "landing_rows": gen["rows"], "generate_s": gen["seconds"],
            "generate_step_s": gen["step_seconds"], "bulk_date": gen["bulk_date"], "end_date": gen["end_date"],
            "ingest_s": ingest_s, "ingest_rows": sum(r.rows_received for r in results),
            "fold_s": fold_s, "daily_rows": sum(f.rows for f in folds), "prepared_on": date.today().isoformat()}
    (root / "prepared.json").write_text(json.dumps(prep, indent=2))
    return prep


# -- 3. implicit vs MLlib ----------------------------------------------------------------------------------

def fit_mllib(spark, ratings, n_items: int, p: AlsParams, reg_param: float) -> tuple[np.ndarray, dict]:
    """Spark MLlib ALS on (user, item, rating); returns (item factors in item-index order, seconds).
    The time covers fit() (eager: trains and caches the factors) and collecting the item factors."""
    from pyspark.ml.recommendation import ALS

    als = ALS(rank=p.factors, maxIter=p.iterations, regParam=reg_param, alpha=p.alpha, implicitPrefs=True,
              userCol="user", itemCol="item", ratingCol="rating", seed=p.random_state, coldStartStrategy="drop")
    m = timed_step()
    model = als.fit(ratings)
    rows = model.itemFactors.collect()
    took = m.stop()
    y = np.zeros((n_items, p.factors))
    for r in rows:
        y[r["id"]] = r["features"]
    return y, took


def compare(spark, settings, hold, cutoff: date, repeats: int) -> tuple[dict, FactorModel, FactorModel, tuple]:
    cfg = settings.models.recommender
    p = AlsParams(**cfg.als.model_dump())
    t = time.time()
    train_rows = hold.snap.interactions.select("customer_id", "item", "strength").toPandas()
    user_items, customers, items = matrix(train_rows)
    matrix_s = time.time() - t
    base = popularity.as_mapping(popularity.popularity_by_segment(
        hold.snap.accounts, hold.snap.customers, cutoff, cfg.baseline_window_days))
    progress(f"matrix {user_items.shape[0]:,} customers x {user_items.shape[1]} items, {user_items.nnz:,} non-zeros "
             f"({matrix_s:.1f}s); fitting implicit ALS x{repeats}")

    implicit_s, implicit_other, steal, busy, als_model = [], [], [], [], None
    for _ in range(repeats):
        m = timed_step()
        als_model = fit_als(user_items, items, p, base)
        r = m.stop()
        implicit_s.append(r["s"])
        implicit_other.append(r["other_cpu_s"])
        steal.append(r["steal_s"])
        busy.append(contended(r))

    coo = user_items.tocoo()
    pdf = pd.DataFrame({"user": coo.row.astype("int32"), "item": coo.col.astype("int32"),
                        "rating": coo.data.astype("float32")})
    arrow = spark.conf.get("spark.sql.execution.arrow.pyspark.enabled", "false")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    try:
        ratings = spark.createDataFrame(pdf, "user int, item int, rating float")
    finally:
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", arrow)
    ratings = ratings.repartition(spark.sparkContext.defaultParallelism).cache()
    ratings.count()
    progress(f"implicit fit {min(implicit_s):.2f}s (runs {', '.join(f'{s:.2f}' for s in implicit_s)}); "
             f"fitting MLlib ALS x{repeats}")
    mllib_s, mllib_other, y_mllib = [], [], None
    for _ in range(repeats):
        y_mllib, took = fit_mllib(spark, ratings, len(items), p, p.regularization)
        mllib_s.append(took["s"])
        mllib_other.append(took["other_cpu_s"])
        steal.append(took["steal_s"])
        busy.append(contended(took))
    mllib_model = FactorModel("als", items, y_mllib, p.regularization, p.alpha, base)
    per_item = user_items.nnz / len(items)
    scaled_reg = p.regularization / per_item
    progress(f"MLlib fit {min(mllib_s):.2f}s (runs {', '.join(f'{s:.2f}' for s in mllib_s)}); "
             f"MLlib with regParam {scaled_reg:.2e} (= {p.regularization} / {per_item:,.0f} ratings per item)")
    y_scaled, scaled = fit_mllib(spark, ratings, len(items), p, scaled_reg)
    scaled_s = scaled["s"]
    scaled_model = FactorModel("als", items, y_scaled, p.regularization, p.alpha, base)
    ratings.unpersist()

    progress("evaluating implicit and MLlib factors on the holdout")
    t = time.time()
    m_implicit = hold.evaluate(als_model)
    eval_s = time.time() - t
    m_mllib = hold.evaluate(mllib_model)
    m_scaled = hold.evaluate(scaled_model)
    out = {
        "params": asdict(p), "matrix_customers": user_items.shape[0], "matrix_items": user_items.shape[1],
        "matrix_nonzeros": int(user_items.nnz), "matrix_s": round(matrix_s, 1),
        "implicit_fit_s": [round(s, 3) for s in implicit_s], "mllib_fit_s": [round(s, 3) for s in mllib_s],
        "implicit_fit_other_cpu_s": implicit_other, "mllib_fit_other_cpu_s": mllib_other,
        "mllib_scaled_other_cpu_s": scaled["other_cpu_s"], "fits_steal_s": round(sum(steal), 1),
        "fits_contended": any(busy) or contended(scaled),
        "implicit_best_s": round(min(implicit_s), 3), "mllib_best_s": round(min(mllib_s), 3),
        "speedup_best": round(min(mllib_s) / min(implicit_s), 1),
        "speedup_first": round(mllib_s[0] / implicit_s[0], 1),
        "mllib_scaled_reg_param": scaled_reg, "mllib_scaled_fit_s": round(scaled_s, 3),
        "implicit": m_implicit, "mllib": m_mllib, "mllib_scaled": m_scaled, "evaluate_s": round(eval_s, 1),
        "mllib_definitions": "confidence 1 + alpha*r (implicit: alpha*r); regParam x ratings per user/item "
                             "(ALS-WR; implicit: constant)",
    }
    return out, als_model, mllib_model, (user_items, customers, items)


# -- 4. affinity recovery --------------------------------------------------------------------------------

def fold_in_scores(model: FactorModel, user_items, items: list[str], chunk: int = 8192) -> np.ndarray:
    """The model's own batched fold-in for every row of `user_items`: (customers, model items) scores."""
    out = np.empty((user_items.shape[0], len(model.item_ids)))
    for lo in range(0, user_items.shape[0], chunk):
        rows = user_items[lo:lo + chunk]
        idx, conf = model.signals([[items[j] for j in rows.indices[a:b]] for a, b in zip(rows.indptr, rows.indptr[1:])],
                                  [rows.data[a:b] for a, b in zip(rows.indptr, rows.indptr[1:])])
        x, _ = model.solve(idx, conf)
        out[lo:lo + chunk] = x @ model.item_factors.T
    return out


def spearman_rows(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Row-wise Spearman rank correlation (average ranks for ties); NaN where either row is constant."""
    rs = rankdata(scores, axis=1, method="average")
    rt = rankdata(truth, axis=1, method="average")
    rs -= rs.mean(axis=1, keepdims=True)
    rt -= rt.mean(axis=1, keepdims=True)
    den = np.sqrt((rs ** 2).sum(axis=1) * (rt ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rs * rt).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def affinity(spark, settings, hold, models: dict[str, FactorModel], mat) -> dict:
    user_items, customers, items = mat
    t = time.time()
    truth_path = settings.path(settings.lake.truth) + "/product_affinity"
    cats_retail = [c for c in RETAIL_ONLY]
    cats_sme = [c for c in SME_ONLY]
    cats = cats_retail + cats_sme
    truth = spark.read.parquet(truth_path).select("customer_id", *[aff_col(c) for c in cats]).toPandas()
    who = hold.snap.customers.select("customer_id", "customer_type", "segment").toPandas()
    product_cat = {r["product_id"]: r["category"]
                   for r in hold.snap.products.select("product_id", "category").collect()}
    frame = pd.DataFrame({"customer_id": customers}).merge(who, on="customer_id", how="left") \
        .merge(truth, on="customer_id", how="left")
    frame["row"] = np.arange(len(frame))
    known = frame[aff_col(cats[0])].notna() & frame["customer_type"].notna()
    out = {"date": "cut-off", "customers": int(known.sum()), "held_products_included": True}

    def category_matrix(product_scores: np.ndarray, item_ids: list[str], cat_list: list[str]) -> np.ndarray:
        m = np.full((product_scores.shape[0], len(cat_list)), -np.inf)
        for j, item in enumerate(item_ids):
            c = product_cat.get(item)
            if c in cat_list:
                ci = cat_list.index(c)
                m[:, ci] = np.maximum(m[:, ci], product_scores[:, j])
        return m

    scores = {}
    for name, model in models.items():
        s = fold_in_scores(model, user_items, items)
        scores[name] = s
    baseline = next(iter(models.values())).baseline
    segments = sorted(baseline)
    base_items = sorted({p for v in baseline.values() for p, _ in v})
    seg_scores = np.zeros((len(segments), len(base_items)))
    for si, s in enumerate(segments):
        for p, v in baseline[s]:
            seg_scores[si, base_items.index(p)] = v
    seg_index = {s: i for i, s in enumerate(segments)}

    for ctype, cat_list in (("RETAIL", cats_retail), ("SME", cats_sme)):
        sel = frame[known & (frame["customer_type"] == ctype)]
        rows = sel["row"].to_numpy()
        tr = sel[[aff_col(c) for c in cat_list]].to_numpy(dtype=float)
        res = {"customers": len(rows), "categories": cat_list}
        for name, s in scores.items():
            cm = category_matrix(s[rows], models[name].item_ids, cat_list)
            rho = spearman_rows(np.where(np.isfinite(cm), cm, np.nanmin(cm[np.isfinite(cm)]) - 1), tr)
            res[name] = {"mean_spearman": float(np.nanmean(rho)), "undefined": int(np.isnan(rho).sum())}
        bs = seg_scores[[seg_index.get(s, 0) for s in sel["segment"]]] if segments else np.zeros((len(rows), 0))
        cm = category_matrix(bs, base_items, cat_list)
        cm = np.where(np.isfinite(cm), cm, 0.0)
        rho = spearman_rows(cm, tr)
        res["baseline"] = {"mean_spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
                           "undefined": int(np.isnan(rho).sum())}
        out[ctype.lower()] = res
    # customer-weighted over both types, undefined correlations left out
    for name in [*scores, "baseline"]:
        n = [out[t]["customers"] - out[t][name]["undefined"] for t in ("retail", "sme")]
        v = [out[t][name]["mean_spearman"] for t in ("retail", "sme")]
        pairs = [(a, b) for a, b in zip(n, v) if a > 0 and np.isfinite(b)]
        out[name] = sum(a * b for a, b in pairs) / sum(a for a, _ in pairs) if pairs else float("nan")
    out["s"] = round(time.time() - t, 1)
    return out


# -- main ------------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="S")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--root", default=str(ROOT), help="parent folder of the per-tier lakes (default bench/results/recommender)")
    ap.add_argument("--holdout-days", type=int, default=HOLDOUT_DAYS,
                    help="models.recommender.holdout_days (default 60); the cut-off is the latest date minus this")
    ap.add_argument("--reuse", action="store_true", help="reuse a lake prepared by an earlier run of this tier")
    ap.add_argument("--repeats", type=int, default=5, help="fits of each ALS, the first including warm-up; the best counts")
    ap.add_argument("--driver-memory", default="12g")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before each timed step wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--customers", type=int, help=argparse.SUPPRESS)  # shrink a tier to try the script
    args = ap.parse_args()
    QUIET_WAIT["s"] = args.quiet_wait
    customers = args.customers or TIERS[args.tier]
    root = Path(args.root) / args.tier
    prepared = root / "prepared.json"
    if not args.reuse or not prepared.exists():
        if args.reuse:
            progress(f"--reuse: nothing prepared under {root}; preparing")
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    settings = lake_settings(root, "spark.jars_cache=.local/jars", f"spark.driver_memory={args.driver_memory}",
                             f"generator.daily_extract_days={DAILY_EXTRACT_DAYS}",
                             f"models.recommender.holdout_days={args.holdout_days}", "logging.level=WARNING")
    setup_logging(settings)
    spark = build_session(settings)
    started = time.time()

    if args.reuse and prepared.exists():
        prep = json.loads(prepared.read_text())
        if prep["customers"] != customers or prep["days"] != args.days:
            raise SystemExit(f"{root} holds {prep['customers']:,} customers x {prep['days']} days, not "
                             f"{customers:,} x {args.days}; run without --reuse")
        prep["reused"] = True
        progress(f"reusing the lake prepared on {prep['prepared_on']} under {root}")
    else:
        prep = prepare(spark, settings, root, customers, args.days)
        prep["reused"] = False

    code = code_fingerprint(spark, ["models/recommend/*.py", "jobs/recommend.py", "models/registry.py"],
                            "models.recommend.model")
    progress(f"code: {code['root']} (recommender sources {code['sources_sha256']})")
    progress("train_recommender (ALS, BPR, baseline on the time-based holdout)")
    m = timed_step()
    train = train_recommender(spark, settings)
    train_meter = m.stop()
    progress(f"trained in {train.seconds:.1f}s: {train.holdout_customers:,} holdout customers, cut-off "
             f"{train.cutoff}, chose {train.chosen}")

    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    t = time.time()
    hold = holdout(spark, settings, catalog, PointInTime(spark, settings, catalog), train.cutoff, end)
    holdout_s = round(time.time() - t, 1)
    cmp_, als_model, mllib_model, mat = compare(spark, settings, hold, train.cutoff, args.repeats)
    cmp_["holdout_s"] = holdout_s

    progress("affinity recovery against the generator's truth")
    aff = affinity(spark, settings, hold, {"als": als_model, "mllib": mllib_model}, mat)
    hold.snap.interactions.unpersist()

    progress(f"score_recommender at {end}")
    prep_heap = jvm_peak_heap_bytes(spark)
    reset_jvm_peak(spark)
    m = timed_step()
    score = score_recommender(spark, settings)
    score_meter = m.stop()
    score_heap = jvm_peak_heap_bytes(spark)
    rate = score.customers / score.seconds
    progress(f"scored {score.customers:,} customers in {score.seconds:.1f}s ({rate:,.0f}/s)")

    m_tier = args.tier == "M" and args.customers is None
    s_tier = args.tier == "S" and args.customers is None
    als_q, base_q = train.candidates.get("als", {}), train.baseline
    targets = {
        f"implicit_{SPEEDUP_TARGET:g}x_faster_than_mllib": cmp_["speedup_best"] >= SPEEDUP_TARGET,
        "implicit_precision_at_10_ge_mllib": cmp_["implicit"]["precision_at_10"] >= cmp_["mllib"]["precision_at_10"],
        "m_scoring_under_2_min": score.seconds < M_SCORE_TARGET_S if m_tier else None,
        "s_als_beats_baseline_precision_at_5":
            als_q.get("precision_at_5", 0) > base_q["precision_at_5"] if s_tier else None,
        "s_als_beats_baseline_map_at_5": als_q.get("map_at_5", 0) > base_q["map_at_5"] if s_tier else None,
        "s_als_affinity_above_baseline": aff["als"] > aff["baseline"] if s_tier else None,
    }
    py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "tier": args.tier, "customers": customers, "run_date": date.today().isoformat(),
        "days": args.days, "daily_extract_days": DAILY_EXTRACT_DAYS, "holdout_days": args.holdout_days,
        "sources": list(SOURCES), "code": code, "preparation": prep,
        "train": {"cutoff": train.cutoff.isoformat(), "end": train.end.isoformat(), "customers": train.customers,
                  "holdout_customers": train.holdout_customers, "candidates": train.candidates,
                  "baseline": train.baseline, "chosen": train.chosen, "promoted": train.promotion.promoted,
                  "version": train.promotion.version, "s": round(train.seconds, 1),
                  "other_cpu_s": train_meter["other_cpu_s"], "steal_s": train_meter["steal_s"],
                  "contended": contended(train_meter)},
        "implicit_vs_mllib": cmp_, "affinity": aff,
        "score": {"as_of": score.run_date.isoformat(), "customers": score.customers, "offered": score.offered,
                  "offers": score.offers, "cold_start": score.cold_start, "s": round(score.seconds, 1),
                  "customers_per_s": round(rate), "peak_heap_gib": round(score_heap / 2**30, 2),
                  "other_cpu_s": score_meter["other_cpu_s"], "steal_s": score_meter["steal_s"],
                  "contended": contended(score_meter)},
        "m_score_target_s": M_SCORE_TARGET_S, "speedup_target": SPEEDUP_TARGET, "targets_met": targets,
        "driver_peak_heap_gib": round(max(prep_heap, score_heap) / 2**30, 2),
        "python_peak_rss_gib": round(py_rss / 2**30, 2), "bench_s": round(time.time() - started, 1),
    }

    print(f"\nholdout: {train.holdout_customers:,} customers who opened a product in ({train.cutoff}, {train.end}]")
    names = [*train.candidates, popularity.NAME]
    print(f"{'metric':<16}" + "".join(f"{n:>24}" for n in names))
    for k in ("precision_at_5", "map_at_5", "precision_at_10", "recall_at_10", "ndcg_at_10"):
        vals = [train.candidates[c].get(k, float("nan")) for c in train.candidates] + [train.baseline[k]]
        print(f"{k:<16}" + "".join(f"{v:>24.4f}" for v in vals))

    print(f"\nsame matrix ({cmp_['matrix_customers']:,} x {cmp_['matrix_items']}, {cmp_['matrix_nonzeros']:,} nnz), "
          f"factors {cmp_['params']['factors']}, iterations {cmp_['params']['iterations']}, alpha "
          f"{cmp_['params']['alpha']}, regularization {cmp_['params']['regularization']}")
    print(f"{'':<34}{'fit s (best)':>14}{'fit s (1st)':>14}{'other cpu s':>14}{'precision@10':>14}"
          f"{'precision@5':>14}{'map@5':>10}")
    rows = (("implicit ALS", cmp_["implicit_best_s"], cmp_["implicit_fit_s"][0],
             sum(cmp_["implicit_fit_other_cpu_s"]), cmp_["implicit"]),
            ("MLlib ALS, same regParam", cmp_["mllib_best_s"], cmp_["mllib_fit_s"][0],
             sum(cmp_["mllib_fit_other_cpu_s"]), cmp_["mllib"]),
            (f"MLlib ALS, regParam {cmp_['mllib_scaled_reg_param']:.1e}", cmp_["mllib_scaled_fit_s"],
             cmp_["mllib_scaled_fit_s"], cmp_["mllib_scaled_other_cpu_s"], cmp_["mllib_scaled"]))
    for label, best, first, other, m in rows:
        print(f"{label:<34}{best:>14.3f}{first:>14.3f}{other:>14.1f}{m['precision_at_10']:>14.4f}"
              f"{m['precision_at_5']:>14.4f}{m['map_at_5']:>10.4f}")
    print("MLlib: confidence 1 + alpha*r (implicit: alpha*r); regParam scaled by each user's and item's ratings "
          "(ALS-WR). Both evaluated through Holdout.evaluate with the same least-squares fold-in.")

    print("\naffinity recovery (mean per-customer Spearman, category score vs latent aff_*, signals at the cut-off)")
    print(f"{'':<10}{'customers':>10}{'implicit ALS':>14}{'MLlib ALS':>14}{'baseline':>14}")
    for t_ in ("retail", "sme"):
        r = aff[t_]
        print(f"{t_:<10}{r['customers']:>10,}{r['als']['mean_spearman']:>14.3f}{r['mllib']['mean_spearman']:>14.3f}"
              f"{r['baseline']['mean_spearman']:>14.3f}")
    print(f"{'all':<10}{aff['customers']:>10,}{aff['als']:>14.3f}{aff['mllib']:>14.3f}{aff['baseline']:>14.3f}")

    summary = {
        "tier": args.tier, "customers": customers,
        "prepare: generate / ingest / fold s": f"{prep['generate_s']} / {prep['ingest_s']} / {prep['fold_s']}"
                                               + (" (reused)" if prep["reused"] else ""),
        "code": f"{code['root']} {code['sources_sha256']}",
        "train_recommender s": out["train"]["s"],
        "  other processes' CPU s / steal s meanwhile": f"{train_meter['other_cpu_s']} / {train_meter['steal_s']}",
        "implicit vs MLlib speed-up (best)": f"{cmp_['speedup_best']}x (target >= {SPEEDUP_TARGET:g}x)",
        "speed-up (first runs)": f"{cmp_['speedup_first']}x",
        "score_recommender s": out["score"]["s"],
        "  other processes' CPU s / steal s meanwhile ": f"{score_meter['other_cpu_s']} / {score_meter['steal_s']}",
        "scored customers / offered": f"{score.customers:,} / {score.offered:,}",
        "scoring customers/s": out["score"]["customers_per_s"],
        "scoring peak heap GiB": out["score"]["peak_heap_gib"],
        **{f"target {k}": "n/a" if v is None else ("met" if v else "MISSED") for k, v in targets.items()},
        "driver peak heap GiB": out["driver_peak_heap_gib"], "python peak RSS GiB": out["python_peak_rss_gib"],
        "bench s (after preparation)": round(out["bench_s"] - (0 if prep["reused"] else prep["generate_s"]
                                                              + prep["ingest_s"] + prep["fold_s"]), 1),
    }
    print(f"\n{'measure':<48}{'value':>28}")
    for k, v in summary.items():
        print(f"{k:<48}{v:>28,}" if isinstance(v, (int, float)) else f"{k:<48}{v:>28}")
    busy = [name for name, flag in (("train_recommender", out["train"]["contended"]),
                                    ("implicit/MLlib fits", cmp_["fits_contended"]),
                                    ("score_recommender", out["score"]["contended"])) if flag]
    out["contended_steps"] = busy
    if busy:
        print(f"\nCONTENDED: other processes took over 10% of the machine during {', '.join(busy)}; "
              "those timings overstate (rerun with --quiet-wait on a quiet machine)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"recommender_{args.tier}.json").write_text(json.dumps(out, indent=2, default=str))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
