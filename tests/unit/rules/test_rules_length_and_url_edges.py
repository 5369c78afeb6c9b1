"""`length`, `domain`, `scheme` and `blank` at their edges (docs/rules.md, Operators).

Mutation testing found these unguarded: `gt: n` holding from n + 2, `lt: n` from n - 2, `lte` ignored, an
unknown bound or a boolean bound accepted, a trailing-dot host not matching its domain, a URL's port read as
part of its scheme, and 0 or false counted as blank. Each case sits at the edge where the mutant differs.
"""

from __future__ import annotations

import pytest
from rules_helpers import fires, make_article, one_rule

from service.core.rules import RulesError

TITLE = "x" * 10


@pytest.mark.parametrize(
    ("bounds", "holds_at_9", "holds_at_10", "holds_at_11"),
    [
        ({"eq": 10}, False, True, False),
        ({"gt": 10}, False, False, True),
        ({"gte": 10}, False, True, True),
        ({"lt": 10}, True, False, False),
        ({"lte": 10}, True, True, False),
        ({"gt": 9, "lt": 11}, False, True, False),
        ({"gte": 0}, True, True, True),
    ],
)
def test_length_bounds_at_their_edges(bounds: dict, holds_at_9: bool, holds_at_10: bool, holds_at_11: bool) -> None:
    when = {"field": "title", "length": bounds}
    got = [fires(when, make_article(title="x" * n)) for n in (9, 10, 11)]
    assert got == [holds_at_9, holds_at_10, holds_at_11]


def test_length_zero_of_an_empty_list() -> None:
    assert fires({"field": "topics", "length": {"eq": 0}}, make_article(topics=[]))
    assert fires({"field": "topics", "length": {"lte": 0}}, make_article(topics=[]))


@pytest.mark.parametrize("bounds", [{"eq": 3, "most": 4}, {"gt": True}, {"gt": -1}, {"lte": 2.5}])
def test_length_refuses_unknown_or_non_whole_bounds(bounds: dict) -> None:
    with pytest.raises(RulesError, match="length"):
        one_rule({"field": "title", "length": bounds})


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        ("https://example.org./a", True),  # a fully qualified host: the trailing dot is not part of the name
        ("https://news.example.org/a", True),
        ("https://example.org.evil.com/a", False),
        ("https://notexample.org/a", False),
    ],
)
def test_domain_matches_the_host_and_its_subdomains_with_or_without_the_root_dot(url: str, matches: bool) -> None:
    assert fires({"field": "webUrl", "domain": "example.org"}, make_article(webUrl=url)) is matches


@pytest.mark.parametrize(
    ("url", "scheme", "matches"),
    [
        ("https://example.org:8443/a:b", "https", True),  # colons after the scheme's belong to port and path
        ("HTTPS://example.org/", "https", True),
        ("http://example.org/", "https", False),
    ],
)
def test_scheme_is_what_comes_before_the_first_colon(url: str, scheme: str, matches: bool) -> None:
    assert fires({"field": "webUrl", "scheme": scheme}, make_article(webUrl=url)) is matches


def test_a_bare_domain_with_the_root_dot_matches() -> None:
    """Free text holding a bare host name (the schema refuses a root dot in provider.domain itself)."""
    article = make_article(category="News.Example.org.")
    assert fires({"field": "category", "domain": "example.org"}, article)


@pytest.mark.parametrize(("field", "value"), [("quality", 0), ("published", False), ("heat", 0)])
def test_zero_and_false_are_values_not_blanks(field: str, value: object) -> None:
    article = make_article(**{field: value})
    assert not fires({"field": field, "blank": True}, article)
    assert fires({"field": field, "blank": False}, article)


def test_text_without_a_colon_has_no_scheme() -> None:
    """Free text that is only a word is not a URL with that scheme."""
    assert not fires({"field": "category", "scheme": "https"}, make_article(category="https"))
    assert fires({"field": "category", "scheme": "https"}, make_article(category="https:x"))
