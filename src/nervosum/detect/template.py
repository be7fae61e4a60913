"""Infer nervosum.yaml for a checkout of the machine-learning-microservice-template.

Users of FlorianBorn/machine-learning-microservice-template bring a repository without
nervosum.yaml: ``source/`` (the template's ``Model`` in ``source/model/mdl.py``, the
user's ``DataLoader``, ``Preprocessor``, ``train_model``, ``get_classes``),
``source/features.py``, ``config.yaml`` and a pickled ``model_bin/model.pkl``. This
module reads them the way the template did and returns the nervosum.yaml mapping that
serves them (issue 19), so ``serve``, ``train``, ``check`` and ``build`` work with no
file added; ``nervosum init --detect`` writes the same mapping for users who want one.

Nothing of the user's code runs here: ``source/features.py`` is read as Python source
(its four names must be literal values, as the template's example has them), so a
problem is reported at its line before anything is imported.

Where each setting comes from:

- ``source/features.py``: ``input_features`` (names, or ``{name: type}`` as the
  template's own comment in ``source/api/models.py`` suggests), ``target_label``,
  ``ID_NAME``, ``task``;
- ``config.yaml``: ``model_path`` / ``model_name`` (default ``model_bin/model.pkl``,
  ``source/defaults.py``), ``prediction_test_case_path`` (the example request: its first
  record types the features and is the example ``nervosum check`` scores), ``ID_NAME``
  (wins over features.py's), and the logging switches;
- the logging switches as the template's ``main.py`` read them, through python-dotenv:
  ``config.yaml`` < ``.env`` at the repository root < the environment.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from nervosum.config.spec import name_from
from nervosum.config.types import canonical_type
from nervosum.config.yaml_lines import YamlDocument, parse_yaml
from nervosum.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from nervosum.config.load import Project

MODEL_SOURCE = "source/model/mdl.py"  # the template's Model: what marks a checkout
MODEL_MODULE = "source.model.mdl"  # its import name: a pickled Model's class lives there
TRAIN_SOURCE = "source/model/train.py"
FEATURES_SOURCE = "source/features.py"
SETTINGS_FILE = "config.yaml"
DOTENV_FILE = ".env"
# source/defaults.py: where Model.export() writes without a path.
DEFAULT_MODEL_PATH = "model_bin"
DEFAULT_MODEL_NAME = "model.pkl"
# Beside the pickle, written by `nervosum train`: what the model needs to serve, pinned
# to the versions it was trained with (the template's requirements.txt pins its own
# FastAPI / Jenkins stack of 2020, which nervosum replaces).
REQUIREMENTS_SUFFIX = ".requirements.txt"
TASKS = ("classification", "regression")
_FEATURE_NAMES = ("input_features", "target_label", "ID_NAME", "task")

MONGODB_SWITCH = "enable_mongodb_logging"
MONGODB_KEYS = (
    "mongo_db_url",
    "mongo_db_port",
    "mongo_db_name",
    "mongodb_logging_collection_name",
    "timezone",
)
FLUENTD_SWITCH = "enable_fluentd_logging"
FLUENTD_KEYS = ("fluentd_url", "fluentd_port", "fluentd_base_log_name")
FLUENTD_N_BEST = "fluentd_log_n_best"
# The template's logging switches (config.yaml, .env or the environment).
LOGGING_KEYS = (MONGODB_SWITCH, *MONGODB_KEYS, FLUENTD_SWITCH, *FLUENTD_KEYS, FLUENTD_N_BEST)


def is_checkout(folder: Path) -> bool:
    """Whether ``folder`` is laid out as the template: its ``Model`` and ``train.py``."""
    return (folder / MODEL_SOURCE).is_file() and (folder / TRAIN_SOURCE).is_file()


@dataclass(frozen=True)
class TemplateFeatures:
    """``source/features.py``, read without running it."""

    input_features: list[str]
    types: dict[str, str]  # declared in the {name: type} form only
    target_label: str | None
    id_name: str | None
    task: str


@dataclass(frozen=True)
class Setting:
    """One value and where it was read, for messages that point at it."""

    value: Any
    source: str


def detect(folder: Path) -> dict[str, Any] | None:
    """The nervosum.yaml mapping for a template checkout, or None for any other folder.

    A :class:`ConfigError` names the template file (and line) that cannot be read.
    """
    if not is_checkout(folder):
        return None
    settings = read_settings(folder)
    features = read_features(folder)
    id_name = _id_name(settings, features)
    example = _example(folder, settings)
    artifact = model_file(settings)
    mapping: dict[str, Any] = {
        "name": name_from(folder.resolve().name),
        "model": {"artifact": artifact},
    }
    requirements = requirements_file(artifact)
    if (folder / requirements).is_file():
        mapping["requirements"] = requirements
    if id_name:
        mapping["id_field"] = id_name
    mapping["input_schema"] = [
        _field(name, features.types.get(name), example.get(name))
        for name in features.input_features
    ]
    if features.target_label:
        output_type = "str" if features.task == "classification" else "float"
        mapping["output_schema"] = [{"name": features.target_label, "type": output_type}]
    logging = _logging(_switches(folder, settings))
    if logging is not None:
        mapping["logging"] = logging
    return mapping


def requirements_file(artifact: str) -> str:
    """``model_bin/model.requirements.txt`` for ``model_bin/model.pkl``: where ``nervosum
    train`` writes what the pickle needs."""
    path = Path(artifact)
    return path.with_name(path.stem + REQUIREMENTS_SUFFIX).as_posix()


def check_bundle_needs(project: Project) -> None:
    """Before a checkout is bundled: a :class:`ConfigError` (exit 2) when the bundle would
    not hold what the template's pickle needs to load.

    Those needs are known only from ``nervosum train``'s requirements file: the template's
    requirements.txt pins its 2020 stack, and the published ``model.pkl`` was pickled with
    versions nobody recorded, so pinning what happens to be installed here would be a guess
    (and would mean unpickling, that is running, the user's code to read the pickle's
    imports). Other projects, and checkouts whose nervosum.yaml sets ``requirements`` or
    serves another artifact, pass.
    """
    folder = project.project_dir
    model = project.config.model
    if project.config.requirements or model is None or not is_checkout(folder):
        return
    artifact = model_file(read_settings(folder))
    if model.artifact is None or Path(model.artifact) != Path(artifact):
        return
    needs = requirements_file(artifact)
    lacking = f"a bundle of {artifact} would lack what it needs to load (scikit-learn, ...)"
    if (folder / needs).is_file():
        _issue(
            str(project.config_path),
            f"requirements is not set: {lacking}",
            hint=f"add `requirements: {needs}` (written by nervosum train) to it",
        )
    _issue(
        needs,
        f"not found: {lacking}",
        hint=f"nervosum train {folder} first: it pickles the model and writes {needs},"
        " pinned to the versions it was trained with",
    )


def _issue(shown: str, message: str, line: int | None = None, hint: str | None = None) -> NoReturn:
    raise ConfigError(shown, [ConfigIssue("", message, line, hint)])


def read_settings(folder: Path) -> dict[str, Setting]:
    """``config.yaml``'s keys (most are commented out in the template), each with its line."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return {}
    doc = parse_yaml(path.read_text(encoding="utf-8"))
    if doc.issues:
        raise ConfigError(SETTINGS_FILE, doc.issues)
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        _issue(SETTINGS_FILE, "the file must be a YAML mapping of keys to values", 1)
    return {str(k): Setting(v, _at(doc, str(k))) for k, v in doc.data.items()}


def _at(doc: YamlDocument, key: str) -> str:
    line = doc.line_of((key,))
    return f"{SETTINGS_FILE}:{line}" if line else SETTINGS_FILE


def model_file(settings: dict[str, Setting]) -> str:
    """Where the pickled ``Model`` is, relative to the repository: ``model_path`` /
    ``model_name`` of config.yaml, else the template's ``model_bin/model.pkl``."""
    path = _text(settings.get("model_path")) or DEFAULT_MODEL_PATH
    name = _text(settings.get("model_name")) or DEFAULT_MODEL_NAME
    return (Path(path) / name).as_posix()


def _text(setting: Setting | None) -> str | None:
    if setting is None or setting.value is None:
        return None
    return str(setting.value).strip()


def read_features(folder: Path) -> TemplateFeatures:
    """``source/features.py``'s four names, read as literals; a located error otherwise."""
    path = folder / FEATURES_SOURCE
    if not path.is_file():
        _issue(
            FEATURES_SOURCE,
            f"file not found in {folder.resolve()}",
            hint="the template's source/features.py sets input_features, target_label, "
            "ID_NAME and task; restore it from the template",
        )
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        _issue(FEATURES_SOURCE, f"syntax error: {exc.msg}", exc.lineno)
    values = _assignments(tree)
    if "input_features" not in values:
        _issue(
            FEATURES_SOURCE,
            "input_features is not set",
            hint='list the request fields: input_features = ["sepal_length", ...]',
        )
    names, types = _input_features(*values["input_features"])
    target = _optional_text(values.get("target_label"), "target_label")
    id_name = _optional_text(values.get("ID_NAME"), "ID_NAME")
    task = _optional_text(values.get("task"), "task") or "classification"
    if task not in TASKS:
        line = values["task"][1]
        _issue(FEATURES_SOURCE, f"task {task!r} is not one of {', '.join(TASKS)}", line)
    return TemplateFeatures(names, types, target, id_name or None, task)


def _assignments(tree: ast.Module) -> dict[str, tuple[ast.expr, int]]:
    """The last top-level assignment of each of the four names: its value and line."""
    found: dict[str, tuple[ast.expr, int]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _FEATURE_NAMES:
                assert node.value is not None
                found[target.id] = (node.value, node.lineno)
    return found


def _not_literal(name: str, line: int, example: str) -> NoReturn:
    _issue(
        FEATURES_SOURCE,
        f"{name} must be a literal value: nervosum reads this file without running it",
        line,
        f"write it out, e.g. {example}",
    )


def _optional_text(found: tuple[ast.expr, int] | None, name: str) -> str | None:
    if found is None:
        return None
    node, line = found
    try:
        value = ast.literal_eval(node)
    except ValueError:
        _not_literal(name, line, f'{name} = "..."')
    if value is not None and not isinstance(value, str):
        _issue(FEATURES_SOURCE, f"{name} must be text, not {type(value).__name__}", line)
    return value.strip() if isinstance(value, str) else None


def _input_features(node: ast.expr, line: int) -> tuple[list[str], dict[str, str]]:
    """The feature names, and their types when written as ``{name: type}``."""
    example = 'input_features = ["sepal_length", ...] or {"sepal_length": float, ...}'
    if isinstance(node, ast.Dict):
        types: dict[str, str] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                _not_literal("input_features", line, example)
            spelled = _type_spelling(value)
            if spelled is None:
                _not_literal("input_features", line, example)
            try:
                types[key.value] = canonical_type(spelled)
            except ValueError as exc:
                _issue(FEATURES_SOURCE, f"input_features: {key.value}: {exc}", value.lineno)
        return list(types), types
    try:
        value = ast.literal_eval(node)
    except ValueError:
        _not_literal("input_features", line, example)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        _issue(FEATURES_SOURCE, "input_features must be a list of feature names", line)
    if not value:
        _issue(FEATURES_SOURCE, "input_features is empty: list the request fields", line)
    return list(value), {}


def _type_spelling(node: ast.expr) -> str | None:
    """``float`` or ``"float"`` (the two spellings the template's comment shows)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _id_name(settings: dict[str, Setting], features: TemplateFeatures) -> str | None:
    """``ID_NAME`` of config.yaml when set there (an empty value means none), else
    source/features.py's."""
    if "ID_NAME" in settings:
        return _text(settings["ID_NAME"]) or None
    return features.id_name


def _example(folder: Path, settings: dict[str, Setting]) -> dict[str, Any]:
    """The first record of ``prediction_test_case_path``, the request the template's
    Jenkins pipeline sent to test a model; empty when none is configured."""
    setting = settings.get("prediction_test_case_path")
    relative = _text(setting)
    if setting is None or not relative:
        return {}
    path = folder / relative
    if not path.is_file():
        _issue(
            setting.source,
            f"prediction_test_case_path: {relative!r} not found",
            hint="the path is relative to the repository root",
        )
    try:
        body = json.loads(path.read_bytes())
    except ValueError as exc:
        _issue(relative, f"not valid JSON: {exc}")
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        _issue(relative, "the example request must be a JSON list of records (objects)")
    return first


def _field(name: str, declared: str | None, example: Any) -> dict[str, Any]:
    """One input_schema field: the declared type, else the example value's, else float.

    The template declared no types (every field was an optional string under pydantic
    v1); its example requests and its iris example are numbers.
    """
    field: dict[str, Any] = {"name": name, "type": declared or _type_of(example)}
    if example is not None and (declared is None or declared == _type_of(example)):
        field["example"] = example
    return field


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    return "float"


def _switches(folder: Path, settings: dict[str, Setting]) -> dict[str, Setting]:
    """The logging settings as the template's process saw them: config.yaml, then
    ``.env`` (python-dotenv never overrides a variable already set), then the environment."""
    found = {key: settings[key] for key in LOGGING_KEYS if key in settings}
    dotenv = folder / DOTENV_FILE
    if dotenv.is_file():
        from dotenv import dotenv_values

        for key, value in dotenv_values(dotenv).items():
            if key in LOGGING_KEYS and value is not None:
                found[key] = Setting(value, DOTENV_FILE)
    for key in LOGGING_KEYS:
        if key in os.environ:
            found[key] = Setting(os.environ[key], "the environment")
    return found


def _enabled(switches: dict[str, Setting], key: str) -> bool:
    setting = switches.get(key)
    if setting is None or isinstance(setting.value, bool):
        return bool(setting and setting.value)
    text = str(setting.value).strip().lower()
    if text not in ("true", "false"):
        _issue(setting.source, f"{key}={setting.value!r} is neither True nor False")
    return text == "true"


def _required(switches: dict[str, Setting], key: str, switch: str) -> Setting:
    setting = switches.get(key)
    if setting is None or _text(setting) in (None, ""):
        _issue(
            switches[switch].source,
            f"{switch} is True but {key} is not set",
            hint=f"set {key} in .env (see config/env.sample), the environment or config.yaml",
        )
    return setting


def _number(setting: Setting, key: str) -> int:
    try:
        return int(str(setting.value).strip())
    except ValueError:
        _issue(setting.source, f"{key}={setting.value!r} is not a whole number")


def _host(setting: Setting) -> str:
    """``mongo_db_url``, refused when it holds a password: the template built
    ``mongodb://{url}:{port}/`` from it, so ``user:password@host`` worked there, but
    nervosum reads a MongoDB password from the environment only (a bundle carries no
    ``.env``). The error names where the setting was read and never shows the password."""
    host = _text(setting) or ""
    userinfo, at, rest = host.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        _issue(
            setting.source,
            "mongo_db_url holds a password (user:password@host); nervosum never reads one"
            " from its settings",
            hint=f"write mongo_db_url={user}@{rest} and set the password in the MONGODB_PASSWORD"
            " environment variable where nervosum runs",
        )
    return host


def _logging(switches: dict[str, Setting]) -> dict[str, Any] | None:
    """The prediction log's sinks for the template's switches; None when both are off."""
    sinks: list[dict[str, Any]] = []
    block: dict[str, Any] = {}
    if _enabled(switches, MONGODB_SWITCH):
        url, port, database, collection, timezone = (
            _required(switches, key, MONGODB_SWITCH) for key in MONGODB_KEYS
        )
        sinks.append(
            {
                "type": "mongodb",
                "url": f"mongodb://{_host(url)}:{_number(port, 'mongo_db_port')}",
                "database": _text(database),
                "collection": _text(collection),
                "timezone": _text(timezone),
            }
        )
    if _enabled(switches, FLUENTD_SWITCH):
        host, port, tag = (_required(switches, key, FLUENTD_SWITCH) for key in FLUENTD_KEYS)
        sinks.append(
            {
                "type": "fluentd",
                "host": _text(host),
                "port": _number(port, "fluentd_port"),
                "tag": _text(tag),
            }
        )
        n_best = switches.get(FLUENTD_N_BEST)
        if n_best is not None:
            block["n_best"] = _number(n_best, FLUENTD_N_BEST)
    if not sinks:
        return None
    return {"sinks": sinks, **block}
