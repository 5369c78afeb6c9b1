"""A YAML reader that yields front matter as the JSON values the same event would have, or why it cannot.

PyYAML's safe loader follows YAML 1.1: it turns ``2020-05-08T04:01:00Z`` into a datetime, ``yes`` into True and
``012`` into 10, and ``!!binary``/``!!set``/``!!timestamp`` into non-JSON types. Any of those would make the signed
canonical form of a front-matter event differ from the same event sent as JSON. Here only the JSON-compatible part
of the YAML 1.2 core schema is resolved (null, true/false, decimal integers, finite floats); everything else stays
a string exactly as written, and any explicit tag outside that set is refused.

How it stays safe on hostile text:
* libyaml (C) parses; it refuses nesting deeper than 1,000 levels on its own.
* Values are built straight from libyaml's event stream by one loop (no recursion, no PyYAML composer or
  constructor) that stops at the first event breaking a rule: an alias (any alias, scalar aliases included:
  ``*x`` a thousand times over a long string would be expanded by every JSON writer downstream; nothing is ever
  expanded), a key that is not text or is repeated, a tag outside the JSON core, or the depth, per-container and
  total-values limits. A 256 KB front matter of 80,000 tiny values costs ~1,000 events, not 80,000 objects.
"""

from __future__ import annotations

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from service.core import reasons as r
from service.core.limits import Limits
from service.core.reasons import Reason
from service.core.yaml_scalars import refused as _refused
from service.core.yaml_scalars import scalar_value as _scalar

_TAG = "tag:yaml.org,2002:"
_OPENS = frozenset((MappingStartEvent, SequenceStartEvent))
_NODES = frozenset((ScalarEvent, MappingStartEvent, SequenceStartEvent))
_CLOSES = frozenset((MappingEndEvent, SequenceEndEvent))

if yaml.__with_libyaml__:
    from yaml.cyaml import CParser as _Parser
else:  # pragma: no cover - wheels ship libyaml; the pure-Python parser is the fallback (iterative too)

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)

        def dispose(self) -> None:
            pass


def load_yaml_values(text: str, limits: Limits) -> object | Reason:
    """One YAML document as JSON values (None for an empty one), or an ``input.*`` reason. Never raises.

    ``max_depth``, ``max_items`` and ``max_values`` are enforced while reading; the caller checks the others.
    """
    parser = _Parser(text)
    try:
        return _build(parser, limits)
    except yaml.MarkedYAMLError as exc:
        line = f" (line {exc.problem_mark.line + 2})" if exc.problem_mark else ""
        code = r.INPUT_TOO_DEEP if "maximum nesting depth" in str(exc.problem) else r.INPUT_MALFORMED_YAML
        return Reason(code, f"the front matter is not valid YAML: {exc.problem}{line}")
    except yaml.YAMLError as exc:  # ReaderError (control characters) has no problem mark
        return Reason(r.INPUT_MALFORMED_YAML, f"the front matter is not valid YAML: {type(exc).__name__}")
    finally:
        parser.dispose()


def _build(parser: _Parser, limits: Limits) -> object | Reason:
    # One frame per open container: [container, its path, the key waiting for its value (mappings)].
    stack: list[list] = []
    root: object = None
    values = 0
    while parser.check_event():
        event = parser.get_event()
        kind = type(event)
        if kind in _NODES:
            frame = stack[-1] if stack else None
            if frame is not None and type(frame[0]) is dict and frame[2] is None:
                key = _key(event, frame[0])
                if isinstance(key, Reason):
                    return key
                frame[2] = key
                continue
            value = _scalar(event) if kind is ScalarEvent else _empty(event)
            if isinstance(value, Reason):
                return value
            path: tuple = ()
            if frame is None:
                root = value
            else:
                container, path = frame[0], (*frame[1], frame[2] if type(frame[0]) is dict else len(frame[0]))
                if type(container) is dict:
                    container[frame[2]], frame[2] = value, None
                else:
                    container.append(value)
                if len(container) > limits.max_items:
                    return _refused(event, f"a container holds more than {limits.max_items} entries",
                                    r.INPUT_TOO_MANY_ITEMS, frame[1])
                values += 1
                if values > limits.max_values:
                    return _refused(event, f"the event holds more than {limits.max_values} values in all",
                                    r.INPUT_TOO_MANY_VALUES)
            if kind in _OPENS:
                if len(stack) >= limits.max_depth:
                    return _refused(event, f"the front matter nests deeper than {limits.max_depth} levels",
                                    r.INPUT_TOO_DEEP, path)
                stack.append([value, path, None])
        elif kind in _CLOSES:
            stack.pop()
        elif kind is AliasEvent:
            return _refused(event, "YAML anchors and aliases are not allowed in events", r.INPUT_YAML_ALIAS)
        elif kind is DocumentStartEvent and root is not None:
            return _refused(event, "the front matter holds more than one YAML document", r.INPUT_MALFORMED_YAML)
    return root


def _key(event: NodeEvent, mapping: dict) -> str | Reason:
    key = _scalar(event) if isinstance(event, ScalarEvent) else None
    if isinstance(key, Reason):
        return key
    if not isinstance(key, str):
        return _refused(event, "every key in the front matter must be text", r.INPUT_MALFORMED_YAML)
    if key in mapping:
        shown = key if len(key) <= 64 else f"{key[:64]}..."
        return _refused(event, f"the key {shown!r} appears twice in one mapping", r.INPUT_DUPLICATE_KEY)
    return key


def _empty(event: MappingStartEvent | SequenceStartEvent) -> dict | list | Reason:
    if isinstance(event, MappingStartEvent) and event.tag in (None, "!", _TAG + "map"):
        return {}
    if isinstance(event, SequenceStartEvent) and event.tag in (None, "!", _TAG + "seq"):
        return []
    return _refused(event, f"the tag {event.tag!r} is not allowed in events", r.INPUT_MALFORMED_YAML)
