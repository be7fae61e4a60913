"""The adaptive batcher in-process: a real Engine, a real model thread, real asyncio.

The fixture model (tests/fixtures/projects/batch_echo) echoes each row's ``x`` and gives
probabilities by parity, so every answer tells which row it came from. Where a test needs
the model busy at a known moment it holds the model thread in a batch's call until a
``threading.Event`` (the "gate") is set, exactly as a slow model call would: the batch has
left the queue and the next requests queue behind it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest

from nervosum import Engine, load_config
from nervosum.config.spec import BatchingSpec
from nervosum.config.types import Record
from nervosum.errors import (
    InvalidInputError,
    ModelOutputError,
    NervosumError,
    OverloadedError,
    PredictionError,
    RequestTimeoutError,
)
from nervosum.predict import batcher as batcher_module
from nervosum.predict.batcher import Batcher
from tests.conftest import PROJECTS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(load_config(PROJECTS / "batch_echo"))


@pytest.fixture
def model(engine: Engine) -> Any:
    """The user's model instance, its call records cleared."""
    instance = engine.handle.loaded.instance
    instance.calls.clear()
    instance.proba_calls.clear()
    return instance


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-model")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds every model call until set (always set at teardown, so nothing hangs)."""
    event = threading.Event()
    yield event
    event.set()


def make_batcher(
    engine: Engine,
    executor: ThreadPoolExecutor,
    sizes: list[int],
    gate: threading.Event | None = None,
    timeout: float | None = None,
    **spec: Any,
) -> Batcher:
    """A batcher recording its batch sizes; with ``gate``, each call waits for it first."""

    def on_batch(rows: int) -> None:  # runs on the model thread, as the batch goes to the model
        sizes.append(rows)
        if gate is not None:
            gate.wait(10)

    return Batcher(engine, BatchingSpec(**spec), executor, on_batch=on_batch, timeout=timeout)


def answer(x: float, *, proba: bool = True) -> Record:
    """What the echo model answers for one row."""
    out: Record = {"echo": float(x)}
    if proba:
        odd = 1.0 if int(x) % 2 == 1 else 0.0
        out["probabilities"] = {"even": 1.0 - odd, "odd": odd}
    return out


def rows(*xs: float) -> list[Record]:
    return [{"x": float(x)} for x in xs]


def greedy(request_rows: list[int], max_rows: int) -> list[int]:
    """Batch sizes when requests queued together are taken in order up to max_rows each."""
    sizes: list[int] = []
    current = 0
    for n in request_rows:
        if current and current + n > max_rows:
            sizes.append(current)
            current = 0
        current += n
    if current:
        sizes.append(current)
    return sizes


async def wait_until(condition: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if condition():
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached in time")


async def test_200_concurrent_requests_each_get_exactly_their_own_answers(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    requests: list[list[Record]] = []
    next_x = 0
    for i in range(200):
        n = i % 3 + 1
        requests.append(rows(*range(next_x, next_x + n)))
        next_x += n
    with anyio.fail_after(10):
        results = await asyncio.gather(*(batcher.submit(r, proba=True) for r in requests))
    for request, result in zip(requests, results, strict=True):
        assert result == [answer(r["x"]) for r in request]
    assert sum(sizes) == next_x == 399
    assert max(sizes) <= 64
    assert len(sizes) < 200  # merged, not one call per request
    assert model.calls == sizes  # one model call per batch, nothing bisected


async def test_batches_never_exceed_max_rows_and_are_filled_in_arrival_order(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, max_batch_size=8)
    request_rows = [(i * 7) % 5 + 1 for i in range(60)]  # 1..5 rows each
    requests: list[list[Record]] = []
    start = 0
    for n in request_rows:
        requests.append(rows(*range(start, start + n)))
        start += n
    with anyio.fail_after(10):
        results = await asyncio.gather(*(batcher.submit(r, proba=False) for r in requests))
    for request, result in zip(requests, results, strict=True):
        assert result == [answer(r["x"], proba=False) for r in request]
    assert all(size <= 8 for size in sizes), sizes
    assert sizes == greedy(request_rows, 8)
    assert sum(sizes) == sum(request_rows)


async def test_a_request_larger_than_max_rows_runs_alone(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, max_batch_size=8)
    requests = [rows(0, 1, 2), rows(*range(100, 120)), rows(3, 4, 5), rows(6, 7)]
    with anyio.fail_after(10):
        results = await asyncio.gather(*(batcher.submit(r, proba=True) for r in requests))
    for request, result in zip(requests, results, strict=True):
        assert result == [answer(r["x"]) for r in request]
    assert sizes == [3, 20, 5]
    assert model.calls == [3, 20, 5]


async def test_once_concurrency_is_seen_the_first_request_waits_for_company(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, max_wait_ms=300)
    with anyio.fail_after(5):
        await asyncio.gather(*(batcher.submit(rows(x), proba=True) for x in (7, 8)))
        first = asyncio.create_task(batcher.submit(rows(1), proba=True))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(batcher.submit(rows(2), proba=True))
        assert await first == [answer(1)]
        assert await second == [answer(2)]
    assert sizes == [2, 2]  # the second request joined the first one's call


async def test_a_lone_client_never_waits_for_company(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, max_wait_ms=300)
    started = time.monotonic()
    with anyio.fail_after(5):
        for x in range(3):
            assert await batcher.submit(rows(x), proba=True) == [answer(x)]
    elapsed = time.monotonic() - started
    assert sizes == [1, 1, 1]
    assert elapsed < 0.3, f"three lone requests took {elapsed:.3f}s with max_wait_ms=300"


async def test_a_full_batch_does_not_wait_for_company(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, max_batch_size=8, max_wait_ms=5000)
    started = time.monotonic()
    with anyio.fail_after(10):
        result = await batcher.submit(rows(*range(8)), proba=False)
    elapsed = time.monotonic() - started
    assert result == [answer(x, proba=False) for x in range(8)]
    assert sizes == [8]
    assert elapsed < 1.0, f"a full batch waited {elapsed:.3f}s for company"


async def test_only_the_bad_requests_of_a_batch_fail(
    engine: Engine, executor: ThreadPoolExecutor, model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    requests = [rows(1, 2), rows(-1), rows(4), rows(200_000), rows(5, 2_000_000), rows(6)]
    with anyio.fail_after(10):
        results = await asyncio.gather(
            *(batcher.submit(r, proba=True) for r in requests), return_exceptions=True
        )
    assert sizes == [8]  # all in one merged call, then bisected
    assert results[0] == [answer(1), answer(2)]
    assert results[2] == [answer(4)]
    assert results[5] == [answer(6)]
    raised, invalid, bad_shape = results[1], results[3], results[4]
    assert type(raised) is PredictionError
    assert "the model raised ValueError" in raised.message
    assert raised.error_id and raised.error_id in caplog.text
    assert type(invalid) is InvalidInputError
    assert invalid.details == [
        {"loc": ["x"], "msg": "x above 100000 cannot be scored", "type": "invalid_input"}
    ]
    assert type(bad_shape) is ModelOutputError
    assert "output 'echo' has 3 values for 2 input rows" in bad_shape.message


async def test_proba_false_strips_probabilities_only_for_that_request(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    with anyio.fail_after(5):
        results = await asyncio.gather(
            batcher.submit(rows(1), proba=True),
            batcher.submit(rows(2, 3), proba=False),
            batcher.submit(rows(4), proba=True),
        )
    assert results == [[answer(1)], [answer(2, proba=False), answer(3, proba=False)], [answer(4)]]
    assert sizes == [4]
    assert model.proba_calls == [4]


async def test_no_probabilities_are_computed_when_no_request_wants_them(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    with anyio.fail_after(5):
        results = await asyncio.gather(
            batcher.submit(rows(1), proba=False), batcher.submit(rows(2), proba=False)
        )
    assert results == [[answer(1, proba=False)], [answer(2, proba=False)]]
    assert model.calls == [2]
    assert model.proba_calls == []


async def test_the_queue_bound_refuses_requests_past_max_queue_rows(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    gate: threading.Event,
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, gate, max_queue=5, max_wait_ms=0)
    with anyio.fail_after(10):
        running = asyncio.create_task(batcher.submit(rows(1), proba=False))
        await wait_until(lambda: sizes == [1])  # taken from the queue, waiting for the model
        assert batcher.queued_rows == 0
        three = asyncio.create_task(batcher.submit(rows(2, 3, 4), proba=False))
        two = asyncio.create_task(batcher.submit(rows(5, 6), proba=False))
        await wait_until(lambda: batcher.queued_rows == 5)
        with pytest.raises(OverloadedError, match=r"queue is full \(5 rows waiting\)") as info:
            await batcher.submit(rows(7), proba=False)
        assert info.value.code == "overloaded"
        assert info.value.http_status == 503
        assert batcher.queued_rows == 5  # the refused request left no rows behind
        gate.set()
        assert await running == [answer(1, proba=False)]
        assert await three == [answer(x, proba=False) for x in (2, 3, 4)]
        assert await two == [answer(5, proba=False), answer(6, proba=False)]
        # the queue emptied: requests are accepted again
        assert await batcher.submit(rows(7), proba=False) == [answer(7, proba=False)]
    assert sizes == [1, 5, 1]


async def test_rows_of_a_request_that_gave_up_are_never_predicted(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    gate: threading.Event,
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, gate, max_wait_ms=0)
    with anyio.fail_after(10):
        running = asyncio.create_task(batcher.submit(rows(1), proba=False))
        await wait_until(lambda: sizes == [1])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit(rows(100, 101, 102), proba=False), 0.05)
        later = asyncio.create_task(batcher.submit(rows(2), proba=False))
        gate.set()
        assert await running == [answer(1, proba=False)]
        assert await later == [answer(2, proba=False)]
    assert sizes == [1, 1]
    assert model.calls == [1, 1]


async def test_a_request_unanswered_within_the_timeout_gets_the_504(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    gate: threading.Event,
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, gate, timeout=0.1, max_wait_ms=0)
    with anyio.fail_after(5):
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError, match=r"no answer from the model within 0\.1s"):
            await batcher.submit(rows(1), proba=False)  # held in the model call by the gate
        elapsed = time.monotonic() - started
        assert 0.09 < elapsed < 0.5, f"timed out after {elapsed:.3f}s, not at 0.1s"
        later = asyncio.create_task(batcher.submit(rows(2), proba=False))
        gate.set()
        assert await later == [answer(2, proba=False)]
    assert sizes == [1, 1]


async def test_drain_answers_everything_queued_and_in_flight(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    gate: threading.Event,
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, gate, max_batch_size=2, max_wait_ms=0)
    tasks = [asyncio.create_task(batcher.submit(rows(x), proba=False)) for x in range(6)]
    await wait_until(lambda: sizes == [2])  # the first call is waiting for the model thread
    drain = asyncio.create_task(batcher.drain())
    await asyncio.sleep(0.02)
    assert not drain.done()  # 4 rows are still queued
    gate.set()
    with anyio.fail_after(5):
        await drain
    await asyncio.sleep(0.05)  # let the answered submit() calls return
    answered = {i: t.result() for i, t in enumerate(tasks) if t.done() and not t.cancelled()}
    for task in tasks:
        task.cancel()
    assert answered == {x: [answer(x, proba=False)] for x in range(6)}, (
        f"after drain() returned, {len(answered)} of 6 requests had an answer; batches {sizes}"
    )
    assert sizes == [2, 2, 2]


async def test_drain_with_a_request_in_flight_answers_it(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    gate: threading.Event,
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes, gate, max_wait_ms=0)
    request = asyncio.create_task(batcher.submit(rows(9), proba=True))
    await wait_until(lambda: sizes == [1])  # in the model call, waiting for the model thread
    drain = asyncio.create_task(batcher.drain())
    await asyncio.sleep(0.02)
    gate.set()
    with anyio.fail_after(5):
        await drain
    await asyncio.sleep(0.05)
    done = request.done() and not request.cancelled()
    request.cancel()
    assert done, "the request in the model call when drain() began was never answered"
    assert request.result() == [answer(9)]


async def test_after_drain_submit_is_refused_until_reopen(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    with anyio.fail_after(10):
        assert await batcher.submit(rows(1), proba=False) == [answer(1, proba=False)]
        await batcher.drain()
        with pytest.raises(OverloadedError, match="shutting down"):
            await batcher.submit(rows(2), proba=False)
        assert sizes == [1]
        batcher.reopen(executor)
        assert await batcher.submit(rows(3), proba=True) == [answer(3)]
        await batcher.drain()
    assert sizes == [1, 1]


async def test_empty_requests_are_answered_without_a_model_call(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    sizes: list[int] = []
    batcher = make_batcher(engine, executor, sizes)
    with anyio.fail_after(5):
        assert await batcher.submit([], proba=True) == []
    assert sizes == []
    assert model.calls == []


# Engine.predict_groups: the bisection the batcher relies on.

GROUPS = [rows(1, 2), rows(3), rows(4, 5, 6), rows(7), rows(8, 9)]


@pytest.mark.parametrize("bad_index", range(5))
def test_predict_groups_fails_only_the_failing_group(
    engine: Engine, model: Any, bad_index: int
) -> None:
    groups = [list(g) for g in GROUPS]
    groups[bad_index] = [*groups[bad_index], {"x": -1.0}]
    answers = engine.predict_groups(groups, proba=True)
    assert len(answers) == 5
    for index, (group, result) in enumerate(zip(groups, answers, strict=True)):
        if index == bad_index:
            assert type(result) is PredictionError
        else:
            assert result == [answer(r["x"]) for r in group]
    assert model.calls[0] == sum(len(g) for g in groups)  # one merged call first


def test_predict_groups_maps_each_failure_to_its_own_error(engine: Engine, model: Any) -> None:
    groups = [rows(1), rows(-5), rows(2), rows(500_000), rows(3_000_000), rows(3)]
    answers = engine.predict_groups(groups, proba=False)
    assert answers[0] == [answer(1, proba=False)]
    assert answers[2] == [answer(2, proba=False)]
    assert answers[5] == [answer(3, proba=False)]
    assert type(answers[1]) is PredictionError
    assert type(answers[3]) is InvalidInputError
    assert type(answers[4]) is ModelOutputError
    assert all(isinstance(a, NervosumError) for a in (answers[1], answers[3], answers[4]))


def test_predict_groups_without_failures_is_one_model_call(engine: Engine, model: Any) -> None:
    answers = engine.predict_groups(GROUPS, proba=True)
    assert answers == [[answer(r["x"]) for r in group] for group in GROUPS]
    assert model.calls == [9]
    assert model.proba_calls == [9]
    assert engine.predict_groups([], proba=True) == []
    assert model.calls == [9]


class _ThreadSafe(Engine):
    """The echo model declared callable from any thread, as an ONNX Runtime session is."""

    @property
    def thread_safe(self) -> bool:
        return True


def threads_of(
    engine: Engine,
    executor: ThreadPoolExecutor,
    names: list[str],
    sizes: list[int] | None = None,
    **spec: Any,
) -> Batcher:
    """A batcher recording the thread each batch runs on (and its rows)."""

    def on_batch(rows: int) -> None:
        names.append(threading.current_thread().name)
        if sizes is not None:
            sizes.append(rows)

    return Batcher(engine, BatchingSpec(**spec), executor, on_batch=on_batch)


async def test_a_thread_safe_quick_model_answers_on_the_event_loop(
    engine: Engine, executor: ThreadPoolExecutor, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", 10.0)  # the echo model is quick
    names: list[str] = []
    sizes: list[int] = []
    batcher = threads_of(_ThreadSafe(engine.project, engine.handle), executor, names, sizes)
    loop_thread = threading.current_thread().name
    with anyio.fail_after(5):
        assert await batcher.submit(rows(0), proba=True) == [answer(0)]
        await wait_until(lambda: not batcher._working)  # the model thread has gone idle
        for x in (1, 2):
            assert await batcher.submit(rows(x), proba=True) == [answer(x)]
        together = await asyncio.gather(*(batcher.submit(rows(x), proba=True) for x in (4, 5)))
    assert together == [[answer(4)], [answer(5)]]
    # The first call is timed on the model thread; once its time per row is known, the
    # calls stay on the loop, and requests that arrive in one turn of it are one batch.
    assert names[0].startswith("test-model")
    assert names[1:] == [loop_thread] * 3
    assert sizes == [1, 1, 1, 2]


async def test_a_queue_longer_than_a_batch_is_answered_on_the_loop_batch_by_batch(
    engine: Engine, executor: ThreadPoolExecutor, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", 10.0)
    names: list[str] = []
    sizes: list[int] = []
    safe = _ThreadSafe(engine.project, engine.handle)
    batcher = threads_of(safe, executor, names, sizes, max_batch_size=4)
    with anyio.fail_after(5):
        assert await batcher.submit(rows(0), proba=True) == [answer(0)]
        await wait_until(lambda: not batcher._working)
        answers = await asyncio.gather(*(batcher.submit(rows(x), proba=True) for x in range(10)))
    assert answers == [[answer(x)] for x in range(10)]
    assert sizes[1:] == [4, 4, 2]
    assert names[1:] == [threading.current_thread().name] * 3


@pytest.mark.parametrize(
    ("thread_safe", "quick_seconds"),
    [(False, 10.0), (True, 0.0)],
    ids=["not-thread-safe", "thread-safe-but-slow"],
)
async def test_other_models_always_run_on_the_model_thread(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    monkeypatch: pytest.MonkeyPatch,
    thread_safe: bool,
    quick_seconds: float,
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", quick_seconds)
    names: list[str] = []
    chosen = _ThreadSafe(engine.project, engine.handle) if thread_safe else engine
    batcher = threads_of(chosen, executor, names)
    with anyio.fail_after(5):
        for x in range(3):
            assert await batcher.submit(rows(x), proba=True) == [answer(x)]
    assert len(names) == 3 and all(name.startswith("test-model") for name in names)


async def test_a_request_too_large_for_the_loop_runs_on_the_model_thread(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    names: list[str] = []
    batcher = threads_of(_ThreadSafe(engine.project, engine.handle), executor, names)
    batcher._row_seconds = 1e-5  # as measured on earlier calls: 10 µs a row
    with anyio.fail_after(5):
        # 500 rows (more than max_batch_size, taken whole) would hold the loop for 5 ms
        result = await batcher.submit(rows(*range(500)), proba=False)
        assert result == [answer(x, proba=False) for x in range(500)]
        assert names[-1].startswith("test-model")
        await wait_until(lambda: not batcher._working)
        batcher._row_seconds = 1e-5  # as before: the echo model's own time varies
        assert await batcher.submit(rows(*range(50)), proba=False) == [
            answer(x, proba=False) for x in range(50)
        ]
    assert names[-1] == threading.current_thread().name  # 50 rows: well under 1 ms


class _AnswersWrongOnce(_ThreadSafe):
    """Answers one group too many on its first merged call: a nervosum bug's shape."""

    broken = True

    def predict_groups(
        self, groups: Sequence[list[Record]], *, proba: bool = True
    ) -> list[list[Record] | NervosumError]:
        answers = super().predict_groups(groups, proba=proba)
        if self.broken:
            self.broken = False
            return [*answers, []]
        return answers


async def test_a_failure_while_answering_on_the_loop_leaves_the_batcher_working(
    engine: Engine, executor: ThreadPoolExecutor, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", 10.0)
    names: list[str] = []
    faulty = _AnswersWrongOnce(engine.project, engine.handle)
    batcher = threads_of(faulty, executor, names)
    batcher._row_seconds = 1e-6  # known quick: the first batch runs on the loop
    with anyio.fail_after(5):
        # The surplus answer fails the hand-out after this request got its own
        assert await batcher.submit(rows(1), proba=True) == [answer(1)]
        assert not faulty.broken
        assert await batcher.submit(rows(2), proba=True) == [answer(2)]  # not wedged
    assert names == [threading.current_thread().name] * 2


@pytest.mark.parametrize("alone", [True, False])
async def test_a_request_alone_in_its_process_is_answered_without_a_loop_turn(
    engine: Engine,
    executor: ThreadPoolExecutor,
    model: Any,
    monkeypatch: pytest.MonkeyPatch,
    alone: bool,
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", 10.0)
    names: list[str] = []
    batcher = threads_of(_ThreadSafe(engine.project, engine.handle), executor, names)
    batcher._row_seconds = 1e-6  # known quick
    turned: list[int] = []
    with anyio.fail_after(5):
        asyncio.get_running_loop().call_soon(turned.append, 1)
        assert await batcher.submit(rows(1), proba=True, alone=alone) == [answer(1)]
    # Alone, nothing can join its batch: it is answered at once. Otherwise it waits a
    # turn of the loop for the requests that arrived with it.
    assert turned == ([] if alone else [1])
    assert names == [threading.current_thread().name]


class _Slow(_ThreadSafe):
    """A thread-safe model whose call takes longer than the requests' spacing."""

    def predict_groups(
        self, groups: Sequence[list[Record]], *, proba: bool = True
    ) -> list[list[Record] | NervosumError]:
        time.sleep(0.005)
        return super().predict_groups(groups, proba=proba)


@pytest.mark.parametrize("staggered", [True, False])
async def test_staggered_requests_are_batched_on_the_model_thread(
    engine: Engine, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch, staggered: bool
) -> None:
    """gRPC hands calls to the loop one at a time: answered each on the loop as it came,
    every batch held one call (1,900 against 3,000 calls/s at c=64). HTTP's requests
    (not staggered) keep the loop."""
    monkeypatch.setattr(batcher_module, "INLINE_CALL_SECONDS", 10.0)  # quick enough
    names: list[str] = []
    sizes: list[int] = []
    batcher = threads_of(_Slow(engine.project, engine.handle), executor, names, sizes)
    batcher._row_seconds = 1e-6
    started = []
    with anyio.fail_after(5):
        for x in range(6):
            call = batcher.submit(rows(x), proba=True, staggered=staggered)
            started.append(asyncio.ensure_future(call))
            await asyncio.sleep(0.002)  # the next call reaches the loop a while later
        answers = await asyncio.gather(*started)
    assert answers == [[answer(x)] for x in range(6)]
    if staggered:
        assert max(sizes) > 1 and len(sizes) < 6
        assert names[0].startswith("test-model")
    else:  # each answered on the loop as it came, holding the next one back
        assert sizes == [1] * 6
        assert set(names) == {threading.current_thread().name}


async def test_a_given_up_request_at_the_head_does_not_hide_a_large_one_behind_it(
    engine: Engine, executor: ThreadPoolExecutor, model: Any
) -> None:
    names: list[str] = []
    batcher = threads_of(_ThreadSafe(engine.project, engine.handle), executor, names)
    batcher._working = True  # the model is busy: both requests queue
    gave_up = asyncio.create_task(batcher.submit(rows(1), proba=True))
    large = asyncio.create_task(batcher.submit(rows(*range(500)), proba=False))
    await asyncio.sleep(0)
    gave_up.cancel()
    await asyncio.sleep(0)
    batcher._working = False
    batcher._row_seconds = 1e-5  # 500 rows: 5 ms, too long for the loop
    with anyio.fail_after(5):
        batcher._start(asyncio.get_running_loop())
        assert await large == [answer(x, proba=False) for x in range(500)]
    assert len(names) == 1 and names[0].startswith("test-model")
