"""Scalars of front matter as JSON values: the JSON-compatible part of the YAML 1.2 core schema, nothing more.

A plain (unquoted, untagged) scalar is read as JSON would read the same text: ``null``/``~``/empty, ``true``/
``false`` (three spellings each), decimal integers and finite decimal floats; anything else is text exactly as
written (``yes``, ``012``, ``0x1F``, ``.inf``, ``2020-05-08T04:01:00Z``). Quoted scalars and YAML's non-specific
tag ``!`` are text. An explicit core tag must describe its text (``!!int 12``; ``!!int many`` is refused); any
other tag (``!!binary``, ``!!timestamp``, ``!!python/...``, local tags) is refused.
"""

from __future__ import annotations

import math
import re

from yaml.events import NodeEvent, ScalarEvent

from service.core import reasons as r
from service.core.limits import dotted
from service.core.reasons import Reason

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT = _TAG + "str", _TAG + "int", _TAG + "float"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_TEXT = re.compile(r"[-+]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+|\.[0-9]+[eE][-+]?[0-9]+)")
_NUMBER_START = frozenset("-+0123456789.")
_MAX_INT_DIGITS = 400  # more than any float holds (1.8e308); also far below Python's int-parsing limit (4300)


def scalar_value(event: ScalarEvent) -> object:
    """JSON value of a scalar. Explicit tags must describe the text (``!!int 12``); ``!!int x`` is refused."""
    text, tag = event.value, event.tag
    if tag is None and event.implicit[0]:  # plain and untagged: resolved as JSON would read the same text
        if text[:1] not in _NUMBER_START:
            return None if text in _NULLS else _BOOLS.get(text, text)
        tag = _INT if _INT_TEXT.fullmatch(text) else _FLOAT if _FLOAT_TEXT.fullmatch(text) else _STR
    if tag is None or tag == "!" or tag == _STR:  # quoted, or YAML's non-specific tag: text
        return text
    if tag == _TAG + "null" and text in _NULLS:
        return None
    if tag == _TAG + "bool" and text in _BOOLS:
        return _BOOLS[text]
    if tag == _INT and _INT_TEXT.fullmatch(text):
        if len(text.lstrip("+-0")) > _MAX_INT_DIGITS:
            return refused(event, "the integer has too many digits", r.INPUT_MALFORMED_YAML)
        number = int(text, 10)
        if _INT64_MIN <= number <= _UINT64_MAX:
            return number
        tag = _FLOAT  # as orjson does: integers outside 64 bits are read as floats (refused beyond a float)
    if tag == _FLOAT and (_FLOAT_TEXT.fullmatch(text) or _INT_TEXT.fullmatch(text)):
        number = float(text)
        if math.isfinite(number):
            return number
        return refused(event, "the number is not finite", r.INPUT_MALFORMED_YAML)
    return refused(event, f"{text[:40]!r} cannot have the tag {tag!r}", r.INPUT_MALFORMED_YAML)


def refused(event: NodeEvent, problem: str, code: str, path: tuple | None = None) -> Reason:
    """A reason naming the front-matter line (the opening ``---`` is line 1)."""
    return Reason(code, f"{problem} (line {event.start_mark.line + 2})", path=dotted(path or ()))
