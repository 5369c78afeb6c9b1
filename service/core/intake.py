"""Bytes -> the event's JSON values and its Article, or why not: ``decode_event`` then the schema, in fewer steps.

``read_article(value, limits)`` gives what ``decode_event`` followed by ``Article.model_validate`` gives, the
same reason for every input, with less work on the usual record: a small JSON article.

The structural limits (``limits.py``) are checked before the schema so that pydantic only sees bounded data,
and their walk over every value costs about as much as the parse. For a JSON record of at most
``min(max_string_chars, max_values)`` bytes with no ``\\u0000`` in its text, the schema is checked first
instead, and when it accepts the event the limits provably hold, so the walk is skipped:

* no string can be longer than the record, nor can there be more values than bytes (each value or key starts
  at a byte of its own);
* no NUL character: JSON can only write one as ``\\u0000``;
* an accepted article has only the schema's field names as keys, at most the schema's number of fields or
  list items in any container, and the schema's nesting depth (``SCHEMA_BOUNDS``, read from the model's JSON
  Schema; the shortcut is off for limits tighter than these, or a schema without such bounds).

The record is small, so pydantic's work on it is bounded before the limits are known. When the schema refuses
the event, the limits are checked then, and a broken limit is reported in place of the schema's reasons, as
before; the duplicate-key check runs in the same place as before in both orders.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError

from service.core.article import Article, validate_article
from service.core.decode import check_event, duplicate_json_key, parse_event
from service.core.limits import DEFAULT_LIMITS, Limits
from service.core.reasons import Reason

_NUL_ESCAPE = b"\\u0000"


class SchemaBounds(NamedTuple):
    """What every event the schema accepts stays within (None: the schema does not bound it)."""

    depth: int | None  # containers nested, the event itself being level 1
    items: int | None  # entries in one list or mapping
    key_chars: int | None  # the longest field name


def schema_bounds(schema: dict[str, Any]) -> SchemaBounds:
    """The bounds of a JSON Schema as pydantic writes one (``$defs`` and ``$ref``, ``anyOf`` for optional)."""
    definitions = schema.get("$defs", {})
    unbounded = SchemaBounds(None, None, None)

    def walk(node: dict[str, Any], seen: tuple[str, ...]) -> SchemaBounds:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:  # a recursive schema has no depth bound
                return unbounded
            return walk(definitions[name], (*seen, name))
        if "anyOf" in node:
            return _widest([walk(option, seen) for option in node["anyOf"]])
        kind = node.get("type")
        if kind == "object":
            if node.get("additionalProperties", True) is not False:
                return unbounded
            fields = node.get("properties", {})
            inner = _widest([walk(field, seen) for field in fields.values()])
            own = SchemaBounds(1, len(fields), max((len(name) for name in fields), default=0))
            return _nest(own, inner)
        if kind == "array":
            if "maxItems" not in node or "items" not in node:
                return unbounded
            return _nest(SchemaBounds(1, node["maxItems"], 0), walk(node["items"], seen))
        if kind in ("string", "integer", "boolean", "null", "number"):
            return SchemaBounds(0, 0, 0)
        return unbounded

    return walk(schema, ())


def _widest(bounds: list[SchemaBounds]) -> SchemaBounds:
    def top(values: list[int | None]) -> int | None:
        return None if None in values else max(values, default=0)  # type: ignore[type-var]

    return SchemaBounds(*(top([b[i] for b in bounds]) for i in range(3)))


def _nest(own: SchemaBounds, inner: SchemaBounds) -> SchemaBounds:
    if None in inner:
        return SchemaBounds(None, None, None)
    return SchemaBounds(own.depth + inner.depth, max(own.items, inner.items),  # type: ignore[operator]
                        max(own.key_chars, inner.key_chars))  # type: ignore[type-var]


SCHEMA_BOUNDS = schema_bounds(Article.model_json_schema())
_LAST_SHORTCUT: tuple[Limits | None, int] = (None, 0)  # the Limits asked about last, and its answer


def shortcut_bytes(limits: Limits) -> int:
    """The largest JSON record whose limits an accepted article proves (0: never, for these limits)."""
    global _LAST_SHORTCUT
    last = _LAST_SHORTCUT
    if last[0] is limits:  # the same (frozen) object on every record of a process: nothing to work out again
        return last[1]
    depth, items, key_chars = SCHEMA_BOUNDS
    fits = (depth is not None and items is not None and key_chars is not None and depth <= limits.max_depth
            and items <= limits.max_items and key_chars <= limits.max_key_chars)
    found = min(limits.max_string_chars, limits.max_values) if fits else 0
    _LAST_SHORTCUT = (limits, found)  # one assignment: a thread reading it sees the old pair or the new one
    return found


def read_article(
    value: bytes | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[dict, Article] | Reason | ValidationError:
    """``(document, article)``; or the ``input.*`` reason ``decode_event`` gives; or the schema's ValidationError."""
    parsed = parse_event(value, limits)
    if isinstance(parsed, Reason):
        return parsed
    document, body = parsed
    if body is not None and len(body) <= shortcut_bytes(limits) and _NUL_ESCAPE not in body:
        try:
            article = validate_article(document)
        except ValidationError as exc:
            return check_event(document, body, limits) or exc
        return duplicate_json_key(body, document) or (document, article)
    problem = check_event(document, body, limits)
    if problem is not None:
        return problem
    try:
        return document, validate_article(document)
    except ValidationError as exc:
        return exc
