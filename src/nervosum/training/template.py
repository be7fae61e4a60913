"""``nervosum train`` on a checkout of the microservice template, as the template trained.

The template's ``train_and_store_model`` (``source/helper.py``, and Jenkins'
``train.py``) ran ``Model().train(DataLoader().load_data())`` and pickled the whole
``source.model.mdl.Model`` to ``model_bin/model.pkl``. A checkout (no nervosum.yaml)
keeps exactly that: its own ``Model`` trains through the user's ``Preprocessor``,
``train_model`` and ``get_classes``, and the saved file is that ``Model`` pickled, so the
template's own ``main.py`` could still load it and nervosum serves it (issue 19). What
nervosum adds is ``nervosum train``'s honesty: test rows are held out before anything is
fitted and the figures printed, and the file is written atomically.

Beside the pickle goes ``<name>.requirements.txt``: the distributions the saved model
needs to be unpickled and called, pinned to the versions it was trained with. The
template's own requirements.txt pins its 2020 serving and CI stack (FastAPI, pydantic 1,
uvicorn, docker, pylint, ...), which nervosum replaces, so bundles are built from this
file instead.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nervosum.detect.template import (
    MODEL_MODULE,
    REQUIREMENTS_SUFFIX,
    TemplateFeatures,
    model_file,
    read_features,
    read_settings,
)
from nervosum.errors import ModelDefinitionError
from nervosum.training.artifact import write_atomically
from nervosum.training.interfaces import import_project_module, load_interfaces, member
from nervosum.training.needs import pinned_distributions
from nervosum.training.run import UserCalls, column, held_out, loaded_frame, probability_check
from nervosum.training.scores import holdout_scores


@dataclass
class CheckoutTraining:
    """A finished run on a template checkout: the trained ``Model`` and what the run did."""

    model: Any  # the template's source.model.mdl.Model, trained
    features: TemplateFeatures
    rows: int
    stratified: bool
    metrics: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def default_model_path(project_dir: Path) -> Path:
    """Where the template saved its model: config.yaml's model_path / model_name."""
    return project_dir / model_file(read_settings(project_dir))


def _columns_warning(X: Any, features: TemplateFeatures) -> list[str]:
    """The template never checked that the training frame has the request's features
    (its own iris example does not); served requests carry ``input_features``."""
    if not isinstance(X, pd.DataFrame):
        return []
    columns = [str(c) for c in X.columns]
    if columns == features.input_features:
        return []
    return [
        f"X from Preprocessor.split_X_y has the columns {columns}, but requests carry"
        f" input_features {features.input_features} (source/features.py): the model will"
        " see other names than it was trained on"
    ]


def train_checkout(
    project_dir: str | Path, *, n_rows: int | None = None, test_size: float = 0.2, seed: int = 0
) -> CheckoutTraining:
    """Train the checkout's own ``Model`` on its data, ``test_size`` of the rows held out
    (split with ``seed``) to measure it; nothing is written."""
    root = Path(project_dir).resolve()
    features = read_features(root)
    classification = features.task == "classification"
    code = load_interfaces(root, classification=classification)  # every piece checked first
    mdl = import_project_module(MODEL_MODULE, root)
    model_class = member(mdl, "Model", "class Model:")
    call = UserCalls(root)
    frame = loaded_frame(call("DataLoader.load_data", code.data_loader.load_data, n_rows))
    model = call("Model()", model_class)
    X, y = call("Preprocessor.split_X_y", model.preprocessor.split_X_y, frame)
    labels = column(y, "Preprocessor.split_X_y") if classification else None
    (train, test, _, _), stratified = held_out(
        frame, frame.index.to_numpy(), test_size=test_size, seed=seed, stratify=labels
    )
    call("Model.train", model.train, train)
    X_test, y_test = call("Preprocessor.split_X_y", model.preprocessor.split_X_y, test)
    predicted = column(call("Model.predict on the test rows", model.predict, X_test), "predict")
    truth = column(call("Preprocessor.process_y", model.preprocessor.process_y, y_test), "y")
    if classification:
        classes = getattr(model, "classes", None)
        if classes is None:
            raise ModelDefinitionError(
                "Model.train left Model.classes unset for a classification",
                hint="get_classes (source/model/train.py) must return the class names",
            )
        proba = call("Model.predict_proba on the test rows", model.predict_proba, X_test)
        probability_check(proba, [str(c) for c in classes], model.model)
    metrics = {
        **holdout_scores(features.task, truth, predicted),
        "train_rows": len(train),
        "test_rows": len(test),
    }
    return CheckoutTraining(
        model, features, len(frame), stratified, metrics, _columns_warning(X, features)
    )


def save_checkout_model(model: Any, path: Path, project_dir: Path) -> Path:
    """Pickle the template's ``Model`` to ``path`` as its ``export()`` did (plain
    pickle, which its ``main.py`` loads), atomically, then write the pinned requirements
    beside it (read from the saved file); returns the requirements file."""
    write_atomically(path, lambda out: pickle.dump(model, out), "the trained Model")
    requirements = path.with_name(path.stem + REQUIREMENTS_SUFFIX)
    pins = pinned_distributions(path.read_bytes(), project_dir)
    header = (
        f"# What {path.name} needs to serve, as installed when `nervosum train` saved it.\n"
        "# nervosum build bundles these (and nervosum's own dependencies) for it.\n"
    )
    text = header + "".join(f"{p}\n" for p in pins)
    write_atomically(requirements, lambda out: out.write(text.encode()), requirements.name)
    return requirements
