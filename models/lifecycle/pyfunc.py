"""MLflow pyfunc wrappers of the lifecycle models, so `models:/<name>@champion` loads them anywhere."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.lifecycle.churn import ChurnModel
from models.lifecycle.clv import ClvModel
from models.registry import PickledPyfunc


class ClvPyfunc(mlflow.pyfunc.PythonModel):
    """Rows of (frequency, recency, T, monetary_value) -> P(alive), purchases and value over the horizon."""

    def __init__(self, model: ClvModel | None = None):
        self.model = model

    def load_context(self, context):
        self.model = ClvModel.load(context.artifacts["clv"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.score(model_input)


def clv_example() -> pd.DataFrame:
    return pd.DataFrame({"frequency": [3.0, 0.0], "recency": [20.5, 0.0], "T": [30.0, 4.0],
                         "monetary_value": [250.0, 0.0]})


class ChurnPyfunc(PickledPyfunc):
    """Rows of the model's features -> churn_probability and the top drivers ("feature" names, effects)."""

    artifact = "churn"

    def __init__(self, model: ChurnModel | None = None, drivers: int = 3):
        super().__init__(model)
        self.drivers = drivers

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        drivers = self.model.drivers(model_input, self.drivers)
        return pd.DataFrame({"churn_probability": self.model.predict_proba(model_input),
                             "drivers": [[name for name, _ in d] for d in drivers]})


def churn_example(model: ChurnModel) -> pd.DataFrame:
    return pd.DataFrame({f: [np.float64(model.reference.get(f, 0.0))] for f in model.features})
