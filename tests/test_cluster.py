"""Cluster from day one: a Spark standalone master and worker on 127.0.0.1, ingestion through spark-submit."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from conftest import settings_for
from jobs.java import find_java_home
from jobs.submit import spark_submit_command
from landing_rows import extract, row, write_csv

pytestmark = pytest.mark.cluster
SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[2]} exited: {path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"no '{pattern}' in {path} after {timeout}s")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    logs = tmp_path_factory.mktemp("standalone")
    env = dict(os.environ, JAVA_HOME=str(find_java_home()), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_WORKER_DIR=str(logs / "work"), PYSPARK_PYTHON=sys.executable)
    port, ui, wui = _free_port(), _free_port(), _free_port()
    master_log, worker_log = logs / "master.log", logs / "worker.log"
    master = subprocess.Popen([str(SPARK_CLASS), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)],
                              stdout=master_log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        _wait_for(master_log, r"I have been elected leader", master)
        worker = subprocess.Popen([str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", url, "--host",
                                   "127.0.0.1", "--cores", "2", "--memory", "3g", "--webui-port", str(wui)],
                                  stdout=worker_log.open("w"), stderr=subprocess.STDOUT, env=env)
        _wait_for(worker_log, r"Successfully registered with master", worker)
        yield url, env
    finally:
        for p in (worker, master):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_ingestion_runs_through_spark_submit(standalone, spark, tmp_path):
    url, env = standalone
    landing = tmp_path / "landing"
    write_csv(extract(landing, "customers", "2026-01-01"), [
        row("customers"), row("customers", customer_id="C00000002", phone="+8613800000002", segment="XX")])
    write_csv(extract(landing, "products", "2026-01-01"), [row("products")])
    overrides = [f"lake.root={tmp_path}/lake", f"lake.landing={landing}", f"lake.local_data={tmp_path}/local",
                 "spark.shuffle_partitions=2", "spark.show_progress=false",
                 "validation.max_quarantine_share=0.9"]
    cmd = spark_submit_command(url, ["ingest", "--source", "customers", "--source", "products"],
                               overrides=overrides, extra_conf={"spark.executor.memory": "1g",
                                                                "spark.cores.max": "2"})
    done = subprocess.run(cmd, env=dict(env, CRM_PSEUDONYMISATION_KEY="cluster-test-key"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "customers" in done.stdout and "quarantined       1" in done.stdout
    settings = settings_for(tmp_path)
    from jobs.tables import build_catalog

    catalog = build_catalog(settings)
    silver = catalog.read(spark, "silver.customers").collect()
    assert [r.customer_id for r in silver] == ["C00000001"]
    assert len(silver[0].phone_token) == 64
    log = catalog.read(spark, "ops.ingest_log").collect()
    assert {r.source: r.status for r in log} == {"customers": "SUCCEEDED", "products": "SUCCEEDED"}
    # The application really ran on the standalone master, not in local mode.
    assert "app-" in "".join(p.name for p in (Path(env["SPARK_WORKER_DIR"])).iterdir())
