"""Benchmark: synthetic bank generation and ingestion, against a bare copy of the same files into Delta.

    .venv/bin/python bench/generate_ingest.py --tier S      # 10k customers, ~1M transactions
    .venv/bin/python bench/generate_ingest.py --tier M      # 100k customers, ~10M transactions

The yardstick, measured in the same run on the same landing files, reads each source's extracts and writes
them to Delta with nothing else (no checks, hashing, de-duplication or MERGE). Targets (BENCHMARKS.md):
M-tier generation under 2 minutes; M-tier ingestion within 3x the yardstick; peak driver memory under 8 GiB.
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

from bench.machine import jvm_peak_heap_bytes  # noqa: E402
from jobs.config import load_settings  # noqa: E402
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", choices=sorted(TIERS), default="S")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--keep", action="store_true", help="keep the generated lake")
    args = ap.parse_args()
    customers, days = TIERS[args.tier]
    root = Path(args.out) / args.tier
    shutil.rmtree(root, ignore_errors=True)
    settings = load_settings("local", [f"lake.root={root}/lake", f"lake.landing={root}/landing",
                                       f"lake.truth={root}/truth", f"lake.local_data={root}/local",
                                       "spark.show_progress=false", "logging.level=WARNING"])
    setup_logging(settings)
    spark = build_session(settings)

    t = time.time()
    summary = generate(spark, settings, customers=customers, days=days)
    gen_s = time.time() - t
    gen_rows = sum(summary["rows"].values())

    copy_s, copy_rows = bare_copy(spark, settings, settings.path(settings.lake.landing), f"{root}/yardstick")

    t = time.time()
    results = ingest(spark, settings)
    ingest_s = time.time() - t
    received = sum(r.rows_received for r in results)

    peak_heap = jvm_peak_heap_bytes(spark)
    py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "tier": args.tier, "customers": customers, "days": days,
        "transactions": summary["rows"].get("transactions", 0), "landing_rows": gen_rows,
        "generate_s": round(gen_s, 1), "generate_rows_per_s": round(gen_rows / gen_s),
        "yardstick_copy_s": round(copy_s, 1), "yardstick_rows": copy_rows,
        "ingest_s": round(ingest_s, 1), "ingest_rows_per_s": round(received / ingest_s),
        "ingest_vs_yardstick": round(ingest_s / copy_s, 2),
        "driver_peak_heap_gib": round(peak_heap / 2**30, 2), "python_peak_rss_gib": round(py_rss / 2**30, 2),
    }
    print(f"\n{'measure':<28}{'value':>16}")
    for k, v in out.items():
        print(f"{k:<28}{v:>16,}" if isinstance(v, (int, float)) else f"{k:<28}{v:>16}")
    (Path(args.out) / f"generate_ingest_{args.tier}.json").write_text(json.dumps(out, indent=2))
    spark.stop()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
