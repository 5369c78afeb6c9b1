r"""Bytes -> the event as JSON values, or the reason it cannot be read. Never raises, for any input.

Two formats are accepted, told apart by their first non-blank bytes (after an optional UTF-8 byte order mark):

- a JSON object (``{``), parsed by orjson (strict UTF-8, no NaN/Infinity, no lone surrogates);
- a front-matter document (``---`` line, YAML, closing ``---`` or ``...`` line, nothing but blank lines after),
  parsed by ``yaml_loader`` so that it yields exactly the values the same event would have as JSON.

Then the limits (``limits.py``) are checked on the decoded tree, the same way for both formats (front matter is
also held to the depth and count limits while it is read). Cheap checks come first, so hostile input costs the
least: size before parsing, parsing before the tree walk, the walk before the duplicate-key check.
``decode_event`` is ``parse_event`` (bytes -> a mapping) then ``check_event`` (limits, duplicate keys);
``intake.read_article`` calls the two halves itself, with the article schema between them for small JSON records.

Front matter may not hold the characters YAML 1.1 counts as line breaks and YAML 1.2 as text (U+0085, U+2028,
U+2029) written as themselves: libyaml (YAML 1.1) folds U+0085 to a space inside a quoted value, a YAML 1.2 reader
keeps it, so one record would read as two different events. Escaped in a double-quoted value (``\N``, ``\L``,
``\P``) they mean the same to both, and JSON has no such ambiguity.

Duplicate keys are refused in both formats (``input.duplicate_key``), not resolved. Parsers disagree on which
duplicate wins (orjson, PyYAML, Python and Go take the last, others the first or fail), so one record could show
one reader a different article from the one that was moderated and whose signature was checked. RFC 8259 leaves
the meaning undefined; I-JSON (RFC 7493) forbids duplicates. No serialiser of a map writes them, so only a
hand-made (or hostile) record is refused. Most records are shown to hold none by counting colons (~3 µs,
``duplicate_json_key``); the rest are parsed a second time by Python's json module, which sees every key.
"""

from __future__ import annotations

import json

import orjson

from service.core import reasons as r
from service.core.errors import DuplicateKeyError
from service.core.limits import DEFAULT_LIMITS, Limits, check_tree
from service.core.reasons import Reason
from service.core.yaml_loader import load_yaml_values

__all__ = ["DEFAULT_LIMITS", "Limits", "check_event", "decode_event", "duplicate_json_key", "parse_event"]

_BOM = b"\xef\xbb\xbf"
# Line breaks to YAML 1.1 (libyaml), ordinary characters to YAML 1.2: refused in front matter (see above).
_AMBIGUOUS_BREAKS = {
    "\x85": "U+0085 NEXT LINE", "\u2028": "U+2028 LINE SEPARATOR", "\u2029": "U+2029 PARAGRAPH SEPARATOR",
}
_BLANK = b" \t\r\n"


def decode_event(value: bytes | None, limits: Limits = DEFAULT_LIMITS) -> dict | Reason:
    parsed = parse_event(value, limits)
    if isinstance(parsed, Reason):
        return parsed
    document, body = parsed
    problem = check_event(document, body, limits)
    return document if problem is None else problem


def parse_event(value: bytes | None, limits: Limits = DEFAULT_LIMITS) -> tuple[dict, bytes | None] | Reason:
    """The first half of ``decode_event``: the record parsed into a mapping, its limits not checked yet.

    Returns ``(document, body)``, ``body`` being the JSON text (byte order mark removed) for a JSON record and
    None for front matter, which ``check_event`` needs; or the reason the record cannot be read.
    """
    if not value:
        return Reason(r.INPUT_EMPTY, "the record has no value")
    if len(value) > limits.max_record_bytes:
        return Reason(r.INPUT_TOO_LARGE, f"the record has {len(value)} bytes; the limit is {limits.max_record_bytes}")
    body = value[3:] if value.startswith(_BOM) else value
    head = body.lstrip(_BLANK)[:3]
    if not head:
        return Reason(r.INPUT_EMPTY, "the record holds only white space")
    if head[:1] == b"{":
        document = _decode_json(body)
        json_body: bytes | None = body
    elif head == b"---":
        document = _decode_front_matter(body, limits)
        json_body = None
    elif head[:1] in b'["-0123456789tfn':
        return Reason(r.INPUT_NOT_AN_OBJECT, "the event must be a JSON object, not another JSON value")
    else:
        return Reason(r.INPUT_UNKNOWN_FORMAT, "the record is neither a JSON object nor a front-matter document")
    if isinstance(document, Reason):
        return document
    if not isinstance(document, dict):
        return Reason(r.INPUT_NOT_AN_OBJECT, "the event must be a JSON object (front matter: a mapping of fields)")
    return document, json_body


def check_event(document: dict, body: bytes | None, limits: Limits = DEFAULT_LIMITS) -> Reason | None:
    """The second half of ``decode_event``: the limits, then (JSON only) duplicate keys."""
    problem = check_tree(document, limits)
    if problem is None and body is not None:
        problem = duplicate_json_key(body, document)
    return problem


def _decode_json(body: bytes) -> object | Reason:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "UTF-8" in message or "utf-8" in message:
            return Reason(r.INPUT_NOT_UTF8, f"the record is not valid UTF-8: {message}")
        if "depth limit" in message:
            return Reason(r.INPUT_TOO_DEEP, f"the JSON nests too deep: {message}")
        return Reason(r.INPUT_MALFORMED_JSON, f"the record is not valid JSON: {message}")


def _no_duplicates(pairs: list[tuple[str, object]]) -> None:
    if len({key for key, _ in pairs}) == len(pairs):
        return  # the objects themselves are not needed: returning nothing saves building them
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen.add(key)


def duplicate_json_key(body: bytes, document: dict) -> Reason | None:
    """A key written twice in one object of ``body`` (the JSON text ``document`` was parsed from), or None.

    orjson keeps the last duplicate silently; a second parse (~10 µs for a 2 KB event) sees them all. It is
    spared (~3 µs instead) when counting colons proves there is none. ``body`` holds one structural colon per
    key written plus the colons inside its strings; ``document`` written back by orjson holds one per key kept
    plus the colons of the strings kept, all written as themselves. When ``body`` spells no colon as an escape
    (``\\u003a``), a key dropped as a duplicate takes at least its own colon with it, so equal counts mean
    nothing was dropped. Anything else (an escaped colon, a tree orjson cannot write back) takes the parse.

    Runs only on a document orjson accepted and the limits passed: valid UTF-8 JSON, shallow, bounded.
    """
    if b"\\" not in body or (b"\\u003a" not in body and b"\\u003A" not in body):
        try:
            if body.count(b":") == orjson.dumps(document).count(b":"):
                return None
        except orjson.JSONEncodeError:  # not expected after the limits; the parse below is always right
            pass
    return _duplicate_json_key(body)


def _duplicate_json_key(body: bytes) -> Reason | None:
    try:
        json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except DuplicateKeyError as exc:
        key = str(exc.args[0])
        shown = key if len(key) <= 64 else f"{key[:64]}..."
        return Reason(r.INPUT_DUPLICATE_KEY, f"the key {shown!r} appears twice in one object")
    except (ValueError, RecursionError):  # a JSON text Python reads differently from orjson: refuse, never guess
        return Reason(r.INPUT_MALFORMED_JSON, "the record is read differently by two JSON parsers")
    return None


def _decode_front_matter(body: bytes, limits: Limits) -> object | Reason:
    if len(body) > limits.max_front_matter_bytes:
        problem = f"a front-matter record has {len(body)} bytes; the limit is {limits.max_front_matter_bytes}"
        return Reason(r.INPUT_TOO_LARGE, problem)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reason(r.INPUT_NOT_UTF8, f"the record is not valid UTF-8 (byte {exc.start})")
    for char, name in _AMBIGUOUS_BREAKS.items():
        at = text.find(char)
        if at >= 0:
            line = text.count("\n", 0, at) + 1
            return Reason(r.INPUT_MALFORMED_YAML, f"the front matter holds {name} as itself (line {line}): YAML 1.1 and"
                          " 1.2 readers disagree on it; write it escaped in double quotes (\\N, \\L, \\P) or send JSON")
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
    return load_yaml_values("\n".join(lines[1:end]), limits)
