"""A renderer of the subset of Helm's template language the chart keeps to (listed in
``_helpers.tpl``), for tests on a machine where no helm binary can be installed.

It renders exactly that subset, with Go's rules where they matter: whitespace trimming
by ``{{-`` and ``-}}``, numbers from values files being floats (so ``gt
.Values.replicas 1`` is an error, as in Helm), ``range`` over maps in key order and
rebinding the dot. Anything outside the subset is an error, so a template cannot
quietly rely on more.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nervosum.deploy.objects import Object

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
