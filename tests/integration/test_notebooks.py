"""`nervosum notebooks build` end to end: a repository of two stage notebooks (TF-IDF
features, then logistic regression over generated text, as nachlass's example) is
executed in real kernels, served, and scored through nachlass's form and native JSON;
the texts the features notebook saves to $NERVOSUM_REFERENCE_FILE become live drift's
reference profile, in the folder and in the bundle.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nervosum.drift.profile import PROFILE_FILE, Profile
from nervosum.notebooks.reference import DEFAULT_REFERENCE as SAVED_ROWS
from tests.conftest import (
    LiveServer,
    free_port,
    metric_samples,
    nervosum,
    spawned_server,
    wait_ready,
)
from tests.integration.test_live_drift import until

pytestmark = pytest.mark.slow

NOTEBOOKS = "03-features.ipynb,04-model.ipynb"
AUSTEN = "sense sensibility elinor marianne sister cottage estate fortune gentleman lady"
REVIEWS = "delicious tasty crunchy snack flavor order shipping price coffee chocolate"
COMMON = "the a and of to very with was it this"
LEGITIMATE_TEXT = "the lady and her sister visit the cottage of elinor"
SPAM_TEXT = "very tasty chocolate snack, shipping price was fair"

SAVE = """\
import os
import cloudpickle

def serialize_to(obj, default_filename):
    filename = os.getenv("S2I_PIPELINE_STAGE_SAVE_FILE", default_filename)
    with open(filename, "wb") as handle:
        cloudpickle.dump(obj, handle)"""

FEATURES_CELLS = (
    "import os\nimport pandas as pd\nfrom sklearn.pipeline import Pipeline\n"
    "from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer\n"
    "from textprep import Lowercase",
    "buckets = int(os.getenv('TFIDF_BUCKETS', '256'))\nprint(f'TFIDF_BUCKETS={buckets}')",
    "df = pd.read_csv('data/training.csv')\n"
    "vect = HashingVectorizer(norm=None, token_pattern=r'(?u)\\b[A-Za-z]\\w+\\b',"
    " n_features=buckets, alternate_sign=False)\n"
    "feat_pipeline = Pipeline([('lower', Lowercase()), ('vect', vect),"
    " ('tfidf', TfidfTransformer())])\n"
    "features = feat_pipeline.fit_transform(df['text'])",
    "out = pd.DataFrame(features.toarray())\nout.columns = [str(c) for c in out.columns]\n"
    "out['label'] = df['label']\nout.to_parquet('data/features.parquet')\n"
    "df[['text']].to_parquet(os.environ['NERVOSUM_REFERENCE_FILE'])",
    SAVE,
    "serialize_to(feat_pipeline, 'feature_pipeline.sav')",
)
MODEL_CELLS = (
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    "df = pd.read_parquet('data/features.parquet')\n"
    "model = LogisticRegression(max_iter=4000).fit(df.drop(columns=['label']).to_numpy(),"
    " df['label'])",
    SAVE,
    "serialize_to(model, 'model.sav')",
)
# A repository module: the saved feature stage refers to its class, so serving needs it.
TEXTPREP = """\
from sklearn.base import BaseEstimator, TransformerMixin


class Lowercase(TransformerMixin, BaseEstimator):
    def fit(self, texts, labels=None):
        return self

    def transform(self, texts):
        return [text.lower() for text in texts]
"""


def notebook(*cells: str) -> nbformat.NotebookNode:
    book = new_notebook()
    book.cells = [new_markdown_cell("# a pipeline stage"), *(new_code_cell(c) for c in cells)]
    return book


def sentence(rng: random.Random, words: str) -> str:
    """Twelve words, most from ``words``, the rest from the words both classes share."""
    picked = (rng.choice((words if rng.random() < 0.7 else COMMON).split()) for _ in range(12))
    return " ".join(picked)


def make_repository(root: Path, *, model_cells: tuple[str, ...] = MODEL_CELLS) -> Path:
    """Two stage notebooks, their training data, a module they import, requirements."""
    (root / "data").mkdir(parents=True)
    rng = random.Random(3)
    rows = [(sentence(rng, AUSTEN), "legitimate") for _ in range(150)]
    rows += [(sentence(rng, REVIEWS), "spam") for _ in range(150)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(root / "data" / "training.csv")
    nbformat.write(notebook(*FEATURES_CELLS), root / "03-features.ipynb")
    nbformat.write(notebook(*model_cells), root / "04-model.ipynb")
    (root / "textprep.py").write_text(TEXTPREP)
    (root / "requirements.txt").write_text("scikit-learn>=1.3\npandas\npyarrow\ncloudpickle\n")
    return root


def git(*args: str, cwd: Path) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The fixture repository built with -e into a servable folder."""
    base = tmp_path_factory.mktemp("notebooks")
    repo = make_repository(base / "spam-repo")
    target = base / "served"
    args = ("notebooks", "build", str(repo), "--notebooks", NOTEBOOKS, "-e", "TFIDF_BUCKETS=64")
    result = nervosum(*args, "-o", str(target), env=dict(os.environ))
    return target, result


@pytest.fixture(scope="module")
def served(built: tuple[Path, subprocess.CompletedProcess[str]]) -> Iterator[LiveServer]:
    target, result = built
    assert result.returncode == 0, result.stderr
    port = free_port()
    env = {**os.environ, "S2I_APP_METRICS_PREFIX": "pipeline"}
    with spawned_server(target, "--port", str(port), env=env, port=port) as server:
        wait_ready(server)
        yield server


def test_build_runs_each_notebook_and_writes_a_servable_folder(
    built: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    target, result = built
    assert result.returncode == 0, result.stderr
    assert "notebook 1/2: 03-features.ipynb (6 code cells)" in result.stderr
    assert "notebook 2/2: 04-model.ipynb (4 code cells)" in result.stderr
    assert "cell 6/6 ran in" in result.stderr
    assert "the last is a classifier" in result.stderr
    assert f"serve it: nervosum serve {target}" in result.stdout
    stages = json.loads((target / "stages.json").read_text())
    assert stages == [["03-features.ipynb", "03-features.sav"], ["04-model.ipynb", "04-model.sav"]]
    assert (target / "textprep.py").is_file()
    assert "cloudpickle" in (target / "requirements.txt").read_text().split()
    # The executed notebooks are kept, and show the -e variable reached the kernel.
    executed = nbformat.read(target / "03-features.ipynb", as_version=4)
    printed = [o.get("text", "") for cell in executed.cells for o in cell.get("outputs", [])]
    assert "TFIDF_BUCKETS=64\n" in printed


def test_the_saved_training_rows_are_the_served_reference_profile(
    built: tuple[Path, subprocess.CompletedProcess[str]], served: LiveServer
) -> None:
    target, result = built
    assert f"wrote {PROFILE_FILE} (live drift's reference: 300 rows of {SAVED_ROWS})" in (
        result.stderr
    )
    profile = Profile.read(target / PROFILE_FILE)
    assert profile.rows == 300 and profile.source == f"nervosum notebooks build: {SAVED_ROWS}"
    assert set(profile.features) == {"text"}
    assert profile.prediction is not None
    assert set(profile.prediction.categories) == {"legitimate", "spam"}
    assert not (target / SAVED_ROWS).exists()  # the rows stay in the build's private copy
    with served.client() as client:
        drift = until(lambda: client.get("/info").json().get("drift"))
    assert drift["reference"]["source"] == profile.source
    assert drift["reference"]["rows"] == 300


def test_json_args_form_and_native_json_classify_both_texts(served: LiveServer) -> None:
    with served.client() as client:
        form = client.post("/predict", data={"json_args": json.dumps([LEGITIMATE_TEXT, SPAM_TEXT])})
        records = client.post(
            "/predict", data={"json_args": json.dumps([{"text": SPAM_TEXT}, {"text": "x"}])}
        )
        native = client.post("/predict", json=[{"text": LEGITIMATE_TEXT}, {"text": SPAM_TEXT}])
        one = client.post("/predict", json={"text": SPAM_TEXT})
    assert form.status_code == 200, form.text
    assert form.json() == ["legitimate", "spam"]
    assert records.status_code == 200, records.text
    assert len(records.json()) == 2 and records.json()[0] == "spam"
    assert [r["prediction"] for r in native.json()] == ["legitimate", "spam"]
    assert set(one.json()["probabilities"]) == {"legitimate", "spam"}
    assert one.json()["prediction"] == "spam"


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"args": "gASVCAAAAAAAAACMBHRleHSULg=="}, 400, "args= (a pickled request) is refused"),
        ({"json_args": '"dog food"'}, 422, "json_args must be a JSON list"),
        ({"json_args": '["text", 3]'}, 422, "json_args must be a JSON list"),
        ({"json_args": "[not json"}, 400, "json_args is not valid JSON"),
        ({"text": "dog food"}, 415, "form-encoded bodies are not supported"),
    ],
    ids=["pickle", "bare-string", "mixed-list", "invalid-json", "no-json-args"],
)
def test_other_forms_are_refused_in_the_error_shape(
    served: LiveServer, form: dict[str, str], status: int, message: str
) -> None:
    with served.client() as client:
        response = client.post("/predict", data=form)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"].startswith(message)


def test_predictions_are_counted_under_the_s2i_prefix(served: LiveServer) -> None:
    with served.client() as client:
        before = metric_samples(client, "pipeline_predictions_total")
        client.post("/predict", data={"json_args": json.dumps([SPAM_TEXT, SPAM_TEXT])})
        after = metric_samples(client, "pipeline_predictions_total")
        processing = metric_samples(client, "pipeline_processing_seconds_count")
    spam = (("model", "spam-repo"), ("value", "spam"))
    assert after[spam] - before.get(spam, 0.0) == 2
    assert sum(processing.values()) >= 1


def test_a_missing_stage_file_stops_the_server_with_the_cause(
    built: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    target, _ = built
    broken = shutil.copytree(target, tmp_path / "broken")
    (broken / "04-model.sav").unlink()
    port = free_port()
    with spawned_server(broken, "--port", str(port), port=port) as server:
        code = server.process.wait(timeout=60)
        output = server.output()
    assert code != 0
    assert "04-model.sav" in output


def test_git_url_with_the_s2i_list_registers_a_bundle(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    repo = make_repository(tmp_path / "spam.git")
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "stages", cwd=repo)
    env = {**home_env, "S2I_SOURCE_NOTEBOOK_LIST": NOTEBOOKS}
    args = ("notebooks", "build", f"file://{repo}", "-n", "spam", "-t", "v1", "--no-image")
    result = nervosum(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "built spam:v1" in result.stdout
    # The bundle build names the repository it came from, never the build's private copy.
    assert f"==> bundling spam:v1, built from file://{repo} at " in result.stderr
    bundling = result.stderr.split("==> bundling", 1)[1]
    assert "nervosum-notebooks-" not in bundling + result.stdout
    listed = json.loads(nervosum("ls", "--format", "json", env=home_env).stdout)
    assert [(b["name"], b["tag"]) for b in listed] == [("spam", "v1")]
    bundle = Path(str(listed[0]["path"]))  # the bundle's folder serves its app/
    assert Profile.read(bundle / PROFILE_FILE).rows == 300  # beside app/, as build keeps it
    checked = nervosum("check", str(bundle), env=home_env)
    assert checked.returncode == 0, checked.stderr
    assert "none scored: without an input_schema" in checked.stdout
    port = free_port()
    with spawned_server(bundle, "--port", str(port), env=home_env, port=port) as server:
        wait_ready(server)
        answer = httpx.post(f"{server.url}/predict", data={"json_args": json.dumps([SPAM_TEXT])})
    assert answer.json() == ["spam"]


def test_a_failing_notebook_fails_the_build_and_registers_nothing(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    failing = (*MODEL_CELLS[:2], "raise ValueError('accuracy too low')", *MODEL_CELLS[2:])
    repo = make_repository(tmp_path / "failing", model_cells=failing)
    result = nervosum("notebooks", "build", str(repo), "--notebooks", NOTEBOOKS, env=home_env)
    assert result.returncode == 1, result.stderr
    assert "cell 1/6 ran in" in result.stderr  # the first notebook ran
    assert "| raise ValueError('accuracy too low')" in result.stderr  # the failing cell
    assert (
        "error: 04-model.ipynb: cell 3 (`raise ValueError('accuracy too low')`) raised"
        " ValueError: accuracy too low"
    ) in result.stderr
    assert json.loads(nervosum("ls", "--format", "json", env=home_env).stdout) == []
