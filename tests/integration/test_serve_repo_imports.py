"""Models of one repository never run each other's code (issue 20, item 7): each
folder's modules resolve to that folder, at load and inside predict, pickles included;
a folder may not shadow the standard library or nervosum's dependencies; reloads do not
grow ``sys.path``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from nervosum.repo.sources import LocalSource
from tests.integration.model_repos import write_constant, write_file
from tests.integration.test_serve_repo import repo_client, seed_post, wait_refreshed, wait_started

LAZY = """
import shared


class transform_predict:
    def __init__(self, path="./"):
        self.loaded = shared.NAME

    def transform_predict(self, x):
        import helpers  # imported at predict time, after every model has loaded
        from pkg.inner import value

        return {"own": helpers.NAME, "at_load": self.loaded, "pkg": value()}
"""


def _lazy_model(folder: Path, name: str) -> None:
    write_file(folder / "etls.py", LAZY)
    write_file(folder / "helpers.py", f"NAME = {name!r}\n")
    write_file(folder / "shared.py", f"NAME = {name!r}\n")
    write_file(folder / "pkg" / "__init__.py", "")
    write_file(
        folder / "pkg" / "inner.py",
        f"from .. import helpers\n\n\ndef value():\n    return helpers.NAME + {name!r}\n",
    )


def _pickled_model(folder: Path, factor: int) -> None:
    """A nervosum.yaml model whose artifact is a pickle of the folder's own class."""
    write_file(
        folder / "scaler.py",
        f"class Scaler:\n    def predict(self, frame):\n        return frame['x'] * {factor}\n",
    )
    write_file(
        folder / "nervosum.yaml",
        f"""
        name: {folder.name}
        model: {{artifact: model.pkl}}
        input_schema:
          - {{name: x, type: float}}
        """,
    )
    script = "import pickle, scaler; pickle.dump(scaler.Scaler(), open('model.pkl', 'wb'))"
    subprocess.run([sys.executable, "-c", script], cwd=folder, check=True)


def test_each_model_imports_its_own_modules_at_load_and_at_predict(tmp_path: Path) -> None:
    root = tmp_path / "models_serve"
    _lazy_model(root / "first", "first")
    _lazy_model(root / "second", "second")
    _pickled_model(root / "double", 2)
    _pickled_model(root / "triple", 3)
    with repo_client(LocalSource(root)) as client:
        wait_started(client)
        for name in ("first", "second", "first"):
            answer = seed_post(client, name, {"x": 1})
            assert answer.json() == {"own": name, "at_load": name, "pkg": name * 2}
        assert client.post("/models/double/predict", json={"x": 5}).json() == {"prediction": 10}
        assert client.post("/models/triple/predict", json={"x": 5}).json() == {"prediction": 15}
    assert "helpers" not in sys.modules and "scaler" not in sys.modules


def test_a_folder_shadowing_the_standard_library_or_a_dependency_is_refused(
    tmp_path: Path,
) -> None:
    root = tmp_path / "models_serve"
    _lazy_model(root / "ok", "ok")
    write_constant(root / "stdlib", "stdlib", 1)
    write_file(root / "stdlib" / "json.py", "raise RuntimeError('not the json module')\n")
    write_constant(root / "dependency", "dependency", 1)
    write_file(root / "dependency" / "pandas" / "__init__.py", "")
    with repo_client(LocalSource(root)) as client:
        wait_started(client)
        errors = {m["name"]: m.get("error") for m in client.get("/models").json()["models"]}
        # pandas still writes JSON for the model that loaded (json was not replaced)
        assert seed_post(client, "ok", {"x": 1}).json()["own"] == "ok"
    assert "json.py shadows the standard library module json: rename it" in errors["stdlib"]
    assert "pandas shadows pandas, a module of pandas (nervosum needs it)" in errors["dependency"]
    assert errors["ok"] is None


def test_reloads_do_not_grow_sys_path_or_keep_retired_modules(tmp_path: Path) -> None:
    root = tmp_path / "models_serve"
    _lazy_model(root / "first", "first")
    path_before = list(sys.path)
    with repo_client(LocalSource(root)) as client:
        wait_started(client)
        for version in range(3):
            time.sleep(0.01)
            write_file(root / "first" / "helpers.py", f"NAME = 'v{version}'\n")
            client.post("/models_serve/refactor")
            assert wait_refreshed(client, "models_serve")["updated"] == ["first"]
            assert seed_post(client, "first", {}).json()["own"] == f"v{version}"
        time.sleep(0.2)  # the retired versions drain
        namespaces = {n.split(".")[0] for n in sys.modules if n.startswith("_nervosum_model_")}
        assert len(namespaces) == 1
    assert sys.path == path_before
