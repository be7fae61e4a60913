"""The shadow copier (serving/arms.py): copies scored in batches per arm, none lost to a
failure while scoring one, the rest counted as dropped at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nervosum.config.variants import VariantsSpec
from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.arms import Arms
from nervosum.serving.state import ServingState
from tests.conftest import PROJECTS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _state() -> ServingState:
    project = load_config(PROJECTS / "batch_echo")
    return ServingState(project, project.config.server, engine=Engine.load(project))


def _arms() -> Arms:
    champion, challenger = _state(), _state()
    champion.start()
    challenger.start()
    return Arms(champion, challenger, VariantsSpec(challenger="unused", shadow_queue=100))


def _queue(arms: Arms, count: int) -> None:
    for x in range(count):
        records = [{"x": float(x)}]
        arms._shadow(arms.challenger, records, False, [{"echo": float(x)}], None)


async def test_copies_are_scored_in_batches_and_agree() -> None:
    arms = _arms()
    _queue(arms, 12)
    assert arms._copier is not None
    await asyncio.wait_for(arms._copier, 10)
    assert arms.challenger.answered == 12 and arms.challenger.errors == 0
    assert arms.report()["agreement"] == 1.0 and arms.dropped == 0
    await arms.close()
    await arms.front.shutdown()


async def test_a_copy_that_fails_to_score_costs_that_copy_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arms = _arms()
    scored = arms._scored
    seen: list[int] = []

    def breaks_on_the_second(copy: Any, answer: Any) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("a bug while logging")
        scored(copy, answer)

    monkeypatch.setattr(arms, "_scored", breaks_on_the_second)
    _queue(arms, 5)
    assert arms._copier is not None
    await asyncio.wait_for(arms._copier, 10)
    assert len(seen) == 5
    assert (arms.challenger.answered, arms.challenger.errors) == (4, 1)
    await arms.close()
    await arms.front.shutdown()


async def test_copies_not_scored_by_shutdown_are_counted_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arms = _arms()
    started = asyncio.Event()

    async def hangs(groups: Any, *, proba: bool) -> Any:
        started.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(arms.challenger.state.runtime, "predict_groups", hangs)
    quick = arms.front.settings.model_copy(update={"graceful_timeout": 0.2})
    monkeypatch.setattr(arms.front, "settings", quick)
    _queue(arms, 5)
    await asyncio.wait_for(started.wait(), 5)
    await arms.close()
    assert arms.dropped == 5  # the batch in the model and the ones behind it
    await arms.front.shutdown()


async def test_a_hung_challenger_call_times_out_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arms = _arms()

    async def hangs(groups: Any, *, proba: bool) -> Any:
        await asyncio.sleep(60)

    monkeypatch.setattr(arms.challenger.state.runtime, "predict_groups", hangs)
    monkeypatch.setattr(arms.challenger.state.runtime, "timeout", 0.1)
    _queue(arms, 3)
    assert arms._copier is not None
    await asyncio.wait_for(arms._copier, 10)
    assert arms.challenger.errors == 3 and arms.dropped == 0
    await arms.close()
    await arms.front.shutdown()
