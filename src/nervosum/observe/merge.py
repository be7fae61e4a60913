"""Several registries as one Prometheus exposition.

A multi-model server gives every model its own :class:`~nervosum.observe.metrics.HttpMetrics`
(its counters carry over when a refresh replaces the model, and go when it is removed),
so ``/metrics`` must show many registries as one valid page: one ``# HELP`` / ``# TYPE``
per family, every model's samples under it. Samples that are the same series in two
registries (a family without a ``model`` label, e.g. the prediction log's counters per
sink) are added up; their ``_created`` timestamps keep the earliest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

log = logging.getLogger("nervosum.metrics")

SampleKey = tuple[str, tuple[tuple[str, str], ...]]

_warned: set[tuple[str, str, str]] = set()  # every scrape merges again: say it once


class _Merged:
    """A collector that yields the merged families (built once per scrape)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _combine(kept: Sample, new: Sample) -> Sample:
    if kept.name.endswith("_created"):
        return kept._replace(value=min(kept.value, new.value))
    return kept._replace(value=kept.value + new.value)


def _warn_once(name: str, kept: str, left_out: str) -> None:
    if (name, kept, left_out) in _warned:
        return
    _warned.add((name, kept, left_out))
    log.warning(
        "metric %s is a %s in one model and a %s in another; the %s samples are left out"
        " (set metrics.predictions to one kind in every model)",
        name,
        kept,
        left_out,
        left_out,
    )


def merge_families(registries: Iterable[CollectorRegistry]) -> list[Metric]:
    """Every family of ``registries`` once, with their samples merged.

    Two registries may disagree on a family's type (one model's predictions are a class
    counter, another's a value histogram, under the same name): the first type is kept
    and the other samples are left out, with a warning, since a page with both would
    not parse.
    """
    merged: dict[str, Metric] = {}
    samples: dict[str, dict[SampleKey, Sample]] = {}
    for registry in registries:
        for family in registry.collect():
            kept = merged.get(family.name)
            if kept is None:
                kept = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
                samples[family.name] = {}
            elif kept.type != family.type:
                _warn_once(family.name, kept.type, family.type)
                continue
            series = samples[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                previous = series.get(key)
                series[key] = sample if previous is None else _combine(previous, sample)
    for name, family in merged.items():
        family.samples = list(samples[name].values())
    return list(merged.values())


def merged_exposition(registries: Iterable[CollectorRegistry]) -> bytes:
    """The text format of ``registries`` as if they were one."""
    page = CollectorRegistry(auto_describe=False)
    collector: Any = _Merged(merge_families(registries))
    page.register(collector)
    return generate_latest(page)
