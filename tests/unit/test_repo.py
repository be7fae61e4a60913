"""The multi-model server's pieces: discovery, the seed's request body, cron schedules,
git URLs and credentials, and several registries as one metrics page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from nervosum.errors import InputValidationError, ModelDefinitionError, RequestError
from nervosum.observe.merge import merged_exposition
from nervosum.repo.cron import CronSchedule
from nervosum.repo.folders import discover, etls_contract, folder_project
from nervosum.repo.server import default_base_url, is_git
from nervosum.repo.sources import GitAuth, folder_fingerprint, seed_git_url
from nervosum.repo.variables import flatten, parse_variables
from nervosum.urls import redact


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- discovery -----------------------------------------------------------------------------


def test_only_top_level_folders_with_etls_or_a_config_are_models(tmp_path: Path) -> None:
    write(tmp_path / "b_model" / "etls.py", "class transform_predict: pass\n")
    write(tmp_path / "a_model" / "nervosum.yaml", "name: other\n")
    write(tmp_path / "README.md", "# models\n")
    write(tmp_path / "docs" / "notes.txt", "x\n")
    write(tmp_path / "nested" / "deeper" / "etls.py", "\n")
    write(tmp_path / ".hidden" / "etls.py", "\n")
    write(tmp_path / "all" / "etls.py", "\n")  # would hide the /all route
    found = discover(tmp_path)
    assert [(f.name, f.kind) for f in found] == [("a_model", "nervosum"), ("b_model", "etls")]


def test_a_folder_holding_one_model_file_or_an_mlflow_model_is_a_model(tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), tmp_path / "m.joblib")
    (tmp_path / "lone").mkdir()
    (tmp_path / "m.joblib").rename(tmp_path / "lone" / "model.joblib")
    write(tmp_path / "flow" / "MLmodel", "flavors: {}\n")
    write(tmp_path / "two" / "a.onnx", "")
    write(tmp_path / "two" / "b.onnx", "")  # which one? not a model: name it in a config
    write(tmp_path / "notes" / "readme.txt", "not a LightGBM model\n")
    found = discover(tmp_path)
    assert [(f.name, f.kind) for f in found] == [("flow", "nervosum"), ("lone", "nervosum")]
    project = folder_project(found[1])
    assert project.config.name == "lone"
    assert project.config.model_spec.artifact == "model.joblib"


def test_the_etls_class_and_its_path_parameter_are_read_without_running_the_file(
    tmp_path: Path,
) -> None:
    seed = write(
        tmp_path / "s.py",
        "class transform_predict:\n    def __init__(self, path='./'):\n        raise SystemExit\n",
    )
    assert etls_contract(seed) == ("transform_predict", "path")
    other = write(
        tmp_path / "o.py",
        "class Helper: pass\nclass Scorer:\n    def __init__(self, folder): pass\n"
        "    def transform_predict(self, x): return {}\n",
    )
    assert etls_contract(other) == ("Scorer", "folder")
    no_path = write(tmp_path / "n.py", "class transform_predict:\n    def __init__(self): pass\n")
    assert etls_contract(no_path) == ("transform_predict", None)


def test_an_etls_file_that_cannot_be_used_says_why(tmp_path: Path) -> None:
    broken = write(tmp_path / "b.py", "class transform_predict:\n    x = [1, 2\n")
    with pytest.raises(ModelDefinitionError, match=r"b.py:2: syntax error"):
        etls_contract(broken)
    none = write(tmp_path / "n.py", "class Model:\n    def predict(self, x): pass\n")
    with pytest.raises(ModelDefinitionError, match="transform_predict"):
        etls_contract(none)


def test_an_etls_folder_becomes_a_project_named_after_it(tmp_path: Path) -> None:
    write(
        tmp_path / "Scoring" / "etls.py",
        "class transform_predict:\n    def __init__(self, path): pass\n",
    )
    (folder,) = discover(tmp_path)
    project = folder_project(folder)
    assert project.config.name == "Scoring"
    spec = project.config.model_spec
    assert (spec.module, spec.class_) == ("etls", "transform_predict")
    assert spec.init == {"path": f"{(tmp_path / 'Scoring').resolve()}/"}


def test_a_config_folder_is_served_under_the_folder_name(tmp_path: Path) -> None:
    write(tmp_path / "churn" / "nervosum.yaml", "name: ChurnModel\nmodel: {artifact: m.pkl}\n")
    write(tmp_path / "churn" / "m.pkl", "")
    (folder,) = discover(tmp_path)
    assert folder_project(folder).config.name == "churn"


def test_a_folder_fingerprint_changes_with_its_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write(folder / "etls.py", "a = 1\n")
    before = folder_fingerprint(folder)
    write(folder / "__pycache__" / "etls.cpython-311.pyc", "compiled")
    assert folder_fingerprint(folder) == before
    write(folder / "etls.py", "a = 22\n")
    assert folder_fingerprint(folder) != before


# -- the seed's request body ---------------------------------------------------------------


def test_variables_are_flattened_as_json_normalize_does() -> None:
    nested = {"a": 1, "summary": {"x": 2, "deep": {"y": 3}}, "empty": {}, "items": [1, 2]}
    assert flatten(nested) == {
        "a": 1,
        "summary.x": 2,
        "summary.deep.y": 3,
        "empty": {},
        "items": [1, 2],
    }
    assert parse_variables(b'{"variables": {"a": {"b": 1}}}') == ([{"a.b": 1}], False)
    assert parse_variables(b'{"variables": [{"a": 1}, {}]}') == ([{"a": 1}, {}], True)


@pytest.mark.parametrize(
    "body",
    [b'{"vars": {}}', b"[1]", b'{"variables": 3}', b'{"variables": []}', b'{"variables": [1]}'],
)
def test_a_body_without_usable_variables_names_the_field(body: bytes) -> None:
    with pytest.raises(InputValidationError) as caught:
        parse_variables(body)
    assert caught.value.details[0]["loc"] == ["variables"]


# -- cron ----------------------------------------------------------------------------------


def test_the_seed_schedule_runs_at_two_every_day() -> None:
    daily = CronSchedule.parse("0 2 * * *")
    assert daily.next_after(datetime(2026, 12, 4, 1, 59)) == datetime(2026, 12, 4, 2, 0)
    assert daily.next_after(datetime(2026, 12, 4, 2, 0)) == datetime(2026, 12, 5, 2, 0)
    assert daily.next_after(datetime(2026, 12, 31, 23, 0)) == datetime(2027, 1, 1, 2, 0)


def test_cron_fields_take_ranges_steps_lists_names_and_aliases() -> None:
    every = CronSchedule.parse("*/15 9-17 * * mon-fri")
    friday = datetime(2026, 12, 4, 17, 50)  # a Friday
    assert every.next_after(friday) == datetime(2026, 12, 7, 9, 0)  # Monday
    assert CronSchedule.parse("@hourly").next_after(friday) == datetime(2026, 12, 4, 18, 0)
    sunday = CronSchedule.parse("30 4 * * 7")
    assert sunday.next_after(friday) == datetime(2026, 12, 6, 4, 30)
    # both day fields restricted: either matches, as in cron
    either = CronSchedule.parse("0 0 1 * 1")
    assert either.next_after(datetime(2026, 12, 4)) == datetime(2026, 12, 7, 0, 0)
    leap = CronSchedule.parse("0 0 29 feb *")
    assert leap.next_after(datetime(2026, 3, 1)) == datetime(2028, 2, 29, 0, 0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "has 4 fields, not 5"),
        ("0 2 * * * *", "has 6 fields, not 5"),
        ("61 * * * *", "'61 \\* \\* \\* \\*': Bad minute"),
        ("x * * * *", "Bad minute"),
        ("*/0 * * * *", "Bad minute"),
        ("0 0 31 feb *", "Bad day-of-month"),
        ("0 0 * * 8", "Bad day-of-week"),
    ],
)
def test_a_bad_cron_expression_names_the_problem(expression: str, message: str) -> None:
    with pytest.raises(RequestError, match=message) as raised:
        CronSchedule.parse(expression)
    assert raised.value.hint is not None and "minute hour" in raised.value.hint


# -- git -----------------------------------------------------------------------------------


def test_git_urls_and_the_seed_git_path() -> None:
    assert seed_git_url("github.com/team/models") == "https://github.com/team/models"
    assert seed_git_url("https://github.com/team/models") == "https://github.com/team/models"
    assert seed_git_url("git@github.com:team/models.git") == "git@github.com:team/models.git"
    assert redact("https://bob:s3cret@git.example/m.git") == "https://***@git.example/m.git"
    assert redact("https://git.example/m.git") == "https://git.example/m.git"
    assert is_git("github.com/team/models") and is_git("file:///srv/m.git")
    assert not is_git("./models_serve") and not is_git("models_serve")
    assert default_base_url("./models_serve/") == "models_serve"
    assert default_base_url("https://git.example/team/models_serve.git") == "models_serve"
    assert default_base_url("git@github.com:team/scoring.git") == "scoring"


def test_git_credentials_come_from_the_seed_variables_and_stay_out_of_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("gitpassword", raising=False)
    monkeypatch.setenv("usergit", "bob")
    monkeypatch.setenv("password", "s3cret")  # the name the seed's manifests set
    auth = GitAuth.from_env()
    assert auth == GitAuth("bob", "s3cret")
    header = auth.environment()["GIT_CONFIG_VALUE_0"]
    assert header.startswith("Authorization: Basic ") and "s3cret" not in header
    monkeypatch.setenv("gitpassword", "other")
    assert GitAuth.from_env() == GitAuth("bob", "other")
    monkeypatch.delenv("usergit")
    assert GitAuth.from_env() is None


# -- metrics -------------------------------------------------------------------------------


def test_registries_merge_into_one_page_with_shared_series_added() -> None:
    registries = []
    for model in ("a", "b"):
        registry = CollectorRegistry()
        Counter("x_requests", "Requests.", ["model"], registry=registry).labels(model).inc(2)
        Counter("x_dropped", "Dropped.", ["sink"], registry=registry).labels("jsonl").inc(3)
        registries.append(registry)
    page = merged_exposition(registries).decode()
    assert (
        page.count("# TYPE x_requests_total counter") + page.count("# TYPE x_requests counter") == 1
    )
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }
    assert values[("x_requests_total", (("model", "a"),))] == 2
    assert values[("x_requests_total", (("model", "b"),))] == 2
    assert values[("x_dropped_total", (("sink", "jsonl"),))] == 6
