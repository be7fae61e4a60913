"""The model class nervosum serves: __init__ loads, predict scores a DataFrame.

Replace the hand-set weights with your trained model, e.g. ``joblib.load(...)`` in
``__init__`` and ``self.model.predict(df)`` in ``predict``.
"""

import numpy as np
import pandas as pd


class Model:
    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        self.weights = {"tenure_months": -0.08, "monthly_spend": 0.03}
        self.bias = -0.5

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        z = self.bias + sum(df[name] * weight for name, weight in self.weights.items())
        score = 1.0 / (1.0 + np.exp(-z))
        label = np.where(score >= self.threshold, "churn", "stay")
        return pd.DataFrame({"score": score.round(4), "label": label})
