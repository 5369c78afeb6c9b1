"""Bytes -> the event as JSON values, or the reason it cannot be read.

Two formats are accepted, told apart by their first non-blank bytes:

- a JSON object (``{``), parsed by orjson (strict UTF-8, no NaN/Infinity, nesting capped at 1024 by orjson);
- a front-matter document (``---`` line, YAML, closing ``---`` or ``...`` line, nothing but blank lines after),
  parsed by ``yaml_loader`` so that it yields exactly the values the same event would have as JSON.

Duplicate keys: the last one wins in both formats (what orjson and PyYAML do); the decision publishes the
decoded document, so what downstream sees is what was verified. Every failure is a ``Reason``; this module
never raises for any input.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import yaml

from service.core import reasons as r
from service.core.reasons import Reason
from service.core.yaml_loader import load_json_yaml

_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Limits:
    max_record_bytes: int = 1_048_576  # a 2 KB article has 500x headroom; Kafka's default max is 1 MiB too
    max_front_matter_bytes: int = 262_144
    max_depth: int = 16  # the article schema nests 4 deep; YAML only (orjson and the schema bound JSON)


DEFAULT_LIMITS = Limits()


def decode_event(value: bytes | None, limits: Limits = DEFAULT_LIMITS) -> dict | Reason:
    if not value:
        return Reason(r.INPUT_EMPTY, "the record has no value")
    if len(value) > limits.max_record_bytes:
        return Reason(
            r.INPUT_TOO_LARGE, f"the record has {len(value)} bytes; the limit is {limits.max_record_bytes}"
        )
    body = value[3:] if value.startswith(_BOM) else value
    head = body.lstrip(_BLANK)[:3]
    if not head:
        return Reason(r.INPUT_EMPTY, "the record holds only white space")
    if head[:1] == b"{":
        return _decode_json(body)
    if head == b"---":
        return _decode_front_matter(body, limits)
    if head[:1] in b'["-0123456789tfn':
        return Reason(r.INPUT_NOT_AN_OBJECT, "the event must be a JSON object, not another JSON value")
    return Reason(r.INPUT_UNKNOWN_FORMAT, "the record is neither a JSON object nor a front-matter document")


def _decode_json(body: bytes) -> dict | Reason:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "UTF-8" in message or "utf-8" in message:
            return Reason(r.INPUT_NOT_UTF8, f"the record is not valid UTF-8: {message}")
        if "depth limit" in message:
            return Reason(r.INPUT_TOO_DEEP, f"the JSON nests too deep: {message}")
        return Reason(r.INPUT_MALFORMED_JSON, f"the record is not valid JSON: {message}")
    if not isinstance(document, dict):
        return Reason(r.INPUT_NOT_AN_OBJECT, "the event must be a JSON object")
    return document


def _decode_front_matter(body: bytes, limits: Limits) -> dict | Reason:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reason(r.INPUT_NOT_UTF8, f"the record is not valid UTF-8 (byte {exc.start})")
    # Only CR/LF end lines: str.splitlines() would also split on U+2028 etc. inside quoted values.
    lines = text.lstrip(" \t\r\n").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[0].rstrip() != "---":
        return Reason(r.INPUT_MALFORMED_YAML, "a front-matter document starts with a line holding only '---'")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        return Reason(r.INPUT_MALFORMED_YAML, "the front matter has no closing '---' line")
    if any(line.strip() for line in lines[end + 1 :]):
        return Reason(
            r.INPUT_MALFORMED_YAML, "content after the closing '---' line is not part of the event and is refused"
        )
    yaml_text = "\n".join(lines[1:end])
    if len(yaml_text) > limits.max_front_matter_bytes:
        return Reason(
            r.INPUT_TOO_LARGE, f"the front matter exceeds {limits.max_front_matter_bytes} characters"
        )
    try:
        document = load_json_yaml(yaml_text)
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 2})" if exc.problem_mark else ""
        return Reason(r.INPUT_MALFORMED_YAML, f"the front matter is not valid YAML: {exc.problem}{where}")
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return Reason(r.INPUT_MALFORMED_YAML, f"the front matter is not valid YAML: {type(exc).__name__}")
    if not isinstance(document, dict):
        return Reason(r.INPUT_NOT_AN_OBJECT, "the front matter must be a mapping of fields")
    return _check_tree(document, limits.max_depth)


def _check_tree(document: dict, max_depth: int) -> dict | Reason:
    """Refuse what JSON cannot express: shared (aliased) containers, non-text keys, excessive depth."""
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return Reason(r.INPUT_TOO_DEEP, f"the front matter nests deeper than {max_depth} levels")
        if id(node) in seen:
            return Reason(r.INPUT_YAML_ALIAS, "YAML anchors and aliases are not allowed in events")
        seen.add(id(node))
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    return Reason(r.INPUT_MALFORMED_YAML, "every key in the front matter must be text")
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in node if isinstance(item, dict | list))
    return document
