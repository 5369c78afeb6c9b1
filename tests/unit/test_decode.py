"""decode_event: bytes -> JSON values or a Reason, for every input, never an exception."""

import json
from pathlib import Path

import pytest

from service.core import reasons as r
from service.core.decode import Limits, decode_event
from service.core.reasons import Reason

SEED = Path(__file__).parents[2] / "seeds" / "000_eec557f0eb51af83.txt"


def code(value: bytes, **limits: int) -> str:
    result = decode_event(value, Limits(**limits)) if limits else decode_event(value)
    assert isinstance(result, Reason), result
    return result.code


def test_seed_front_matter_keeps_timestamps_as_written():
    document = decode_event(SEED.read_bytes())
    assert isinstance(document, dict)
    assert document["publishedDateTime"] == "2020-05-08T04:01:00Z"
    assert document["related"][0]["publishedDateTime"] == "2020-05-08T03:23:00Z"
    assert document["quality"] == 47 and document["heat"] == -1 and document["published"] is False
    assert document["images"][0]["isCached"] is True


def test_front_matter_and_json_of_the_same_event_decode_equal():
    document = decode_event(SEED.read_bytes())
    assert decode_event(json.dumps(document).encode()) == document


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [("yes", "yes"), ("on", "on"), ("012", 12), ("2020-05-08", "2020-05-08"), ("1.5", 1.5), ("~", None),
     (".inf", ".inf"), ("0x1F", "0x1F"), ("1_000", "1_000"), ("true", True), ("'true'", "true")],
)
def test_yaml_scalars_resolve_like_json(yaml_value, expected):
    assert decode_event(f"---\nv: {yaml_value}\n---\n".encode()) == {"v": expected}


def test_crlf_and_bom_are_accepted():
    assert decode_event(b"\xef\xbb\xbf---\r\ntitle: x\r\n---\r\n") == {"title": "x"}
    assert decode_event(b'\xef\xbb\xbf {"a": 1}') == {"a": 1}


def test_unicode_line_separators_are_kept_when_escaped_and_refused_as_themselves_in_front_matter():
    """Issue 12: YAML 1.1 (libyaml) folds a raw U+0085 in a quoted value to a space, YAML 1.2 keeps it, so the
    raw characters are refused in front matter (before, U+2028 was kept and U+0085 folded). Escaped, they read
    as in JSON."""
    assert decode_event(b'---\nt: "a\\Lb\\Nc\\Pd"\n---\n') == decode_event('{"t": "a\u2028b\x85c\u2029d"}'.encode())
    for char in ("\u2028", "\x85", "\u2029"):
        assert code(f'---\nt: "a{char}b"\n---\n'.encode()) == r.INPUT_MALFORMED_YAML
        assert code(f"---\nt: 'a{char}b'\n---\n".encode()) == r.INPUT_MALFORMED_YAML
        assert decode_event(f'{{"t": "a{char}b"}}'.encode()) == {"t": f"a{char}b"}


def test_big_integers_become_floats_in_both_formats():
    assert decode_event(b'{"q": 123456789012345678901234567890}') == decode_event(
        b"---\nq: 123456789012345678901234567890\n---\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", r.INPUT_EMPTY),
        (b" \n\t ", r.INPUT_EMPTY),
        (b"\x00\x01garbage", r.INPUT_UNKNOWN_FORMAT),
        (b"hello world", r.INPUT_UNKNOWN_FORMAT),
        (b'{"title": ', r.INPUT_MALFORMED_JSON),
        (b'{"a": NaN}', r.INPUT_MALFORMED_JSON),
        (b'{"a": 1e999}', r.INPUT_MALFORMED_JSON),
        (b'{"a": "\\ud800"}', r.INPUT_MALFORMED_JSON),
        (b"[1, 2]", r.INPUT_NOT_AN_OBJECT),
        (b'"text"', r.INPUT_NOT_AN_OBJECT),
        (b'{"a": "\xff"}', r.INPUT_NOT_UTF8),
        (b"---\na: \xff\n---\n", r.INPUT_NOT_UTF8),
        (b"---\na: 1\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: 1\n---\nbody text\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: [1\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: !!binary aGVsbG8=\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: !!python/object:os.system x\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: 1e999\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\n- 1\n---\n", r.INPUT_NOT_AN_OBJECT),
        (b"---\n---\n", r.INPUT_NOT_AN_OBJECT),
        (b"---\n? [a]\n: 1\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\n1: one\n---\n", r.INPUT_MALFORMED_YAML),
        (b"---\na: &x [1]\nb: *x\n---\n", r.INPUT_YAML_ALIAS),
        (b"[" * 5000 + b"]" * 5000, r.INPUT_NOT_AN_OBJECT),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, r.INPUT_TOO_DEEP),
    ],
)
def test_bad_inputs_get_their_reason(value, expected):
    assert code(value) == expected


def test_billion_laughs_is_refused_without_expanding():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    assert code(("---\n" + "\n".join(lines) + "\n---\n").encode()) == r.INPUT_YAML_ALIAS


def test_limits_are_enforced():
    assert code(b'{"a": "' + b"x" * 2000 + b'"}', max_record_bytes=1000) == r.INPUT_TOO_LARGE
    assert code(b"---\na: " + b"x" * 2000 + b"\n---\n", max_front_matter_bytes=1000) == r.INPUT_TOO_LARGE
    nested = b"---\na: " + b"[" * 20 + b"]" * 20 + b"\n---\n"
    assert code(nested, max_depth=16) == r.INPUT_TOO_DEEP
