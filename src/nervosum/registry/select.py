"""Finding bundles: `ls -f key=value` filters, `run -n/-t/--id` and `name:tag` references.

The seed's filters were lambdas bound late, so every `-f` used the last one; here each
filter is a value and all of them must match (AND). Values match exactly, or as globs
when they contain `*`, `?` or `[`; `id` matches a prefix of the content id.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from nervosum.errors import RegistryError, RequestError
from nervosum.registry.store import Entry

FILTER_KEYS = ("id", "name", "tag", "mode")


@dataclass(frozen=True)
class Filter:
    """One `key=value` condition on a registry entry."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Filter:
        """``key=value`` (``key==value`` too); anything else names the allowed keys."""
        key, sep, value = text.partition("=")
        key = key.strip().lower()
        value = value.removeprefix("=").strip()
        allowed = ", ".join(FILTER_KEYS)
        if not sep or not key or not value:
            raise RequestError(
                f"filter {text!r} is not key=value", hint=f"e.g. -f name=iris; keys: {allowed}"
            )
        if key not in FILTER_KEYS:
            close = difflib.get_close_matches(key, FILTER_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? keys: {allowed}" if close else f"keys: {allowed}"
            raise RequestError(f"unknown filter key {key!r}", hint=hint)
        if key == "name":
            value = value.lower()
        return cls(key, value)

    def matches(self, entry: Entry) -> bool:
        actual = {"id": entry.id, "name": entry.name, "tag": entry.tag, "mode": entry.mode}[
            self.key
        ]
        if self.key == "id" and not _is_glob(self.value):
            return actual.startswith(self.value.lower())
        if _is_glob(self.value):
            return fnmatch.fnmatchcase(actual, self.value)
        return actual == self.value


def _is_glob(value: str) -> bool:
    return any(char in value for char in "*?[")


def apply_filters(entries: Iterable[Entry], filters: Iterable[Filter]) -> list[Entry]:
    """The entries every filter matches, in the order given (newest first)."""
    conditions = list(filters)
    return [entry for entry in entries if all(f.matches(entry) for f in conditions)]


def _no_match(entries: list[Entry], filters: list[Filter]) -> RegistryError:
    if not entries:
        return RegistryError(
            "the registry is empty", hint="build a bundle first: nervosum build DIR"
        )
    asked = " ".join(f"{f.key}={f.value}" for f in filters)
    # Tags are suggested among the bundles of the asked name, when that name exists.
    same_name = apply_filters(entries, [f for f in filters if f.key == "name"])
    hints: list[str] = []
    for key, pool in (("name", [] if same_name else entries), ("tag", same_name or entries)):
        wanted = next((f.value for f in filters if f.key == key), None)
        if wanted is None or not pool:
            continue
        known = sorted({getattr(entry, key) for entry in pool})
        close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.4) or known[:5]
        hints.append(f"{key}s: {', '.join(sorted(close))}")
    hint = "; ".join(hints) or "see nervosum ls"
    return RegistryError(f"no bundle matches {asked}", hint=hint)


def select_newest(entries: list[Entry], filters: list[Filter]) -> Entry:
    """The newest entry matching every filter, or an error naming what exists."""
    found = apply_filters(entries, filters)
    if not found:
        raise _no_match(entries, filters)
    return found[0]


def resolve_reference(entries: list[Entry], reference: str) -> Entry:
    """`name:tag`, `name` (its newest bundle) or an id prefix, as `inspect`/`rm` take them."""
    name, sep, tag = reference.partition(":")
    filters = [Filter.parse(f"name={name}")]
    if sep:
        filters.append(Filter.parse(f"tag={tag}"))
    by_name = apply_filters(entries, filters)
    if by_name:
        return by_name[0]
    if not sep and all(char in "0123456789abcdef" for char in reference.lower()):
        by_id = apply_filters(entries, [Filter("id", reference.lower())])
        if len(by_id) > 1:
            raise RequestError(
                f"id prefix {reference!r} matches {len(by_id)} bundles",
                hint="give more characters of the id",
            )
        if by_id:
            return by_id[0]
    return select_newest(entries, filters)
