"""The fraud scorer as an MLflow pyfunc model: rows of model inputs -> anomaly, supervised and blended scores."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.fraud.model import FraudModel


class FraudPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, model: FraudModel | None = None):
        self.model = model

    @staticmethod
    def save(model: FraudModel, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "fraud.pkl"
        path.write_bytes(pickle.dumps(model))
        return {"fraud": str(path)}

    def load_context(self, context):
        self.model = pickle.loads(Path(context.artifacts["fraud"]).read_bytes())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.parts(model_input)


def fraud_example(model: FraudModel) -> pd.DataFrame:
    return pd.DataFrame({f: [np.float64(0.0)] for f in model.features})
