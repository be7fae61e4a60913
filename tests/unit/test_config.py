"""nervosum.yaml loading: both spellings, every problem reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.config import DEFAULT_CONFIG, MODES, ModelSpec, SchemaField
from nervosum.config.yaml_lines import parse_yaml
from nervosum.errors import ConfigError
from nervosum.project import load_config

ROOT = Path(__file__).resolve().parents[2]
IRIS = ROOT / "examples" / "iris"

MODEL = """\
name: demo
model:
  module: model
  class: Model
"""


def load_error(project: Path, config: str | Path = DEFAULT_CONFIG) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(project, config)
    return info.value


def rendered(error: ConfigError) -> list[str]:
    """The error's lines with the file name replaced by FILE."""
    return [line.replace(error.filename, "FILE", 1) for line in str(error).splitlines()]


def schema_field(**values: object) -> SchemaField:
    return SchemaField.model_validate({"name": "x", "type": "float", **values})


# --- the seed format -------------------------------------------------------------------


def test_seed_iris_example_loads_unchanged() -> None:
    project = load_config(IRIS)

    config = project.config
    assert config.name == "Iris"
    assert config.tag == "v0.0.1"
    assert config.deployment.mode == "http"
    assert config.src == "model"
    assert config.requirements == "requirements.txt"
    assert config.interface is not None
    assert config.interface.model_module == "model"
    assert config.interface.model_class == "IrisModel"
    assert config.model is None
    assert [(f.name, f.type) for f in config.input_schema] == [
        ("sepal_length", "float"),
        ("sepal_width", "float"),
        ("petal_length", "float"),
        ("petal_width", "float"),
    ]
    assert [(f.name, f.type) for f in config.output_schema] == [("prediction", "int")]
    assert project.project_dir == IRIS
    assert project.config_path == IRIS / "nervosum.yaml"
    assert project.src_dir == IRIS / "model"
    assert project.src_package == "model"


def test_seed_interface_becomes_the_model_spec() -> None:
    spec = load_config(IRIS).config.model_spec

    assert spec == ModelSpec.model_validate({"module": "model", "class": "IrisModel"})
    assert spec.init == {}
    assert spec.methods is None
    assert spec.artifact is None


def test_defaults_when_keys_are_left_out(make_project) -> None:
    config = load_config(make_project(MODEL)).config

    assert config.tag == "latest"
    assert config.deployment.mode == "http"
    assert config.src == "."
    assert config.requirements is None
    assert config.input_schema == ()
    assert config.output_schema == ()
    assert config.id_field is None
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 5000
    assert config.errors.expose_details is True
    assert config.reserved_blocks_in_use() == []


def test_output_schema_may_be_a_list(make_project) -> None:
    project = make_project(
        MODEL + "output_schema:\n  - name: label\n    type: str\n  - name: score\n    type: float\n"
    )

    fields = load_config(project).config.output_schema

    assert [(f.name, f.type) for f in fields] == [("label", "str"), ("score", "float")]


def test_output_schema_may_be_a_single_mapping(make_project) -> None:
    project = make_project(MODEL + "output_schema:\n  name: label\n  type: int\n")

    fields = load_config(project).config.output_schema

    assert len(fields) == 1
    assert (fields[0].name, fields[0].type) == ("label", "int")


def test_single_output_mapping_errors_still_have_a_line(make_project) -> None:
    project = make_project(MODEL + "output_schema:\n  name: label\n  type: intt\n")

    assert rendered(load_error(project)) == [
        "FILE:5: output_schema.0.type: unknown type 'intt' (use one of int, float, str, bool, "
        "datetime, list, dict); did you mean 'int'?"
    ]


def test_src_dot_is_the_project_folder(make_project) -> None:
    folder = make_project(MODEL + "src: .\n")

    project = load_config(folder)

    assert project.src_dir == folder.resolve()
    assert project.src_package == ""


def test_src_with_trailing_slash_is_a_sub_folder(make_project) -> None:
    folder = make_project(MODEL + "src: model/\n", {"model/model.py": "x = 1\n"})

    project = load_config(folder)

    assert project.config.src == "model/"
    assert project.src_dir == (folder / "model").resolve()
    assert project.src_package == "model"


def test_config_path_is_relative_to_the_project_folder(make_project) -> None:
    folder = make_project(MODEL, {"conf/alt.yaml": MODEL.replace("demo", "alt")})

    project = load_config(folder, "conf/alt.yaml")

    assert project.config.name == "alt"
    assert project.config_path == (folder / "conf" / "alt.yaml").resolve()
    # src stays relative to the project folder, not to the config file's folder
    assert project.src_dir == folder.resolve()


def test_absolute_config_path_wins_over_the_project_folder(make_project, tmp_path) -> None:
    elsewhere = make_project(MODEL.replace("demo", "elsewhere"), name="elsewhere")
    folder = make_project(MODEL, name="project")

    project = load_config(folder, elsewhere / "nervosum.yaml")

    assert project.config.name == "elsewhere"
    assert project.config_path == (elsewhere / "nervosum.yaml").resolve()
    assert project.project_dir == folder.resolve()


def test_missing_config_file_is_reported_with_a_hint(tmp_path) -> None:
    error = load_error(tmp_path, "nope.yaml")

    assert error.filename == str(tmp_path / "nope.yaml")
    assert str(error) == (
        f"{tmp_path / 'nope.yaml'}: config file not found "
        "(pass -c PATH, or create one with `nervosum init NAME`)"
    )


def test_missing_project_folder_is_reported(tmp_path) -> None:
    missing = tmp_path / "missing"

    error = load_error(missing)

    assert rendered(error) == [f"FILE: project directory {missing} does not exist"]


def test_config_error_is_exit_code_2_with_details(make_project) -> None:
    error = load_error(make_project("name: demo\nmodel:\n  module: model\n  klass: Model\n"))

    assert ConfigError.exit_code == 2
    assert error.exit_code == 2
    assert error.code == "config_error"
    assert error.details == [
        {
            "path": "model.klass",
            "message": "unknown key",
            "line": 4,
            "hint": "did you mean 'class'?",
        },
    ]
    assert [(issue.path, issue.line) for issue in error.issues] == [("model.klass", 4)]


# --- the function form (nervosum/proof-of-concepts) ------------------------------------


def test_seed_interface_may_name_a_module_level_function(make_project) -> None:
    project = make_project(
        "name: poc\nsrc: model\ninterface: {model_module: model, model_function: predict}\n",
        {"model/model.py": ""},
    )

    config = load_config(project).config

    assert config.interface is not None
    assert config.interface.model_class is None
    assert config.interface.model_function == "predict"
    assert config.model_spec == ModelSpec.model_validate({"module": "model", "function": "predict"})


def test_native_model_block_may_name_a_function(make_project) -> None:
    spec = load_config(make_project(MODEL.replace("class: Model", "function: score"))).config

    assert (spec.model_spec.module, spec.model_spec.function) == ("model", "score")
    assert spec.model_spec.class_ is None


def test_class_and_function_together_are_rejected(make_project) -> None:
    seed = make_project(
        "name: x\ninterface:\n  model_module: m\n  model_class: M\n  model_function: f\n"
    )
    native = make_project(MODEL + "  function: predict\n", name="native")

    assert rendered(load_error(seed)) == [
        "FILE:2: interface: give either model_class (a class with predict) or model_function "
        "(a module-level function), not both",
    ]
    assert rendered(load_error(native)) == [
        "FILE:2: model: give either class (a class with predict) or function (a module-level "
        "function), not both",
    ]


def test_function_name_must_be_a_python_name(make_project) -> None:
    project = make_project("name: x\ninterface:\n  model_module: m\n  model_function: pre-dict\n")

    assert rendered(load_error(project)) == [
        "FILE:4: interface.model_function: model_function 'pre-dict' is not a valid Python "
        "name (no spaces or dashes)",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  methods: [predict]\n", "methods and init apply to a model class, not to a function"),
        ("  artifact: a.pkl\n", "give either artifact or module + function, not both"),
    ],
)
def test_function_takes_no_methods_init_or_artifact(make_project, extra, message) -> None:
    project = make_project("name: x\nmodel:\n  module: m\n  function: f\n" + extra, {"a.pkl": ""})

    assert rendered(load_error(project)) == [f"FILE:2: model: {message}"]


_NO_FORM = (
    "give module and class (a model class), module and function (a module-level function) "
    "or artifact (a saved estimator)"
)


# --- the native model block --------------------------------------------------------------


def test_native_model_block_with_init_and_methods(make_project) -> None:
    project = make_project(
        """\
        name: native
        model:
          module: pkg.scoring
          class: Scorer
          init:
            threshold: 0.5
            labels: [a, b]
          methods: [transform, predict]
          probabilities: false
        """
    )

    config = load_config(project).config

    assert config.interface is None
    assert config.model_spec is config.model
    spec = config.model_spec
    assert spec.module == "pkg.scoring"
    assert spec.class_ == "Scorer"
    assert spec.init == {"threshold": 0.5, "labels": ["a", "b"]}
    assert spec.methods == ("transform", "predict")
    assert spec.artifact is None
    assert spec.probabilities is False


def test_native_artifact_is_found_relative_to_src(make_project) -> None:
    project = make_project(
        "name: est\nsrc: model\nmodel:\n  artifact: est.joblib\n",
        {"model/est.joblib": "not really a pickle"},
    )

    spec = load_config(project).config.model_spec

    assert spec.artifact == "est.joblib"
    assert spec.module is None
    assert spec.class_ is None


def test_missing_artifact_file_is_reported(make_project) -> None:
    project = make_project(
        "name: est\nsrc: model\nmodel:\n  artifact: est.joblib\n",
        {"model/other.joblib": ""},
    )

    src_dir = (project / "model").resolve()
    assert rendered(load_error(project)) == [
        f"FILE:4: model.artifact: artifact 'est.joblib' not found in {src_dir} "
        "(the path is relative to src)"
    ]


def test_artifact_and_class_together_are_rejected(make_project) -> None:
    project = make_project(
        "name: x\nmodel:\n  artifact: a.pkl\n  module: m\n  class: M\n", {"a.pkl": ""}
    )

    assert rendered(load_error(project)) == [
        "FILE:2: model: give either artifact or module + class, not both",
    ]


def test_methods_and_init_do_not_apply_to_an_artifact(make_project) -> None:
    project = make_project(
        "name: x\nmodel:\n  artifact: a.pkl\n  methods: [predict]\n", {"a.pkl": ""}
    )

    assert rendered(load_error(project)) == [
        "FILE:2: model: methods and init apply to a model class, not to an artifact",
    ]


def test_module_without_class_is_rejected(make_project) -> None:
    assert rendered(load_error(make_project("name: x\nmodel:\n  module: m\n"))) == [
        f"FILE:2: model: {_NO_FORM}",
    ]


def test_empty_methods_list_is_rejected(make_project) -> None:
    project = make_project("name: x\nmodel:\n  module: m\n  class: M\n  methods: []\n")

    assert rendered(load_error(project)) == [
        "FILE:5: model.methods: methods must list at least one method",
    ]


def test_method_names_must_be_python_names(make_project) -> None:
    project = make_project("name: x\nmodel:\n  module: m\n  class: M\n  methods: [pre dict]\n")

    assert rendered(load_error(project)) == [
        "FILE:5: model.methods: method 'pre dict' is not a valid Python name (no spaces or dashes)",
    ]


def test_module_with_a_dash_is_rejected(make_project) -> None:
    project = make_project("name: x\nmodel:\n  module: my-model\n  class: M\n")

    assert rendered(load_error(project)) == [
        "FILE:3: model.module: module 'my-model' is not a valid Python name (no spaces or dashes)",
    ]


# --- deployment modes ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["http", "batch", "stream", "graph"])
def test_every_documented_mode_is_accepted(make_project, mode: str) -> None:
    project = make_project(MODEL + f"deployment:\n  mode: {mode}\n")

    assert load_config(project).config.deployment.mode == mode


def test_modes_constant_lists_the_four_modes() -> None:
    assert MODES == ("http", "batch", "stream", "graph")


def test_unknown_mode_names_the_allowed_ones(make_project) -> None:
    project = make_project(MODEL + "deployment:\n  mode: ftp\n")

    assert rendered(load_error(project)) == [
        "FILE:6: deployment.mode: mode 'ftp' is not supported; allowed: http, batch, stream, graph",
    ]


@pytest.mark.parametrize("spelling", ["kafka", "Kafka"])
def test_kafka_mode_hints_that_kafka_is_a_stream_source(make_project, spelling: str) -> None:
    project = make_project(MODEL + f"deployment:\n  mode: {spelling}\n")

    (line,) = rendered(load_error(project))

    assert line.startswith(f"FILE:6: deployment.mode: mode '{spelling}' is not a deployment mode")
    assert "allowed: http, batch, stream, graph" in line
    assert "Kafka is a stream source: use `mode: stream`" in line


def test_seed_platform_tag_is_kept(make_project) -> None:
    project = make_project(MODEL + "deployment:\n  mode: batch\n  platform_tag: manylinux2014\n")

    deployment = load_config(project).config.deployment

    assert deployment.platform_tag == "manylinux2014"


# --- every problem, with its line -------------------------------------------------------


def test_every_problem_is_reported_at_once_with_lines(make_project) -> None:
    project = make_project(
        """\
        name: broken
        deployment:
          mode: kafka
        deploymnet:
          mode: http
        interface:
          model_module: model
          model_class: My Model
        inputs_schema: []
        requirements: missing.txt
        """
    )

    error = load_error(project)

    assert rendered(error) == [
        "FILE:3: deployment.mode: mode 'kafka' is not a deployment mode; allowed: http, batch, "
        "stream, graph. Kafka is a stream source: use `mode: stream` with "
        "`stream: {source: kafka://host/topic}`",
        "FILE:4: deploymnet: unknown key (did you mean 'deployment'?)",
        "FILE:8: interface.model_class: model_class 'My Model' is not a valid Python name "
        "(no spaces or dashes)",
        "FILE:9: inputs_schema: unknown key (did you mean 'input_schema'?)",
        "FILE:10: requirements: requirements file 'missing.txt' not found "
        "(remove the key if the model needs no extra packages)",
    ]
    assert [issue.path for issue in error.issues] == [
        "deployment.mode",
        "deploymnet",
        "interface.model_class",
        "inputs_schema",
        "requirements",
    ]


def test_problems_are_listed_in_line_order(make_project) -> None:
    project = make_project(
        """\
        model: {module: m, class: M}
        zzzzzz: 1
        server:
          port: 70000
        deployment:
          mode: 5
        """
    )

    error = load_error(project)

    assert [issue.line for issue in error.issues] == [1, 2, 4, 6]
    assert [issue.path for issue in error.issues] == [
        "name",
        "zzzzzz",
        "server.port",
        "deployment.mode",
    ]


def test_nested_unknown_key_suggests_the_right_one(make_project) -> None:
    project = make_project(
        """\
        name: x
        interface:
          model_module: model
          model_clas: Model
        """
    )

    assert rendered(load_error(project)) == [
        "FILE:4: interface.model_clas: unknown key (did you mean 'model_class'?)",
    ]


def test_unknown_key_inside_a_schema_item_suggests_the_right_one(make_project) -> None:
    project = make_project(MODEL + "input_schema:\n  - name: a\n    typ: int\n")

    assert rendered(load_error(project)) == [
        "FILE:6: input_schema.0.type: required field is missing",
        "FILE:7: input_schema.0.typ: unknown key (did you mean 'type'?)",
    ]


def test_unknown_key_without_a_close_match_lists_allowed_keys(make_project) -> None:
    project = make_project(MODEL + "batching:\n  zzzz: 1\n")

    assert rendered(load_error(project)) == [
        "FILE:6: batching.zzzz: unknown key (allowed keys: enabled, max_batch_size, "
        "max_wait_ms, max_queue)",
    ]


def test_model_class_with_spaces_is_rejected(make_project) -> None:
    project = make_project(
        "name: x\ninterface:\n  model_module: model\n  model_class: Iris Model\n"
    )

    assert rendered(load_error(project)) == [
        "FILE:4: interface.model_class: model_class 'Iris Model' is not a valid Python name "
        "(no spaces or dashes)",
    ]


def test_missing_model_class_points_at_the_interface_block(make_project) -> None:
    project = make_project("name: x\ninterface:\n  model_module: model\n")

    assert rendered(load_error(project)) == [
        "FILE:2: interface: give model_class (a class with predict) or model_function "
        "(a module-level function such as predict)",
    ]


def test_missing_name_is_reported(make_project) -> None:
    project = make_project("model:\n  module: m\n  class: M\n")

    assert rendered(load_error(project)) == ["FILE:1: name: required field is missing"]


def test_missing_src_folder_is_reported(make_project) -> None:
    project = make_project(MODEL + "src: model/\n")

    assert rendered(load_error(project)) == [
        f"FILE:5: src: source directory 'model/' does not exist in {project.resolve()}",
    ]


def test_missing_requirements_file_is_reported(make_project) -> None:
    project = make_project(MODEL + "requirements: requirements.txt\n")

    assert rendered(load_error(project)) == [
        "FILE:5: requirements: requirements file 'requirements.txt' not found "
        "(remove the key if the model needs no extra packages)",
    ]


def test_existing_requirements_file_is_accepted(make_project) -> None:
    project = make_project(MODEL + "requirements: reqs.txt\n", {"reqs.txt": "numpy\n"})

    assert load_config(project).config.requirements == "reqs.txt"


def test_file_problems_are_reported_with_validation_problems(make_project) -> None:
    project = make_project(MODEL + "src: nowhere\nrequirements: r.txt\ntga: v1\n")

    assert [issue.path for issue in load_error(project).issues] == [
        "src",
        "requirements",
        "tga",
    ]


def test_yaml_syntax_error_gives_its_line(make_project) -> None:
    project = make_project(
        """\
        name: x
        model:
          module: m
          class: [M
        tag: v1
        """
    )

    (line,) = rendered(load_error(project))

    assert line.startswith("FILE:5: not valid YAML: ")
    assert "expected ',' or ']'" in line


def test_tab_indentation_is_a_syntax_error_with_a_line(make_project) -> None:
    project = make_project("name: x\nmodel:\n\tmodule: m\n")

    error = load_error(project)

    assert error.issues[0].line == 3
    assert error.issues[0].message.startswith("not valid YAML: ")


def test_duplicate_yaml_keys_are_reported_with_their_line(make_project) -> None:
    project = make_project(
        """\
        name: first
        model:
          module: m
          class: M
          module: n
        name: second
        """
    )

    assert rendered(load_error(project)) == [
        "FILE:5: model.module: key appears twice (keep one)",
        "FILE:6: name: key appears twice (keep one)",
    ]


# Repeated YAML merge keys (issue 19): iguazioig's own graph writes `<<:` three times in
# one mapping. They merge as PyYAML merged them through 6.0.3: keys written in the mapping
# win, a later `<<` wins over an earlier one, and `<<: [*a, *b]` prefers `a`. Long and
# one-letter keys alike (PyYAML 6.0.4 decided by whether CPython interned the key).
MERGES = """\
low: &low {kk: low, k: low, only_low: 1}
high: &high {kk: high, k: high}
repeated:
  <<: *low
  <<: *high
  own: 1
listed:
  <<: [*low, *high]
overridden:
  <<: *low
  <<: *high
  kk: own
"""


def test_repeated_merge_keys_are_no_duplicates_and_merge_in_order() -> None:
    doc = parse_yaml(MERGES)

    assert doc.issues == []
    assert doc.data["repeated"] == {"kk": "high", "k": "high", "only_low": 1, "own": 1}
    assert doc.data["listed"] == {"kk": "low", "k": "low", "only_low": 1}
    assert doc.data["overridden"] == {"kk": "own", "k": "high", "only_low": 1}


def test_a_merged_key_is_located_where_its_winning_value_is_written() -> None:
    doc = parse_yaml(MERGES)

    assert doc.line_of(("repeated", "kk")) == 2  # from *high
    assert doc.line_of(("repeated", "only_low")) == 1
    assert doc.line_of(("overridden", "kk")) == 12


def test_nervosum_yaml_with_repeated_merge_keys_loads(make_project) -> None:
    """The loader is shared: a nervosum.yaml may repeat `<<` too, and a key written
    twice next to them is still reported (never a merge key, never "keep one" for it)."""
    fields = """\
    name: demo
    model: {module: model, class: Model}
    input_schema:
      - &bounded {name: a, type: float, min: 0, max: 1}
      - &optional {name: b, type: float, required: false}
      - <<: *bounded
        <<: *optional
        name: c
    """
    config = load_config(make_project(fields))

    [_a, _b, merged] = config.config.input_schema
    assert (merged.name, merged.min, merged.max, merged.required) == ("c", 0, 1, False)

    twice = make_project(fields.rstrip(" ") + "        name: d\n", name="twice")
    assert rendered(load_error(twice)) == [
        "FILE:9: input_schema.2.name: key appears twice (keep one)",
    ]


def test_duplicate_yaml_keys_do_not_hide_other_problems(make_project) -> None:
    project = make_project(MODEL + "tag: a\ntag: b\ndeployment:\n  mode: ftp\n")

    assert [(i.line, i.path) for i in load_error(project).issues] == [
        (6, "tag"),
        (8, "deployment.mode"),
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_an_error(make_project, text: str) -> None:
    assert rendered(load_error(make_project(text))) == ["FILE:1: the file is empty"]


@pytest.mark.parametrize("text", ["- name: x\n- src: .\n", "just a string\n", "42\n"])
def test_non_mapping_file_is_an_error(make_project, text: str) -> None:
    assert rendered(load_error(make_project(text))) == [
        "FILE:1: the file must be a YAML mapping of keys to values",
    ]


def test_interface_and_model_together_are_rejected(make_project) -> None:
    project = make_project(
        """\
        name: x
        interface:
          model_module: model
          model_class: Model
        model:
          module: model
          class: Model
        """
    )

    assert rendered(load_error(project)) == [
        "FILE:5: model: give either `interface` (seed format) or `model`, not both",
    ]


_NO_MODEL = (
    "FILE:1: no model given: add `model: {module: ..., class: ...}` (or the seed's "
    "`interface: {model_module: ..., model_class: ...}`) or `model: {artifact: ...}`"
)


def test_neither_interface_nor_model_is_rejected(make_project) -> None:
    assert rendered(load_error(make_project("name: x\n"))) == [_NO_MODEL]


def test_missing_model_is_reported_with_other_problems(make_project) -> None:
    project = make_project("name: x\nservre: {}\n")

    assert rendered(load_error(project)) == [
        _NO_MODEL,
        "FILE:2: servre: unknown key (did you mean 'server'?)",
    ]


def test_server_port_out_of_range_is_rejected(make_project) -> None:
    project = make_project(MODEL + "server:\n  port: 70000\n")

    assert rendered(load_error(project)) == [
        "FILE:6: server.port: Input should be less than or equal to 65535",
    ]


def test_reserved_blocks_are_accepted_and_listed(make_project) -> None:
    project = make_project(MODEL + "graph:\n  steps: x\nstream:\n  source: y\n")

    config = load_config(project).config
    assert config.reserved_blocks_in_use() == ["graph"]
    assert config.stream is not None and config.stream.source == "y"


def test_stream_block_is_validated(make_project) -> None:
    project = make_project(MODEL + "stream:\n  source: redis://h/s\n  batch_sise: 8\n")

    assert rendered(load_error(project)) == [
        "FILE:7: stream.batch_sise: unknown key (did you mean 'batch_size'?)",
    ]


def test_logging_block_is_validated_and_keeps_passwords_out(make_project) -> None:
    good = make_project(
        MODEL + "logging:\n  n_best: 3\n  sinks:\n    - {type: sqlite, path: p.db}\n"
    )
    spec = load_config(good).config.logging
    assert spec is not None and spec.n_best == 3 and spec.sinks[0].type == "sqlite"

    bad = make_project(
        MODEL + "logging:\n  sinks:\n    - {type: postgres, dsn: 'postgresql://u:secret@h/db'}\n"
        "    - {type: mongo}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "logging.sinks.0.dsn" in message and "never in nervosum.yaml" in message
    assert "secret" not in message
    assert "logging.sinks.1.type" in message


def test_metrics_block_is_validated(make_project) -> None:
    good = make_project(MODEL + "metrics:\n  prefix: churn\n  buckets: [0.1, 1, 10]\n")
    metrics = load_config(good).config.metrics
    assert (metrics.prefix, metrics.buckets, metrics.predictions) == ("churn", (0.1, 1, 10), "auto")

    bad = make_project(MODEL + "metrics:\n  prefix: 9-lives\n  buckets: [3, 1]\n  kind: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "metrics.prefix" in message and "metrics.buckets" in message
    assert "metrics.kind" in message


def test_batching_block_is_validated_with_suggestions(make_project) -> None:
    project = make_project(MODEL + "batching:\n  max_size: 8\n  max_wait_ms: -1\n")

    assert rendered(load_error(project)) == [
        "FILE:6: batching.max_size: unknown key (did you mean 'max_batch_size'?)",
        "FILE:7: batching.max_wait_ms: Input should be greater than or equal to 0",
    ]


def test_workers_accepts_auto_or_a_positive_number(make_project) -> None:
    auto = make_project(MODEL + "server:\n  workers: auto\n", name="auto")
    assert load_config(auto).config.server.workers == "auto"
    zero = make_project(MODEL + "server:\n  workers: 0\n", name="zero")
    assert rendered(load_error(zero)) == [
        "FILE:6: server.workers: workers must be at least 1, or 'auto' for one per CPU core",
    ]


# --- tag ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1.0", "1.0"), ("1.10", "1.10"), ("2", "2"), ("'1.0'", "1.0"), ("v1.2.3", "v1.2.3")],
)
def test_tag_is_always_the_text_written(make_project, written: str, expected: str) -> None:
    project = make_project(MODEL + f"tag: {written}\n")

    tag = load_config(project).config.tag

    assert tag == expected
    assert type(tag) is str


# --- schema fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("int", "int"),
        ("float", "float"),
        ("str", "str"),
        ("bool", "bool"),
        ("datetime", "datetime"),
        ("list", "list"),
        ("dict", "dict"),
        ("float64", "float"),
        ("float32", "float"),
        ("int64", "int"),
        ("int32", "int"),
        ("string", "str"),
        ("object", "str"),
        ("category", "str"),
        ("boolean", "bool"),
        ("datetime64[ns]", "datetime"),
        ("Float64", "float"),
        ("INT64", "int"),
    ],
)
def test_type_spellings_map_to_canonical_names(make_project, written, canonical) -> None:
    project = make_project(MODEL + f"input_schema:\n  - name: a\n    type: '{written}'\n")

    (field,) = load_config(project).config.input_schema

    assert field.type == canonical


def test_unknown_type_suggests_a_close_one(make_project) -> None:
    project = make_project(MODEL + "input_schema:\n  - name: a\n    type: flaot\n")

    assert rendered(load_error(project)) == [
        "FILE:7: input_schema.0.type: unknown type 'flaot' (use one of int, float, str, bool, "
        "datetime, list, dict); did you mean 'float'?",
    ]


def test_unknown_type_without_a_close_one_lists_the_types(make_project) -> None:
    project = make_project(MODEL + "input_schema:\n  - name: a\n    type: banana\n")

    assert rendered(load_error(project)) == [
        "FILE:7: input_schema.0.type: unknown type 'banana' (use one of int, float, str, bool, "
        "datetime, list, dict)",
    ]


def test_schema_field_constraints_are_read(make_project) -> None:
    project = make_project(
        MODEL
        + """\
input_schema:
  - name: petal_length
    type: float
    required: false
    default: 1.5
    min: 0
    max: 10
    description: length in cm
    example: 1.4
  - name: species
    type: str
    choices: [setosa, versicolor]
"""
    )

    length, species = load_config(project).config.input_schema

    assert length.required is False
    assert length.default == 1.5
    assert (length.min, length.max) == (0, 10)
    assert length.description == "length in cm"
    assert length.example == 1.4
    assert length.choices is None
    assert species.required is True
    assert species.default is None
    assert species.choices == ("setosa", "versicolor")


def test_schema_field_defaults() -> None:
    field = SchemaField(name="a", type="int")

    assert (field.required, field.default, field.min, field.max) == (True, None, None, None)
    assert (field.choices, field.description, field.example) == (None, None, None)


def test_min_greater_than_max_is_rejected(make_project) -> None:
    project = make_project(
        MODEL + "input_schema:\n  - name: a\n    type: int\n    min: 5\n    max: 1\n"
    )

    assert rendered(load_error(project)) == [
        "FILE:6: input_schema.0: min (5.0) is greater than max (1.0)",
    ]


def test_min_max_on_a_string_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="min/max apply to int and float fields, not str"):
        schema_field(type="str", min=1)


def test_int_bounds_must_be_whole_numbers() -> None:
    with pytest.raises(
        ValueError, match=r"min/max of an int field must be whole numbers, not 0\.5"
    ):
        schema_field(type="int", min=0.5)


def test_fractional_bounds_are_fine_for_floats() -> None:
    assert schema_field(min=0.5, max=1.5).min == 0.5


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"type": "int", "choices": ["a", 1]}, "choice 'a' is not a valid int"),
        ({"type": "int", "default": "7"}, "default '7' is not a valid int"),
        ({"type": "int", "default": True}, "default True is not a valid int"),
        ({"type": "str", "example": 5}, "example 5 is not a valid str"),
        ({"type": "datetime", "example": "soon"}, "example 'soon' is not a valid datetime"),
        ({"type": "float", "min": 0, "default": -1}, r"default -1 is less than min \(0.0\)"),
        ({"type": "int", "max": 3, "choices": [1, 5]}, r"choice 5 is greater than max \(3.0\)"),
        ({"type": "str", "choices": ["a"], "default": "b"}, "default 'b' is not one of the"),
    ],
)
def test_values_written_for_a_field_must_fit_it(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        schema_field(**values)


def test_fitting_values_are_accepted() -> None:
    field = schema_field(
        type="int", min=0, max=9, choices=[1, 2], default=2, example=1, required=False
    )
    moment = schema_field(type="datetime", example="2024-05-01T12:00:00Z")

    assert (field.choices, field.default, field.example) == ((1, 2), 2, 1)
    assert moment.example == "2024-05-01T12:00:00Z"


def test_duplicate_field_names_are_rejected(make_project) -> None:
    project = make_project(
        MODEL
        + """\
input_schema:
  - name: a
    type: int
  - name: b
    type: int
  - name: a
    type: float
"""
    )

    assert rendered(load_error(project)) == [
        "FILE:10: input_schema.2.name: field 'a' is declared twice (field names must be unique)",
    ]


def test_duplicate_output_names_are_rejected(make_project) -> None:
    project = make_project(
        MODEL + "output_schema:\n  - {name: y, type: int}\n  - {name: y, type: str}\n"
    )

    assert [(i.line, i.path) for i in load_error(project).issues] == [(7, "output_schema.1.name")]


def test_duplicate_field_names_are_reported_with_other_field_problems(make_project) -> None:
    project = make_project(
        MODEL
        + """\
input_schema:
  - name: a
    type: flaot
  - name: a
    type: int
"""
    )

    assert [(i.line, i.path) for i in load_error(project).issues] == [
        (7, "input_schema.0.type"),
        (8, "input_schema.1.name"),
    ]


def test_id_field_must_not_be_an_input_field(make_project) -> None:
    project = make_project(MODEL + "input_schema:\n  - {name: a, type: int}\nid_field: a\n")

    assert rendered(load_error(project)) == [
        "FILE:7: id_field: id_field 'a' must not also be an input_schema field",
    ]


def test_id_field_outside_the_input_schema_is_accepted(make_project) -> None:
    project = make_project(
        MODEL + "input_schema:\n  - {name: a, type: int}\nid_field: request_id\n"
    )

    assert load_config(project).config.id_field == "request_id"


def test_config_objects_are_frozen() -> None:
    config = load_config(IRIS).config

    with pytest.raises(ValueError, match="frozen"):
        config.name = "other"  # type: ignore[misc]
