"""[compat] nervosum/proof-of-concepts' layout: a module with a module-level ``predict(data)``
and, beside the saved model, the ``schema.json`` its training script wrote.

Files are read, never imported: importing the proof of concept's module trains a model
when none is saved. The schema comes from the newest version folder, the one the module
loads (``max(os.listdir(models))``), and its pandas dtype names map onto nervosum's types.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

from nervosum.config.spec import name_from
from nervosum.config.types import canonical_type
from nervosum.errors import ConfigError, ConfigIssue

FUNCTION = "predict"
SCHEMA = "schema.json"
REQUIREMENTS = "requirements.txt"
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")
# Folders that hold other people's code, tests or outputs, never the model module.
_SKIPPED = {"__pycache__", "node_modules", "site-packages", "venv", "env", "tests", "test"}
_ROUTE_DECORATORS = {"route", "get", "post", "put", "patch", "api_route"}
_DEPTH = 4  # folders below the project: model/model.py is 1, models/<version>/ is 2


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder`` to ``_DEPTH`` levels, skipping hidden and third-party folders."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIPPED and depth < _DEPTH
        )
        found.extend(Path(root) / name for name in sorted(files))
    return found


def _is_route(node: ast.FunctionDef) -> bool:
    """A web handler (``@app.route("/predict")``, ``@app.post``): the wrapper, not the model."""
    return any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in _ROUTE_DECORATORS
        for decorator in node.decorator_list
    )


def _takes_one_argument(node: ast.FunctionDef) -> bool:
    """Whether ``predict(frame)`` binds: one positional parameter without a default
    (a Flask route named ``predict`` takes none, ``predict(model, data)`` two)."""
    positional = [*node.args.posonlyargs, *node.args.args]
    required = len(positional) - len(node.args.defaults)
    required_keywords = [d for d in node.args.kw_defaults if d is None]
    has_slot = bool(positional) or node.args.vararg is not None
    return has_slot and required <= 1 and not required_keywords


def _module_name(folder: Path, path: Path) -> str | None:
    parts = [*path.relative_to(folder).parent.parts, path.stem]
    if path.stem == "__init__":
        parts.pop()
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _defines_predict(path: Path) -> bool:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.FunctionDef)
        and node.name == FUNCTION
        and _takes_one_argument(node)
        and not _is_route(node)
        for node in tree.body
    )


def _predict_modules(folder: Path, files: list[Path]) -> list[str]:
    modules: list[str] = []
    for path in files:
        if path.suffix != ".py" or path.name.startswith("test_"):
            continue
        name = _module_name(folder, path)
        if name is not None and _defines_predict(path):
            modules.append(name)
    return modules


def _newest_schema(files: list[Path]) -> Path | None:
    """The ``schema.json`` saved beside a model file, in the greatest version folder."""
    saved = [
        path
        for path in files
        if path.name == SCHEMA and any(p.suffix in MODEL_SUFFIXES for p in path.parent.iterdir())
    ]
    return max(saved, key=lambda path: path.parent.name, default=None)


def _fields(value: object, where: str, path: Path) -> list[dict[str, str]]:
    """``[{name, type}]`` or ``{name: type}`` as nervosum schema fields."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(item, dict) and {"name", "type"} <= set(item) for item in value
    ):
        pairs = [(item["name"], item["type"]) for item in value]
    else:
        raise _schema_error(path, where, "is neither a list of {name, type} nor {name: type}")
    fields: list[dict[str, str]] = []
    for index, (name, dtype) in enumerate(pairs):
        try:
            fields.append({"name": str(name), "type": canonical_type(str(dtype))})
        except ValueError as exc:
            raise _schema_error(path, f"{where}.{index}.type", str(exc)) from None
    return fields


def _schema_error(path: Path, where: str, message: str) -> ConfigError:
    hint = "fix the file, or write nervosum.yaml with input_schema yourself (docs/config.md)"
    return ConfigError(str(path), [ConfigIssue(where, message, None, hint)])


def _schemas(path: Path) -> dict[str, list[dict[str, str]]]:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _schema_error(path, "", f"cannot be read: {exc}") from None
    if not isinstance(saved, dict) or "input" not in saved:
        raise _schema_error(path, "", 'has no "input" list')
    schemas = {"input_schema": _fields(saved["input"], "input", path)}
    if "output" in saved:
        schemas["output_schema"] = _fields(saved["output"], "output", path)
    return schemas


def detect(folder: Path) -> dict[str, Any] | None:
    """The nervosum.yaml mapping of a folder with one module-level ``predict(data)``; None
    when it has none, a ConfigError listing them when it has several."""
    folder = folder.resolve()
    files = _walk(folder)
    modules = _predict_modules(folder, files)
    if not modules:
        return None
    if len(modules) > 1:
        issues = [
            ConfigIssue("", f"module {name!r} defines a module-level predict(data)")
            for name in modules
        ]
        issues.append(
            ConfigIssue(
                "",
                "more than one module could be the model",
                None,
                f"write nervosum.yaml naming one: model: {{module: {modules[0]}, function: "
                f"{FUNCTION}}}",
            )
        )
        raise ConfigError(str(folder), issues)
    schema = _newest_schema(files)
    config: dict[str, Any] = {
        "name": name_from(folder.name),
        "tag": schema.parent.name if schema is not None else "latest",
        "model": {"module": modules[0], "function": FUNCTION},
    }
    if (folder / REQUIREMENTS).is_file():
        config["requirements"] = REQUIREMENTS
    if schema is not None:
        config.update(_schemas(schema))
    return config
