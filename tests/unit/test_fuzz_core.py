"""Property-based fuzzing of the whole decision core: decide() returns a Decision for any record, never raises,
and answers within the per-event budget (a hang detector); load_rules() returns a RuleSet or raises RulesError.

``FUZZ_EXAMPLES`` (default 2,000) is the number of generated inputs shared out over the properties below; the
unit suite stays fast with the default. A long run: ``FUZZ_EXAMPLES=100000 pytest tests/unit/test_fuzz_core.py -s``
prints how many inputs each property saw and the slowest event. Inputs start from the seeds in ``seeds/``; every
document-level mutation is re-signed with the test key, so the rules (not only the signature check) see it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import time

import pytest
from hostile_world import (
    BUDGET_SECONDS,
    NOW,
    ROOT,
    SEED_DOCUMENTS,
    SEEDS,
    TEST_KEY,
    as_front_matter,
    check_decision,
    decide_record,
    signed,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.core.article import Article
from service.core.canonical import CanonicalError
from service.core.rules import RulesError, RuleSet, RulesOutcome, load_rules

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
RULES_BUDGET_SECONDS = 5.0
STATS: dict[str, list] = {}  # property -> [inputs, slowest wall seconds, most CPU seconds, that input, re-timer]


def fuzz(share: float):
    """Hypothesis settings for a property that gets ``share`` of FUZZ_EXAMPLES. No deadline: the budget check in
    check_decision is the time bound, and it is per event, not per generated example."""
    return settings(
        max_examples=max(10, int(FUZZ_EXAMPLES * share)), deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )


def record(name: str, seconds: float, value: object, retime, cpu: float) -> None:
    stats = STATS.setdefault(name, [0, 0.0, 0.0, None, retime])
    stats[0] += 1
    stats[1] = max(stats[1], seconds)
    if cpu > stats[2]:
        stats[2:4] = cpu, value


def decided(name: str, value: bytes) -> None:
    cpu = time.thread_time()  # CPU time of this thread: unlike the wall clock, blind to a busy machine's stalls
    decision, seconds = decide_record(value)
    record(name, seconds, value, lambda v: decide_record(v)[1], time.thread_time() - cpu)
    check_decision(decision, seconds)


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    started = time.perf_counter()
    yield
    total = sum(stats[0] for stats in STATS.values())
    print(f"\nfuzz: {total} inputs in {time.perf_counter() - started:.1f} s (FUZZ_EXAMPLES={FUZZ_EXAMPLES}); "
          f"budget {BUDGET_SECONDS:.0f} s per event, {RULES_BUDGET_SECONDS:.0f} s per rules file")
    for name, (count, slowest, cpu, value, retime) in sorted(STATS.items()):
        # A peak may be a stall of a busy machine or a full garbage collection: the same input timed again tells.
        again = min(retime(value) for _ in range(3))
        print(f"  {name}: {count} inputs; slowest {slowest * 1e3:.2f} ms wall; most CPU {cpu * 1e3:.2f} ms, "
              f"that input again {again * 1e3:.2f} ms")


# --- strategies ---------------------------------------------------------------------------------------------------

# Fragments that break parsers: structure, escapes, YAML features, numbers, encodings, line ends.
TOKENS = [
    b"{", b"}", b"[", b"]", b'"', b"'", b":", b",", b"\\", b"\\u0000", b"\\ud800", b"\\udc00", b"\\u0061", b"\x00",
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\r\n", b"\n", b"\t", b" ", b"---\n", b"...\n",
    b"&a ", b"*a", b"<<: ", b"!!python/object:os.system ", b"!!binary ", b"!!int ", b"!!str ", b"!x ", b"? ",
    b"- ", b"|\n", b">-\n", b"%YAML 1.1\n", b"NaN", b"Infinity", b"-0", b"1e999", b"1e-999", b".inf", b".nan",
    b"18446744073709551616", b"9" * 320, b"0x1F", b"012", b"1_000", b"true", b"null", b"~", b"yes",
    b'"title": "x", ', b'"secured": "AAAA;AAAA", ', b'"provider": {}, ', b"\xe2\x80\xa8", b"\xc2\x85",
    "ǅ𝔘\u0301\u202e\ufeff".encode(), b"[" * 40, b"{a: " * 40,
]


@st.composite
def mutated_bytes(draw, value: bytes) -> bytes:
    """``value`` after 1-8 edits: flip, insert a token or random bytes, delete or duplicate a slice."""
    data = bytearray(value)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "token", "bytes", "delete", "duplicate"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.sampled_from([1, 1, 1, 2, 17, 300]))
        elif kind == "bytes":
            data[at:at] = draw(st.binary(max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


def seed_forms() -> list[bytes]:
    """Each seed as written, signed as JSON, and signed as front matter."""
    forms = list(SEEDS.values())
    for document in SEED_DOCUMENTS.values():
        with contextlib.suppress(CanonicalError):
            forms += [json.dumps(signed(document)).encode(), as_front_matter(signed(document))]
    return forms


SEED_FORMS = seed_forms()

# Text that stresses rules and schema alike: every plane, combining marks, case-folding oddities, RTL overrides.
weird_text = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(codec="utf-8"), max_size=400),
    st.sampled_from(["", " ", "ß", "ẞ", "İ", "ﬁ", "\u0301", "\u202e", "CLICK HERE", "miracle cure", "\u2028"]),
    st.sampled_from([1_000, 1_001, 4_097, 20_000, 20_001]).map(lambda n: "é" * n),  # at and past the schema's caps
)
urls = st.one_of(
    st.sampled_from(["https://a.org/", "http://a.org/", "HTTPS://A.ORG", "https://user@evil.org/", "https://[::1]/",
                     "https://xn--e1afmkfd.xn--p1ai/", "https://a.org:99999/", "https://a..org/", "javascript:x"]),
    st.builds(lambda s, h: f"{s}://{h}/", st.sampled_from(["http", "https", "ftp", "HtTpS"]), weird_text),
)
dates = st.one_of(
    st.sampled_from(["2020-05-08T04:01:00Z", "2020-05-08T04:01:00+14:00", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59.999999-23:59", "2020-05-08", "2020-13-45T99:99:99Z", "now"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
numbers = st.one_of(
    st.integers(-2_000_000, 2_000_000), st.sampled_from([0, -1, 1_000_000, 1_000_001, 2**53, 2**63, 2**64]),
    st.integers(19, 450).map(lambda digits: int("9" * digits)),  # past 64 bits, past a double
)
json_leaves = st.one_of(st.none(), st.booleans(), numbers, weird_text, st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(weird_text, inner, max_size=6)), max_leaves=30)

FIELD_VALUES = {
    "title": weird_text, "excerpt": weird_text, "category": weird_text, "type": weird_text, "webUrl": urls,
    "publishedDateTime": dates, "quality": numbers, "heat": numbers, "published": st.booleans(),
    "provider": st.fixed_dictionaries({"name": weird_text, "domain": st.sampled_from(["siliconangle.com", "apnews.com",
                                       "example.org", "content-farm.example", "APNEWS.COM", "a", "a..b"])}),
    "topics": st.lists(weird_text, max_size=210),
    "images": st.lists(st.fixed_dictionaries({"url": urls}, optional={"width": numbers, "height": numbers,
                                             "isCached": st.booleans(), "title": weird_text}), max_size=5),
}


@st.composite
def edited_documents(draw) -> dict:
    """A seed document with fields replaced (mostly by values of the right type, so the rules run), removed,
    or set to arbitrary JSON, somewhere in the tree."""
    document = copy.deepcopy(list(SEED_DOCUMENTS.values())[draw(st.integers(0, len(SEED_DOCUMENTS) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        target = document
        related = document.get("related")
        related = [item for item in related if isinstance(item, dict)] if isinstance(related, list) else []
        if related and draw(st.booleans()):
            target = draw(st.sampled_from(related))
        name = draw(st.sampled_from([*FIELD_VALUES, "related", "secured", "unknownField"]))
        action = draw(st.sampled_from(["typed", "typed", "typed", "delete", "any"]))
        if action == "delete":
            target.pop(name, None)
        elif action == "typed" and name in FIELD_VALUES:
            target[name] = draw(FIELD_VALUES[name])
        else:
            target[name] = draw(json_values)
    return document


def encoded(document: dict, form: str) -> bytes:
    if form == "json":  # ensure_ascii escapes lone surrogates as \udxxx, which the decoder must refuse
        return json.dumps(document).encode()
    return as_front_matter(document)


secured_values = st.one_of(
    st.text(max_size=700),
    st.builds(lambda tag, nonce, sep: f"{base64.b64encode(tag).decode()}{sep}{base64.b64encode(nonce).decode()}",
              st.sampled_from([0, 1, 31, 32, 33, 63, 64, 65]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
              st.binary(max_size=20), st.sampled_from([";", ";;", " ; ", ",", ""])),
    st.sampled_from(["", ";", "A" * 512, "A" * 513, "=;=", "AA==;AA==", "\u0661\u0662;\u0663", "AAAA\n;AAAA"]),
)


# --- properties ---------------------------------------------------------------------------------------------------


@fuzz(0.2)
@given(st.tuples(st.sampled_from([b"", b"{", b"---\n", b"\xef\xbb\xbf---\n", b" \r\n{"]), st.binary(max_size=2048)))
def test_arbitrary_bytes_get_a_decision(parts):
    decided("arbitrary bytes", parts[0] + parts[1])


@fuzz(0.35)
@given(st.integers(0, len(SEED_FORMS) - 1).flatmap(lambda i: mutated_bytes(SEED_FORMS[i])))
def test_mutated_seed_bytes_get_a_decision(value):
    decided("mutated seed bytes", value)


@fuzz(0.2)
@given(edited_documents(), st.sampled_from(["json", "front-matter"]), st.booleans())
def test_edited_and_resigned_documents_get_a_decision(document, form, sign):
    if sign:
        with contextlib.suppress(CanonicalError):  # floats, lone surrogates, huge integers: sent unsigned
            document = signed(document)
    decided("edited documents", encoded(document, form))


@fuzz(0.1)
@given(secured_values, st.sampled_from(list(SEED_DOCUMENTS)), st.sampled_from(["json", "front-matter"]))
def test_mutated_secured_values_get_a_decision(secured, seed, form):
    document = dict(SEED_DOCUMENTS[seed], secured=secured)
    decided("mutated secured", encoded(document, form))


RULES_TEXT = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")
RULE_FIELDS = ["title", "excerpt", "quality", "publishedDateTime", "webUrl", "topics", "topics[any]", "images",
               "images[any].url", "related[all].provider.domain", "provider.domain", "nope", "related[any].images[]"]
RULE_OPERATORS = ["equals", "not_equals", "in", "gt", "lt", "before", "older_than", "newer_than", "future_by",
                  "length", "exists", "missing", "blank", "text", "not_text", "domain", "not_domain", "scheme", "x"]


@st.composite
def generated_rules(draw) -> str:
    """A rules file from the grammar with random operands, or the real file after line and byte edits."""
    if draw(st.booleans()):
        lines = RULES_TEXT.split("\n")
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(lines) - 1))
            edit = draw(st.sampled_from(["drop", "copy", "swap", "chars"]))
            if edit == "drop":
                del lines[at]
            elif edit == "copy":
                lines.insert(at, lines[draw(st.integers(0, len(lines) - 1))])
            elif edit == "swap":
                other = draw(st.integers(0, len(lines) - 1))
                lines[at], lines[other] = lines[other], lines[at]
            else:
                lines[at] = draw(mutated_bytes(lines[at].encode())).decode("utf-8", "replace")
        return "\n".join(lines)
    operand = st.one_of(json_leaves, st.lists(json_leaves, max_size=3), st.sampled_from(
        ["30 days", "1 week", "-1 days", "https", ".*", "(a+)+$", "\\", "[", "2020-05-08T00:00:00Z", {"lt": 3},
         {"list": "terms"}, {"list": "missing"}]))
    leaf = st.builds(lambda f, o, v, m: {"field": f, o: v, **m}, st.sampled_from(RULE_FIELDS),
                     st.sampled_from(RULE_OPERATORS), operand,
                     st.sampled_from([{}, {"match": "regex"}, {"match": "word"}, {"case_sensitive": True}]))
    condition = st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner)), max_leaves=6)
    rule = st.fixed_dictionaries(
        {"id": st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), "description": st.just("d"),
         "when": condition, "action": st.sampled_from(["approve", "reject", "hold"])},
        optional={"priority": numbers, "reason": st.sampled_from(["q.low", "input.x", "Bad"]),
                  "message": st.sampled_from(["{value}", "{match} {field}", "{nope", "}{"]), "stop": st.booleans()})
    top = st.fixed_dictionaries({"rules": st.lists(rule, max_size=4)}, optional={
        "lists": st.just({"terms": ["a", "b c"]}), "defaults": st.just({"decision": "reject"})})
    return json.dumps(draw(top))  # JSON is YAML: the loader reads it the same way


def _articles() -> list[tuple[Article, dict]]:
    found = []
    for document in SEED_DOCUMENTS.values():
        with contextlib.suppress(ValueError):
            found.append((Article.model_validate(document), document))
    return found


ARTICLES = _articles()


def load_and_evaluate(text: str) -> None:
    try:
        rules = load_rules(text, "fuzz.yaml")
    except RulesError as exc:
        assert exc.problems and all(problem.source == "fuzz.yaml" for problem in exc.problems)
        return
    assert isinstance(rules, RuleSet) and rules.version.startswith("sha256:")
    for article, document in ARTICLES:
        outcome = rules.evaluate(article, document, NOW)
        assert isinstance(outcome, RulesOutcome) and isinstance(outcome.approved, bool)


@fuzz(0.15)
@given(generated_rules())
def test_generated_rule_files_load_or_raise_rules_error_and_evaluate(text):
    """Loading happens once per file change, not per event: the budget here is a hang detector only (a real hang
    repeats, so an over-budget load is timed a second time before it counts)."""
    cpu = time.thread_time()
    seconds = _timed(load_and_evaluate, text)
    cpu = time.thread_time() - cpu
    if seconds >= RULES_BUDGET_SECONDS:
        seconds = min(seconds, _timed(load_and_evaluate, text))
    record("rule files", seconds, text, lambda t: _timed(load_and_evaluate, t), cpu)
    assert seconds < RULES_BUDGET_SECONDS


def _timed(action, *args) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def test_the_test_key_signs_every_seed_provider():
    """The fuzzers reach the rules only if re-signed documents verify: the key must cover every seed's provider."""
    for document in SEED_DOCUMENTS.values():
        assert document["provider"]["domain"] in TEST_KEY.providers
