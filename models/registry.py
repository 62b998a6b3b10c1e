"""The MLflow lifecycle every model family shares: track a training run, register a version, promote it.

One experiment per family (`crm-<family>`). A run records its parameters, the Delta versions of its input
tables, holdout metrics next to a named baseline, plots and tables, and a pyfunc model with a signature.
Each registered version gets the alias `challenger`; `champion` moves only when the challenger strictly beats
the champion on the same holdout, and scoring loads the champion. Pure MLflow: no Spark, no project settings.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
_PARAM_VALUE_LIMIT = 6000      # MLflow's MAX_PARAM_VAL_LENGTH; longer values are rejected, not truncated
_CUT = "...[truncated]"
_PARAM_BATCH = 100             # log_batch accepts at most 100 params per call


@dataclass(frozen=True)
class Tracking:
    """Where runs and registered models live."""

    tracking_uri: str
    registry_uri: str | None = None
    artifact_root: str | None = None   # artifacts of experiments we create; None = the server's default

    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri or self.tracking_uri)


class NoChampion(LookupError):
    """A registered model has no `champion` version yet."""


def experiment_name(family: str) -> str:
    return f"crm-{family}"


def _is(e: MlflowException, code: int) -> bool:
    return e.error_code == ErrorCode.Name(code)


@contextmanager
def _using(tracking: Tracking):
    """Point MLflow's global (fluent) API at `tracking`: log_model, register_model and load_model only use it."""
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.registry_uri or tracking.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _experiment_id(tracking: Tracking, name: str) -> str:
    client = tracking.client()
    if (exp := client.get_experiment_by_name(name)) is not None:
        return exp.experiment_id
    location = f"{tracking.artifact_root.rstrip('/')}/{name}" if tracking.artifact_root else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as e:
        if not _is(e, RESOURCE_ALREADY_EXISTS):   # another trainer created it a moment ago
            raise
        return client.get_experiment_by_name(name).experiment_id


def _flatten(params: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            text = str(value)
            if len(text) > _PARAM_VALUE_LIMIT:
                text = text[: _PARAM_VALUE_LIMIT - len(_CUT)] + _CUT
            out[f"{prefix}{key}"] = text
    return out


class TrainingRun:
    """One MLflow run in the family's experiment; a context manager that fails the run if its body raises."""

    def __init__(self, tracking: Tracking, family: str, run_name: str | None = None,
                 tags: dict[str, str] | None = None, _parent: TrainingRun | None = None):
        self.tracking, self.family, self.run_name = tracking, family, run_name
        self.tags = {"family": family, **(tags or {})}
        self._parent = _parent
        self._client = tracking.client()
        self._uris = None
        self.run_id: str = ""

    def __enter__(self) -> TrainingRun:
        self._uris = _using(self.tracking)
        self._uris.__enter__()
        try:
            # The fluent run stack is what pyfunc.log_model attaches to, so the run starts through it.
            run = mlflow.start_run(
                experiment_id=_experiment_id(self.tracking, experiment_name(self.family)),
                run_name=self.run_name, tags=self.tags, nested=self._parent is not None,
                parent_run_id=self._parent.run_id if self._parent else None)
        except BaseException:
            self._uris.__exit__(None, None, None)
            raise
        self.run_id = run.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            active = mlflow.active_run()
            status = "FINISHED" if exc_type is None else "FAILED"
            if active is not None and active.info.run_id == self.run_id:
                mlflow.end_run(status)
            else:
                self._client.set_terminated(self.run_id, status)
        finally:
            self._uris.__exit__(None, None, None)

    def nested(self, run_name: str) -> TrainingRun:
        """A child run (one trial of a --tune search), tagged with this run as its parent."""
        return TrainingRun(self.tracking, self.family, run_name, self.tags, _parent=self)

    def log_params(self, params: dict) -> None:
        items = [Param(k, v) for k, v in _flatten(params).items()]
        for i in range(0, len(items), _PARAM_BATCH):
            self._client.log_batch(self.run_id, params=items[i:i + _PARAM_BATCH])

    def log_input_tables(self, versions: dict[str, int | None]) -> None:
        """The Delta versions the model was trained on, so the exact training data can be time-travelled to."""
        self.log_params({f"input.{t}.version": "none" if v is None else v for t, v in versions.items()})
        self._client.log_dict(self.run_id, {"tables": versions}, "inputs.json")

    def log_metrics(self, metrics: dict[str, float | None], step: int | None = None) -> None:
        for key, value in metrics.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                log.debug("run %s: metric %s has no value (%r), not logged", self.run_id, key, value)
                continue
            self._client.log_metric(self.run_id, key, float(value), step=step or 0)

    def log_baseline(self, name: str, metrics: dict[str, float | None]) -> None:
        self.log_params({"baseline": name})
        self.log_metrics({f"baseline_{k}": v for k, v in metrics.items()})

    def log_with_baseline(self, name: str, metrics: dict[str, float | None]) -> None:
        """Metrics whose keys start with `baseline_` as the named baseline's, the others as the model's."""
        self.log_metrics({k: v for k, v in metrics.items() if not k.startswith("baseline_")})
        self.log_baseline(name, {k.removeprefix("baseline_"): v for k, v in metrics.items()
                                 if k.startswith("baseline_")})

    def log_figure(self, figure, artifact_file: str) -> None:
        import matplotlib.pyplot as plt

        try:
            self._client.log_figure(self.run_id, figure, artifact_file)
        finally:
            plt.close(figure)   # a training job draws many plots; open figures pin memory

    def log_table(self, frame, artifact_file: str) -> None:
        """A pandas frame as a .json (records) or .csv artifact."""
        suffix = Path(artifact_file).suffix
        if suffix not in (".json", ".csv"):
            raise ValueError(f"log_table: {artifact_file!r} should end in .json or .csv")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(artifact_file).name
            if suffix == ".json":
                local.write_text(frame.to_json(orient="records", date_format="iso", indent=1))
            else:
                frame.to_csv(local, index=False)
            folder = str(Path(artifact_file).parent)
            self._client.log_artifact(self.run_id, str(local), None if folder == "." else folder)

    def log_model(self, model_name: str, python_model, artifacts: dict[str, str], input_example,
                  signature=None, pip_requirements: list[str] | None = None) -> str:
        """Log a pyfunc model, register it as a new version of `model_name` and make it the challenger."""
        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:
            raise RuntimeError("log_model must be called inside this run's `with` block, not a nested run's")
        # Without a signature MLflow loads the saved model (load_context included) and predicts on the example.
        info = mlflow.pyfunc.log_model(
            name="model", python_model=python_model, artifacts=artifacts, input_example=input_example,
            signature=signature, pip_requirements=pip_requirements)
        version = mlflow.register_model(
            info.model_uri, model_name, tags={"run_id": self.run_id, "family": self.family}).version
        self._client.set_registered_model_alias(model_name, CHALLENGER, version)
        self._client.set_tag(self.run_id, "registered_version", f"{model_name}/{version}")
        return str(version)


@dataclass(frozen=True)
class Promotion:
    model_name: str
    version: str                   # the challenger
    metric: str
    challenger_value: float
    champion_version: str | None   # the champion before this decision
    champion_value: float | None   # on the same holdout as the challenger
    promoted: bool
    reason: str


def champion_version(tracking: Tracking, model_name: str) -> str | None:
    try:
        aliases = tracking.client().get_registered_model(model_name).aliases
    except MlflowException as e:
        if _is(e, RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    return str(aliases[CHAMPION]) if CHAMPION in aliases else None


def load_model(tracking: Tracking, model_name: str, version: str | None = None) -> mlflow.pyfunc.PyFuncModel:
    """A registered version, by default the champion."""
    return _load(tracking, model_name, version)[0]


def load_champion(tracking: Tracking, model_name: str) -> tuple[mlflow.pyfunc.PyFuncModel, str]:
    return _load(tracking, model_name, None)


def _load(tracking: Tracking, model_name: str, version: str | None) -> tuple[Any, str]:
    # The alias is resolved once, so the version reported is the one loaded even if champion moves meanwhile.
    if version is None and (version := champion_version(tracking, model_name)) is None:
        family = re.sub(r"^crm[-_]", "", model_name)   # registered names are crm_<family> / crm-<family>
        raise NoChampion(f"registered model {model_name!r} has no champion version at {tracking.tracking_uri}; "
                         f"train one first: crm train --model {family}")
    with _using(tracking):
        return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}"), str(version)


def promote(tracking: Tracking, model_name: str, version: str, metric: str, challenger_value: float,
            champion_value: float | None, greater_is_better: bool = True, run: TrainingRun | None = None) -> Promotion:
    """Move `champion` to `version` if it strictly beats the current champion on `metric` (ties keep it)."""
    client = tracking.client()
    current = champion_version(tracking, model_name)
    if current is None:
        promoted, reason = True, "first version becomes champion"
    elif current == str(version):
        promoted, reason = False, f"v{version} is already the champion"
    elif champion_value is None:
        raise ValueError(f"{model_name}: champion v{current} exists; evaluate it on the same holdout and pass "
                         f"champion_value to compare it with v{version}")
    else:
        better = challenger_value > champion_value if greater_is_better else challenger_value < champion_value
        sign = (">" if greater_is_better else "<") if better else "does not beat"
        promoted = bool(better)
        reason = f"{metric} {challenger_value:.4g} {sign} champion v{current} {champion_value:.4g}"
    client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
    client.set_model_version_tag(model_name, str(version), "promotion_reason", reason)
    if run is not None:
        if champion_value is not None:
            run.log_metrics({f"champion_{metric}": champion_value})
        client.set_tag(run.run_id, "promoted", str(promoted).lower())
        client.set_tag(run.run_id, "promotion_reason", reason)
    log.info("%s v%s: %s", model_name, version, reason)
    return Promotion(model_name, str(version), metric, challenger_value, current, champion_value, promoted, reason)


def promote_on_holdout(tracking: Tracking, model_name: str, version: str, metric: str, challenger_value: float,
                       evaluate_champion, greater_is_better: bool = True,
                       run: TrainingRun | None = None) -> Promotion:
    """`promote`, with the current champion (if there is one other than `version`) loaded and scored by
    `evaluate_champion(model)` (the unwrapped python model's `.model`) on the caller's holdout."""
    champion = champion_version(tracking, model_name)
    champion_value = None
    if champion is not None and champion != str(version):
        old = load_model(tracking, model_name, champion).unwrap_python_model().model
        champion_value = evaluate_champion(old)
    return promote(tracking, model_name, version, metric, challenger_value, champion_value, greater_is_better, run)


def input_tables(tracking: Tracking, run_id: str) -> dict[str, int | None]:
    """The input table versions a run recorded, to rebuild its training data with Delta time travel."""
    with tempfile.TemporaryDirectory() as tmp:
        local = tracking.client().download_artifacts(run_id, "inputs.json", tmp)
        return json.loads(Path(local).read_text())["tables"]


class PickledPyfunc(mlflow.pyfunc.PythonModel):
    """An MLflow pyfunc wrapping a pickled model object (`.model`); subclasses name the artifact and predict."""

    artifact = "model"

    def __init__(self, model: Any = None):
        self.model = model

    @classmethod
    def save(cls, model: Any, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{cls.artifact}.pkl"
        path.write_bytes(pickle.dumps(model))
        return {cls.artifact: str(path)}

    def load_context(self, context):
        self.model = pickle.loads(Path(context.artifacts[self.artifact]).read_bytes())


def require_features(family: str, table: str, needed, available) -> None:
    """ValueError when a champion needs feature columns the table no longer has (it cannot be compared)."""
    missing = set(needed) - set(available)
    if missing:
        raise ValueError(f"{family}: the champion needs features {table} no longer has "
                         f"({', '.join(sorted(missing))}); it cannot be compared on this holdout")
