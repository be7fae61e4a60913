"""Champion and challenger in one server (``variants:``, docs/variants.md).

The project's model is the champion; the challenger is a second model loaded beside it,
in the background, on its own model thread, with its own batcher. Readiness is the
champion's: a challenger that is loading or failed leaves the champion answering alone.

Routing happens in :meth:`Arms.infer`, which :meth:`ServingState.infer` calls, so every
protocol gets it. In ``canary`` mode a share of keys is answered by the challenger (a
hash of the key, so each key stays on its arm); in ``shadow`` mode the champion answers
and a copy of the validated records goes to the challenger off the response path, its
answer logged and remembered for feedback but never sent.

Promotion swaps the two arms in one step on the event loop: a request takes its arm when
it starts, so requests in flight finish on the arm they started on. It is asked for
(``POST /-/promote``) or made by the ``promote:`` rule, which judges the labels as they
arrive (:mod:`nervosum.serving.promotion_rule`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.config.variants import VariantsSpec
from nervosum.engine import Engine
from nervosum.errors import ConflictError, NervosumError, new_error_id
from nervosum.model.imports import Namespace, own_namespace
from nervosum.model.outputs import PROBABILITIES, predicted_value
from nervosum.observe import significance
from nervosum.predict.batcher import timed_out
from nervosum.predlog.events import Exchange, Origin, promotion_record
from nervosum.serving.challenger import Preloaded, challenger_project
from nervosum.serving.model_process import RemoteEngine
from nervosum.serving.promotion_rule import Judgement, PromotionRule
from nervosum.serving.promotion_state import (
    SharedPromotions,
    Standing,
    refuse_unusable_state,
    shared_promotions,
)
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.serving")

CHAMPION = "champion"
CHALLENGER = "challenger"
_SPAN = 2**64
JUDGE_EVERY = 1.0  # seconds between two judgements of the promote rule, at most
FOLLOW_EVERY = 0.25  # seconds between two reads of the shared promotion state


def in_canary(key: str, share: float) -> bool:
    """Whether ``key`` falls in the challenger's ``share``: a hash of the key, so a key
    always lands on the same arm and keys spread evenly whatever they look like."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * _SPAN


def routing_key(
    how: str,
    records: Sequence[Record],
    headers: Sequence[tuple[bytes, bytes]],
    id_field: str | None,
) -> str | None:
    """The canary key of a request (``how``: ``id``, ``header:<Name>`` or ``random``),
    or None when it has none (it is then routed at random)."""
    if how == "id":
        value = records[0].get(id_field) if records and id_field else None
        return None if value is None else str(value)
    if how.startswith("header:"):
        wanted = how.removeprefix("header:").lower().encode("latin-1")
        for name, value in headers:
            if name == wanted:
                return value.decode("latin-1")
    return None


def key_of(spec: VariantsSpec, id_field: str | None) -> str:
    """The configured key, or the default: the id field when there is one, else the
    ``X-User-ID`` header."""
    if spec.key is not None:
        return spec.key
    return "id" if id_field else "header:X-User-ID"


@dataclass
class _Copy:
    """A request's validated records and the champion's answer, for the challenger."""

    arm: Arm
    records: list[Record]
    answered: list[Record]
    exchange: Exchange | None
    proba: bool


def _without_probabilities(answer: list[Record] | NervosumError) -> list[Record] | NervosumError:
    """A copy whose request asked for none gets none, as from the challenger alone (a
    batch computes them when any of its copies asked)."""
    if isinstance(answer, NervosumError):
        return answer
    return [{k: v for k, v in row.items() if k != PROBABILITIES} for row in answer]


def _as_error(exc: Exception) -> NervosumError:
    return exc if isinstance(exc, NervosumError) else NervosumError(str(exc))


@dataclass
class Arm:
    """One model of the pair and what it did since the server started."""

    state: ServingState
    answered: int = 0  # rows answered (or scored in shadow)
    errors: int = 0
    _origins: dict[str, Origin] = field(default_factory=dict)

    def origin(self, role: str) -> Origin:
        """The model's prediction-log origin under ``role`` (made once per role: on
        every request it cost more than the routing)."""
        found = self._origins.get(role)
        if found is None:
            found = self._origins[role] = replace(self.state.runtime.origin(), arm=role)
        return found

    @property
    def status(self) -> str:
        if self.state.engine is not None:
            return "ready"
        return "failed" if self.state.load_error is not None else "loading"

    def describe(self, role: str, *, expose_details: bool) -> Record:
        """What ``GET /-/arms`` and an audit record say of this arm (a load error names
        files and modules: with the server's ``errors.expose_details: false`` only the
        server log has it, as for ``/info``)."""
        config = self.state.project.config
        engine = self.state.runtime.engine
        error: object = self.state.load_error
        if error is not None and not isinstance(error, NervosumError):  # SystemExit: 3
            error = f"{type(error).__name__}: {error}"
        if error is not None and not expose_details:
            error = "failed to load; the server log has the details"
        return {
            "arm": role,
            "name": config.name,
            "version": config.tag,
            "uuid": engine.handle.identity.uuid if engine is not None else None,
            "runtime": engine.handle.runtime if engine is not None else None,
            "status": self.status,
            "error": str(error) if error is not None else None,
            "answered": self.answered,
            "errors": self.errors,
            "quality": self.state.metrics.feedback.quality(),
        }


class Arms:
    """The champion and the challenger of one server: routing, shadow copies, per-arm
    figures, promotion and rollback. ``front`` is the server's own state: its prediction
    log and metrics carry both arms' records and counters."""

    def __init__(
        self,
        front: ServingState,
        challenger: ServingState,
        spec: VariantsSpec,
        *,
        preloaded: bool = False,
    ) -> None:
        """``preloaded``: the challenger was loaded before the server started (with
        workers sharing it, or a model process), or failed to; else it loads here."""
        self.front = front
        self.spec = spec
        self.champion = Arm(front)
        self.challenger = Arm(challenger)
        self._loaded = challenger  # the state this class loads, whatever its role now
        self._preloaded = preloaded
        self._loading: asyncio.Task[None] | None = None
        self._namespace: Namespace | None = None
        self.id_field = front.project.config.id_field
        self.key = key_of(spec, self.id_field)
        self.metrics = front.metrics.arms
        self.promotions = 0  # not yet rolled back
        self.dropped = 0
        self._copies: deque[_Copy] = deque()  # shadow copies waiting for the challenger
        self._copier: asyncio.Task[None] | None = None
        self._scoring: list[_Copy] = []  # the batch the copier is scoring
        self._shadowed = 0
        self._agreed = 0
        rule = spec.promote
        self.rule = PromotionRule(rule, paired=spec.mode == "shadow") if rule else None
        self._labelled = asyncio.Event()  # labels arrived since the rule last judged
        self._judging: asyncio.Task[None] | None = None
        self._pairing = 0  # which pair of arms: each promotion or rollback forms a new one
        pair = (_identified(front), _identified(challenger))
        self.shared = shared_promotions(spec.state, front.project.project_dir, pair)
        self._following: asyncio.Task[None] | None = None
        self._generation = 0  # of the shared standing this worker follows
        self._in_step = True
        # A model lost for good (its model process kept dying) stops the server when it
        # is the champion's, as without a challenger; a challenger's is reported failed.
        self._stop = front.on_load_failure
        front.on_load_failure = functools.partial(self._lost, front)
        challenger.on_load_failure = functools.partial(self._lost, challenger)

    def start(self) -> None:
        """Load the challenger in the background, once the champion has loaded; with a
        ``promote:`` rule, judge the labels as they arrive."""
        loop = asyncio.get_running_loop()
        if not self._preloaded:
            self._loading = loop.create_task(self._load_challenger())
        elif self._loaded.load_error is None:
            self._loaded.start()
        if self.rule is not None:
            self._judging = loop.create_task(self._judge_labels(self.rule))
        if self.shared is not None:
            self._following = loop.create_task(self._follow_shared(self.shared))

    def _lost(self, state: ServingState, error: BaseException) -> None:
        if state is not self.champion.state:
            log.error("the challenger %s stopped answering: %s", _named(state), error)
        elif self._stop is not None:
            self._stop(error)

    async def loaded(self) -> None:
        """Return once the challenger has loaded, failed to, or stopped loading (the
        arms closed): serve-repo loads one model at a time."""
        if self._loading is not None:
            await asyncio.wait({self._loading})

    async def _load_challenger(self) -> None:
        """Both projects often name their modules alike (``model.py``): the challenger
        loads after the champion (the champion's model thread runs its background load
        first, so a no-op queued behind it returns when it is done), and imports its
        folder's modules in a namespace of its own, as serve-repo's models do."""
        await self.front.runtime.run(lambda: None)
        state = self._loaded
        project = state.project
        namespace = None
        try:
            with own_namespace(project.project_dir, project.src_dir) as namespace:
                await state.load()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # sys.exit in the challenger's code too: not the server's
            state.load_error = exc
            log.error(
                "the challenger %s failed to load; the champion serves alone: %s",
                project.config.name,
                exc,
            )
            if namespace is not None:
                namespace.release()
            return
        self._namespace = namespace
        state.start()

    async def infer(
        self, records: list[Record], *, proba: bool, exchange: Exchange | None
    ) -> list[Record]:
        """Answer with the arm the request falls on; in shadow, hand the challenger a copy."""
        champion, challenger = self.champion, self.challenger  # the arms this request keeps
        arm, role = champion, CHAMPION
        canary = self.spec.mode == "canary" and challenger.status == "ready"
        if canary and self._to_challenger(records, exchange):
            arm, role = challenger, CHALLENGER
        if exchange is not None:  # its records name the arm, a failure's too
            exchange.origin = arm.origin(role)
        try:
            outputs = await arm.state.predict(records, proba=proba, exchange=exchange)
        except NervosumError:
            self._failed(arm, role)
            raise
        self._answered(arm, role, len(outputs))
        arm.state.observe(records, outputs)  # each model's drift against its reference
        if exchange is not None:
            exchange.outputs = outputs
            arm.state.remember(exchange)
        if self.spec.mode == "shadow" and challenger.status == "ready":
            self._shadow(challenger, records, proba, outputs, exchange)
        return outputs

    def _to_challenger(self, records: list[Record], exchange: Exchange | None) -> bool:
        headers = exchange.headers if exchange is not None else ()
        key = routing_key(self.key, records, headers, self.id_field)
        if key is None:
            return random.random() < self.spec.share
        return in_canary(key, self.spec.share)

    def _answered(self, arm: Arm, role: str, rows: int) -> None:
        arm.answered += rows
        config = arm.state.project.config
        self.metrics.answered(role, config.name, config.tag, rows)

    def _failed(self, arm: Arm, role: str) -> None:
        arm.errors += 1
        self.metrics.failed(role)

    def _shadow(
        self,
        arm: Arm,
        records: list[Record],
        proba: bool,
        answered: list[Record],
        exchange: Exchange | None,
    ) -> None:
        """Queue a copy for ``arm``, unless ``shadow_queue`` copies already wait: then the
        copy is dropped and counted. One copier task scores the queue in batches: a task
        per request cost the champion a third of its throughput."""
        if len(self._copies) >= self.spec.shadow_queue:
            self.dropped += 1
            self.metrics.dropped()
            return
        self._copies.append(_Copy(arm, records, answered, exchange, proba))
        if self._copier is None or self._copier.done():
            self._copier = asyncio.get_running_loop().create_task(self._score_copies())

    async def _score_copies(self) -> None:
        """Score the queued copies, one model call per batch (copies for one arm, up to
        its ``batching.max_batch_size`` rows) within ``server.timeout``, until the queue
        is empty. Nothing a copy does ends the copier: it is counted and logged."""
        while self._copies:
            batch = self._scoring = self._take_copies()
            runtime = batch[0].arm.state.runtime
            groups = [copy.records for copy in batch]
            proba = any(copy.proba for copy in batch)
            try:
                async with asyncio.timeout(runtime.timeout):
                    answers = await runtime.predict_groups(groups, proba=proba)
            except TimeoutError:
                answers = [timed_out(runtime.timeout)] * len(batch)
            except Exception as exc:  # the call itself broke: every copy of it failed
                answers = [_as_error(exc)] * len(batch)
            for copy, answer in zip(batch, answers, strict=True):
                try:
                    self._scored(copy, answer if copy.proba else _without_probabilities(answer))
                except Exception:  # a nervosum bug: this copy is lost, not the queue
                    error_id = new_error_id()
                    log.exception("scoring a shadow copy failed [error id %s]", error_id)
                    self._failed(copy.arm, CHALLENGER)
            self._scoring = []

    def _take_copies(self) -> list[_Copy]:
        first = self._copies.popleft()
        batch, rows = [first], len(first.records)
        most = first.arm.state.project.config.batching.max_batch_size
        while self._copies and self._copies[0].arm is first.arm:
            if rows + len(self._copies[0].records) > most:
                break
            rows += len(self._copies[0].records)
            batch.append(self._copies.popleft())
        return batch

    def _scored(self, copy: _Copy, answer: list[Record] | NervosumError) -> None:
        """A copy's answer: counted, compared with the champion's, remembered for
        feedback and logged under the request's id. A failure is counted and logged with
        its error id; the client never sees either."""
        arm, original = copy.arm, copy.exchange
        runtime = self.front.runtime
        if isinstance(answer, NervosumError):
            self._failed(arm, CHALLENGER)
            answer.error_id = answer.error_id or new_error_id()
            log.warning(
                "shadow copy failed on the challenger [error id %s]: %s", answer.error_id, answer
            )
            if original is not None:
                failed = self._copy(arm, original, copy.records)
                runtime.log(runtime.failed_records(failed, answer, copy.records))
            return
        self._answered(arm, CHALLENGER, len(answer))
        self._agree(copy.answered, answer)
        if original is not None:
            scored = self._copy(arm, original, copy.records)
            scored.outputs = answer
            arm.state.remember(scored)
            runtime.log(runtime.answered_records(scored))

    @staticmethod
    def _copy(arm: Arm, original: Exchange, records: list[Record]) -> Exchange:
        """The challenger's exchange for a shadow copy: the request's id, route and start."""
        origin = arm.origin(CHALLENGER)
        return Exchange(
            original.request_id,
            original.route,
            started=original.started,
            inputs=records,
            origin=origin,
        )

    def _agree(self, champion: list[Record], challenger: list[Record]) -> None:
        """Count the rows both arms predicted alike; the agreement gauge is their share."""
        field = self.id_field
        self._shadowed += len(champion)
        self._agreed += sum(
            predicted_value(a, field) == predicted_value(b, field)
            for a, b in zip(champion, challenger, strict=False)
        )
        if self._shadowed:
            self.metrics.agreement(self._agreed / self._shadowed)

    def grade(self, items: list[Record]) -> dict[str, int]:
        """Grade both arms' remembered predictions; how many labels matched each. Each
        arm's live figures go to ``<prefix>_arm_quality`` at once, and the rule (if any)
        gets the grades."""
        trackers = self.champion.state.metrics.feedback, self.challenger.state.metrics.feedback
        champion, challenger = trackers[0].grades(items), trackers[1].grades(items)
        self._show_quality()
        kind = trackers[0].kind or trackers[1].kind  # canary: one arm may have none yet
        if self.rule is not None and kind is not None:
            self.rule.add(champion, challenger, kind)
            self._labelled.set()
        return {
            CHAMPION: len(items) - champion.count(None),
            CHALLENGER: len(items) - challenger.count(None),
        }

    async def _judge_labels(self, rule: PromotionRule) -> None:
        """Judge the pair whenever labels arrived, at most every ``JUDGE_EVERY`` seconds
        (the test runs on a thread), and promote when the rule says so. A judgement
        that finds the arms swapped meanwhile is dropped: it was of another pair."""
        while True:
            await self._labelled.wait()
            self._labelled.clear()
            if self.challenger.status == "ready" and rule.shortfall() is None:
                pairing = self._pairing
                try:
                    judgement = await asyncio.to_thread(rule.judge, rule.sample())
                except Exception:  # a nervosum bug: the rule stops, the server does not
                    log.exception("the promote rule failed [error id %s]", new_error_id())
                    return
                if pairing == self._pairing:
                    rule.last = judgement
                    if judgement.promote:
                        self._promote_by_rule(judgement, pairing)
            await asyncio.sleep(JUDGE_EVERY)

    def _promote_by_rule(self, judgement: Judgement, pairing: int) -> None:
        """Promote on the rule's judgement, unless the pair changed meanwhile (another
        worker promoted or rolled back: the judgement was of another pair)."""

        def still_judged() -> None:
            if pairing != self._pairing:
                raise ConflictError("the pair changed while the rule judged it")
            self._check_promotable()

        try:
            self._change(+1, still_judged)
        except ConflictError:
            return
        except NervosumError as exc:  # the state file: logged, and the rule goes on
            exc.error_id = exc.error_id or new_error_id()
            log.error("the promote rule could not promote [error id %s]: %s", exc.error_id, exc)
            return
        self._audit("promote", "the promote rule (variants.promote)", judgement)

    async def _follow_shared(self, shared: SharedPromotions) -> None:
        """Follow the promotions other workers make (and, at start, the one a restart
        keeps), a read of a small file every ``FOLLOW_EVERY`` seconds."""
        while True:
            self._in_step = self._follow(shared.read())
            await asyncio.sleep(FOLLOW_EVERY)

    def _follow(self, found: Standing | None) -> bool:
        """Take the shared standing, if it changed: swap when it says the other model is
        the champion; a new pair all the same when it was promoted and rolled back in
        between. Only once both models answer: whether this worker is in step."""
        if found is None or found.generation == self._generation:
            return True
        if self._loaded.engine is None or self.front.engine is None:
            return False
        if (found.promotions - self.promotions) % 2:
            self._swap()
        else:
            self._new_pair()
        self.promotions, self._generation = found.promotions, found.generation
        log.info("following the promotion state: the champion is %s", _named(self.champion.state))
        return True

    def _change(self, by: int, check: Callable[[], None]) -> None:
        """Promote (+1) or roll back (-1) once ``check`` passes. With a shared state: under
        its lock, caught up with it first, and written before the swap, so a write that
        fails changes nothing and a worker that cannot catch up does not act."""
        shared = self.shared
        if shared is None:
            check()
            self._step(by)
            return
        with shared.locked():
            if not self._follow(shared.read()):
                raise ConflictError(
                    "this worker has not caught up with the promotion state: one of its"
                    " models is not answering yet",
                    hint="retry in a moment; GET /-/arms shows each arm's status",
                )
            check()
            standing = Standing(self.promotions + by, self._generation + 1)
            try:
                shared.write(standing)
            except OSError as exc:
                raise NervosumError(
                    f"the promotion could not be kept in {shared.path}: {exc}; nothing changed",
                    hint="check the disk and the folder's permissions, then try again",
                ) from None
            self._step(by)
            self._generation = standing.generation

    def _step(self, by: int) -> None:
        self._swap()
        self.promotions += by

    def _show_quality(self) -> None:
        """Each arm's live figures in ``<prefix>_arm_quality``, under its role now."""
        for role, arm in ((CHAMPION, self.champion), (CHALLENGER, self.challenger)):
            config = arm.state.project.config
            quality = arm.state.metrics.feedback.quality()
            self.metrics.quality(role, config.name, config.tag, quality)

    def report(self) -> Record:
        """``GET /-/arms``: the mode, the split, and each arm's figures."""
        shadowed = self._shadowed
        return {
            "mode": self.spec.mode,
            "share": self.spec.share if self.spec.mode == "canary" else None,
            "key": self.key,
            "agreement": self._agreed / shadowed if shadowed else None,
            "shadowed": shadowed,
            "shadow_dropped": self.dropped,
            "promotions": self.promotions,
            "in_step": self._in_step if self.shared is not None else None,
            "rule": self.rule.describe() if self.rule is not None else None,
            "arms": [
                self._describe(self.champion, CHAMPION),
                self._describe(self.challenger, CHALLENGER),
            ],
        }

    def _describe(self, arm: Arm, role: str) -> Record:
        return arm.describe(role, expose_details=self.front.expose_details)

    def promote(self, who: str) -> Record:
        """Make the challenger the champion; a 409 naming why when it cannot be."""
        self._change(+1, self._check_promotable)
        return self._audit("promote", who)

    def _check_promotable(self) -> None:
        challenger = self.challenger
        if challenger.status != "ready":
            name = challenger.state.project.config.name
            why = "is still loading" if challenger.status == "loading" else "failed to load"
            raise ConflictError(
                f"the challenger {name} {why}: nothing to promote",
                hint="see GET /-/arms for its status and error",
            )
        waiting = self.rule.shortfall() if self.rule is not None else None
        if waiting is not None:
            raise ConflictError(waiting, hint="see GET /-/arms for the rule's figures")

    def rollback(self, who: str) -> Record:
        """Undo the last promotion; a 409 when there is none to undo."""

        def promoted() -> None:
            if not self.promotions:
                raise ConflictError("no promotion to roll back", hint="POST /-/promote first")

        self._change(-1, promoted)
        return self._audit("rollback", who)

    def _swap(self) -> None:
        # One assignment on the event loop: requests that started keep the arms they took.
        self.champion, self.challenger = self.challenger, self.champion
        self._new_pair()

    def _new_pair(self) -> None:
        """The figures of a pair start again: agreement, the rule's rows and judgement."""
        self._shadowed = self._agreed = 0
        self._pairing += 1
        if self.rule is not None:
            self.rule.reset()
        self.metrics.agreement(float("nan"))  # not known yet for this pair
        self._show_quality()  # each role's figures are now the other model's

    def _audit(self, action: str, who: str, judgement: Judgement | None = None) -> Record:
        """The promotion's audit record, in the prediction log and the server log; a
        rule's promotion carries the judgement that made it."""
        champion = self._describe(self.champion, CHAMPION)
        challenger = self._describe(self.challenger, CHALLENGER)
        record = promotion_record(action, who, champion, challenger)
        if judgement is not None:
            record["judgement"] = judgement.as_dict()
        self.front.runtime.log([record])
        log.warning(
            "%s by %s: the champion is now %s %s (%s)%s",
            action,
            who,
            champion["name"],
            champion["version"],
            champion["uuid"],
            f": {judgement.why}" if judgement is not None else "",
        )
        return self.report()

    async def close(self) -> None:
        """Let the shadow copies in progress finish, then release the challenger's model
        (the server releases its own)."""
        for task in (self._loading, self._judging, self._following):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        copier = self._copier
        if copier is not None and not copier.done():  # bounded: the log is flushed after
            await asyncio.wait({copier}, timeout=self.front.settings.graceful_timeout)
            copier.cancel()
            await asyncio.gather(copier, return_exceptions=True)
        for _ in (*self._scoring, *self._copies):  # not scored in time: dropped
            self.dropped += 1
            self.metrics.dropped()
        self._scoring, self._copies = [], deque()
        await self._loaded.shutdown()
        engine = self._loaded.runtime.engine
        if isinstance(engine, RemoteEngine):  # the server closes only its own
            await asyncio.to_thread(engine.close)
        if self._namespace is not None:
            self._namespace.release()


def _named(state: ServingState) -> str:
    config = state.project.config
    return f"{config.name}:{config.tag}"


def _identified(state: ServingState) -> str:
    """A model of the pair in the promotion state: its name, tag and where it was read
    from (a new model at the same place, with the same name and tag, is taken for it)."""
    return f"{_named(state)} ({state.project.shown})"


def serve_both(
    front: ServingState,
    spec: VariantsSpec,
    preloaded: Preloaded | None = None,
    *,
    project: Project | None = None,
) -> Arms:
    """Arms for ``front`` and the challenger ``spec`` names (its config is read now, so a
    wrong path stops the server before it listens), or ``project`` when the caller read
    it. Its model loads with the server, unless ``preloaded`` is the challenger loaded
    before the server started, or why it failed to load."""
    if spec.promote is not None:  # the rule's tests need scipy: say so before serving
        significance.require_scipy()
    if preloaded is not None:
        project = preloaded.project
    project = project or challenger_project(front.project, spec)
    model = preloaded.model if preloaded is not None else None
    engine = model if isinstance(model, Engine) else None
    challenger = ServingState(project, front.settings, engine=engine, debug=front.debug)
    if isinstance(model, BaseException):
        challenger.load_error = model
    refuse_unusable_state(front.project)
    return Arms(front, challenger, spec, preloaded=preloaded is not None)
