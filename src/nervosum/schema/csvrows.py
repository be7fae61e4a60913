"""Rows from CSV text with a header row, every unreadable line named.

``csv.DictReader`` files values beyond the header under the key ``None`` (which the
record validator then reports as ``0.None: Keys should be strings``) and raises a bare
``csv.Error`` for a field over the csv module's size limit; here both are client errors
that name the line.
"""

from __future__ import annotations

import csv
import io

from nervosum.errors import InputValidationError, PayloadTooLargeError, RequestError


def csv_rows(text: str) -> list[dict[str, str]]:
    """One dict per data line, keyed by the header; an empty cell is left out, so an
    optional field takes its default. Blank lines are skipped."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if not header:
            raise RequestError(
                "the CSV input has no header row", hint="the first line names the columns"
            )
        rows: list[dict[str, str]] = []
        for values in reader:
            if not values:
                continue
            if len(values) > len(header):
                raise _too_many_values(len(rows), reader.line_num, len(values), len(header))
            # A short line leaves its last fields missing, as DictReader did.
            cells = zip(header, values, strict=False)
            rows.append({name: value for name, value in cells if value != ""})
    except csv.Error as exc:
        raise _unreadable(exc, reader.line_num) from None
    return rows


def _too_many_values(row: int, line: int, count: int, columns: int) -> InputValidationError:
    message = f"CSV line {line} has {count} values; the header names {columns} columns"
    return InputValidationError(
        message,
        hint="quote values that contain commas",
        details=[{"loc": [row], "msg": message, "type": "csv_extra_values"}],
    )


def _unreadable(exc: csv.Error, line: int) -> RequestError:
    if "field larger than field limit" in str(exc):
        return PayloadTooLargeError(
            f"CSV line {line} holds a field over the {csv.field_size_limit()} character limit",
            hint="send long values as JSON (content-type: application/json)",
        )
    return RequestError(f"CSV line {line} cannot be read: {exc}")
