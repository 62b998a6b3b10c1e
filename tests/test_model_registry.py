"""The shared MLflow lifecycle against real stores: an embedded SQLite store and a real `mlflow server`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from models.registry import (  # noqa: E402
    NoChampion,
    Tracking,
    TrainingRun,
    champion_version,
    experiment_name,
    input_tables,
    load_champion,
    load_model,
    promote,
)

PIP = ["mlflow"]   # skips MLflow's requirement inference, which imports the model in a subprocess


class Scale(mlflow.pyfunc.PythonModel):
    """Multiplies column x by a factor read from the model's artifact, so a loaded model proves the round trip."""

    def load_context(self, context):
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"y": model_input["x"].astype(float) * self.factor})


EXAMPLE = pd.DataFrame({"x": [1.0, 2.0, 3.0]})


def train(tracking: Tracking, tmp: Path, model_name: str, factor: float, **run_kwargs) -> tuple[str, str]:
    """One training run registering a Scale model; returns (run_id, version)."""
    artifact = tmp / f"factor-{model_name}-{factor}.txt"
    artifact.write_text(str(factor))
    with TrainingRun(tracking, family="toy", **run_kwargs) as run:
        run.log_params({"model": {"factor": factor, "kind": "scale"}, "long": "x" * 7000})
        run.log_input_tables({"gold.customer_profile": 7, "silver.transactions": None})
        run.log_metrics({"map_at_5": factor / 10, "undefined": None, "nan": float("nan")})
        run.log_baseline("popularity", {"map_at_5": 0.05})
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [factor] * 3)
        run.log_figure(fig, "plots/precision_at_k.png")
        run.log_table(pd.DataFrame({"k": [1, 5], "precision": [0.3, 0.2]}), "metrics.json")
        version = run.log_model(model_name, Scale(), {"factor": str(artifact)}, EXAMPLE, pip_requirements=PIP)
    return run.run_id, version


def predict(model) -> list[float]:
    return list(model.predict(EXAMPLE)["y"])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Tracking, Path]:
    tmp = tmp_path_factory.mktemp("mlflow")
    return Tracking(f"sqlite:///{tmp / 'mlflow.db'}", artifact_root=(tmp / "artifacts").as_uri()), tmp


def lifecycle(tracking: Tracking, tmp: Path, name: str) -> None:
    """train -> register -> promote -> load, over three versions: better, worse, tie."""
    with pytest.raises(NoChampion, match="crm train --model"):
        load_champion(tracking, name)

    _, v1 = train(tracking, tmp, name, 1.0)
    first = promote(tracking, name, v1, "map_at_5", 0.10, None)
    assert first.promoted and first.reason == "first version becomes champion" and first.champion_version is None

    _, v2 = train(tracking, tmp, name, 2.0)
    second = promote(tracking, name, v2, "map_at_5", 0.20, 0.10)
    assert second.promoted and second.champion_version == v1 and ">" in second.reason

    _, v3 = train(tracking, tmp, name, 3.0)
    third = promote(tracking, name, v3, "map_at_5", 0.15, 0.20)
    assert not third.promoted and "does not beat" in third.reason
    client = tracking.client()
    assert str(client.get_model_version_by_alias(name, "challenger").version) == v3
    assert str(client.get_model_version_by_alias(name, "champion").version) == v2
    assert champion_version(tracking, name) == v2

    tie = promote(tracking, name, v3, "map_at_5", 0.20, 0.20)
    assert not tie.promoted and champion_version(tracking, name) == v2

    model, version = load_champion(tracking, name)
    assert version == v2 and predict(model) == [2.0, 4.0, 6.0]
    assert predict(load_model(tracking, name)) == [2.0, 4.0, 6.0]
    assert predict(load_model(tracking, name, v3)) == [3.0, 6.0, 9.0]
    assert client.get_model_version(name, v3).tags["family"] == "toy"


def test_lifecycle_on_embedded_sqlite_store(store):
    tracking, tmp = store
    lifecycle(tracking, tmp, "toy-sqlite")
    exp = tracking.client().get_experiment_by_name(experiment_name("toy"))
    assert exp.artifact_location == f"{tracking.artifact_root}/crm-toy"


def test_run_records_params_inputs_baseline_and_artifacts(store):
    tracking, tmp = store
    run_id, version = train(tracking, tmp, "toy-record", 4.0, run_name="record", tags={"purpose": "test"})
    client = tracking.client()
    run = client.get_run(run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED" and run.info.run_name == "record"
    assert tags["family"] == "toy" and tags["purpose"] == "test"
    assert params["model.factor"] == "4.0" and params["model.kind"] == "scale"
    assert len(params["long"]) == 6000 and params["long"].endswith("[truncated]")
    assert params["input.gold.customer_profile.version"] == "7"
    assert params["input.silver.transactions.version"] == "none"
    assert input_tables(tracking, run_id) == {"gold.customer_profile": 7, "silver.transactions": None}
    assert params["baseline"] == "popularity"
    assert metrics["map_at_5"] == 0.4 and metrics["baseline_map_at_5"] == 0.05
    assert "undefined" not in metrics and "nan" not in metrics
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"inputs.json", "metrics.json", "plots"} <= top
    assert [a.path for a in client.list_artifacts(run_id, "plots")] == ["plots/precision_at_k.png"]
    assert plt.get_fignums() == []
    mv = client.get_model_version("toy-record", version)
    assert mv.tags["run_id"] == run_id and mv.run_id == run_id

    # the promotion decision lands on the run that produced it
    with TrainingRun(tracking, family="toy") as again:
        promote(tracking, "toy-record", version, "map_at_5", 0.4, None, run=again)
    assert client.get_run(again.run_id).data.tags["promoted"] == "true"
    _, v2 = train(tracking, tmp, "toy-record", 5.0)
    with TrainingRun(tracking, family="toy") as later:
        decision = promote(tracking, "toy-record", v2, "map_at_5", 0.3, 0.4, run=later)
    data = client.get_run(later.run_id).data
    assert not decision.promoted and data.tags["promoted"] == "false"
    assert data.tags["promotion_reason"] == decision.reason and data.metrics["champion_map_at_5"] == 0.4


def test_lower_is_better_and_missing_champion_value(store):
    tracking, tmp = store
    name = "toy-loss"
    _, v1 = train(tracking, tmp, name, 1.0)
    promote(tracking, name, v1, "rmse", 0.5, None, greater_is_better=False)
    _, v2 = train(tracking, tmp, name, 2.0)
    with pytest.raises(ValueError, match="champion_value"):
        promote(tracking, name, v2, "rmse", 0.4, None, greater_is_better=False)
    worse = promote(tracking, name, v2, "rmse", 0.6, 0.5, greater_is_better=False)
    assert not worse.promoted and champion_version(tracking, name) == v1
    better = promote(tracking, name, v2, "rmse", 0.4, 0.5, greater_is_better=False)
    assert better.promoted and better.reason == f"rmse 0.4 < champion v{v1} 0.5"
    assert champion_version(tracking, name) == v2


def test_no_champion_is_a_helpful_error(store):
    tracking, _ = store
    with pytest.raises(NoChampion) as info:
        load_model(tracking, "crm_recommender")
    assert isinstance(info.value, LookupError)
    assert "crm train --model recommender" in str(info.value)
    assert champion_version(tracking, "crm_recommender") is None


def test_failing_body_marks_the_run_failed(store):
    tracking, _ = store
    with pytest.raises(RuntimeError, match="boom"):
        with TrainingRun(tracking, family="toy") as run:
            run.log_params({"a": 1})
            raise RuntimeError("boom")
    assert tracking.client().get_run(run.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_nested_runs_for_tuning(store):
    tracking, _ = store
    with TrainingRun(tracking, family="toy", run_name="tune") as parent:
        children = []
        for i in range(2):
            with parent.nested(f"trial-{i}") as trial:
                trial.log_params({"alpha": i})
                trial.log_metrics({"map_at_5": 0.1 * i})
                children.append(trial.run_id)
        parent.log_metrics({"best_map_at_5": 0.1})
    client = tracking.client()
    for child in children:
        run = client.get_run(child)
        assert run.data.tags["mlflow.parentRunId"] == parent.run_id and run.info.status == "FINISHED"
    assert client.get_run(parent.run_id).info.status == "FINISHED"


def test_tracking_from_settings_defaults_to_embedded_store(tmp_path):
    from jobs.config import load_settings
    from jobs.tracking import tracking_from_settings

    tracking = tracking_from_settings(load_settings("local", [f"lake.local_data={tmp_path}"]))
    assert tracking.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.registry_uri == tracking.tracking_uri
    assert tracking.artifact_root == (tmp_path / "mlartifacts").as_uri()
    with TrainingRun(tracking, family="toy") as run:
        run.log_metrics({"m": 1.0})
    assert (tmp_path / "mlflow.db").exists()
    assert tracking.client().get_experiment_by_name("crm-toy").artifact_location.startswith(tracking.artifact_root)

    remote = tracking_from_settings(load_settings("cluster"))
    assert remote.tracking_uri == remote.registry_uri == "http://mlflow.bank.internal:5000"
    assert remote.artifact_root == "s3://crm-lakehouse/mlartifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real tracking server proxying artifacts (mlflow-artifacts:) into tmp_path; stopped by its process group."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        # The GenAI job runner (six huey consumers) is on by default with a SQL store; it only slows startup.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90   # a loaded 2-core machine needs ~30 s to import mlflow and migrate
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"mlflow server on {url} not healthy (exit {proc.poll()}):\n"
                            + (tmp_path / "server.log").read_text()[-4000:])
            time.sleep(0.5)
        yield url
    finally:
        # uvicorn runs as a child of `mlflow server`; the session we started holds both.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.mark.slow
def test_lifecycle_through_a_tracking_server(mlflow_server, tmp_path):
    tracking = Tracking(tracking_uri=mlflow_server)
    lifecycle(tracking, tmp_path, "toy-remote")
    exp = tracking.client().get_experiment_by_name("crm-toy")
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    assert list((tmp_path / "server-artifacts").rglob("factor-*.txt"))
