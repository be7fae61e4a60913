"""The layering docs/architecture.md draws, checked on the source's import graph.

Every ``import`` counts, at module level or inside a function (a lazy import is still a
dependency: it only moves the cost), except those under ``if TYPE_CHECKING:``. The
graph is read with :mod:`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"
ROOT = "nervosum"
# Data shipped inside the package (project templates with placeholders), not modules.
NOT_MODULES = {"templates"}

# Each top-level package or module, lowest layer first. A package may import its own
# layer's and lower layers' packages, never a higher layer's (docs/architecture.md,
# "Layers").
LAYERS: list[set[str]] = [
    {"nervosum", "errors", "jsonio", "urls", "home", "requirements"},
    {"config"},
    {"schema", "explain"},
    {"model"},
    {"detect"},
    {"project"},
    {"engine"},
    {"observe", "predlog", "drift"},
    {"predict"},
    {"brokers"},
]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((SOURCE / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if NOT_MODULES & set(parts):
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:`` (not its ``else``)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            hidden.update(id(inner) for part in node.body for inner in ast.walk(part))
    return hidden


_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


@cache
def _root_names() -> dict[str, str]:
    """The names the root package resolves on first use (its ``_LAZY`` table): importing
    one depends on the module that defines it."""
    tree = ast.parse((SOURCE / ROOT / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "_LAZY" for target in node.targets
        ):
            return dict(ast.literal_eval(node.value))
    return {}


def _imported(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]
) -> Iterator[str]:
    """The dotted names an import node asks for: a ``from`` import's name when it is a
    module of the package it names, else that package."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base.pop()
        base = base[: len(base) - node.level + 1]
        prefix = ".".join([*base, node.module] if node.module else base)
    else:
        prefix = node.module or ""
    for alias in node.names:
        name = f"{prefix}.{alias.name}"
        if prefix == ROOT and alias.name in _root_names():
            yield _root_names()[alias.name]
        else:
            yield name if name in modules else prefix


@cache
def module_graph() -> dict[str, frozenset[str]]:
    """Each nervosum module and the nervosum modules it imports."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        hidden = _type_checking_only(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in hidden:
                for name in _imported(module, path, node, modules):
                    target = owner(name) if name.split(".")[0] == ROOT else None
                    if target is not None and target != module:
                        targets.add(target)
        graph[module] = frozenset(targets)
    return graph


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in module_graph().items():
        edges = graph.setdefault(top_package(module), set())
        edges.update(top_package(t) for t in targets)
    for package, edges in graph.items():
        edges.discard(package)
    return graph


def cycles(graph: dict[str, set[str]] | dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges_within(graph: dict[str, frozenset[str]], members: list[str]) -> list[str]:
    inside = set(members)
    return [f"{a} -> {b}" for a in members for b in sorted(graph[a]) if b in inside]


def test_no_module_imports_another_that_imports_it_back() -> None:
    graph = module_graph()
    found = cycles(graph)
    assert not found, "\n".join("; ".join(_edges_within(graph, c)) for c in found)


def test_no_two_packages_import_each_other_even_through_others() -> None:
    packages = package_graph()
    found = cycles(packages)
    modules = module_graph()
    why = [
        f"{m} -> {t}"
        for c in found
        for m, targets in modules.items()
        for t in targets
        if top_package(m) in c and top_package(t) in c and top_package(m) != top_package(t)
    ]
    assert not found, f"{found}\n" + "\n".join(sorted(why))


def _layer_of(package: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if package in layer), None)


@pytest.mark.parametrize("package", sorted(set().union(*LAYERS)))
def test_the_core_imports_only_its_own_layer_and_below(package: str) -> None:
    own = _layer_of(package)
    assert own is not None
    higher = [
        f"{module} -> {target}"
        for module, targets in module_graph().items()
        if top_package(module) == package
        for target in targets
        if _layer_of(top_package(target)) in (None, *range(own + 1, len(LAYERS)))
    ]
    assert not higher, "\n".join(higher)


def test_every_package_is_seen() -> None:
    """A guard on the checks above: the graph has the packages and edges it must."""
    packages = package_graph()
    assert {"config", "schema", "model", "serving", "stream", "batch", "graph"} <= set(packages)
    assert "config" in packages["schema"]
    assert "engine" in packages["serving"]


def test_the_root_packages_lazy_names_count_as_their_modules() -> None:
    assert _root_names()["Engine"] == "nervosum.engine"
    assert _root_names()["load_config"] == "nervosum.project"


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
