"""The canonical form: the exact bytes docs/signing.md specifies, whatever encoding the event arrived in."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.canonical import (
    DOMAIN_PREFIX,
    CanonicalError,
    canonical_bytes,
    signing_input,
)
from service.core.decode import decode_event

SEED = Path(__file__).parents[2] / "seeds" / "000_eec557f0eb51af83.txt"

# The spec's string rule, written out independently of orjson: these seven escapes, \u00xx (lowercase) for
# the other controls, everything else as itself.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_TABLE = {c: _ESCAPES.get(chr(c), f"\\u{c:04x}") for c in range(0x20)}
_TABLE |= {ord(k): v for k, v in _ESCAPES.items()}


def reference(value: object) -> str:
    """A plain encoder written from the spec, to hold orjson to it."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.translate(_TABLE) + '"'
    if isinstance(value, list):
        return "[" + ",".join(reference(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ",".join(f"{reference(k)}:{reference(value[k])}" for k in sorted(value)) + "}"


def test_every_code_point_is_written_as_the_spec_says():
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert canonical_bytes({"s": text}) == ('{"s":' + reference(text) + "}").encode("utf-8")


def test_escapes_are_exactly_the_seven_short_forms_and_lowercase_u00xx():
    got = canonical_bytes({"s": "\x00\x08\x09\x0a\x0b\x0c\x0d\x1f\"\\/\x7f\u2028\u00e9"})
    assert got == '{"s":"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/\x7f\u2028\u00e9"}'.encode()


def test_keys_sort_by_code_point_not_utf16():
    # RFC 8785 would put U+1F600 (UTF-16 D83D...) before U+FFFF; code-point order puts it after.
    document = {"\U0001f600": 1, "\uffff": 2, "é": 3, "a": 4, "B": 5, "": 6, "aa": 7}
    assert canonical_bytes(document) == '{"":6,"B":5,"a":4,"aa":7,"é":3,"\uffff":2,"\U0001f600":1}'.encode()


def test_only_the_top_level_secured_is_left_out():
    document = {"secured": "x;y", "b": {"secured": "kept"}, "a": [{"z": 1, "y": None}]}
    assert canonical_bytes(document) == b'{"a":[{"y":null,"z":1}],"b":{"secured":"kept"}}'


def test_integers_within_53_bits_are_decimal_and_larger_ones_refused():
    assert canonical_bytes({"n": 2**53 - 1, "m": -(2**53 - 1), "z": 0, "t": True}) == (
        b'{"m":-9007199254740991,"n":9007199254740991,"t":true,"z":0}'
    )
    for big in (2**53, -(2**53), 2**64, 10**30):
        with pytest.raises(CanonicalError):
            canonical_bytes({"n": big})


class Colour(enum.Enum):
    RED = "red"


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [1.0, 1.5, -0.0, 1e300, [1, [2.5]], {"x": {"y": 0.1}}, datetime(2020, 5, 8, tzinfo=UTC), (1, 2), {1, 2},
     b"bytes", Colour.RED, Text("sub"), "\ud800", "a\udfffb"],
)
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(CanonicalError):
        canonical_bytes({"v": value})


def test_non_text_keys_depth_and_non_objects_are_refused():
    nested: list = []
    for _ in range(300):
        nested = [nested]
    for document in ({1: "a"}, {"a": {None: 1}}, {"deep": nested}, [1], "text", None):
        with pytest.raises(CanonicalError):
            canonical_bytes(document)  # type: ignore[arg-type]


def test_signing_input_is_prefix_nonce_canonical():
    nonce = bytes(range(16))
    assert signing_input(nonce, b"{}") == b"article-moderation/secured/v1\x00" + nonce + b"{}"
    assert DOMAIN_PREFIX.endswith(b"\x00")
    with pytest.raises(ValueError):
        signing_input(b"short", b"{}")


def test_front_matter_and_json_give_the_same_bytes_for_the_seed():
    from_yaml = decode_event(SEED.read_bytes())
    assert isinstance(from_yaml, dict)
    assert from_yaml["publishedDateTime"] == "2020-05-08T04:01:00Z"  # a string, as written
    from_json = decode_event(json.dumps(from_yaml, indent=3, ensure_ascii=True).encode())
    assert canonical_bytes(from_json) == canonical_bytes(from_yaml)
    assert canonical_bytes(from_yaml).startswith(b'{"category":"news","excerpt":"The controversial')
    assert b"secured" not in canonical_bytes(from_yaml)


def test_front_matter_quoting_styles_do_not_change_the_bytes():
    plain = b"---\ntitle: Hello\nwhen: 2020-05-08T04:01:00Z\nn: 7\nflag: true\nnone: null\n---\n"
    quoted = b"---\n'title': \"Hello\"\nwhen: '2020-05-08T04:01:00Z'\nn: 7\nflag: true\nnone: ~\n---\n"
    as_json = b'{"none":null,"flag":true,"n":7,"when":"2020-05-08T04:01:00Z","title":"Hello"}'
    outputs = {canonical_bytes(decode_event(v)) for v in (plain, quoted, as_json)}  # type: ignore[arg-type]
    assert outputs == {b'{"flag":true,"n":7,"none":null,"title":"Hello","when":"2020-05-08T04:01:00Z"}'}


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_any_json_document_matches_the_reference_and_survives_a_round_trip(document):
    expected = reference({k: v for k, v in document.items() if k != "secured"}).encode("utf-8")
    assert canonical_bytes(document) == expected
    assert canonical_bytes(orjson.loads(orjson.dumps(document))) == expected
