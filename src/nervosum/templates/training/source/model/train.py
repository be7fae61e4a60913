"""The data scientist's part: how rows become training data, and which model learns from them.

`nervosum train` calls, in this order:

    X, y = Preprocessor().split_X_y(df)         # then holds out test rows
    preprocessor.fit_X(X); preprocessor.fit_y(y)  # training rows only
    model = train_model(preprocessor.process_X(X), preprocessor.process_y(y))
    classes = get_classes(model)                # classification only

and saves the preprocessor and the model together: when serving, every request goes
through `process_X` before `model.predict`. Only the code between the example markers
is iris-specific.
"""

from pathlib import Path

import pandas as pd

from nervosum.training import load_features

FEATURES = load_features(Path(__file__).resolve().parents[2])


class Preprocessor:
    """Learns its transformations (encoders, scalers) on the training rows and applies
    them to any rows, training or served."""

    def __init__(self) -> None:
        self.scaler = None

    def split_X_y(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The features (the columns of features.yaml) and the target (a one-column frame)."""
        return df[FEATURES.names], df[[FEATURES.target]]

    def fit_X(self, X: pd.DataFrame) -> None:
        """Learn what `process_X` needs from the training features."""
        # --- example: scale every feature to mean 0 and variance 1 ---
        from sklearn.preprocessing import StandardScaler

        self.scaler = StandardScaler().fit(X)
        # --- end of example ---

    def fit_y(self, y: pd.DataFrame) -> None:
        """Learn what `process_y` needs from the training target (e.g. a label encoder)."""

    def process_X(self, X: pd.DataFrame) -> pd.DataFrame:
        """The features as the model takes them; also called on every served request."""
        # --- example: the scaled features, same columns ---
        return pd.DataFrame(self.scaler.transform(X), columns=X.columns, index=X.index)
        # --- end of example ---

    def process_y(self, y: pd.DataFrame) -> pd.DataFrame:
        """The target as the model takes it."""
        return y


def train_model(X: pd.DataFrame, y: pd.DataFrame):
    """A fitted model: it needs `predict`, and `predict_proba` for a classification."""
    # --- example: a logistic regression ---
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(X, y[FEATURES.target])
    # --- end of example ---


def get_classes(model) -> list[str]:
    """The class names, one per column of `model.predict_proba`, in its order."""
    return [str(c) for c in model.classes_]
