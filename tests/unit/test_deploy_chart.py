"""The Helm chart renders to the objects ``--target kubernetes`` prints, for the same values.

No helm binary can be installed here, so the chart's templates keep to a small subset
of Helm's template language (listed in ``_helpers.tpl``) and :class:`Subset` renders
exactly that subset, with Go's rules where they matter: whitespace trimming by ``{{-``
and ``-}}``, numbers from values files being floats (so ``gt .Values.replicas 1`` is
an error, as in Helm), ``range`` over maps in key order and rebinding the dot. Anything
outside the subset is an error, so a template cannot quietly rely on more. Where helm
is installed, ``test_helm_template_gives_the_same_objects`` checks with helm itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from nervosum.deploy.chart import chart_version, write_chart
from nervosum.deploy.manifests import render
from nervosum.deploy.objects import Object
from tests.unit.test_deploy_manifests import CASES, case_values

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
TOKEN = re.compile(r'\s*(\(|\)|\||:=|,|"(?:[^"\\]|\\.)*"|-?\d+|[$.\w][\w.$]*)')


class SubsetError(Exception):
    """The template leaves the subset, or fails as Go's templates would."""


def go_text(value: Any) -> str:
    """A value as Go's fmt prints it (``%v``): float64 5000 is ``5000``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def go_json(value: Any) -> Any:
    """The value as Go's encoding/json sees it: whole floats are written without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: go_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [go_json(item) for item in value]
    return value


def comparable(left: Any, right: Any) -> None:
    kinds = (bool, int, float, str)
    if type(left) is not type(right) or not isinstance(left, kinds):
        raise SubsetError(f"incompatible types for comparison: {left!r} and {right!r}")


def _gt(left: Any, right: Any) -> bool:
    comparable(left, right)
    return bool(left > right)


def _eq(left: Any, right: Any) -> bool:
    comparable(left, right)
    return bool(left == right)


def _int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool | dict | list):
        raise SubsetError(f"int of {value!r}")
    return int(float(value))


def _and(*args: Any) -> Any:
    for arg in args:
        if not arg:
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if arg:
            return arg
    return args[-1]


def _nindent(spaces: int, text: str) -> str:
    pad = " " * spaces
    return "\n" + pad + text.replace("\n", "\n" + pad)


@dataclass
class Node:
    kind: str  # text, output, if, range, define
    text: str = ""
    body: list[Node] = field(default_factory=list)
    names: tuple[str, ...] = ()  # range variables


@dataclass
class Scope:
    dot: Any
    root: Any
    variables: dict[str, Any]


class Subset:
    """Renders a chart's templates written in the subset of Helm the chart declares."""

    def __init__(self, chart: Path) -> None:
        self.defines: dict[str, list[Node]] = {}
        self.files: dict[str, list[Node]] = {}
        for path in sorted((chart / "templates").iterdir()):
            tree = self._parse(path.read_text(encoding="utf-8"), path.name)
            for node in tree:
                if node.kind == "define":
                    self.defines[node.text] = node.body
            if not path.name.startswith("_"):
                self.files[path.name] = tree
        self.functions: dict[str, Callable[..., Any]] = {
            "toJson": lambda value: (
                json.dumps(
                    go_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
                )
                .replace("&", "\\u0026")
                .replace("<", "\\u003c")
                .replace(">", "\\u003e")
            ),
            "fromYaml": yaml.safe_load,
            "sha256sum": lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "trunc": lambda length, text: text[:length],
            "quote": lambda value: "" if value is None else json.dumps(go_text(value)),
            "int": _int,
            "eq": _eq,
            "ne": lambda left, right: not _eq(left, right),
            "gt": _gt,
            "and": _and,
            "or": _or,
            "not": lambda value: not value,
            "nindent": _nindent,
        }

    # -- parsing ------------------------------------------------------------------

    @staticmethod
    def _pieces(text: str) -> list[tuple[str, str]]:
        """("text", ...) and ("action", ...) with Go's trimming applied."""
        pieces: list[tuple[str, str]] = []
        position = 0
        trim_next = False
        for match in ACTION.finditer(text):
            before = text[position : match.start()]
            if trim_next:
                before = before.lstrip(" \t\r\n")
            if match.group(1):
                before = before.rstrip(" \t\r\n")
            pieces.append(("text", before))
            pieces.append(("action", match.group(2).strip()))
            trim_next = bool(match.group(3))
            position = match.end()
        rest = text[position:]
        pieces.append(("text", rest.lstrip(" \t\r\n") if trim_next else rest))
        return pieces

    def _parse(self, text: str, name: str) -> list[Node]:
        root: list[Node] = []
        stack: list[list[Node]] = [root]
        for kind, body in self._pieces(text):
            if kind == "text":
                stack[-1].append(Node("text", body))
                continue
            word, _, rest = body.partition(" ")
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise SubsetError(f"{name}: unclosed comment")
            elif word == "end":
                if len(stack) == 1:
                    raise SubsetError(f"{name}: end without a block")
                stack.pop()
            elif word in ("if", "define"):
                node = Node(word, json.loads(rest) if word == "define" else rest)
                stack[-1].append(node)
                stack.append(node.body)
            elif word == "range":
                names, sep, expression = rest.partition(":=")
                if not sep:
                    names, expression = "", rest
                node = Node(
                    "range",
                    expression,
                    names=tuple(n.strip() for n in names.split(",") if n.strip()),
                )
                stack[-1].append(node)
                stack.append(node.body)
            elif word in ("else", "with", "template", "block", "break", "continue") or ":=" in body:
                raise SubsetError(f"{name}: {{{{ {body} }}}} is outside the chart's subset")
            else:
                stack[-1].append(Node("output", body))
        if len(stack) != 1:
            raise SubsetError(f"{name}: a block is not closed with end")
        return root

    # -- evaluation ----------------------------------------------------------------

    def _pipeline(self, tokens: list[str], scope: Scope) -> Any:
        commands: list[list[str]] = [[]]
        depth = 0
        for token in tokens:
            depth += {"(": 1, ")": -1}.get(token, 0)
            if token == "|" and depth == 0:
                commands.append([])
            else:
                commands[-1].append(token)
        result: Any = None
        for index, command in enumerate(commands):
            piped = [result] if index else []
            result = self._command(command, scope, piped)
        return result

    def _command(self, tokens: list[str], scope: Scope, piped: list[Any]) -> Any:
        operands: list[Any] = []
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == "(":
                depth, end = 1, position + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(tokens[end], 0)
                    end += 1
                operands.append(self._pipeline(tokens[position + 1 : end - 1], scope))
                position = end
                continue
            operands.append(
                token if position == 0 and token in self.functions else self._operand(token, scope)
            )
            position += 1
        head = tokens[0] if tokens else ""
        if head in self.functions or head == "include":
            args = [*operands[1:], *piped]
            if head == "include":
                name, context = args
                return self._render(self.defines[name], Scope(context, scope.root, {}))
            return self.functions[head](*args)
        if head.isidentifier():
            raise SubsetError(f"function {head!r} is outside the chart's subset")
        if len(operands) != 1 or piped:
            raise SubsetError(f"cannot evaluate {' '.join(tokens)}")
        return operands[0]

    def _operand(self, token: str, scope: Scope) -> Any:
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token == "include":
            return token
        if token.startswith("$"):
            name, _, path = token.partition(".")
            value = scope.root if name == "$" else scope.variables[name]
        elif token.startswith("."):
            value, path = scope.dot, token[1:]
        else:
            raise SubsetError(f"{token!r} is outside the chart's subset")
        for part in filter(None, path.split(".")):
            if not isinstance(value, dict):
                raise SubsetError(f"nil pointer evaluating {token}")
            value = value.get(part)
        return value

    def _render(self, nodes: list[Node], scope: Scope) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "output":
                value = self._pipeline(TOKEN.findall(node.text), scope)
                if not isinstance(value, str):
                    raise SubsetError(
                        f"{{{{ {node.text} }}}} prints a {type(value).__name__}: use toJson"
                    )
                out.append(value)
            elif node.kind == "if":
                if self._pipeline(TOKEN.findall(node.text), scope):
                    out.append(self._render(node.body, scope))
            elif node.kind == "range":
                out.append(self._range(node, scope))
        return "".join(out)

    def _range(self, node: Node, scope: Scope) -> str:
        target = self._pipeline(TOKEN.findall(node.text), scope)
        pairs = (
            sorted(target.items()) if isinstance(target, dict) else list(enumerate(target or []))
        )
        out = []
        for key, item in pairs:
            variables = dict(scope.variables)
            if len(node.names) == 2:
                variables[node.names[0]], variables[node.names[1]] = key, item
            elif node.names:
                variables[node.names[0]] = item
            out.append(self._render(node.body, Scope(item, scope.root, variables)))
        return "".join(out)

    def render(self, values: dict[str, Any]) -> list[Object]:
        """Every object of every template file, for ``values`` read as Helm reads them."""
        root = {"Values": as_helm_reads(values), "Release": {"Name": "release"}}
        objects: list[Object] = []
        for tree in self.files.values():
            text = self._render(tree, Scope(root, root, {}))
            objects += [doc for doc in yaml.safe_load_all(text) if doc is not None]
        return objects


def as_helm_reads(value: Any) -> Any:
    """Helm reads a values file through JSON: every number is a float64."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        return {key: as_helm_reads(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_helm_reads(item) for item in value]
    return value


HELM_ONLY = ("helm.sh/hook", "helm.sh/hook-delete-policy")


def ordered(objects: list[Object]) -> list[Object]:
    """Sorted, without the annotations that instruct Helm itself (the Job is a hook that
    Helm replaces on upgrade): they are not part of the object the cluster runs, and
    plain manifests have none."""
    plain = []
    for obj in objects:
        meta = obj["metadata"]
        annotations = {
            key: value for key, value in meta.get("annotations", {}).items() if key not in HELM_ONLY
        }
        meta = {key: value for key, value in meta.items() if key != "annotations"}
        plain.append(
            {**obj, "metadata": {**meta, **({"annotations": annotations} if annotations else {})}}
        )
    return sorted(plain, key=lambda obj: (obj["kind"], obj["metadata"]["name"]))


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
