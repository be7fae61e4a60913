"""The data engineer's contract: load_data returns the features and the target."""

from pathlib import Path

from nervosum.training import load_features
from source.data.data_loader import DataLoader

FEATURES = load_features(Path(__file__).resolve().parents[1])


def test_load_data_returns_every_feature_and_the_target():
    frame = DataLoader().load_data(50)
    assert len(frame) == 50
    assert set(FEATURES.names) | {FEATURES.target} <= set(frame.columns)
    assert frame[FEATURES.names].notna().all().all()
