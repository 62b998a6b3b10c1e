"""The fraud scorer as an MLflow pyfunc model: rows of model inputs -> anomaly, supervised and blended scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.fraud.model import FraudModel
from models.registry import PickledPyfunc


class FraudPyfunc(PickledPyfunc):
    artifact = "fraud"

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.parts(model_input)


def fraud_example(model: FraudModel) -> pd.DataFrame:
    return pd.DataFrame({f: [np.float64(0.0)] for f in model.features})
