"""Launch any `crm` step through spark-submit, on a standalone cluster, YARN or Kubernetes.

    python -m jobs.submit --master spark://host:7077 [--env cluster] -- ingest --date 2026-04-30

builds and runs `spark-submit <Delta conf> jobs/entrypoint.py <crm arguments>`. On a cluster the session
is the one spark-submit creates (jobs/spark.py takes it as given); Delta comes from the jars cached in
`spark.jars_cache` when present, else from Maven coordinates.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pyspark

from jobs.config import load_settings
from jobs.java import ensure_java_home
from jobs.spark import DELTA_CATALOG, DELTA_EXTENSION, _cached_jars, _local_jars_dir, delta_packages

ENTRYPOINT = Path(__file__).resolve().parent / "entrypoint.py"


def spark_submit_command(master: str, crm_args: list[str], env: str = "local", overrides: list[str] = (),
                         extra_conf: dict[str, str] | None = None) -> list[str]:
    settings = load_settings(env, list(overrides))
    submit = str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    cmd = [submit, "--master", master, "--name", f"{settings.spark.app_name}-{crm_args[0] if crm_args else 'crm'}",
           "--conf", f"spark.sql.extensions={DELTA_EXTENSION}",
           "--conf", f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}",
           "--conf", "spark.python.sql.dataFrameDebugging.enabled=false",
           "--conf", f"spark.pyspark.python={sys.executable}",
           "--conf", f"spark.pyspark.driver.python={sys.executable}"]
    jars = _cached_jars(_local_jars_dir(settings), settings.spark.delta_version)
    if jars:
        cmd += ["--jars", ",".join(jars)]
    else:
        cmd += ["--packages", ",".join(delta_packages(settings.spark.delta_version))]
    for k, v in {**settings.spark.conf, **(extra_conf or {})}.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd.append(str(ENTRYPOINT))
    cmd += ["--env", env]
    for o in overrides:
        cmd += ["--set", o]
    return cmd + list(crm_args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.submit")
    ap.add_argument("--master", required=True)
    ap.add_argument("--env", default="local")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("crm_args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    crm_args = [a for a in args.crm_args if a != "--"]
    ensure_java_home()
    cmd = spark_submit_command(args.master, crm_args, args.env, args.overrides)
    return subprocess.call(cmd, env=os.environ.copy())


if __name__ == "__main__":
    sys.exit(main())
