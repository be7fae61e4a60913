"""The whole run as `nervosum train` does it, without saving: a quality gate for CI."""

from pathlib import Path

import numpy as np

from nervosum.training import load_features, train_project
from source.data.data_loader import DataLoader

PROJECT = Path(__file__).resolve().parents[1]
FEATURES = load_features(PROJECT)


def test_the_trained_model_is_good_enough():
    artifact = train_project(PROJECT).artifact
    # The bar your model must clear on the held-out rows: CI fails when a change drops below it.
    assert artifact.metrics["accuracy"] >= 0.85, artifact.metrics


def test_probabilities_cover_every_class():
    artifact = train_project(PROJECT, n_rows=60).artifact
    probabilities = artifact.predict_proba(DataLoader().load_data(5)[FEATURES.names])
    assert probabilities.shape == (5, len(artifact.classes))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
