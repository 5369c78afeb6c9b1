"""Leaf operators: each turns (field type, YAML value) into a test ``(value, now) -> (value, match) | None``.

All checking happens here, at load: an operator that does not apply to the field's type, or a value of the
wrong type, raises ValueError with a message for the rule author. The returned closures only compare.

A missing value (None: the field is absent, or an object on the path is) matches nothing but ``missing``,
``blank`` and ``exists: false``; negated operators (``not_equals``, ``not_in``, ``not_text``, ``not_domain``,
``not_scheme``) also need a present value: "present and not ...".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from service.core.rules.leaf_tests import compare, domain, length, negated, presence, relative, scheme
from service.core.rules.paths import FieldType, LeafTest
from service.core.rules.text import MODES, compile_text

Terms = Callable[[Any], list[Any]]  # expands a value or list (with {list: name} items) into a flat list

NEGATABLE = ("equals", "in", "text", "domain", "scheme")
_DURATION = re.compile(r"\s*(\d{1,9})\s*(second|minute|hour|day|week)s?\s*")
_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


def check_scalar(ftype: FieldType, raw: Any) -> Any:
    """``raw`` as a value comparable with the field, or ValueError."""
    kind = ftype.kind
    if kind == "datetime":
        return moment(raw)
    ok = {"str": str, "int": int, "bool": bool}.get(kind)
    if ok is None:
        hint = "use [any]/[all] to test its items, or length" if kind == "list" else "name one of its fields"
        raise ValueError(f"cannot compare a {ftype.describe()} with a value; {hint}")
    if not isinstance(raw, ok) or (kind == "int" and isinstance(raw, bool)):
        raise ValueError(f"expected a {kind} to compare with this {kind} field, got {raw!r}")
    return raw


def moment(raw: Any) -> datetime:
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an ISO 8601 date-time") from None
    if not isinstance(raw, datetime) or raw.tzinfo is None:
        raise ValueError(f"expected a date-time with a timezone (e.g. 2020-05-08T04:01:00Z), got {raw!r}")
    return raw


def duration(raw: Any) -> timedelta:
    found = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    if found is None:
        raise ValueError(f"expected a duration such as '30 days' (seconds..weeks), got {raw!r}")
    try:
        return timedelta(**{found.group(2) + "s": int(found.group(1))})
    except OverflowError:
        raise ValueError(f"the duration {raw!r} is too long") from None


def compile_operator(
    op: str, ftype: FieldType, raw: Any, terms: Terms, modifiers: dict[str, Any]
) -> LeafTest:
    if op.startswith("not_") and op[4:] in NEGATABLE:
        return negated(compile_operator(op[4:], ftype, raw, terms, modifiers))
    if op == "text":
        _need(ftype, "str", op)
        words = [_text_term(t) for t in terms(raw)]
        mode = modifiers.get("match", "word")
        if mode not in MODES:
            raise ValueError(f"`match` must be one of {', '.join(MODES)}, got {mode!r}")
        case_sensitive = modifiers.get("case_sensitive", False)
        if not isinstance(case_sensitive, bool):
            raise ValueError(f"`case_sensitive` must be true or false, got {case_sensitive!r}")
        return compile_text(words, mode, case_sensitive)
    if modifiers:
        raise ValueError(f"{', '.join(modifiers)} only apply to `text`")
    if op in ("exists", "missing", "blank"):
        if not isinstance(raw, bool):
            raise ValueError(f"`{op}` takes true or false, got {raw!r}")
        return presence(op, raw)
    if op == "equals":
        target = check_scalar(ftype, raw)
        return lambda v, now: (v, v) if v is not None and v == target else None
    if op == "in":
        options = frozenset(check_scalar(ftype, item) for item in terms(raw))
        return lambda v, now: (v, v) if v is not None and v in options else None
    if op in ("gt", "gte", "lt", "lte"):
        _need(ftype, "int", op)
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ValueError(f"`{op}` needs a number, got {raw!r}")
        return compare(op, raw)
    if op in ("before", "after"):
        _need(ftype, "datetime", op)
        return compare("lt" if op == "before" else "gt", moment(raw))
    if op in ("older_than", "newer_than", "future_by"):
        _need(ftype, "datetime", op)
        return relative(op, duration(raw))
    if op == "length":
        return length(ftype, raw)
    if op == "domain":
        _need(ftype, "str", op)
        return domain(frozenset(_clean(t, _DOMAIN, "domain", strip=".") for t in terms(raw)))
    if op == "scheme":
        _need(ftype, "str", op)
        return scheme(frozenset(_clean(t, _SCHEME, "URL scheme") for t in terms(raw)))
    raise ValueError(f"unknown operator {op!r}")


def _need(ftype: FieldType, kind: str, op: str) -> None:
    if ftype.kind != kind:
        hint = "; use [any] or [all] to test its items" if ftype.kind == "list" else ""
        raise ValueError(f"`{op}` applies to {kind} fields, this field is a {ftype.describe()}{hint}")


def _text_term(term: Any) -> str:
    if not isinstance(term, str) or not term.strip():
        raise ValueError(f"text terms must be non-empty strings, got {term!r}")
    return term


def _clean(term: Any, shape: re.Pattern[str], what: str, strip: str = "") -> str:
    cleaned = term.strip().lower().rstrip(strip) if isinstance(term, str) else None
    if cleaned is None or not shape.fullmatch(cleaned):
        raise ValueError(f"expected a {what}, got {term!r}")
    return cleaned
