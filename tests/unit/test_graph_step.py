"""A graph's steps in one process (``LocalRun``, ``StepCode``): methods in the listed
order, the seed's ``(context, message)`` form, filters, dead letters, routing by
condition, converge groups, and how the user's code is imported and constructed."""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from nervosum.errors import ModelDefinitionError
from nervosum.graph.load import Graph, load_graph
from nervosum.graph.local import GraphCode, LocalRun
from nervosum.graph.step import StepCode, StepContext
from nervosum.stream.letters import DeadLetter

Feed = tuple[str, dict[str, Any] | bytes]


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    """Each test's step modules are forgotten afterwards (sys.modules and sys.path), so
    tests may reuse module names without seeing another test's classes."""
    path = list(sys.path)
    yield
    sys.path[:] = path
    root = str(tmp_path)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]


def write_graph(
    folder: Path, graph: str, modules: dict[str, str] | None = None, name: str = "graph.yaml"
) -> Graph:
    """Write ``graph`` and the step modules (relative path -> code) into ``folder``; the
    loaded graph."""
    folder.mkdir(parents=True, exist_ok=True)
    for relative, code in (modules or {}).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(code))
    path = folder / name
    path.write_text(textwrap.dedent(graph))
    return load_graph(path)


def run_graph(graph: Graph | GraphCode, feeds: list[Feed], *, finish: bool = True) -> LocalRun:
    """Feed each (stream, message) in order (position ``line N``), then end the input."""
    code = graph if isinstance(graph, GraphCode) else GraphCode(graph)
    run = LocalRun(code)
    feed_more(run, feeds, first=1)
    if finish:
        asyncio.run(run.finish())
    return run


def feed_more(run: LocalRun, feeds: list[Feed], first: int) -> None:
    """Feed more messages into an existing run (positions from ``line FIRST``)."""

    async def go() -> None:
        for number, (stream, message) in enumerate(feeds, start=first):
            payload = message if isinstance(message, bytes) else orjson.dumps(message)
            await run.feed(stream, payload, f"line {number}")

    asyncio.run(go())


def results(run: LocalRun) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.stream, e.key, e.message) for e in run.results]


def reasons(letters: list[DeadLetter]) -> list[tuple[str, str | None, str]]:
    return [(letter.step, letter.key, letter.reason) for letter in letters]


# --- a class step: methods, context, constructor ---------------------------------------

TRACER = """
    class Tracer:
        # neither in alphabetical nor in the graph's order: the graph's order must win
        def predict(self, message):
            return {**message, "trace": [*message["trace"], "predict"]}

        def preprocess(self, message):
            return {**message, "trace": [*message.get("trace", []), "preprocess"]}

        def postprocess(self, message):
            return {**message, "trace": [*message["trace"], "postprocess"]}
    """

ONE_STEP = """
    graph: demo
    module_paths: [.]
    streams: {requests: {}, results: {}}
    steps:
      - name: score
        inputs: [requests]
        outputs: [results]
        class_module: tracer
        class_name: Tracer
        methods: [METHODS]
    """


def test_methods_run_in_the_listed_order_not_alphabetically(tmp_path: Path) -> None:
    """[preprocess, predict, postprocess] runs in that order (alphabetical order would be
    postprocess, predict, preprocess), each method getting the previous one's result."""
    graph = write_graph(
        tmp_path,
        ONE_STEP.replace("METHODS", "preprocess, predict, postprocess"),
        {"tracer.py": TRACER},
    )

    run = run_graph(graph, [("requests", {"PartitionKey": "m1", "text": "hi"})])

    assert results(run) == [
        (
            "results",
            "m1",
            {"PartitionKey": "m1", "text": "hi", "trace": ["preprocess", "predict", "postprocess"]},
        )
    ]
    assert run.letters == []
    assert run.fed == 1


def test_step_code_runs_the_methods_in_order_on_one_message(tmp_path: Path) -> None:
    """``StepCode.run`` applies the listed methods (here in yet another order) to one
    message and leaves the caller's dict untouched."""
    graph = write_graph(
        tmp_path,
        ONE_STEP.replace("METHODS", "preprocess, postprocess, predict, postprocess"),
        {"tracer.py": TRACER},
    )
    code = StepCode(graph, graph.spec.steps[0])
    message = {"PartitionKey": "m1"}

    out = code.run(message)

    assert out == {
        "PartitionKey": "m1",
        "trace": ["preprocess", "postprocess", "predict", "postprocess"],
    }
    assert message == {"PartitionKey": "m1"}


CONTEXTUAL = """
    class Contextual:
        def __init__(self):
            self.calls = []

        def seed_form(self, context, message):
            self.calls.append(("seed_form", context, message))
            context.logger.info("seen %s", message["PartitionKey"])
            return {**message, "step_seen": context.step}

        def plain(self, message):
            self.calls.append(("plain", message))
            return {**message, "plain": True}
    """


def test_context_form_gets_logger_and_step_and_plain_form_only_the_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``(context, message)`` method gets a context with the step's logger (a
    ``logging.Logger``) and the step name; a ``(message)`` method gets just the message."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}}
        steps:
          - name: ctx-step
            inputs: [requests]
            class_module: contextual
            class_name: Contextual
            methods: [seed_form, plain]
        """,
        {"contextual.py": CONTEXTUAL},
    )
    code = StepCode(graph, graph.spec.steps[0])

    with caplog.at_level(logging.INFO, logger="nervosum.graph.ctx-step"):
        out = code.run({"PartitionKey": "k"})

    assert out == {"PartitionKey": "k", "step_seen": "ctx-step", "plain": True}
    [(first, context, seen), (second, plain_got)] = code.instance.calls
    assert (first, second) == ("seed_form", "plain")
    assert isinstance(context, StepContext)
    assert isinstance(context.logger, logging.Logger)
    assert context.logger.name == "nervosum.graph.ctx-step"
    assert context.step == "ctx-step"
    assert seen == {"PartitionKey": "k"}
    assert plain_got == {"PartitionKey": "k", "step_seen": "ctx-step"}
    assert [r.getMessage() for r in caplog.records if r.name == "nervosum.graph.ctx-step"] == [
        "seen k"
    ]


def test_a_method_with_an_optional_second_parameter_gets_the_message(tmp_path: Path) -> None:
    """``def scale(self, message, factor=2)`` is a ``(message)`` method with an option,
    not the seed's ``(context, message)``: it gets the message and keeps its default."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}, results: {}}
        steps:
          - name: scale
            inputs: [requests]
            outputs: [results]
            class_module: scaler
            class_name: Scaler
            methods: [scale]
        """,
        {
            "scaler.py": """
            class Scaler:
                def scale(self, message, factor=2):
                    return {**message, "x": message["x"] * factor}
            """
        },
    )

    run = run_graph(graph, [("requests", {"PartitionKey": "k", "x": 21})])

    assert reasons(run.letters) == []
    assert results(run) == [("results", "k", {"PartitionKey": "k", "x": 42})]


CONSTRUCTORS = """
    class Same:
        def same(self, message):
            return message

    class WithLogger(Same):
        def __init__(self, size, logger):
            self.size = size
            self.logger = logger

    class WithoutLogger(Same):
        def __init__(self, size):
            self.size = size

    class WithKwargs(Same):
        def __init__(self, **options):
            self.options = options

    class NoInit(Same):
        pass
    """


def test_constructors_get_class_init_and_a_logger_only_when_they_take_one(
    tmp_path: Path,
) -> None:
    """``class_init`` becomes keyword arguments; ``logger=`` is added for a constructor
    with a ``logger`` parameter or ``**kwargs``, and left out otherwise (passing it would
    make ``WithoutLogger(size, logger=...)`` raise)."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}}
        steps:
          - {name: with-logger, inputs: [requests], class_module: ctors,
             class_name: WithLogger, class_init: {size: 3}, methods: [same]}
          - {name: without-logger, inputs: [requests], class_module: ctors,
             class_name: WithoutLogger, class_init: {size: 4}, methods: [same]}
          - {name: with-kwargs, inputs: [requests], class_module: ctors,
             class_name: WithKwargs, class_init: {size: 5, mode: fast}, methods: [same]}
          - {name: no-init, inputs: [requests], class_module: ctors,
             class_name: NoInit, methods: [same]}
        """,
        {"ctors.py": CONSTRUCTORS},
    )

    codes = GraphCode(graph).codes

    with_logger = codes["with-logger"].instance
    assert with_logger.size == 3
    assert isinstance(with_logger.logger, logging.Logger)
    assert with_logger.logger.name == "nervosum.graph.with-logger"
    assert vars(codes["without-logger"].instance) == {"size": 4}
    options = codes["with-kwargs"].instance.options
    assert sorted(options) == ["logger", "mode", "size"]
    assert (options["size"], options["mode"]) == (5, "fast")
    assert options["logger"].name == "nervosum.graph.with-kwargs"
    assert vars(codes["no-init"].instance) == {}


# --- filters and dead letters ------------------------------------------------------------

CHECKER = """
    class Checker:
        def check(self, message):
            if message.get("drop"):
                return None
            if message.get("x") == 7:
                raise ValueError("seven is not allowed")
            if message.get("x") == 8:
                return ["not", "a", "dict"]
            return {**message, "checked": True}
    """

CHECK_GRAPH = """
    graph: demo
    partition_key: PKEY
    module_paths: [.]
    streams: {requests: {}, results: {}}
    steps:
      - name: check
        inputs: [requests]
        outputs: [results]
        class_module: checker
        class_name: Checker
        methods: [check]
    """


def check_graph(tmp_path: Path, partition_key: str = "PartitionKey") -> Graph:
    return write_graph(
        tmp_path, CHECK_GRAPH.replace("PKEY", partition_key), {"checker.py": CHECKER}
    )


def test_a_method_returning_none_filters_the_message(tmp_path: Path) -> None:
    """None from a method stops the message: no result, no dead letter, counted in
    ``LocalRun.filtered``; the next message goes through."""
    run = run_graph(
        check_graph(tmp_path),
        [
            ("requests", {"PartitionKey": "a", "drop": True}),
            ("requests", {"PartitionKey": "b"}),
            ("requests", {"PartitionKey": "c", "drop": 1}),
        ],
    )

    assert results(run) == [("results", "b", {"PartitionKey": "b", "checked": True})]
    assert run.filtered == 2
    assert run.letters == []
    assert run.fed == 3


def test_failing_methods_and_unreadable_messages_are_dead_letters_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """A raising method, a non-dict result, a payload that is not JSON, a JSON array and a
    message without the partition key each become a dead letter with its reason, source,
    position and payload; the good messages between them still come out."""
    run = run_graph(
        check_graph(tmp_path, partition_key="order_id"),
        [
            ("requests", {"order_id": "k1", "x": 7}),
            ("requests", {"order_id": "k2", "x": 1}),
            ("requests", {"order_id": "k3", "x": 8}),
            ("requests", b"{not json"),
            ("requests", b'[{"order_id": "k4"}]'),
            ("requests", {"PartitionKey": "k5", "x": 1}),
            ("requests", {"order_id": 6, "x": 2}),
        ],
    )

    assert results(run) == [
        ("results", "k2", {"order_id": "k2", "x": 1, "checked": True}),
        ("results", "6", {"order_id": 6, "x": 2, "checked": True}),
    ]
    raised, not_a_dict, not_json, array, no_key = run.letters
    assert (raised.step, raised.key, raised.source, raised.position) == (
        "check",
        "k1",
        "requests",
        "line 1",
    )
    assert raised.reason == "step 'check': check() raised ValueError: seven is not allowed"
    assert orjson.loads(raised.payload) == {"order_id": "k1", "x": 7}
    assert (not_a_dict.key, not_a_dict.position) == ("k3", "line 3")
    assert not_a_dict.reason == (
        "step 'check': check() returned list, not a message (a dict) or None"
    )
    assert not_json.reason.startswith("not JSON: ")
    assert (not_json.payload, not_json.key, not_json.position) == (b"{not json", None, "line 4")
    assert array.reason == "a message must be a JSON object, not list"
    assert array.payload == b'[{"order_id": "k4"}]'
    assert no_key.reason.startswith("no partition key: the message has no 'order_id' field")
    assert (no_key.key, no_key.position) == (None, "line 6")
    assert {letter.step for letter in run.letters} == {"check"}
    assert run.filtered == 0


def test_a_dead_letter_record_names_the_graph_step_reason_and_payload(tmp_path: Path) -> None:
    """``DeadLetter.to_record`` is what the dead-letter stream gets: the graph, the step,
    the reason and the error's record, where the message came from, its payload and key:
    the shape of a stream worker's letters, with the graph and the step."""
    run = run_graph(check_graph(tmp_path), [("requests", {"PartitionKey": "k", "x": 7})])

    [letter] = run.letters
    assert letter.to_record("demo") == {
        "graph": "demo",
        "step": "check",
        "reason": "step 'check': check() raised ValueError: seven is not allowed",
        "error": {
            "type": "step_failed",
            "message": "step 'check': check() raised ValueError: seven is not allowed",
            "details": [],
        },
        "source": "requests",
        "position": "line 1",
        "attempts": 1,
        "payload": '{"PartitionKey":"k","x":7}',
        "key": "k",
    }


def test_a_message_with_numpy_values_does_not_stop_the_run(tmp_path: Path) -> None:
    """A step returning numpy scalars (what models return) must not end the run with an
    exception: the message comes out with the numbers (or is dead-lettered), and the next
    message is still processed."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}, results: {}}
        steps:
          - name: score
            inputs: [requests]
            outputs: [results]
            class_module: numpy_scorer
            class_name: NumpyScorer
            methods: [score]
        """,
        {
            "numpy_scorer.py": """
            import numpy as np

            class NumpyScorer:
                def score(self, message):
                    return {**message, "label": np.int64(message["x"] * 2)}
            """
        },
    )

    run = run_graph(
        graph,
        [
            ("requests", {"PartitionKey": "a", "x": 1}),
            ("requests", {"PartitionKey": "b", "x": 2}),
        ],
    )

    handled = {e.key: e.message.get("label") for e in run.results}
    handled |= {str(letter.key): "dead letter" for letter in run.letters}
    assert set(handled) == {"a", "b"}
    assert handled["a"] in (2, "dead letter")
    assert handled["b"] in (4, "dead letter")


# --- loading the code --------------------------------------------------------------------

BROKEN = """
    class Broken:
        def __init__(self, path):
            raise RuntimeError(f"no weights at {path}")

    class Fine:
        def predict(self, message):
            return message
    """


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "class_module: nowhere_to_be_found, class_name: Fine, methods: [predict]",
            "step 'broken-step': cannot import 'nowhere_to_be_found': ModuleNotFoundError",
        ),
        (
            "class_module: loadable, class_name: Missing, methods: [predict]",
            "step 'broken-step': loadable has no class 'Missing'",
        ),
        (
            "class_module: loadable, class_name: Fine, methods: [predict, explain]",
            "step 'broken-step': Fine has no method 'explain'",
        ),
        (
            "class_module: loadable, class_name: Broken, class_init: {path: /w.bin},"
            " methods: [predict]",
            "step 'broken-step': Broken.__init__ raised RuntimeError: no weights at /w.bin",
        ),
        (
            "class_module: loadable, class_name: Fine, methods: [predict],"
            " converge: {expect: 2, merge: combine}",
            "step 'broken-step': Fine has no method 'combine'",
        ),
    ],
    ids=["missing-module", "missing-class", "missing-method", "failing-init", "missing-merge"],
)
def test_code_that_cannot_load_is_a_model_definition_error_naming_the_step(
    tmp_path: Path, fields: str, expected: str
) -> None:
    """Loading the graph's code fails at once, before any message, with the step's name
    and what is wrong."""
    graph = write_graph(
        tmp_path,
        f"""
        graph: demo
        module_paths: [.]
        streams: {{requests: {{}}}}
        steps:
          - {{name: fine, inputs: [requests], class_module: loadable, class_name: Fine,
             methods: [predict]}}
          - {{name: broken-step, inputs: [requests], {fields}}}
        """,
        {"loadable.py": BROKEN},
    )

    with pytest.raises(ModelDefinitionError) as info:
        GraphCode(graph)

    assert str(info.value).startswith(expected), str(info.value)
    assert info.value.exit_code == 2


def test_a_module_path_that_does_not_exist_is_named_as_missing(tmp_path: Path) -> None:
    """An absolute entry is not read from the graph's folder: the hint names it as a
    folder that does not exist, not as a relative path to fix."""
    absent = tmp_path / "nowhere" / "modules"
    graph = write_graph(
        tmp_path,
        f"""
        graph: demo
        module_paths: [{absent}, lib]
        streams: {{requests: {{}}}}
        steps:
          - {{name: score, inputs: [requests], class_module: absent_scorer, class_name: S,
             methods: [go]}}
        """,
    )

    with pytest.raises(ModelDefinitionError) as info:
        GraphCode(graph)

    assert info.value.hint == (
        f"module_paths that do not exist here: {absent}, {tmp_path / 'lib'}; give the folder"
        f" holding absent_scorer with --module-path DIR, or list it in module_paths (relative"
        f" entries are read from {tmp_path})"
    )


def test_module_path_folders_of_the_command_line_come_first(tmp_path: Path) -> None:
    """``--module-path`` (``load_graph(..., module_paths)``) finds code the file's own
    module_paths do not reach."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "cli_path_scorer.py").write_text("class S:\n    def go(self, m):\n        return m\n")
    (tmp_path / "graph.yaml").write_text(
        "graph: demo\nmodule_paths: [/User/modules]\nstreams: {requests: {}}\nsteps:\n"
        "  - {name: score, inputs: [requests], class_module: cli_path_scorer, class_name: S,"
        " methods: [go]}\n"
    )

    graph = load_graph(tmp_path / "graph.yaml", (str(code),))

    assert graph.module_paths == (str(code),)
    assert GraphCode(graph).codes["score"].instance.go({"a": 1}) == {"a": 1}


# --- routing -------------------------------------------------------------------------------


def test_when_conditions_route_by_equals_and_in(tmp_path: Path) -> None:
    """An output with ``when`` gets only the messages meeting it (``equals``, ``in``,
    ``equals: null`` for a present null field); one without ``when`` gets every message;
    a message lacking the field goes to no conditional output."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}, everything: {}, spam: {}, known: {}, unlabelled: {}}
        steps:
          - name: route
            inputs: [requests]
            class_module: tracer
            class_name: Tracer
            methods: [preprocess]
            outputs:
              - everything
              - stream: spam
                when: {field: label, equals: spam}
              - stream: known
                when: {field: label, in: [spam, ham]}
              - stream: unlabelled
                when: {field: label, equals: null}
        """,
        {"tracer.py": TRACER},
    )

    run = run_graph(
        graph,
        [
            ("requests", {"PartitionKey": "s", "label": "spam"}),
            ("requests", {"PartitionKey": "h", "label": "ham"}),
            ("requests", {"PartitionKey": "o", "label": "other"}),
            ("requests", {"PartitionKey": "n", "label": None}),
            ("requests", {"PartitionKey": "m"}),
        ],
    )

    assert [(stream, key) for stream, key, _ in results(run)] == [
        ("everything", "s"),
        ("spam", "s"),
        ("known", "s"),
        ("everything", "h"),
        ("known", "h"),
        ("everything", "o"),
        ("everything", "n"),
        ("unlabelled", "n"),
        ("everything", "m"),
    ]
    assert run.letters == []


# --- converge -------------------------------------------------------------------------------

JOIN = """
    graph: demo
    module_paths: [.]
    streams: {left: {}, right: {}, merged: {}}
    steps:
      - name: join
        inputs: [left, right]
        outputs: [merged]
        converge: {}
    """


def join_graph(tmp_path: Path, extra: str = "", modules: dict[str, str] | None = None) -> Graph:
    """Converge step ``join`` (one message from ``left`` and one from ``right``) writing to
    ``merged``; ``extra`` adds keys to the step (a class, methods)."""
    text = textwrap.dedent(JOIN) + textwrap.indent(textwrap.dedent(extra).lstrip(), "    ")
    return write_graph(tmp_path, text, {"joiner.py": JOINER, **(modules or {})})


JOINER = """
    class Joiner:
        def __init__(self):
            self.merged = []
            self.stamped = []

        def combine(self, parts):
            self.merged.append(parts)
            return {"PartitionKey": parts[0]["PartitionKey"], "sides": [p["side"] for p in parts]}

        def stamp(self, message):
            self.stamped.append(message)
            return {**message, "stamped": True}

        def explode(self, message):
            raise RuntimeError("cannot join " + message["PartitionKey"])
    """


def test_converge_merges_one_message_per_input_in_input_order_and_emits_once(
    tmp_path: Path,
) -> None:
    """By default a group is one message per input, merged key by key in the order of
    ``inputs`` (``right`` wins on a shared key even though it arrived first); a part fed
    twice before the group completes, or after, never makes a second emission."""
    graph = join_graph(tmp_path)
    right = {"PartitionKey": "k", "side": "right", "r": 1}
    left = {"PartitionKey": "k", "side": "left", "l": 1}

    run = run_graph(
        graph,
        [
            ("right", right),
            ("right", right),  # redelivered before the group is complete
            ("left", left),
            ("left", left),  # late: the group was emitted
            ("right", right),
        ],
    )

    assert results(run) == [
        ("merged", "k", {"PartitionKey": "k", "side": "right", "r": 1, "l": 1}),
    ]
    assert list(run.results[0].message) == ["PartitionKey", "side", "l", "r"]
    assert run.letters == []


def test_converge_keeps_groups_of_different_keys_apart(tmp_path: Path) -> None:
    """Parts of interleaved keys complete their own groups, each emitted when its last
    part arrives."""
    run = run_graph(
        join_graph(tmp_path),
        [
            ("left", {"PartitionKey": "a", "l": "a"}),
            ("left", {"PartitionKey": "b", "l": "b"}),
            ("right", {"PartitionKey": "b", "r": "b"}),
            ("right", {"PartitionKey": "a", "r": "a"}),
        ],
    )

    assert results(run) == [
        ("merged", "b", {"PartitionKey": "b", "l": "b", "r": "b"}),
        ("merged", "a", {"PartitionKey": "a", "l": "a", "r": "a"}),
    ]


def test_converge_with_expect_three_on_one_input(tmp_path: Path) -> None:
    """``expect: 3`` on a single input waits for three messages of the key, then merges
    them in stream order (``line 10`` after ``line 9``), the last one winning."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        streams: {parts: {}, merged: {}}
        steps:
          - name: gather
            inputs: [parts]
            outputs: [merged]
            converge: {expect: 3}
        """,
    )
    run = LocalRun(GraphCode(graph))

    async def go() -> list[int]:
        emitted = []
        for position, message in [
            ("line 9", {"PartitionKey": "k", "n": 1, "first": True}),
            ("line 10", {"PartitionKey": "other", "n": 100}),
            ("line 11", {"PartitionKey": "k", "n": 2}),
            ("line 12", {"PartitionKey": "k", "n": 3, "last": True}),
        ]:
            await run.feed("parts", orjson.dumps(message), position)
            emitted.append(len(run.results))
        await run.finish()
        return emitted

    assert asyncio.run(go()) == [0, 0, 0, 1]
    assert results(run) == [
        ("merged", "k", {"PartitionKey": "k", "n": 3, "first": True, "last": True}),
    ]
    [incomplete] = run.letters
    assert (incomplete.step, incomplete.key) == ("gather", "other")
    assert incomplete.reason == "converge group incomplete when the input ended: 1 of 3 messages"


def test_a_merge_method_gets_the_parts_in_order(tmp_path: Path) -> None:
    """``merge: combine`` receives the group's list of messages, ordered by input, then by
    position, and its result is the merged message."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {left: {}, right: {}, merged: {}}
        steps:
          - name: join
            inputs: [left, right]
            outputs: [merged]
            class_module: joiner
            class_name: Joiner
            converge: {expect: 3, merge: combine}
        """,
        {"joiner.py": JOINER},
    )
    code = GraphCode(graph)

    run = run_graph(
        code,
        [
            ("right", {"PartitionKey": "k", "side": "right-1"}),
            ("left", {"PartitionKey": "k", "side": "left-1"}),
            ("right", {"PartitionKey": "k", "side": "right-2"}),
        ],
    )

    expected = [
        {"PartitionKey": "k", "side": "left-1"},
        {"PartitionKey": "k", "side": "right-1"},
        {"PartitionKey": "k", "side": "right-2"},
    ]
    assert code.codes["join"].instance.merged == [expected]
    assert results(run) == [
        ("merged", "k", {"PartitionKey": "k", "sides": ["left-1", "right-1", "right-2"]}),
    ]


def test_a_converge_steps_methods_run_once_on_the_merged_message(tmp_path: Path) -> None:
    """A converge step with methods runs them on the merged message, once per group, and
    what they return is emitted."""
    graph = join_graph(
        tmp_path,
        extra="""
        class_module: joiner
        class_name: Joiner
        methods: [stamp]
        """,
    )
    code = GraphCode(graph)

    run = run_graph(
        code,
        [
            ("left", {"PartitionKey": "k", "l": 1}),
            ("right", {"PartitionKey": "k", "r": 2}),
            ("right", {"PartitionKey": "k", "r": 2}),
        ],
    )

    assert code.codes["join"].instance.stamped == [{"PartitionKey": "k", "l": 1, "r": 2}]
    assert results(run) == [
        ("merged", "k", {"PartitionKey": "k", "l": 1, "r": 2, "stamped": True}),
    ]


def test_incomplete_groups_become_dead_letters_when_the_input_ends(tmp_path: Path) -> None:
    """A group still missing a part when ``finish()`` is called is a dead letter of the
    converge step with the parts it had; completed groups are not."""
    run = run_graph(
        join_graph(tmp_path),
        [
            ("left", {"PartitionKey": "done", "l": 1}),
            ("right", {"PartitionKey": "done", "r": 1}),
            ("left", {"PartitionKey": "open", "l": 2}),
        ],
        finish=False,
    )
    assert run.letters == []

    asyncio.run(run.finish())

    [letter] = run.letters
    assert (letter.step, letter.key, letter.source) == ("join", "open", "left,right")
    assert "incomplete" in letter.reason
    assert letter.reason.endswith("1 of 2 messages")
    assert orjson.loads(letter.payload) == [{"PartitionKey": "open", "l": 2}]
    assert [key for _, key, _ in results(run)] == ["done"]


def test_after_completion_a_redelivered_part_is_dropped_and_a_new_one_dead_lettered(
    tmp_path: Path,
) -> None:
    """Once a key's group was emitted, the same part again (a redelivery) changes
    nothing, and a different message for that key is a dead letter: never a second
    result, never a silent drop."""
    run = run_graph(
        join_graph(tmp_path),
        [
            ("left", {"PartitionKey": "k", "l": 1}),
            ("right", {"PartitionKey": "k", "r": 1}),
        ],
        finish=False,
    )
    assert len(run.results) == 1

    feed_more(
        run,
        [("right", {"PartitionKey": "k", "r": 1}), ("left", {"PartitionKey": "k", "l": 99})],
        first=3,
    )
    asyncio.run(run.finish())

    assert results(run) == [("merged", "k", {"PartitionKey": "k", "l": 1, "r": 1})]
    [late] = run.letters
    assert (late.step, late.key, late.source) == ("join", "k", "left")
    assert late.reason == "converge group for key 'k' was already emitted or expired"


def test_a_second_different_message_for_an_open_part_is_dead_lettered(tmp_path: Path) -> None:
    """An open group holds one message per input: a different second one from the
    same input is refused with the reason, the first one stays in the group."""
    run = run_graph(
        join_graph(tmp_path),
        [
            ("left", {"PartitionKey": "k", "l": 1}),
            ("left", {"PartitionKey": "k", "l": 2}),
            ("left", {"PartitionKey": "k", "l": 1}),
            ("right", {"PartitionKey": "k", "r": 1}),
        ],
    )

    assert results(run) == [("merged", "k", {"PartitionKey": "k", "l": 1, "r": 1})]
    [taken] = run.letters
    assert taken.reason == (
        "the open converge group for key 'k' already holds a different message from 'left'"
    )


def test_a_failing_converge_method_is_one_dead_letter_not_also_an_incomplete_group(
    tmp_path: Path,
) -> None:
    """When the methods of a converge step raise on a complete group, that group is one
    dead letter with the exception; it must not also be reported as an "incomplete"
    group (it had every part) when the input ends."""
    graph = join_graph(
        tmp_path,
        extra="""
        class_module: joiner
        class_name: Joiner
        methods: [explode]
        """,
    )

    run = run_graph(
        graph,
        [("left", {"PartitionKey": "k", "l": 1}), ("right", {"PartitionKey": "k", "r": 1})],
    )

    assert results(run) == []
    assert reasons(run.letters) == [
        ("join", "k", "step 'join': explode() raised RuntimeError: cannot join k"),
    ]


def test_converge_with_a_filtering_method_ends_the_group(tmp_path: Path) -> None:
    """A converge step whose method returns None filters the merged message: nothing is
    emitted, it is counted as filtered, and the group is closed (no dead letter)."""
    graph = join_graph(
        tmp_path,
        extra="""
        class_module: checker
        class_name: Checker
        methods: [check]
        """,
        modules={"checker.py": CHECKER},
    )

    run = run_graph(
        graph,
        [
            ("left", {"PartitionKey": "k", "drop": True}),
            ("right", {"PartitionKey": "k", "r": 1}),
        ],
    )

    assert results(run) == []
    assert run.filtered == 1
    assert run.letters == []


# --- module_paths ----------------------------------------------------------------------------


def test_module_paths_are_relative_to_the_graph_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top-level and per-step ``module_paths`` resolve from the graph file's folder, not
    the working directory, and their modules import."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    graph = write_graph(
        tmp_path / "project",
        """
        graph: demo
        module_paths: [lib]
        streams: {requests: {}, results: {}}
        steps:
          - name: first
            inputs: [requests]
            outputs: [results]
            class_module: shared_lib
            class_name: Shared
            methods: [tag]
          - name: second
            inputs: [requests]
            outputs: [results]
            module_paths: [../vendor/code]
            class_module: vendored_lib
            class_name: Vendored
            methods: [tag]
        """,
        {
            "lib/shared_lib.py": """
            class Shared:
                def tag(self, message):
                    return {**message, "by": "shared"}
            """,
            "../vendor/code/vendored_lib.py": """
            class Vendored:
                def tag(self, message):
                    return {**message, "by": "vendored"}
            """,
        },
    )

    run = run_graph(graph, [("requests", {"PartitionKey": "k"})])

    assert [(stream, message["by"]) for stream, _, message in results(run)] == [
        ("results", "shared"),
        ("results", "vendored"),
    ]


def test_two_files_of_one_module_name_are_refused_in_one_process(tmp_path: Path) -> None:
    """Two steps whose ``module_paths`` hold different files of the same module name
    (``funcs.py``, as in one folder per iguazio function) cannot share a process: the
    second would silently run the first one's class, so loading says so instead."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        streams: {requests: {}, one: {}, two: {}}
        steps:
          - name: step-one
            inputs: [requests]
            outputs: [one]
            module_paths: [step_one]
            class_module: funcs
            class_name: Step
            methods: [tag]
          - name: step-two
            inputs: [requests]
            outputs: [two]
            module_paths: [step_two]
            class_module: funcs
            class_name: Step
            methods: [tag]
        """,
        {
            "step_one/funcs.py": """
            class Step:
                def tag(self, message):
                    return {**message, "by": "one"}
            """,
            "step_two/funcs.py": """
            class Step:
                def tag(self, message):
                    return {**message, "by": "two"}
            """,
        },
    )

    with pytest.raises(ModelDefinitionError) as refused:
        GraphCode(graph)

    assert "step 'step-two': module 'funcs'" in refused.value.message
    assert "already loaded from" in refused.value.message
    assert str(tmp_path / "step_one" / "funcs.py") in refused.value.message


def test_an_iguazioig_output_to_an_undeclared_stream_is_a_dead_letter(tmp_path: Path) -> None:
    """iguazioig logged a message for a stream missing from v3io_streams as undeliverable:
    here the declared outputs still get the result, and one dead letter holds the result
    and names the undeclared streams."""
    graph = write_graph(
        tmp_path,
        """
        apiVersion: 0.2.0
        project:
          name: demo
          v3io_streams: {requests: {}, results: {}}
          functions:
            - name: score
              module_paths: [.]
              input_streams: {requests: {}}
              class_module: scoring
              class_name: Score
              methods: [score]
              outputs: {streams: [results, lost, gone]}
        """,
        {
            "scoring.py": """
            class Score:
                def score(self, context, message):
                    return {**message, "score": 1}
            """
        },
    )

    run = run_graph(graph, [("requests", {"PartitionKey": "k"})])

    assert results(run) == [("results", "k", {"PartitionKey": "k", "score": 1})]
    [letter] = run.letters
    assert (letter.step, letter.key, letter.source) == ("score", "k", "requests")
    assert letter.reason == (
        "undeliverable: output streams 'lost', 'gone' not declared in v3io_streams;"
        " the step's result (the payload) was not written there"
    )
    assert orjson.loads(letter.payload) == {"PartitionKey": "k", "score": 1}


def test_a_result_that_cannot_be_routed_is_a_dead_letter_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """A `when` on a field holding an array cannot be decided: that message is a dead
    letter naming the step, and the next message still comes out."""
    graph = write_graph(
        tmp_path,
        """
        graph: demo
        module_paths: [.]
        streams: {requests: {}, out: {}}
        steps:
          - name: shape
            inputs: [requests]
            outputs: [{stream: out, when: {field: label, equals: 1}}]
            class_module: shaping
            class_name: Shape
            methods: [label]
        """,
        {
            "shaping.py": """
            import numpy as np

            class Shape:
                def label(self, message):
                    if message.get("wide"):
                        return {**message, "label": np.array([1, 1])}
                    return {**message, "label": 1}
            """
        },
    )

    run = run_graph(
        graph,
        [("requests", {"PartitionKey": "a", "wide": True}), ("requests", {"PartitionKey": "b"})],
    )

    assert [key for _, key, _ in results(run)] == ["b"]
    [letter] = run.letters
    assert letter.key == "a"
    assert letter.reason.startswith("step 'shape': its result cannot be routed or written:")
