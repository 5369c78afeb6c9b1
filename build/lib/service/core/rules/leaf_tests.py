"""Leaf tests: the closures that compare one value, ``(value, now) -> (value, match) | None``.

Built by ``operators.compile_operator`` after it checked the operator (``length`` checks its own bounds).
A None value (missing field) never matches, except for the presence tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from service.core.rules.paths import FieldType, LeafTest

_LENGTH_OPS = ("eq", "gt", "gte", "lt", "lte")


def negated(test: LeafTest) -> LeafTest:
    return lambda v, now: (v, None) if v is not None and test(v, now) is None else None


def presence(op: str, want: bool) -> LeafTest:
    if op == "blank":
        return lambda v, now: (v, None) if is_blank(v) is want else None
    present = want if op == "exists" else not want
    return lambda v, now: (v, None) if (v is not None) is present else None


def is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, tuple) and not v)


def compare(op: str, bound: Any) -> LeafTest:
    checks = {
        "gt": lambda v, now: (v, v) if v is not None and v > bound else None,
        "gte": lambda v, now: (v, v) if v is not None and v >= bound else None,
        "lt": lambda v, now: (v, v) if v is not None and v < bound else None,
        "lte": lambda v, now: (v, v) if v is not None and v <= bound else None,
    }
    return checks[op]


def relative(op: str, span: timedelta) -> LeafTest:
    # Differences, not now +/- span: the difference of two datetimes always fits a timedelta, while a record
    # time near year 9999 plus an hour does not fit a datetime.
    if op == "older_than":
        return lambda v, now: (v, v) if v is not None and now - v > span else None
    if op == "newer_than":
        return lambda v, now: (v, v) if v is not None and now - v < span else None
    return lambda v, now: (v, v) if v is not None and v - now > span else None


def length(ftype: FieldType, raw: Any) -> LeafTest:
    if ftype.kind not in ("str", "list"):
        raise ValueError(f"`length` applies to text and list fields, this field is a {ftype.describe()}")
    if not isinstance(raw, dict) or not raw or set(raw) - set(_LENGTH_OPS):
        raise ValueError(f"`length` takes a mapping of {', '.join(_LENGTH_OPS)} to numbers, got {raw!r}")
    low, high = 0, float("inf")
    for op, n in raw.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"length {op} needs a whole number >= 0, got {n!r}")
        low = max(low, {"eq": n, "gt": n + 1, "gte": n}.get(op, low))
        high = min(high, {"eq": n, "lt": n - 1, "lte": n}.get(op, high))
    if low > high:
        raise ValueError(f"length {dict(raw)} can never hold")
    return lambda v, now: (v, len(v)) if v is not None and low <= len(v) <= high else None


def domain(domains: frozenset[str]) -> LeafTest:
    def domain(v: Any, now: datetime) -> tuple[Any, Any] | None:
        if v is None:
            return None
        try:
            host = ((urlsplit(v).hostname or "") if "://" in v else v.lower()).rstrip(".")
        except ValueError:  # free text that only looks like a URL, e.g. "http://[oops"
            return None
        while host:
            if host in domains:
                return (v, host)
            host = host.partition(".")[2]
        return None

    return domain


def scheme(schemes: frozenset[str]) -> LeafTest:
    def scheme(v: Any, now: datetime) -> tuple[Any, Any] | None:
        if v is None:
            return None
        found = v.partition(":")[0].lower() if ":" in v else ""
        return (v, found) if found in schemes else None

    return scheme
