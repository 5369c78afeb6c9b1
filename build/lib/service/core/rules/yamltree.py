"""Safe YAML reading that remembers line numbers, so every rule error can name its line.

``yaml.compose`` (safe loader, libyaml when available) builds a node graph without running any constructor,
so no arbitrary tags can execute. We then turn nodes into plain values ourselves:

* mappings become ``YMap`` (a dict with ``.line`` and ``.lines[key]``), sequences ``YList`` (``.line``,
  ``.lines[i]``), scalars the plain values of YAML's safe schema (str, int, float, bool, None, datetime);
* a tag other than the standard ones is an error (``!!python/object`` never reaches a constructor);
* duplicate keys are an error (PyYAML silently keeps the last one);
* aliases are counted and the expanded size is bounded, so a "billion laughs" file fails fast.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_ALIASES = 100
MAX_NODES = 1_000_000  # expanded nodes; a 10,000-term list is 10,000
MAX_DEPTH = 64

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_SCALAR_TAGS = {"tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "timestamp")}


class YMap(dict):
    line: int
    lines: dict[str, int]


class YList(list):
    line: int
    lines: list[int]


class YamlProblem(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def read_yaml(text: str) -> Any:
    """Parse one YAML document into plain values with line numbers. Raises YamlProblem."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # e.g. "expected a single document"
        raise YamlProblem(None, f"not valid YAML: {exc}") from None
    if root is None:
        raise YamlProblem(1, "the file is empty")
    return _Converter().value(root, 0)


class _Converter:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.aliases = 0
        self.nodes = 0
        self.scalars = SafeConstructor()

    def value(self, node: Node, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(line_of(node), f"the file expands to more than {MAX_NODES} YAML nodes")
        if depth > MAX_DEPTH:
            raise YamlProblem(line_of(node), f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if id(node) in self.seen:  # composed graphs share the node an alias points to
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlProblem(line_of(node), f"more than {MAX_ALIASES} YAML aliases")
        self.seen.add(id(node))
        if isinstance(node, SequenceNode):
            return self._sequence(node, depth)
        assert isinstance(node, MappingNode)
        return self._mapping(node, depth)

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise YamlProblem(line_of(node), f"the YAML tag {node.tag!r} is not allowed")
        try:
            return self.scalars.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            raise YamlProblem(line_of(node), f"bad scalar {node.value!r}: {exc}") from None

    def _sequence(self, node: SequenceNode, depth: int) -> YList:
        if node.tag != _SEQ_TAG:
            raise YamlProblem(line_of(node), f"the YAML tag {node.tag!r} is not allowed")
        out = YList(self.value(item, depth + 1) for item in node.value)
        out.line = line_of(node)
        out.lines = [line_of(item) for item in node.value]
        return out

    def _mapping(self, node: MappingNode, depth: int) -> YMap:
        if node.tag != _MAP_TAG:
            raise YamlProblem(line_of(node), f"the YAML tag {node.tag!r} is not allowed")
        out = YMap()
        out.line = line_of(node)
        out.lines = {}
        for key_node, value_node in node.value:
            key = self.value(key_node, depth + 1)
            if not isinstance(key, str):
                raise YamlProblem(line_of(key_node), f"keys must be text, not {key!r}")
            if key in out:
                raise YamlProblem(line_of(key_node), f"duplicate key {key!r}")
            out[key] = self.value(value_node, depth + 1)
            out.lines[key] = line_of(key_node)
        return out
