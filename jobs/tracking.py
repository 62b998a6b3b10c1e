"""Where MLflow keeps runs and models: the configured server, or an embedded SQLite store under lake.local_data."""

from __future__ import annotations

import logging
import os

from jobs.config import Settings
from jobs.errors import CrmError
from models import registry
from models.registry import Tracking

log = logging.getLogger(__name__)
_announced: set[str] = set()


def tracking_from_settings(settings: Settings) -> Tracking:
    # progress bars for every artifact download would drown the job's own progress lines
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    cfg = settings.mlflow
    if cfg.tracking_uri is None:
        folder = settings.local_data_dir
        folder.mkdir(parents=True, exist_ok=True)
        tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        artifact_root = cfg.artifact_root and _artifact_root(settings, cfg.artifact_root)
        artifact_root = artifact_root or (folder / "mlartifacts").as_uri()
    else:
        tracking_uri = cfg.tracking_uri
        artifact_root = cfg.artifact_root and _artifact_root(settings, cfg.artifact_root)
    tracking = Tracking(tracking_uri, cfg.registry_uri or tracking_uri, artifact_root)
    if tracking_uri.startswith("sqlite:"):
        # Every process opening the store replays alembic's migration check at INFO level.
        for name in ("alembic", "mlflow.store"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if tracking_uri not in _announced:
        _announced.add(tracking_uri)
        log.info("MLflow store: %s (artifacts: %s)", tracking_uri, artifact_root or "server default")
    return tracking


def _artifact_root(settings: Settings, value: str) -> str:
    uri = settings.path(value)
    # Hadoop names S3 `s3a://`; MLflow's artifact stores only know `s3://` for the same bucket.
    if uri.startswith("s3a://"):
        uri = "s3://" + uri[len("s3a://"):]
    return uri


def champion_model(settings: Settings, model_name: str):
    """(the champion's Python model, its version) for scoring; CrmError when there is no champion yet."""
    try:
        loaded, version = registry.load_champion(tracking_from_settings(settings), model_name)
    except registry.NoChampion as e:
        raise CrmError(str(e)) from None
    return loaded.unwrap_python_model().model, version
