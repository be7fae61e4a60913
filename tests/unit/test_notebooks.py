"""The pieces of `nervosum notebooks build`: stages.json, the stages form, the notebook
list, requirements, sources and nachlass's json_args form, without starting a kernel
(except for the one test of a dying kernel)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nervosum.build.progress import Progress
from nervosum.errors import (
    BuildError,
    InputValidationError,
    ModelDefinitionError,
    RequestError,
    UnsupportedMediaTypeError,
)
from nervosum.model.stages import (
    frame_call,
    load_stages,
    read_stages,
    stage_file,
    write_stages,
)
from nervosum.notebooks.build import (
    NotebooksBuild,
    build_notebooks,
    parse_notebook_list,
    read_notebook,
    run_notebooks,
)
from nervosum.notebooks.execute import NotebookRun, execute
from nervosum.notebooks.reference import (
    DEFAULT_REFERENCE,
    REFERENCE_VARIABLE,
    ReferenceRows,
    profile_reference,
    reference_name,
)
from nervosum.notebooks.requirements import bundle_requirements, check_requirements
from nervosum.notebooks.source import check_name, checkout, default_name, is_git_url
from nervosum.project import load_config
from nervosum.serving.body import json_args_rows
from tests.conftest import EXAMPLES, Recorder


def load_pickle(path: Path) -> Any:
    with path.open("rb") as handle:
        return cloudpickle.load(handle)


def save(obj: Any, path: Path) -> None:
    with path.open("wb") as handle:
        cloudpickle.dump(obj, handle)


# --- stages.json -------------------------------------------------------------------------


def test_stages_json_is_nachlass_list_of_pairs(tmp_path: Path) -> None:
    assert stage_file("notebooks/04-model.ipynb") == "04-model.sav"
    path = write_stages(tmp_path, ["03-features.ipynb", "notebooks/04-model.ipynb"])
    assert json.loads(path.read_text()) == [
        ["03-features.ipynb", "03-features.sav"],
        ["04-model.ipynb", "04-model.sav"],
    ]
    assert read_stages(path) == [
        ("03-features.ipynb", "03-features.sav"),
        ("04-model.ipynb", "04-model.sav"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a stages file: Expecting property name"),
        ("{}", "expected a non-empty JSON list of pairs"),
        ("[]", "expected a non-empty JSON list of pairs"),
        ('[["a.ipynb"]]', 'item 0 is ["a.ipynb"], not a pair of file names'),
        ('[["a.ipynb", "../a.sav"]]', "stage file '../a.sav' must be a file name beside"),
    ],
)
def test_a_malformed_stages_file_is_a_definition_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "stages.json"
    path.write_text(content)
    with pytest.raises(ModelDefinitionError, match=re.escape("stages.json")) as caught:
        read_stages(path)
    assert message in caught.value.message


def test_missing_stages_file_and_stage_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelDefinitionError, match=r"stages.json does not exist"):
        read_stages(tmp_path / "stages.json")
    path = write_stages(tmp_path, ["03-features.ipynb"])
    with pytest.raises(ModelDefinitionError) as caught:
        load_stages(path, load_pickle)
    assert caught.value.message.startswith("stage 03-features.sav of 03-features.ipynb")


def test_a_stage_before_the_last_must_transform(tmp_path: Path) -> None:
    save(LinearRegression(), tmp_path / "a.sav")
    save(LinearRegression(), tmp_path / "b.sav")
    path = write_stages(tmp_path, ["a.ipynb", "b.ipynb"])
    with pytest.raises(
        ModelDefinitionError, match=re.escape("stage a.ipynb (LinearRegression) has no transform")
    ):
        load_stages(path, load_pickle)


def test_stages_compose_with_notebook_names_as_steps(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    save(StandardScaler().fit(frame), tmp_path / "scale.sav")
    save(
        LinearRegression().fit(StandardScaler().fit_transform(frame), [2, 4, 6]),
        tmp_path / "fit.sav",
    )
    pipeline = load_stages(write_stages(tmp_path, ["scale.ipynb", "fit.ipynb"]), load_pickle)
    assert [name for name, _ in pipeline.steps] == ["scale.ipynb", "fit.ipynb"]
    assert pipeline.predict(pd.DataFrame({"x": [4.0]}))[0] == pytest.approx(8.0)


# --- how the stages are called ---------------------------------------------------------------


def test_one_column_is_passed_as_the_column_unless_fitted_on_names() -> None:
    seen: list[type] = []

    def method(data: Any) -> list[int]:
        seen.append(type(data))
        return [0] * len(data)

    unnamed = Pipeline([("fit", LinearRegression())])
    frame = pd.DataFrame({"text": ["a", "b"]})
    frame_call(unnamed, method)(frame)
    named = Pipeline([("fit", LinearRegression().fit(pd.DataFrame({"x": [1.0, 2.0]}), [1, 2]))])
    frame_call(named, method)(pd.DataFrame({"x": [3.0]}))
    frame_call(named, method)(pd.DataFrame({"x": [3.0], "y": [1.0]}))
    assert seen == [pd.Series, pd.DataFrame, pd.DataFrame]


@pytest.mark.parametrize(
    ("frame", "shown"),
    [
        (pd.DataFrame({"text": ["free cash"], "id": [1]}), "2 fields (text, id)"),
        (pd.DataFrame(index=[0]), "no fields"),
    ],
)
def test_a_text_pipeline_refuses_records_without_exactly_one_field(
    frame: pd.DataFrame, shown: str
) -> None:
    called: list[Any] = []
    unnamed = Pipeline([("fit", LinearRegression())])
    with pytest.raises(InputValidationError, match=re.escape(shown)) as caught:
        frame_call(unnamed, called.append)(frame)
    assert caught.value.http_status == 422
    assert "exactly one field" in str(caught.value)
    assert called == []


# --- the build's inputs -----------------------------------------------------------------


def test_notebook_list_is_comma_separated_and_checked() -> None:
    assert parse_notebook_list(" 03-a.ipynb, 04-b.ipynb ,") == ("03-a.ipynb", "04-b.ipynb")
    with pytest.raises(RequestError, match="no notebooks are listed"):
        parse_notebook_list(" , ")
    with pytest.raises(RequestError, match=re.escape("'model.py' is not a notebook")):
        parse_notebook_list("model.py")
    with pytest.raises(RequestError, match=re.escape("a/x.ipynb and b/x.ipynb would both save")):
        parse_notebook_list("a/x.ipynb,b/x.ipynb")


@pytest.mark.parametrize(
    "listed",
    [
        "/abs/03-a.ipynb",
        "../outside/03-a.ipynb",
        "nb/../../03-a.ipynb",
        "04-b.ipynb,..\\03-a.ipynb",
        "C:\\repo\\03-a.ipynb",
    ],
)
def test_a_notebook_path_outside_the_repository_is_refused(listed: str) -> None:
    with pytest.raises(RequestError, match="is not a path inside the repository"):
        parse_notebook_list(listed)


def test_an_escaping_notebook_path_exits_2_before_anything_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nervosum.cli import main

    checkout_dir = tmp_path / "checkout"
    checkout_dir.mkdir()
    (checkout_dir / "03-a.sav").write_bytes(b"keep")
    (tmp_path / "repo").mkdir()
    listed = f"{checkout_dir / '03-a.ipynb'},../checkout/03-a.ipynb"
    for notebooks in listed.split(","):
        result = CliRunner().invoke(
            main, ["notebooks", "build", str(tmp_path / "repo"), "--notebooks", notebooks]
        )
        assert result.exit_code == 2, result.output
        assert "is not a path inside the repository" in result.output
    assert (checkout_dir / "03-a.sav").read_bytes() == b"keep"


def test_a_missing_or_broken_notebook_is_reported_before_anything_runs(tmp_path: Path) -> None:
    nbformat.write(new_notebook(), tmp_path / "04-model.ipynb")
    (tmp_path / "broken.ipynb").write_text("{")
    with pytest.raises(RequestError) as caught:
        read_notebook(tmp_path, "04-modle.ipynb")
    assert caught.value.hint == "did you mean '04-model.ipynb'?"
    with pytest.raises(RequestError, match=re.escape("broken.ipynb is not a readable notebook")):
        read_notebook(tmp_path, "broken.ipynb")


def test_requirements_must_be_installed_and_are_bundled_by_name(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pandas<1\npackaging\n")
    progress = Progress()
    recorder = Recorder()
    wanted = check_requirements(tmp_path, recorder)
    assert [str(r) for r in wanted] == ["pandas<1", "packaging"]
    assert any(line.startswith("requirements.txt asks for pandas<1;") for line in recorder.lines)
    assert bundle_requirements(wanted) == ["cloudpickle", "packaging", "pandas", "scikit-learn"]
    (tmp_path / "requirements.txt").write_text("pandas\nno-such-package-nervosum-test>=1\n")
    with pytest.raises(RequestError, match="needs no-such-package-nervosum-test>=1, not installed"):
        check_requirements(tmp_path, progress)
    assert check_requirements(tmp_path / "none", progress) == []


def test_the_install_hint_names_missing_packages_without_their_pins(tmp_path: Path) -> None:
    """A 2020 file's pins often have no wheel for this Python: pip gets names (issue 19)."""
    (tmp_path / "requirements.txt").write_text(
        "pandas\nno-such-nervosum-pkg==0.11.1\nno-such-nervosum-extra[plot]>=1\n"
    )
    with pytest.raises(RequestError) as caught:
        check_requirements(tmp_path, Progress())
    assert "needs no-such-nervosum-pkg==0.11.1, no-such-nervosum-extra[plot]>=1," in str(
        caught.value
    )
    assert caught.value.hint is not None
    assert caught.value.hint.startswith(
        "pip install no-such-nervosum-pkg 'no-such-nervosum-extra[plot]' into nervosum's"
    )


def test_a_local_folder_is_copied_without_vcs_data(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    (source / "data").mkdir(parents=True)
    (source / "data" / "training.csv").write_text("text,label\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref\n")
    (source / ".dockerignore").write_text("data/\n")  # an ignore file does not drop data
    copy = checkout(str(source), tmp_path / "work")
    assert (copy.root / "data" / "training.csv").is_file()
    assert not (copy.root / ".git").exists()
    assert copy.commit is None
    with pytest.raises(RequestError, match="is not a folder or a git URL"):
        checkout(str(tmp_path / "missing"), tmp_path / "work2")
    with pytest.raises(RequestError, match="--branch applies to a git URL"):
        checkout(str(source), tmp_path / "work3", branch="main")


@pytest.mark.parametrize(
    ("location", "git", "name"),
    [
        ("https://github.com/willb/ml-workflows-notebook", True, "ml-workflows-notebook"),
        ("git@host:team/models.git", True, "models"),
        ("file:///srv/repos/spam.git/", True, "spam"),
        ("./projects/spam", False, "spam"),
    ],
)
def test_sources_and_their_default_names(location: str, git: bool, name: str) -> None:
    assert is_git_url(location) is git
    assert default_name(location) == name


def test_the_default_name_of_dot_is_the_folders_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = tmp_path / "spam-repo" / "inner"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert default_name(".") == "inner"
    assert default_name("..") == "spam-repo"
    assert default_name("./") == "inner"


@pytest.mark.parametrize(
    ("name", "tag", "message"),
    [
        (".", "latest", "'.' cannot name a bundle"),
        ("..", "latest", "'..' cannot name a bundle"),
        ("my model", "latest", "'my model' cannot name"),
        ("team/model", "latest", "'team/model' cannot name"),
        ("spam", "v1:2", "'v1:2' cannot tag"),
        ("spam", "-v1", "'-v1' cannot tag"),
    ],
)
def test_names_the_registry_would_not_accept_are_refused(name: str, tag: str, message: str) -> None:
    with pytest.raises(RequestError, match=re.escape(message)):
        check_name(name, tag)
    check_name("Spam_Repo-2", "v1.0")


def test_a_bad_name_exits_2_before_any_notebook_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nervosum.cli import main

    nbformat.write(new_notebook(cells=[new_code_cell("1")]), tmp_path / "03-a.ipynb")
    args = ["notebooks", "build", str(tmp_path), "--notebooks", "03-a.ipynb", "-n", "a b"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "cannot name a bundle" in result.output
    assert not (tmp_path / "out").exists()


def test_the_image_default_is_said_as_build_says_it() -> None:
    """An image is built by default only when a builder works, not when one is installed."""
    from click.testing import CliRunner

    from nervosum.cli import main

    for command in (["notebooks", "build"], ["build"]):
        shown = " ".join(CliRunner().invoke(main, [*command, "--help"]).output.split())
        assert "[default: when podman, docker or buildah works here]" in shown, command


def test_a_kernel_that_dies_fails_the_build_with_the_cell(tmp_path: Path) -> None:
    book = new_notebook()
    book.cells = [new_code_cell("x = 1"), new_code_cell("import os\nos._exit(3)")]
    run = NotebookRun("dies.ipynb", book, tmp_path, dict(os.environ))
    with pytest.raises(
        BuildError, match=re.escape("dies.ipynb: the kernel died while running cell 2")
    ):
        execute(run, Recorder())


def test_a_notebook_that_saves_no_stage_fails_even_with_an_old_stage_committed(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    book = new_notebook()
    book.cells = [new_code_cell("import os\nprint(os.environ['S2I_PIPELINE_STAGE_SAVE_FILE'])")]
    nbformat.write(book, repo / "04-model.ipynb")
    (repo / "04-model.sav").write_bytes(b"an old stage")
    request = NotebooksBuild(("04-model.ipynb",), {}, "m", "t")
    (tmp_path / "out").mkdir()
    with pytest.raises(BuildError, match=re.escape("04-model.ipynb ran to the end but saved no")):
        run_notebooks(repo, request, tmp_path / "out", Recorder(), ReferenceRows.of(repo, None))


# --- the training rows a notebook saves for live drift --------------------------------------


def test_the_kernels_are_told_one_absolute_file_for_the_training_rows(tmp_path: Path) -> None:
    default = ReferenceRows.of(tmp_path, reference_name({}))
    assert default == ReferenceRows(tmp_path / DEFAULT_REFERENCE, None)
    assert default.variable == {REFERENCE_VARIABLE: str((tmp_path / DEFAULT_REFERENCE).absolute())}
    named = ReferenceRows.of(tmp_path, reference_name({REFERENCE_VARIABLE: "data/sample.csv"}))
    assert named == ReferenceRows(tmp_path / "data" / "sample.csv", "data/sample.csv")


@pytest.mark.parametrize("named", ["/tmp/rows.parquet", "../rows.parquet", "data/../../rows.csv"])
def test_a_rows_file_outside_the_repository_exits_2_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    from click.testing import CliRunner

    from nervosum.cli import main

    monkeypatch.delenv(REFERENCE_VARIABLE, raising=False)
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), tmp_path / "03-a.ipynb")
    args = ["notebooks", "build", str(tmp_path), "--notebooks", "03-a.ipynb"]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "-e", f"{REFERENCE_VARIABLE}={named}", "-o", out])
    assert result.exit_code == 2, result.output
    error = f"error: {REFERENCE_VARIABLE} {named!r} is not a path inside the repository"
    assert result.output.startswith(error + "\n"), result.output
    assert "fetching" not in result.output and not out.exists()
    monkeypatch.setenv(REFERENCE_VARIABLE, named)  # the build's environment is checked alike
    assert CliRunner().invoke(main, [*args, "-o", out]).exit_code == 2


def test_a_committed_default_rows_file_is_not_profiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rows file left over from a local run is removed from the private copy before
    the notebooks run: only rows they save are live drift's reference."""
    monkeypatch.delenv(REFERENCE_VARIABLE, raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    saves_stage = (
        "import os, cloudpickle, pandas as pd\n"
        "from sklearn.linear_model import LinearRegression\n"
        "model = LinearRegression().fit(pd.DataFrame({'x': [0.0, 1.0]}), [0.0, 1.0])\n"
        "cloudpickle.dump(model, open(os.environ['S2I_PIPELINE_STAGE_SAVE_FILE'], 'wb'))"
    )
    nbformat.write(new_notebook(cells=[new_code_cell(saves_stage)]), repo / "04-model.ipynb")
    pd.DataFrame({"x": [0.5, 2.0]}).to_parquet(repo / DEFAULT_REFERENCE)
    (tmp_path / "work").mkdir()
    progress = Recorder()
    request = NotebooksBuild(("04-model.ipynb",), {}, "m", "t")
    built = build_notebooks(str(repo), request, tmp_path / "work", progress=progress)
    assert any("no notebook saved its training rows" in line for line in progress.lines)
    assert not (built.project.project_dir / "reference-profile.json").exists()
    assert (repo / DEFAULT_REFERENCE).is_file()  # the user's checkout is left alone


def test_no_saved_rows_means_no_profile_but_a_named_file_must_be_there(tmp_path: Path) -> None:
    project = load_config(EXAMPLES / "iris")  # not loaded: nothing is profiled
    progress = Recorder()
    assert profile_reference(ReferenceRows.of(tmp_path, None), project, progress) is None
    assert any("no reference profile" in line for line in progress.lines)
    named = ReferenceRows.of(tmp_path, "sample.csv")
    with pytest.raises(BuildError, match=re.escape("names sample.csv, which is not there")):
        profile_reference(named, project, Recorder())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("rows.parquet", b"not parquet", "cannot be read"), ("rows.csv", b"text\n", "are none")],
)
def test_saved_rows_that_cannot_be_profiled_fail_the_build(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    rows = ReferenceRows.of(tmp_path, name)
    with pytest.raises(BuildError, match=message):
        profile_reference(rows, load_config(EXAMPLES / "iris"), Recorder())


# --- nachlass's json_args form ------------------------------------------------------------


def form(value: str, field: str = "json_args") -> bytes:
    from urllib.parse import urlencode

    return urlencode({field: value}).encode()


def test_json_args_strings_become_records_of_the_one_input_field() -> None:
    assert json_args_rows(form('["a", "b"]'), ()) == [{"text": "a"}, {"text": "b"}]
    assert json_args_rows(form('["5.1"]'), ("x",)) == [{"x": "5.1"}]
    assert json_args_rows(form('[{"x": 1}]'), ("x", "y")) == [{"x": 1}]
    assert json_args_rows(form("[]"), ()) == []
    with pytest.raises(InputValidationError, match="strings need a model with one input field"):
        json_args_rows(form('["a"]'), ("x", "y"))


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (form("gASV", "args"), RequestError, "args= (a pickled request) is refused"),
        (form('{"text": "a"}'), InputValidationError, "json_args must be a JSON list"),
        (form('["a", {"text": "b"}]'), InputValidationError, "json_args must be a JSON list"),
        (form("[1, 2"), RequestError, "json_args is not valid JSON"),
        (b"x=1&y=2", UnsupportedMediaTypeError, "form-encoded bodies are not supported"),
        (b"json_args=%ff", RequestError, "form body cannot be read"),
    ],
)
def test_other_json_args_bodies_are_refused(body: bytes, error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        json_args_rows(body, ())
    assert type(caught.value) is error
    assert caught.value.message.startswith(message)


def test_this_interpreter_runs_the_kernel() -> None:
    from nervosum.notebooks.execute import ThisInterpreterKernel

    assert ThisInterpreterKernel(kernel_name="python3").kernel_spec.argv[0] == sys.executable


@pytest.mark.parametrize("blocked", ["nbformat", "nbclient", "jupyter_client"])
def test_without_the_notebooks_extra_the_build_names_it_and_exits_2(
    tmp_path: Path, blocked: str
) -> None:
    import subprocess

    nbformat.write(new_notebook(cells=[new_code_cell("1")]), tmp_path / "03-a.ipynb")
    script = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None\n"
        "from nervosum.cli import main\n"
        "sys.argv = ['nervosum', 'notebooks', 'build', sys.argv[1], '--notebooks', '03-a.ipynb',"
        " '-o', sys.argv[2]]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "notebooks build needs" in result.stderr and blocked in result.stderr
    assert "pip install 'nervosum[notebooks]'" in result.stderr
    assert not (tmp_path / "03-a.sav").exists()
