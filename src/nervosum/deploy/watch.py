"""What a dashboard and alert rules can watch on one model: read from its nervosum.yaml,
so every panel and rule names a family the server really exports for that project
(docs/observability.md): prediction classes or a value histogram, live drift only with a
reference (``monitoring.reference``, or a profile kept beside the model), the prediction
log only with ``logging:``, arms only with a challenger.

The same project run by ``nervosum stream`` exports other families (messages, lag,
batches; no HTTP traffic, readiness gauge, feedback or arms): ``runtime`` says which
process is watched. ``repo_watch.py`` gathers the facts of a whole model repository."""

from __future__ import annotations

from dataclasses import dataclass

from nervosum.config import NervosumConfig, Project
from nervosum.config.alerts import AlertsSpec
from nervosum.observe.metrics import DEFAULT_PREFIX

SERVER = "serve"
STREAM = "stream"
REPO = "serve-repo"

CLASSES = "classes"
HISTOGRAM = "histogram"
# metrics.predictions: auto, when the first output's type says nothing, may become either.
_FORCED = {"classes": (CLASSES,), "histogram": (HISTOGRAM,), "off": ()}


@dataclass(frozen=True)
class Watched:
    """The facts the renderers need; ``predictions`` holds ``classes``, ``histogram``,
    both (the server decides from the first answer) or neither (``metrics.predictions:
    off``)."""

    model: str  # the ``model`` label's value; serve-repo: its base URL (its own row)
    prefix: str
    predictions: tuple[str, ...]
    drift: bool
    logging: bool
    arms: bool
    alerts: AlertsSpec
    runtime: str = SERVER

    @property
    def suffix(self) -> str:
        """The runtime when it is not the HTTP server: a model served and streamed gets
        two dashboards and two groups, which must not share a name or a uid."""
        return {SERVER: "", STREAM: "-stream", REPO: "-repo"}[self.runtime]

    @property
    def name(self) -> str:
        """What the dashboard and the rules' group are called: the model and
        :attr:`suffix`."""
        return self.model + self.suffix

    def metric(self, name: str) -> str:
        """``<prefix>_<name>``."""
        return f"{self.prefix}_{name}"


def watched(source: Project | NervosumConfig, runtime: str = SERVER) -> Watched:
    """The facts of ``source`` run by ``runtime`` (``serve`` or ``stream``). The prefix is
    ``metrics.prefix`` or nervosum's default: a prefix set only in the server's
    environment is not known here (set it in the file). Only a project's folder tells
    whether a reference profile is kept there; a bare config has live drift only with
    ``monitoring.reference``."""
    from nervosum.drift.profile import kept_profile  # numpy, pandas: only when called

    config = source.config if isinstance(source, Project) else source
    kept = isinstance(source, Project) and kept_profile(source) is not None
    return Watched(
        model=config.name,
        prefix=config.metrics.prefix or DEFAULT_PREFIX,
        predictions=_predictions(config),
        drift=config.monitoring.reference is not None or kept,
        logging=config.logging is not None,
        arms=config.variants is not None and runtime != STREAM,  # a worker has no arms
        alerts=config.monitoring.alerts,
        runtime=runtime,
    )


def _predictions(config: NervosumConfig) -> tuple[str, ...]:
    """As the server picks (observe/predictions.py): forced by ``metrics.predictions``,
    else by the first output's type (float: a histogram), else either."""
    kind = config.metrics.predictions
    if kind in _FORCED:
        return _FORCED[kind]
    if not config.output_schema:
        return (CLASSES, HISTOGRAM)
    return (HISTOGRAM,) if config.output_schema[0].type == "float" else (CLASSES,)
