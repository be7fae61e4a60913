"""Pickled models (joblib, pickle, cloudpickle): the artifact form nervosum always served.

Unpickling runs code the file names, so only the file the project names is ever read,
never anything from a request. A pickle that names a module of the project's own code
finds it because the project folder is put on ``sys.path`` first.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from nervosum.errors import ModelDefinitionError
from nervosum.model.files.failure import one_line
from nervosum.model.files.last import last_read
from nervosum.model.imports import missing_project_file, prepare_path


def _unpickle(path: Path) -> Any:
    try:
        import joblib
    except ImportError:
        joblib = None
    if joblib is not None:  # joblib reads plain pickles too, and its compressed files
        return joblib.load(path)
    with path.open("rb") as handle:
        return pickle.load(handle)


def load_pickle(path: Path, project_dir: Path, src_dir: Path) -> Any:
    """The object pickled in ``path`` (the last one read when the file has not changed);
    a :class:`ModelDefinitionError` naming the file and the reason when it cannot be read."""
    prepare_path(project_dir, src_dir)  # pickles may reference the project's modules
    try:
        return last_read(path, _unpickle, "pickle")
    except ModuleNotFoundError as exc:
        missing = missing_project_file(exc, project_dir, src_dir)
        if missing is not None:  # the pickle names a class of the project's own code
            raise ModelDefinitionError(
                f"artifact {path.name} needs the module {exc.name!r}: {missing} is not in"
                f" {project_dir}",
                hint=f"restore {missing} (the pickle refers to its classes)",
            ) from exc
        raise ModelDefinitionError(
            f"artifact {path.name} needs the module {exc.name!r}, which is not installed",
            hint="install it (add it to requirements.txt) or put its code in src",
        ) from exc
    except Exception as exc:
        raise ModelDefinitionError(
            f"artifact {path} could not be loaded as a pickle (joblib): {one_line(exc)}",
            hint="save it with joblib.dump or pickle.dump from the same library versions",
        ) from exc
