"""The dry-run plan: what deploying a graph would create and delete, in order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nervosum.errors import RequestError
from nervosum.graph.load import load_graph
from nervosum.graph.plan import plan_graph
from nervosum.graph.spec import GraphSpec

TESTS = Path(__file__).resolve().parents[1]
# iguazioig's own 0.2.0 graph, as published (tests/data/seeds/marcelonyc__iguazioig/SOURCE.md)
SEED_GRAPH = (
    TESTS / "data" / "seeds" / "marcelonyc__iguazioig" / "tests" / "api_0_2_0" / "util"
) / "inference_graph.yaml"
GRAPHS_DOC = TESTS.parent / "docs" / "graphs.md"

SEED_STREAMS = ["input_stream", "step2", "converge"]
SEED_STEPS = ["step-1", "stream-converge"]


@pytest.fixture(scope="module")
def seed() -> GraphSpec:
    return load_graph(SEED_GRAPH).spec


def actions(plan: dict[str, Any]) -> list[tuple[str, ...]]:
    """Each ordered line as (action, kind, name), without its JSON."""
    return [tuple(line.split(" ", 3)[:3]) for line in plan["ordered"]]


def test_seed_plan_creates_the_streams_then_the_steps(seed: GraphSpec) -> None:
    plan = plan_graph(seed).to_record()

    assert plan["graph"] == "super-cool-project"
    assert list(plan["streams"]["create"]) == SEED_STREAMS
    assert list(plan["steps"]["create"]) == SEED_STEPS
    assert plan["streams"]["delete"] == plan["steps"]["delete"] == {}
    assert actions(plan) == [
        *(("Create", "stream", name) for name in SEED_STREAMS),
        *(("Create", "step", name) for name in SEED_STEPS),
    ]


def test_seed_plan_streams_hold_transport_names_and_reader_groups(seed: GraphSpec) -> None:
    streams = plan_graph(seed).to_record()["streams"]["create"]

    assert streams["input_stream"] == {
        "name": "super-cool-project.streams.input-stream",
        "partitions": 16,
        "retention_hours": 72,
        "groups": ["step_1", "stream_converge"],
    }
    assert streams["step2"]["groups"] == ["stream_converge"]
    assert streams["converge"]["name"] == "v0_1_streams.converge"
    assert streams["converge"]["partitions"] == 20
    assert streams["converge"]["retention_hours"] == 48
    assert streams["converge"]["groups"] == []


def test_seed_plan_steps_hold_what_runs_and_where(seed: GraphSpec) -> None:
    """What the three merged defaults gave each function, explicit keys winning
    (``max_replicas: 1`` over scaling_defaults' 6)."""
    step = plan_graph(seed).to_record()["steps"]["create"]["stream-converge"]

    assert step == {
        "class_module": "stream_converge_with_init",
        "class_name": "igz_stream_converge",
        "class_init": {
            "container": "bigdata",
            "table_path": "stream_processing/stream_converge_alpha3",
            "results_file": "batch_results/v0_1.csv",
            "some_list": [1, 2, 3],
            "a_boolean": True,
        },
        "methods": ["processing"],
        "inputs": ["super-cool-project.streams.input-stream", "super-cool-project.streams.step2"],
        "group": "stream_converge",
        "outputs": [],
        "replicas": 1,
        "max_replicas": 1,
        "resources": None,
        "env": {},
        "image": "python:3.6-jessie",
        "pip": ["nuclio-jupyter", "dataclasses"],
        "converge": None,
    }


def test_seed_plan_keeps_an_output_to_an_undeclared_stream(seed: GraphSpec) -> None:
    """iguazioig planned ``step_1``'s output to ``output_stream``, which v3io_streams
    does not declare; so does the plan, marking it, and no stream is created for it."""
    plan = plan_graph(seed).to_record()
    step = plan["steps"]["create"]["step-1"]

    assert step["outputs"] == [{"stream": None, "undeclared": "output_stream"}]
    assert (step["replicas"], step["max_replicas"]) == (6, 6)
    assert step["env"] == {
        "BATCH_RESULTS_FOLDER": "/bigdata/batch_results",
        "RESULTS_FILE": "category1.json",
    }
    assert step["resources"]["limits"] == {"cpu": 2, "nvidia.com/gpu": 1, "memory": "256M"}
    assert "output_stream" not in plan["streams"]["create"]


def test_functions_is_the_seeds_name_for_steps(seed: GraphSpec) -> None:
    plan = plan_graph(seed).to_record()

    assert plan["functions"] is plan["steps"]
    assert plan["dead_letter"] == "super-cool-project.dead-letter"


def test_ordered_lines_carry_each_entry_as_json(seed: GraphSpec) -> None:
    plan = plan_graph(seed).to_record()

    first = plan["ordered"][0]
    assert first.startswith("Create stream input_stream {")
    assert json.loads(first.split(" ", 3)[3]) == plan["streams"]["create"]["input_stream"]


def test_recreate_deletes_every_step_then_recreates_each_stream(seed: GraphSpec) -> None:
    plan = plan_graph(seed, recreate=True).to_record()

    assert actions(plan) == [
        ("Delete", "step", "step-1"),
        ("Delete", "step", "stream-converge"),
        ("Delete", "stream", "input_stream"),
        ("Create", "stream", "input_stream"),
        ("Delete", "stream", "step2"),
        ("Create", "stream", "step2"),
        ("Delete", "stream", "converge"),
        ("Create", "stream", "converge"),
        ("Create", "step", "step-1"),
        ("Create", "step", "stream-converge"),
    ]
    assert plan["streams"]["delete"]["converge"] == {"name": "v0_1_streams.converge"}
    assert list(plan["steps"]["delete"]) == SEED_STEPS


@pytest.mark.parametrize("name", ["step_1", "step-1"])
def test_include_takes_the_name_as_written_or_slugged(seed: GraphSpec, name: str) -> None:
    plan = plan_graph(seed, include=[name]).to_record()

    assert list(plan["steps"]["create"]) == ["step-1"]
    assert list(plan["streams"]["create"]) == SEED_STREAMS


def test_recreate_with_include_still_deletes_every_step(seed: GraphSpec) -> None:
    plan = plan_graph(seed, recreate=True, include=["step_1"]).to_record()

    assert list(plan["steps"]["delete"]) == SEED_STEPS
    assert list(plan["steps"]["create"]) == ["step-1"]
    assert actions(plan)[-1] == ("Create", "step", "step-1")


def test_include_of_an_unknown_step_names_the_known_ones(seed: GraphSpec) -> None:
    with pytest.raises(RequestError) as info:
        plan_graph(seed, include=["step_1", "nosuch"])

    assert info.value.exit_code == 2
    assert "'nosuch'" in info.value.message
    assert "'step_1'" not in info.value.message
    assert info.value.hint == "steps: step-1, stream-converge"


# --- the native example of docs/graphs.md -------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> GraphSpec:
    """The converging graph docs/graphs.md shows, loaded as a user would."""
    [text] = re.findall(r"```yaml\n(graph: .*?)```", GRAPHS_DOC.read_text(encoding="utf-8"), re.S)
    path = tmp_path_factory.mktemp("example") / "graph.yaml"
    path.write_text(text)
    return load_graph(path).spec


def test_example_streams_default_to_graph_dot_stream(example: GraphSpec) -> None:
    streams = plan_graph(example).to_record()["streams"]["create"]

    assert {name: entry["name"] for name, entry in streams.items()} == {
        "requests": "shop-orders.requests",
        "enriched": "shop-orders.enriched",
        "scored": "shop-orders.scored",
        "alerts": "fraud.alerts",
        "results": "shop-orders.results",
    }
    assert streams["requests"]["groups"] == ["enrich", "score"]
    assert streams["requests"]["partitions"] == 8
    assert streams["scored"]["partitions"] is None


def test_example_converge_step_expects_one_message_per_input(example: GraphSpec) -> None:
    join = plan_graph(example).to_record()["steps"]["create"]["join"]

    assert join["converge"] == {"expect": 2, "timeout": 60, "merge": None}
    assert join["inputs"] == ["shop-orders.enriched", "shop-orders.scored"]
    assert not {"class_module", "class_name", "methods", "project"} & set(join)


def test_example_project_step_and_its_conditional_output(example: GraphSpec) -> None:
    score = plan_graph(example).to_record()["steps"]["create"]["score"]

    assert score["project"] == "models/fraud"
    assert "class_name" not in score
    assert score["outputs"] == [
        {"stream": "shop-orders.scored"},
        {"stream": "fraud.alerts", "when": {"field": "label", "equals": "fraud"}},
    ]
    assert (score["replicas"], score["max_replicas"]) == (2, 8)


def test_an_in_condition_keeps_its_written_key(tmp_path: Path) -> None:
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "graph: g\n"
        "streams: {a: {}, b: {}}\n"
        "steps:\n"
        "  - {name: s, inputs: [a], class_module: m, class_name: C, methods: [p],\n"
        "     outputs: [{stream: b, when: {field: level, in: [high, top]}}]}\n"
    )

    [output] = plan_graph(load_graph(graph).spec).to_record()["steps"]["create"]["s"]["outputs"]
    assert output == {"stream": "g.b", "when": {"field": "level", "in": ["high", "top"]}}
