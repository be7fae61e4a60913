"""The data scientist's contract: each piece nervosum train calls does its part."""

from pathlib import Path

import pandas as pd

from nervosum.training import load_features
from source.data.data_loader import DataLoader
from source.model.train import Preprocessor, get_classes, train_model

FEATURES = load_features(Path(__file__).resolve().parents[1])


def fitted(rows: int = 60):
    preprocessor = Preprocessor()
    X, y = preprocessor.split_X_y(DataLoader().load_data(rows))
    preprocessor.fit_X(X)
    preprocessor.fit_y(y)
    return preprocessor, X, y


def test_split_X_y_gives_the_features_and_the_target():
    X, y = Preprocessor().split_X_y(DataLoader().load_data(20))
    assert list(X.columns) == FEATURES.names
    assert list(y.columns) == [FEATURES.target]
    assert len(X) == len(y) == 20


def test_process_keeps_one_row_per_row():
    preprocessor, X, y = fitted()
    assert isinstance(preprocessor.process_X(X), pd.DataFrame)
    assert len(preprocessor.process_X(X)) == len(X)
    assert len(preprocessor.process_y(y)) == len(y)


def test_train_model_learns_every_class():
    preprocessor, X, y = fitted()
    model = train_model(preprocessor.process_X(X), preprocessor.process_y(y))
    classes = get_classes(model)
    assert sorted(classes) == sorted(str(c) for c in y[FEATURES.target].unique())
    assert set(map(str, model.predict(preprocessor.process_X(X)))) <= set(classes)
