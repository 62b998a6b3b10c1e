"""The AML scorer as an MLflow pyfunc model: rows of typology features and rules_score -> anomaly percentile,
supervised probability and the blended risk score."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.aml.model import AmlModel


class AmlPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, model: AmlModel | None = None):
        self.model = model

    @staticmethod
    def save(model: AmlModel, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "aml.pkl"
        path.write_bytes(pickle.dumps(model))
        return {"aml": str(path)}

    def load_context(self, context):
        self.model = pickle.loads(Path(context.artifacts["aml"]).read_bytes())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.parts(model_input)


def aml_example(model: AmlModel) -> pd.DataFrame:
    return pd.DataFrame({f: [np.float64(0.0)] for f in (*model.features, "rules_score")})
