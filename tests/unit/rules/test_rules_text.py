"""Text matching: modes, Unicode word boundaries and case folding, RE2 safety, big keyword lists."""

from __future__ import annotations

import re

import pytest
import re2
from rules_helpers import NOW, fires, make_article, one_rule, reject_rule, rules_yaml

from service.core.rules import RulesError, load_rules
from service.core.rules.text import compile_regex, compile_text


def title(text: str):
    return make_article(title=text)


def matched(when: dict, text: str) -> str | None:
    """The {match} a reject rule quotes for ``text`` as the title, or None if it did not fire."""
    rules = load_rules(rules_yaml(reject_rule(when, message="{match}")), "t.yaml")
    outcome = rules.evaluate(title(text), {}, NOW)
    return outcome.reasons[0].message if outcome.reasons else None


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        ("ai", "Clearview AI will stop", True),
        ("ai", "he said so", False),  # no match inside a word
        ("ai", "AI-powered", True),  # punctuation is a boundary
        ("ai", "the_ai_lab", False),  # underscore is a word character
        ("ai", "ai2 model", False),  # digits are word characters
        ("ai", "(AI)", True),
        ("ai", "ai", True),
        ("stop selling", "will stop selling its", True),  # a phrase
        ("stop selling", "will stop  selling its", False),  # phrases are literal
        ("café", "Le Café du coin", True),
        ("caf", "Le Café du coin", False),  # é is a letter: no boundary before it
        ("é", "caféine", False),
        ("cafe", "cafe\u0301 au lait", False),  # a combining accent continues the word
        ("москва", "Новости: МОСКВА сегодня", True),
        ("ß", "straße", False),
    ],
)
def test_word_match_uses_unicode_word_boundaries(terms, text, expected):
    assert fires({"field": "title", "text": terms}, title(text)) is expected


def test_re2_word_boundary_is_ascii_only_which_is_why_we_do_not_use_it():
    assert re2.search(r"\bstra\b", "straße") is not None  # RE2 sees a boundary inside the word
    assert not fires({"field": "title", "text": "stra"}, title("straße"))


@pytest.mark.parametrize(
    ("term", "text"),
    [("straße", "STRASSE"), ("STRASSE", "straße"), ("ǅ", "ǆ"), ("ΣΊΣΥΦΟΣ", "σίσυφος"), ("ﬁle", "FILE")],
)
def test_default_is_case_insensitive_with_full_unicode_case_folding(term, text):
    assert fires({"field": "title", "text": term}, title(text))
    assert not fires({"field": "title", "text": term, "case_sensitive": True}, title(text))


def test_case_sensitive_flag():
    assert fires({"field": "title", "text": "AI", "case_sensitive": True})
    assert not fires({"field": "title", "text": "ai", "case_sensitive": True})


@pytest.mark.parametrize(
    ("mode", "term", "text", "expected"),
    [
        ("includes", "view", "Clearview AI", True),
        ("includes", "VIEW", "Clearview AI", True),
        ("includes", "views", "Clearview AI", False),
        ("starts-with", "clear", "Clearview AI", True),
        ("starts-with", "view", "Clearview AI", False),
        ("ends-with", "w ai", "Clearview AI", True),
        ("ends-with", "clear", "Clearview AI", False),
        ("full-exact", "clearview ai", "Clearview AI", True),
        ("full-exact", "clearview", "Clearview AI", False),
        ("word", "clearview", "Clearview AI", True),
        ("regex", r"clear\w+ ai$", "Clearview AI", True),
        ("regex", r"^ai", "Clearview AI", False),
    ],
)
def test_match_modes(mode, term, text, expected):
    assert fires({"field": "title", "text": term, "match": mode}, title(text)) is expected


def test_a_list_of_terms_matches_any_and_quotes_the_text_as_written():
    when = {"field": "title", "text": ["robot", "facial recognition"]}
    assert matched(when, "Clearview's FACIAL Recognition deal") == "FACIAL Recognition"
    assert matched(when, "Nothing here") is None
    # Folding changed the length (ß -> ss): the original text the match came from is quoted (issue 12: quote
    # the original text; before, the folded match "strasse" was quoted).
    assert matched({"field": "title", "text": "strasse"}, "Große Straße") == "Straße"


def test_regex_quotes_the_match_and_is_case_insensitive_by_default():
    when = {"field": "title", "text": r"\d+ percent", "match": "regex"}
    assert matched(when, "Up 42 PERCENT") == "42 PERCENT"


def test_named_lists_splice_into_term_lists():
    top = {"lists": {"bad": ["robot", "clearview"]}}
    assert fires({"field": "title", "text": [{"list": "bad"}]}, **top)
    assert fires({"field": "title", "text": ["nothing", {"list": "bad"}]}, **top)
    assert fires({"field": "category", "in": [{"list": "cats"}]}, lists={"cats": ["sport", "news"]})


def test_text_on_list_items():
    assert fires({"field": "topics[any]", "text": "vision"})
    assert not fires({"field": "topics[all]", "text": "vision"})
    assert fires({"field": "topics[all]", "text": ["vision", "ai"]})


# --- RE2 safety -----------------------------------------------------------------------------------------


def test_regexes_are_compiled_by_google_re2_not_python_re():
    program = compile_regex("a+")
    assert type(program).__module__.startswith("re2")
    assert not isinstance(program, re.Pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?P<x>a)(?P=x)", r"foo(?=bar)", r"(?<!x)foo", r"a{2000}", r"(unclosed"],
)
def test_patterns_re2_cannot_run_in_linear_time_are_load_errors(pattern):
    if pattern != "(unclosed":
        re.compile(pattern)  # Python's re accepts it: refusing it shows there is no fallback to re
    with pytest.raises(RulesError) as caught:
        one_rule({"field": "title", "text": pattern, "match": "regex"})
    assert "RE2 cannot compile" in str(caught.value)
    assert "test.yaml:" in str(caught.value)


def test_catastrophic_backtracking_pattern_runs_in_linear_time():
    # ^(a+)+$ on "aaaa...a!" takes exponential time with backtracking engines (hours for 100,000 a's);
    # RE2 answers at once. The suite's timeout is the guard: no timing assertion here.
    when = {"field": "excerpt", "text": "^(a+)+$", "match": "regex"}
    assert not fires(when, make_article(excerpt="a" * 19_999 + "!"))
    assert fires(when, make_article(excerpt="a" * 20_000))


def test_a_10000_term_list_loads_into_one_program_and_matches():
    terms = [f"term{i:05d}" for i in range(10_000)]
    top = {"lists": {"big": terms}}
    assert fires({"field": "title", "text": [{"list": "big"}]}, title("so Term09999 here"), **top)
    assert fires({"field": "title", "text": [{"list": "big"}]}, title("term00000"), **top)
    assert not fires({"field": "title", "text": [{"list": "big"}]}, title("term10000 term0999"), **top)
    test = compile_text(terms, "word", case_sensitive=False)
    assert test("x TERM05000 y", NOW) == ("x TERM05000 y", "TERM05000")
