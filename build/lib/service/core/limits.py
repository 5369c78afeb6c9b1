"""Structural limits on a decoded event, and the one walk that enforces them for JSON and YAML alike.

Two layers bound what a producer can send (docs/security.md):

* These input limits: generic bounds on any tree of JSON values (size, depth, string, key and container
  sizes, NUL characters), checked before the schema so that pydantic, the canonical encoder, the rules and
  the decision's serialisation only ever see bounded data. Breaches get their own ``input.*`` code and, where
  there is one, the path of the offending value.
* The article schema (``article.py``): per-field limits (text 20,000 characters, short text 1,000, lists 200)
  reported as ``schema.too_long`` with the field path.

The input limits sit above the schema's on purpose: a well-formed but over-long article field gets the precise
schema reason, and only shapes no article can have (a 1 MB string, a list of 100,000 items, a field name of 10 KB)
stop here.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.core import reasons as r
from service.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit is inclusive (a value of exactly the limit passes). Lengths of text are in characters."""

    max_record_bytes: int = 1_048_576  # a 2 KB article has 500x headroom; Kafka's default max is 1 MiB too
    max_front_matter_bytes: int = 262_144  # YAML parses ~50x slower per byte than JSON: a smaller bound
    max_depth: int = 16  # containers, the event itself being level 1; the article schema nests 5 deep
    max_string_chars: int = 65_536  # any string value anywhere; the schema's longest field is 20,000
    max_key_chars: int = 128  # any mapping key; the schema's longest field name is 17
    max_items: int = 1_000  # entries in any one list or mapping; the schema's lists hold at most 200
    max_values: int = 10_000  # entries in all lists and mappings together; the seed has 60. Bounds the work
    # (and memory) of every later step: 100,000 unknown fields cost pydantic 160 ms and 66 MB to report


DEFAULT_LIMITS = Limits()


def check_tree(document: dict, limits: Limits) -> Reason | None:
    """A limit ``document`` breaks (the first one the depth-first walk meets), or None.

    Iterative, so any depth is safe; it stops at the first breach, so the work is bounded by the limits and
    by the size of the already-decoded document.
    """
    max_depth, max_items = limits.max_depth, limits.max_items
    max_string, max_key, budget = limits.max_string_chars, limits.max_key_chars, limits.max_values
    stack: list[tuple[dict | list, tuple]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= max_depth:
            return Reason(r.INPUT_TOO_DEEP, f"the event nests deeper than {max_depth} levels", path=dotted(path))
        if len(node) > max_items:
            kind = "mapping" if type(node) is dict else "list"
            message = f"a {kind} holds {len(node)} entries; the limit is {max_items}"
            return Reason(r.INPUT_TOO_MANY_ITEMS, message, path=dotted(path))
        budget -= len(node)
        if budget < 0:
            # No path: the count is of the whole event, and where it runs out depends on the walk's order.
            return Reason(r.INPUT_TOO_MANY_VALUES, f"the event holds more than {limits.max_values} values in all")
        children = []
        entries = node.items() if type(node) is dict else enumerate(node)
        for key, value in entries:
            if type(key) is str:
                if len(key) > max_key:
                    message = f"a field name has {len(key)} characters; the limit is {max_key}"
                    return Reason(r.INPUT_KEY_TOO_LONG, message, path=dotted(path))
                if "\x00" in key:
                    return Reason(r.INPUT_NUL_CHARACTER, "a field name holds a NUL character", path=dotted(path))
            kind = type(value)
            if kind is str:
                if len(value) > max_string:
                    message = f"a string has {len(value)} characters; the limit is {max_string}"
                    return Reason(r.INPUT_STRING_TOO_LONG, message, path=dotted((*path, key)))
                if "\x00" in value:
                    return Reason(r.INPUT_NUL_CHARACTER, "a string holds a NUL character", path=dotted((*path, key)))
            elif kind is dict or kind is list:
                children.append((value, (*path, key)))
        stack.extend(reversed(children))  # visit children in document order
    return None


def dotted(path: tuple) -> str | None:
    """A reason's path, in the form of schema paths (``related.0.title``); long keys are cut to keep it small."""
    text = ".".join(str(part) if len(str(part)) <= 64 else f"{str(part)[:64]}..." for part in path)
    return text or None
