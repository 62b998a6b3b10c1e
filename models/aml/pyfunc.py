"""The AML scorer as an MLflow pyfunc model: rows of typology features and rules_score -> anomaly percentile,
supervised probability and the blended risk score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.aml.model import AmlModel
from models.registry import PickledPyfunc


class AmlPyfunc(PickledPyfunc):
    artifact = "aml"

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.parts(model_input)


def aml_example(model: AmlModel) -> pd.DataFrame:
    return pd.DataFrame({f: [np.float64(0.0)] for f in (*model.features, "rules_score")})
