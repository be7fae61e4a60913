"""Model repositories as model-serving-framework's users have them, built in the test.

``write_dummy_example`` reproduces the seed's shipped DummyExample: an LGBMClassifier
(classes 0/1/2, 70 iterations, six ``summary.amount_0X_cpf`` features) trained here on
a rule that gives the seed's verified answers, its ``variables.pkl``, and the seed's
transform (missing features as NaN, fillna(0), divide by revenueAmount, divide by the
row maximum, ``predict(...)[0]``). ``Remote`` is a real bare git repository served over
``file://`` with a working clone to commit and push from.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np

FEATURES = [f"summary.amount_0{i}_cpf" for i in range(6)]

DUMMY_ETLS = """
    import pickle

    import numpy as np


    class transform_predict:
        def __init__(self, path="./"):
            self.model = pickle.load(open(path + "model.pkl", "rb"))
            self.variables = pickle.load(open(path + "variables.pkl", "rb"))

        def transform_predict(self, x):
            for column in self.variables + ["revenueAmount"]:
                if column not in x.columns:
                    x[column] = np.nan
            x = x.fillna(0)
            features = x[self.variables].div(x["revenueAmount"], axis=0)
            features = features.div(features.max(axis=1), axis=0)
            prediction = self.model.predict(features)[0]
            return {"dummyExample": prediction, "dummyExampleVersion": "itWorks!"}
    """

# The seed's verified answers (DETAILS.md 4.4): variables -> dummyExample.
SEED_BODY = {
    "revenueAmount": 1000,
    "summary": {
        "amount_00_cpf": 100,
        "amount_01_cpf": 200,
        "amount_02_cpf": 50,
        "amount_03_cpf": 0,
        "amount_04_cpf": 10,
        "amount_05_cpf": 5,
    },
}
VERIFIED = [
    (SEED_BODY, 1),
    ({"revenueAmount": 1000}, 2),
    ({}, 2),
    (
        {"revenueAmount": 500, "summary": {f"amount_0{i}_cpf": 500 * (i == 5) for i in range(6)}},
        0,
    ),
    (
        {
            "revenueAmount": 500,
            "summary": {f"amount_0{i}_cpf": v for i, v in enumerate([500, 400, 300, 200, 100, 0])},
        },
        2,
    ),
]


def _training_set() -> tuple[np.ndarray, np.ndarray]:
    """Rows as the transform leaves them (row maximum 1, or all NaN); the class is 0 when
    the last feature is the largest, 1 when the second is, else 2 (and for NaN rows)."""
    rng = np.random.default_rng(7)
    shares = rng.random((3000, 6)) ** 3
    shares = shares / shares.max(axis=1, keepdims=True)
    labels = np.where(shares.argmax(axis=1) == 5, 0, np.where(shares.argmax(axis=1) == 1, 1, 2))
    empty = np.full((300, 6), np.nan)
    return np.vstack([shares, empty]), np.concatenate([labels, np.full(300, 2)])


def write_dummy_example(folder: Path) -> Path:
    """The DummyExample folder (etls.py, model.pkl, variables.pkl) at ``folder``."""
    import lightgbm
    import pandas as pd

    features, labels = _training_set()
    model = lightgbm.LGBMClassifier(n_estimators=70, min_child_samples=5, verbose=-1)
    model.fit(pd.DataFrame(features, columns=FEATURES), labels)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    (folder / "variables.pkl").write_bytes(pickle.dumps(FEATURES))
    write_file(folder / "etls.py", DUMMY_ETLS)
    return folder


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def write_constant(folder: Path, key: str, value: object, *, with_path: bool = True) -> None:
    """An etls.py model answering ``{key: value, "rows": <rows>}``; without ``with_path``
    its constructor takes no path, as the seed's etl1 example."""
    parameters = "self, path='./'" if with_path else "self"
    write_file(
        folder / "etls.py",
        f"""
        class transform_predict:
            def __init__({parameters}):
                self.value = {value!r}

            def transform_predict(self, x):
                if "explode" in x.columns:
                    raise RuntimeError("asked to explode")
                return {{{key!r}: self.value, "rows": len(x)}}
        """,
    )


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


class Remote:
    """A bare repository (the remote, over ``file://``) and a working clone that pushes."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", cwd=self.bare)
        self.work.mkdir()
        git("init", "--quiet", "--initial-branch=main", cwd=self.work)
        git("config", "user.email", "tests@nervosum.invalid", cwd=self.work)
        git("config", "user.name", "tests", cwd=self.work)
        git("remote", "add", "origin", self.url, cwd=self.work)

    @property
    def url(self) -> str:
        return self.bare.resolve().as_uri()

    def push(self, message: str) -> str:
        """Commit everything in the working clone and push it; the new commit."""
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def remove(self, name: str) -> None:
        shutil.rmtree(self.work / name)
