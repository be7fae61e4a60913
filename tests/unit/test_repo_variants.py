"""Which challenger a serve-repo model folder gets (docs/repo.md, "Champion and
challenger"), that a challenger folder is part of its model and no model of its own, and
that a model's promote and rollback need the admin scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.config.spec import AuthSpec
from nervosum.errors import ConfigError, ModelDefinitionError
from nervosum.repo.folders import ModelFolder, discover, folder_project
from nervosum.repo.sources import folder_fingerprint
from nervosum.repo.variants import Challenger, folder_challenger
from nervosum.serving.auth.policy import Policy

MODEL = """
name: {name}
tag: {tag}
model: {{module: model, class: Model}}
input_schema: [{{name: x, type: float}}]
output_schema: {{name: y, type: float}}
{more}
"""
CODE = "class Model:\n    def predict(self, frame):\n        return list(frame['x'])\n"
ETLS = "class transform_predict:\n    def transform_predict(self, x):\n        return {}\n"


def write_model(folder: Path, tag: str, more: str = "", name: str = "anything") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nervosum.yaml").write_text(MODEL.format(name=name, tag=tag, more=more))
    (folder / "model.py").write_text(CODE)


def challenger_of(folder: Path) -> Challenger | None:
    model = ModelFolder(folder.name, folder, "nervosum")
    return folder_challenger(model, folder_project(model))


def test_a_challenger_folder_is_served_in_shadow_under_the_models_name(tmp_path: Path) -> None:
    write_model(tmp_path / "churn", "v1")
    write_model(tmp_path / "churn" / "challenger", "v2", name="churn-next")
    found = challenger_of(tmp_path / "churn")
    assert found is not None
    assert found.spec.mode == "shadow" and found.spec.challenger == "challenger"
    assert found.project.config.name == "churn" and found.project.config.tag == "v2"
    assert found.project.config.logging is None  # both arms log to the champion's log


def test_a_variants_block_wins_over_the_challenger_folder(tmp_path: Path) -> None:
    more = "variants: {challenger: next, mode: canary, share: 20%}"
    write_model(tmp_path / "churn", "v1", more)
    write_model(tmp_path / "churn" / "challenger", "v2")
    write_model(tmp_path / "churn" / "next", "v3")
    found = challenger_of(tmp_path / "churn")
    assert found is not None
    assert found.spec.mode == "canary" and found.spec.share == pytest.approx(0.2)
    assert found.project.config.tag == "v3"


def test_a_folder_without_challenger_gets_none(tmp_path: Path) -> None:
    write_model(tmp_path / "churn", "v1")
    assert challenger_of(tmp_path / "churn") is None


def test_an_etls_challenger_folder_is_read_as_serve_repo_reads_one(tmp_path: Path) -> None:
    write_model(tmp_path / "churn", "v1")
    (tmp_path / "churn" / "challenger").mkdir()
    (tmp_path / "churn" / "challenger" / "etls.py").write_text(ETLS)
    found = challenger_of(tmp_path / "churn")
    assert found is not None
    assert found.project.config.name == "churn"
    assert found.project.config.model.module == "etls"


def test_a_challenger_folder_without_a_model_is_refused_by_name(tmp_path: Path) -> None:
    write_model(tmp_path / "churn", "v1")
    (tmp_path / "churn" / "challenger").mkdir()
    (tmp_path / "churn" / "challenger" / "notes.txt").write_text("no model here\n")
    with pytest.raises(ModelDefinitionError, match="challenger holds no model"):
        challenger_of(tmp_path / "churn")


def test_a_variants_challenger_that_does_not_exist_names_the_key(tmp_path: Path) -> None:
    write_model(tmp_path / "churn", "v1", "variants: {challenger: ../gone}")
    with pytest.raises(ConfigError, match=r"variants\.challenger"):
        challenger_of(tmp_path / "churn")


def test_a_challenger_folder_is_no_model_but_part_of_its_models_fingerprint(
    tmp_path: Path,
) -> None:
    write_model(tmp_path / "churn", "v1")
    write_model(tmp_path / "churn" / "challenger", "v2")
    assert [folder.name for folder in discover(tmp_path)] == ["churn"]
    before = folder_fingerprint(tmp_path / "churn")
    code = tmp_path / "churn" / "challenger" / "model.py"
    code.write_text(CODE + "# changed\n")
    assert folder_fingerprint(tmp_path / "churn") != before


@pytest.mark.parametrize(
    ("method", "path", "access"),
    [
        ("POST", "/models/churn/promote", "admin"),
        ("POST", "/models/churn/rollback", "admin"),
        ("GET", "/models/churn/promote", "admin"),
        ("GET", "/models/churn/arms", "predict"),
        ("POST", "/models/churn/predict", "predict"),
        ("GET", "/models/promote", "predict"),  # a model named promote
        ("POST", "/repo/-/refresh", "admin"),  # the core's admin routes stay admin
        ("POST", "/v2/repository/index", "admin"),
    ],
)
def test_a_models_promote_and_rollback_need_the_admin_scope(
    method: str, path: str, access: str
) -> None:
    auth = AuthSpec()
    policy = Policy(metrics=auth.metrics, docs=auth.docs, base="repo")
    assert policy.access(method, path) == access


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("promote: {metric: accuracy}", "variants.promote: not supported by serve-repo"),
        ("state: arms.json", "variants.state: not supported by serve-repo"),
    ],
)
def test_a_promote_rule_or_state_file_is_refused_naming_the_key(
    tmp_path: Path, block: str, field: str
) -> None:
    write_model(tmp_path / "churn", "v1", f"variants: {{challenger: next, {block}}}")
    write_model(tmp_path / "churn" / "next", "v2")
    with pytest.raises(ConfigError, match=field):
        challenger_of(tmp_path / "churn")
