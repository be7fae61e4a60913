"""The Helm chart renders to the objects ``--target kubernetes`` prints, for the same values.

No helm binary can be installed here, so the chart is rendered by the subset renderer
of ``tests/services/helm_subset.py``. Where helm is installed,
``test_helm_template_gives_the_same_objects`` checks with helm itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nervosum.deploy.chart import chart_version, write_chart
from nervosum.deploy.manifests import render
from tests.services.helm_subset import Subset, SubsetError, ordered
from tests.unit.test_deploy_manifests import CASES, case_values


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart written for the plain http case: every other case is its values."""
    folder = tmp_path_factory.mktemp("chart") / "iris"
    write_chart(case_values("http-defaults"), folder, "iris_model:v0.0.1")
    return folder


def read_values(folder: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((folder / "values.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_written_chart_renders_the_same_objects(case: str, tmp_path: Path) -> None:
    values = case_values(case)
    write_chart(values, tmp_path, case)
    assert read_values(tmp_path) == values
    assert ordered(Subset(tmp_path).render(read_values(tmp_path))) == ordered(render(values))


@pytest.mark.parametrize("case", sorted(CASES))
def test_changed_values_change_the_chart_like_the_manifests(case: str, chart: Path) -> None:
    """One chart, every case's values given to it (as `helm template -f`): the templates
    hold the logic, nothing of the first bundle is baked in."""
    values = case_values(case)
    assert ordered(Subset(chart).render(values)) == ordered(render(values))


def test_chart_metadata(chart: Path) -> None:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    assert meta == {
        "apiVersion": "v2",
        "name": "iris-model",
        "description": "iris_model:v0.0.1, deployed by nervosum",
        "type": "application",
        "version": "0.0.1",
        "appVersion": "v0.0.1",
    }
    assert sorted(path.name for path in (chart / "templates").iterdir()) == [
        "_helpers.tpl",
        *sorted(
            f"{kind}.yaml"
            for kind in ("cronjob", "deployment", "hpa", "ingress", "job", "pdb", "service")
        ),
    ]


def leaf_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def test_every_value_is_used_by_a_template(chart: Path) -> None:
    """A value no template reads would be a setting that silently does nothing: each
    leaf of values.yaml is read, itself or through a map a template ranges over or
    writes whole."""
    templates = "".join(p.read_text(encoding="utf-8") for p in (chart / "templates").iterdir())
    used = set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", templates))
    for path in leaf_paths(read_values(chart)):
        parts = path.split(".")
        prefixes = {"." + ".".join(parts[:end]) for end in range(1, len(parts) + 1)}
        assert prefixes & used, f"values.yaml's {path} is used by no template"


def test_values_and_chart_files_are_plain_yaml_mappings(chart: Path) -> None:
    for name in ("values.yaml", "Chart.yaml"):
        assert isinstance(yaml.safe_load((chart / name).read_text(encoding="utf-8")), dict)


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("v0.0.1", "0.0.1"),
        ("1.2.3-rc.1", "1.2.3-rc.1"),
        ("latest", "0.0.0-latest"),
        ("2024_05 build", "0.0.0-2024-05-build"),
    ],
)
def test_chart_versions_are_semver(tag: str, version: str) -> None:
    assert chart_version(tag) == version


def write_template(tmp_path: Path, text: str) -> Subset:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "t.yaml").write_text(text, encoding="utf-8")
    return Subset(tmp_path)


def test_subset_trims_like_go(tmp_path: Path) -> None:
    subset = write_template(
        tmp_path,
        'a: 1\n{{- if .Values.on }}\nb: {{ toJson .Values.n }}\n{{- end }}\nc:  {{- " x" -}}  \n',
    )
    assert subset.render({"on": True, "n": 2}) == [{"a": 1, "b": 2, "c": "x"}]
    assert subset.render({"on": False, "n": 2}) == [{"a": 1, "c": "x"}]


def test_subset_numbers_are_floats_as_in_helm(tmp_path: Path) -> None:
    subset = write_template(tmp_path, "{{- if gt .Values.replicas 1 }}\nmany: true\n{{- end }}\n")
    with pytest.raises(SubsetError, match="incompatible types"):
        subset.render({"replicas": 3})
    fixed = write_template(
        tmp_path,
        "{{- if gt (int .Values.replicas) 1 }}\nmany: {{ quote .Values.replicas }}\n{{- end }}\n",
    )
    assert fixed.render({"replicas": 3}) == [{"many": "3"}]


def test_subset_ranges_in_key_order_and_rebinds_the_dot(tmp_path: Path) -> None:
    subset = write_template(
        tmp_path,
        "env:\n{{- range $k, $v := .Values.env }}\n  - {{ $k }}={{ $v }}\n{{- end }}\n"
        "args:\n{{- range .Values.args }}\n  - {{ toJson . }}\n{{- end }}\n",
    )
    rendered = subset.render({"env": {"b": "2", "a": "1"}, "args": ["x", "y"]})
    assert rendered == [{"env": ["a=1", "b=2"], "args": ["x", "y"]}]


def test_subset_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    with pytest.raises(SubsetError, match="outside the chart's subset"):
        write_template(tmp_path, "{{ if .Values.a }}x{{ else }}y{{ end }}")
    with pytest.raises(SubsetError, match="outside the chart's subset"):
        write_template(tmp_path, "a: {{ upper .Values.a }}").render({"a": "x"})
    with pytest.raises(SubsetError, match="use toJson"):
        write_template(tmp_path, "a: {{ .Values.n }}").render({"n": 1})


@pytest.mark.skipif(
    shutil.which("helm") is None,
    reason="helm is not installed: the subset renderer checks the chart",
)
def test_helm_template_gives_the_same_objects(chart: Path, tmp_path: Path) -> None:
    for case in sorted(CASES):
        values = tmp_path / f"{case}.yaml"
        values.write_text(yaml.safe_dump(case_values(case)), encoding="utf-8")
        done = subprocess.run(
            ["helm", "template", "release", str(chart), "--values", str(values)],
            capture_output=True,
            text=True,
            check=True,
        )
        rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]
        assert ordered(rendered) == ordered(render(case_values(case))), case
