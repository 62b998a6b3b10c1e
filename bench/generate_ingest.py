"""Benchmark: synthetic bank generation and ingestion, against a bare copy of the same files into Delta.

    .venv/bin/python bench/generate_ingest.py --tier S      # 10k customers, ~1M transactions
    .venv/bin/python bench/generate_ingest.py --tier M      # 100k customers, ~10M transactions
    ... --keep              keep the landing; a later --reuse run times only the copy and the ingestion (its
                            generation figures are the generating run's)
    ... --set spark.driver_memory=6g    any config override

The yardstick, measured in the same run on the same landing files, reads each source's extracts and writes
them to Delta with nothing else (no checks, hashing, de-duplication or MERGE). Targets (BENCHMARKS.md):
M-tier generation under 2 minutes; M-tier ingestion within 3x the yardstick; peak driver memory under 8 GiB,
measured as the resident memory of the driver (this Python process and its JVM, which in local mode holds the
executors too), sampled twice a second. Before the copy, every landing file is read once, so the copy and the
ingestion both read from the page cache.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import PeakMemory, lake_settings  # noqa: E402
from jobs.generate import generate  # noqa: E402
from jobs.ingest import ingest  # noqa: E402
from jobs.logs import setup_logging  # noqa: E402
from jobs.spark import build_session  # noqa: E402
from pipelines.contracts import CONTRACTS  # noqa: E402

TIERS = {"XS": (2_000, 60), "S": (10_000, 62), "M": (100_000, 62)}  # customers, days (~1.6 txns/day each)


def bare_copy(spark, settings, landing: str, scratch: str) -> tuple[float, int]:
    started, rows = time.time(), 0
    for name, c in CONTRACTS.items():
        fmt = settings.sources.formats.get(name, c.format)
        src = f"{landing}/{name}"
        reader = spark.read.option("header", True) if fmt == "csv" else spark.read
        try:
            df = reader.format(fmt).load(src)
        except Exception:  # a source with no files in this bank
            continue
        df.write.format("delta").mode("overwrite").save(f"{scratch}/{name}")
        rows += spark.read.format("delta").load(f"{scratch}/{name}").count()
    return time.time() - started, rows


def read_through(landing: str) -> tuple[float, int]:
    """Read every landing file once, so the yardstick and the ingestion both find them in the page cache.

    Without it the ratio depends on whichever step reads the files first: on a landing written an hour earlier
    the copy took 248 s cold, against 142 s warm."""
    started, size = time.time(), 0
    folder = Path(landing[len("file:"):] if landing.startswith("file:") else landing)
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 24):
                    size += len(chunk)
    return time.time() - started, size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="S")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--keep", action="store_true", help="keep the generated landing and lake")
    ap.add_argument("--reuse", action="store_true",
                    help="take the landing a previous --keep run generated; time only the copy and the ingestion")
    ap.add_argument("--set", action="append", default=[], help="config override a.b=c (e.g. spark.driver_memory=6g)")
    args = ap.parse_args()
    customers, days = TIERS[args.tier]
    root = Path(args.out) / args.tier
    previous = Path(args.out) / f"generate_ingest_{args.tier}.json"
    if args.reuse:
        if not (root / "landing").exists():
            raise SystemExit(f"--reuse: no landing under {root}; run once with --keep")
        for sub in ("lake", "local", "yardstick"):
            shutil.rmtree(root / sub, ignore_errors=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
    settings = lake_settings(root, "logging.level=WARNING", *args.set)
    setup_logging(settings)
    spark = build_session(settings)
    memory = PeakMemory(spark).__enter__()

    if args.reuse:
        old = json.loads(previous.read_text()) if previous.exists() else {}
        summary = {"rows": {"transactions": old.get("transactions", 0)}, "step_seconds": old.get("generate_steps", {})}
        gen_s, gen_rows = old.get("generate_s"), old.get("landing_rows", 0)
    else:
        t = time.time()
        summary = generate(spark, settings, customers=customers, days=days)
        gen_s = time.time() - t
        gen_rows = sum(summary["rows"].values())

    warm_s, landing_bytes = read_through(settings.path(settings.lake.landing))
    copy_s, copy_rows = bare_copy(spark, settings, settings.path(settings.lake.landing), f"{root}/yardstick")

    t = time.time()
    results = ingest(spark, settings)
    ingest_s = time.time() - t
    received = sum(r.rows_received for r in results)
    memory.__exit__()

    out = {
        "tier": args.tier, "customers": customers, "days": days, "driver_memory": settings.spark.driver_memory,
        "transactions": summary["rows"].get("transactions", 0), "landing_rows": gen_rows or copy_rows,
        "generate_s": round(gen_s, 1) if gen_s else None,
        "generate_rows_per_s": round(gen_rows / gen_s) if gen_s else None,
        "landing_gib": round(landing_bytes / 2**30, 2), "read_through_s": round(warm_s, 1),
        "yardstick_copy_s": round(copy_s, 1), "yardstick_rows": copy_rows,
        "ingest_s": round(ingest_s, 1), "ingest_rows_per_s": round(received / ingest_s),
        "ingest_vs_yardstick": round(ingest_s / copy_s, 2),
        **memory.gib(),
        "python_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, 2),
    }
    steps = {"generate_steps": summary.get("step_seconds", {}),
             "ingest_sources_s": {r.source: round(r.seconds, 1) for r in results}}
    print(f"\n{'measure':<28}{'value':>16}")
    for k, v in out.items():
        print(f"{k:<28}{v:>16,}" if isinstance(v, (int, float)) else f"{k:<28}{v!s:>16}")
    print("seconds per step:", json.dumps(steps))
    previous.write_text(json.dumps({**out, **steps}, indent=2))
    spark.stop()
    if not args.keep and not args.reuse:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
