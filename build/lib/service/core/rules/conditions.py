"""Conditions: the `when:` tree of a rule, compiled to nested closures.

    condition := {all: [condition, ...]}     every one holds
               | {any: [condition, ...]}     at least one holds (evaluated in order, stops at the first)
               | {not: condition}            the condition does not hold
               | {field: PATH, OPERATOR: VALUE [, match: MODE] [, case_sensitive: BOOL]}

A combinator stands alone in its mapping; a leaf names exactly one operator. Problems are reported to the
``Context`` (with the line of the offending key) and compilation goes on, so one load lists every mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from service.core.article import Article
from service.core.rules.model import NO_FIELD_HIT, Hit, Predicate
from service.core.rules.operators import NEGATABLE, compile_operator
from service.core.rules.paths import compile_path, parse_path
from service.core.rules.yamltree import YList, YMap

COMBINATORS = ("all", "any", "not")
MODIFIERS = ("match", "case_sensitive")
OPERATORS = (
    "equals", "in", "gt", "gte", "lt", "lte", "before", "after", "older_than", "newer_than", "future_by",
    "length", "exists", "missing", "blank", "text", "domain", "scheme",
    *(f"not_{op}" for op in NEGATABLE),
)  # fmt: skip


class Context:
    """Where problems go while a file compiles: ``report(line, message)`` tags them with the current rule."""

    def __init__(self, report: Callable[[int | None, str], None], lists: dict[str, list[str]]) -> None:
        self.report = report
        self.lists = lists


def compile_condition(node: Any, line: int, ctx: Context) -> Predicate | None:
    """The predicate for ``node``, or None after reporting why it cannot be compiled."""
    if not isinstance(node, YMap) or not node:
        ctx.report(line, "a condition is a mapping: all/any/not, or field plus one operator")
        return None
    combinators = [key for key in node if key in COMBINATORS]
    if combinators:
        if len(node) != 1:
            found = ", ".join(node)
            ctx.report(node.line, f"`{combinators[0]}` must stand alone in its mapping, found {found}")
            return None
        key = combinators[0]
        if key == "not":
            child = compile_condition(node["not"], node.lines["not"], ctx)
            return None if child is None else _not(child)
        return _combine(key, node[key], node.lines[key], ctx)
    return _leaf(node, ctx)


def _combine(key: str, items: Any, line: int, ctx: Context) -> Predicate | None:
    if not isinstance(items, YList) or not items:
        ctx.report(line, f"`{key}` takes a non-empty list of conditions")
        return None
    children = [compile_condition(item, items.lines[i], ctx) for i, item in enumerate(items)]
    if any(child is None for child in children):
        return None
    preds: list[Predicate] = [c for c in children if c is not None]
    if len(preds) == 1:
        return preds[0]
    return _all(tuple(preds)) if key == "all" else _any(tuple(preds))


def _leaf(node: YMap, ctx: Context) -> Predicate | None:
    unknown = [key for key in node if key not in ("field", *MODIFIERS, *OPERATORS)]
    if unknown:
        known = ", ".join(OPERATORS)
        ctx.report(node.lines[unknown[0]], f"unknown operator {unknown[0]!r} (operators: {known})")
        return None
    ops = [key for key in node if key in OPERATORS]
    if len(ops) != 1:
        found = ", ".join(ops) or "none"
        ctx.report(node.line, f"a condition names exactly one operator, found {found}; combine with all/any")
        return None
    if "field" not in node:
        ctx.report(node.line, f"`{ops[0]}` needs a `field` to test")
        return None
    op = ops[0]
    try:
        path = parse_path(node["field"], Article)
    except ValueError as exc:
        ctx.report(node.lines["field"], str(exc))
        return None
    modifiers = {key: node[key] for key in MODIFIERS if key in node}
    try:
        test = compile_operator(op, path.type, node[op], lambda raw: _terms(raw, ctx), modifiers)
    except ValueError as exc:
        ctx.report(node.lines[op], f"{path.text}: {exc}")
        return None
    return compile_path(path, test)


def _terms(raw: Any, ctx: Context) -> list[Any]:
    """A value or a list of values, where ``{list: NAME}`` items splice in a named list from ``lists:``."""
    out: list[Any] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict):
            if set(item) != {"list"} or not isinstance(item["list"], str) or item["list"] not in ctx.lists:
                known = ", ".join(ctx.lists) or "none defined"
                raise ValueError(f"{dict(item)!r} is not {{list: NAME}} naming one of `lists:` ({known})")
            out.extend(ctx.lists[item["list"]])
        else:
            out.append(item)
    if not out:
        raise ValueError("needs at least one value")
    return out


def _all(children: tuple[Predicate, ...]) -> Predicate:
    def every(obj: Any, now: datetime) -> Hit | None:
        best: Hit | None = None
        for child in children:
            hit = child(obj, now)
            if hit is None:
                return None
            # Report the most telling part: the first hit that quotes a match, else the first with a field.
            if best is None or (best[2] is None and hit[2] is not None) or (not best[0] and hit[0]):
                best = hit
        return best

    return every


def _any(children: tuple[Predicate, ...]) -> Predicate:
    def some(obj: Any, now: datetime) -> Hit | None:
        for child in children:
            hit = child(obj, now)
            if hit is not None:
                return hit
        return None

    return some


def _not(child: Predicate) -> Predicate:
    return lambda obj, now: NO_FIELD_HIT if child(obj, now) is None else None
