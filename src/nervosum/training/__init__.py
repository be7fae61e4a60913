"""``nervosum train``: the microservice template's training roles, run and saved as one artifact.

- ``features.py``: features.yaml (task, target, id field, typed features);
- ``interfaces.py``: the user's ``DataLoader``, ``Preprocessor``, ``train_model`` and
  ``get_classes``, found and checked;
- ``run.py``: one run, load -> split -> hold out -> fit -> train -> measure;
- ``scores.py``: the held-out figures (scikit-learn's metrics);
- ``artifact.py``: :class:`TrainedModel`, the saved object the artifact form serves;
- ``configblock.py``: the block of nervosum.yaml that training keeps in step.
"""

from nervosum.training.artifact import TrainedModel
from nervosum.training.features import FeatureSpec, load_features
from nervosum.training.run import Training, train_project

__all__ = ["FeatureSpec", "TrainedModel", "Training", "load_features", "train_project"]
