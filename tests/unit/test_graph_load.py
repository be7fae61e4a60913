"""Graph files: iguazioig's own 0.2.0 graph loads as published (repeated merge keys, an
undeclared output stream), and a broken graph reports each problem with its line and
path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nervosum.errors import ConfigError
from nervosum.graph.load import load_graph
from nervosum.graph.spec import slug

# iguazioig's own 0.2.0 graph, as published (tests/data/seeds/marcelonyc__iguazioig/SOURCE.md)
SEED_GRAPH = (
    Path(__file__).resolve().parents[1]
    / "data/seeds/marcelonyc__iguazioig/tests/api_0_2_0/util/inference_graph.yaml"
)

# Problems pydantic finds in the steps themselves: a step without methods (line 8), an
# output to an undeclared stream (line 10), a misspelt key (line 19).
SCHEMA_PROBLEMS = """\
graph: shop
streams:
  requests: {}
  results: {}
steps:
  - name: enrich
    inputs: [requests]
    class_module: enrich
    outputs: [enriched]
    class_name: Enricher
  - name: score
    inputs: [requests]
    outputs: [results]
    class_module: score
    class_name: Scorer
    methods: [predict]
    replica: 2
"""

# Problems of the whole graph: two steps feeding each other (line 5), so no message
# reaches them (lines 12 and 18), and a step reading an undeclared stream (lines 24, 25).
FLOW_PROBLEMS = """\
graph: shop
streams:
  requests: {}
  results: {}
  ping_pong: {}
  pong_ping: {}
steps:
  - name: score
    inputs: [requests]
    outputs: [results]
    class_module: score
    class_name: Scorer
    methods: [predict]
  - name: ping
    inputs: [pong_ping]
    outputs: [ping_pong]
    class_module: game
    class_name: Ping
    methods: [hit]
  - name: pong
    inputs: [ping_pong]
    outputs: [pong_ping]
    class_module: game
    class_name: Pong
    methods: [hit]
  - name: audit
    inputs: [scored]
    class_module: audit
    class_name: Auditor
    methods: [record]
"""


def write(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    return info.value


def problems(error: ConfigError) -> list[str]:
    """The error's lines with the file name replaced by FILE."""
    return [line.replace(error.filename, "FILE", 1) for line in str(error).splitlines()]


# --- the seed format -------------------------------------------------------------------


def test_seed_graph_loads_unchanged() -> None:
    graph = load_graph(SEED_GRAPH)

    spec = graph.spec
    assert graph.format == "iguazioig 0.2.0"
    assert spec.slug == "super-cool-project"
    assert spec.partition_key == "partitionKey"
    assert {name: spec.stream_name(name) for name in spec.streams} == {
        "input_stream": "super-cool-project.streams.input-stream",
        "step2": "super-cool-project.streams.step2",
        "converge": "v0_1_streams.converge",
    }
    assert [s.partitions for s in spec.streams.values()] == [16, 16, 20]
    assert [s.name for s in spec.steps] == ["step-1", "stream-converge"]
    assert [s.group for s in spec.steps] == ["step_1", "stream_converge"]


def test_seed_graph_reads_stream_retention_the_seed_ignored() -> None:
    spec = load_graph(SEED_GRAPH).spec

    assert [s.retention_hours for s in spec.streams.values()] == [72, 72, 48]


def test_seed_graph_merges_every_repeated_merge_key() -> None:
    """Each function repeats ``<<`` three times (config, env and scaling defaults): all
    three are merged, as PyYAML merged them for iguazioig, and explicit keys win."""
    spec = load_graph(SEED_GRAPH).spec
    step, converge = spec.steps

    for each in (step, converge):
        assert each.image == "python:3.6-jessie"  # config_defaults
        assert each.module_paths == ["/User/modules", "/User/iguazioig/examples/modules"]
        assert each.pip == ["nuclio-jupyter", "dataclasses"]  # env_defaults
    assert (step.replicas, step.max_replicas) == (6, 6)  # scaling_defaults
    assert (converge.replicas, converge.max_replicas) == (1, 1)  # written in the function


def test_seed_graph_steps_keep_what_the_functions_said() -> None:
    converge = load_graph(SEED_GRAPH).spec.step("stream-converge")

    assert converge.inputs == ["input_stream", "step2"]
    assert converge.outputs == []
    assert (converge.class_module, converge.class_name) == (
        "stream_converge_with_init",
        "igz_stream_converge",
    )
    assert converge.methods == ["processing"]
    assert converge.class_init["some_list"] == [1, 2, 3]
    assert converge.class_init["a_boolean"] is True


def test_seed_graph_keeps_its_undeclared_output_stream_with_a_warning() -> None:
    """iguazioig planned step_1's output to ``output_stream`` (not in v3io_streams) and
    logged its messages as undeliverable: the step keeps the output (dead letters at run
    time) and loading warns, with the line, before the https output's warning."""
    graph = load_graph(SEED_GRAPH)

    undeclared, https = graph.warnings
    assert undeclared.startswith(f"{SEED_GRAPH}:76: project.functions.0.outputs.streams.0: ")
    assert "output stream 'output_stream' is not declared in v3io_streams" in undeclared
    assert "dead-lettered at run time" in undeclared
    assert https.startswith(f"{SEED_GRAPH}:107: project.functions.1.outputs.https: ")
    assert [o.stream for o in graph.spec.step("step-1").outputs] == ["output_stream"]
    assert "output_stream" not in graph.spec.streams
    assert graph.spec.final_streams == []


def test_the_list_form_of_merge_keys_loads_too(tmp_path: Path) -> None:
    """``<<: [*a, *b]``: the earlier mapping wins a key both hold."""
    graph = """\
    apiVersion: 0.2.0
    project:
      name: demo
      config_defaults: &config_defaults {docker_image: "python:3.6-jessie", min_replicas: 2}
      scaling_defaults: &scaling_defaults {min_replicas: 6, max_replicas: 6}
      v3io_streams: {requests: {}, results: {}}
      functions:
        - name: score
          <<: [*config_defaults, *scaling_defaults]
          input_streams: {requests: {}}
          class_module: score
          class_name: Scorer
          methods: [predict]
          outputs: {streams: [results]}
    """

    step = load_graph(write(tmp_path, graph)).spec.steps[0]
    assert (step.image, step.replicas, step.max_replicas) == ("python:3.6-jessie", 2, 6)


def test_a_native_graph_still_refuses_an_undeclared_output(tmp_path: Path) -> None:
    graph = """\
    graph: demo
    streams: {requests: {}}
    steps:
      - {name: score, inputs: [requests], outputs: [nowhere], class_module: m,
         class_name: C, methods: [go]}
    """

    [problem] = problems(load_error(write(tmp_path, graph)))
    assert problem.startswith("FILE:4: steps.0.outputs.0: stream 'nowhere' is not declared")


def test_unsupported_api_version_names_the_supported_one(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v2alpha3\nproject: {name: demo}\n")

    [problem] = problems(load_error(path))
    assert problem.startswith("FILE:1: apiVersion: apiVersion 'v2alpha3' is not supported")
    assert "supported: 0.2.0" in problem


def test_a_file_that_is_not_valid_yaml_is_one_problem(tmp_path: Path) -> None:
    """As iguazioig's examples/v2alpha2/inference_graph_converge_v3io_mounts.yaml is
    upstream (a list item under `outputs: null`): the syntax error alone, with its line."""
    path = write(tmp_path, "apiVersion: 0.2.0\nproject:\n  outputs: null\n      - name: none\n")

    assert problems(load_error(path)) == [
        "FILE:4: not valid YAML: mapping values are not allowed here"
    ]


def test_missing_project_name_is_reported(tmp_path: Path) -> None:
    graph = """\
    apiVersion: 0.2.0
    project:
      v3io_streams: {requests: {}}
      functions:
        - name: score
          input_streams: {requests: {}}
          class_module: score
          class_name: Scorer
          methods: [predict]
          outputs: {streams: []}
    """

    assert problems(load_error(write(tmp_path, graph))) == [
        "FILE:2: project.name: the project name is missing from the inference graph"
    ]


def test_methods_keep_their_listed_order(tmp_path: Path) -> None:
    graph = """\
    graph: demo
    streams: {requests: {}}
    steps:
      - {name: score, inputs: [requests], class_module: m, class_name: C,
         methods: [preprocess, predict, postprocess]}
    """

    step = load_graph(write(tmp_path, graph)).spec.steps[0]
    assert step.methods == ["preprocess", "predict", "postprocess"]


# --- the native format: every problem at once, with its line ------------------------------


def test_step_problems_are_all_reported_with_lines(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, SCHEMA_PROBLEMS))

    assert error.exit_code == 2
    assert problems(error) == [
        "FILE:6: steps.0: the step has no methods: list the methods to call in order",
        "FILE:9: steps.0.outputs.0: stream 'enriched' is not declared"
        " (declared: requests, results)",
        "FILE:17: steps.1.replica: unknown key (did you mean 'replicas'?)",
    ]


def test_flow_problems_are_all_reported_with_lines(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, FLOW_PROBLEMS))

    found = problems(error)
    assert found[0] == "FILE:7: steps: the steps form a cycle: ping -> pong -> ping"
    assert [line.split(" (")[0] for line in found[1:]] == [
        "FILE:14: steps.1: no message reaches step 'ping'",
        "FILE:20: steps.2: no message reaches step 'pong'",
        "FILE:27: steps.3.inputs.0: stream 'scored' is not declared",
    ]


def test_step_and_flow_problems_are_reported_together(tmp_path: Path) -> None:
    both = FLOW_PROBLEMS + "    replica: 2\n"

    found = problems(load_error(write(tmp_path, both)))
    assert any("unknown key" in line for line in found)
    assert any("the steps form a cycle" in line for line in found)


def test_slug_is_the_seeds() -> None:
    assert slug("super_cool_project") == "super-cool-project"
    assert slug(" Super Cool_Project ") == "super-cool-project"


def test_names_the_transports_cannot_take_or_that_clash_are_refused(tmp_path: Path) -> None:
    """Two steps sharing a consumer group would each see half the messages, two streams
    one transport name would mix theirs; a graph name brokers cannot take is refused."""
    graph = """\
    graph: "shop/eu: orders"
    streams: {in_put: {name: orders.in}, in-put: {name: orders.in}, out: {}}
    steps:
      - {name: a_b, inputs: [in_put], class_module: m, class_name: C, methods: [go], outputs: [out]}
      - {name: a-b, inputs: [in-put], class_module: m, class_name: C, methods: [go], outputs: [out]}
    """

    found = [line.split(" (")[0] for line in problems(load_error(write(tmp_path, graph)))]

    assert found == [
        "FILE:2: streams.in-put: streams 'in_put' and 'in-put' both have the transport name"
        " 'orders.in'",
        "FILE:2: streams.out: its transport name 'shop/eu:-orders.out' is not one brokers take",
        "FILE:5: steps.1.name: steps 'a_b' and 'a-b' share the consumer group 'a_b'",
    ]


def test_iguazio_output_streams_must_be_a_list_of_names(tmp_path: Path) -> None:
    graph = """\
    apiVersion: 0.2.0
    project:
      name: demo
      v3io_streams: {a: {}, out: {}}
      functions:
        - name: f
          input_streams: {a: {}}
          class_module: m
          class_name: C
          methods: [go]
          outputs: {streams: out}
    """

    assert problems(load_error(write(tmp_path, graph))) == [
        "FILE:11: project.functions.0.outputs.streams: `outputs.streams` must be a list of"
        " stream names (hint: e.g. streams: [step2])".replace(" (hint: ", " (")
    ]
