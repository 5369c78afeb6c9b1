"""Every leaf operator, on the field types it applies to, including missing values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rules_helpers import NOW, fires, make_article


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"field": "category", "equals": "news"}, True),
        ({"field": "category", "equals": "News"}, False),  # equals is exact
        ({"field": "quality", "equals": 47}, True),
        ({"field": "published", "equals": False}, True),
        ({"field": "published", "equals": True}, False),
        ({"field": "publishedDateTime", "equals": "2020-05-08T04:01:00Z"}, True),
        ({"field": "publishedDateTime", "equals": "2020-05-08T06:01:00+02:00"}, True),  # same instant
        ({"field": "category", "not_equals": "news"}, False),
        ({"field": "category", "not_equals": "sport"}, True),
        ({"field": "category", "in": ["sport", "news"]}, True),
        ({"field": "category", "in": ["sport"]}, False),
        ({"field": "quality", "in": [1, 2, 47]}, True),
        ({"field": "category", "not_in": ["sport"]}, True),
        ({"field": "category", "not_in": ["sport", "news"]}, False),
    ],
)
def test_equality_and_membership(when, expected):
    assert fires(when) is expected


@pytest.mark.parametrize(
    ("op", "bound", "expected"),
    [
        ("gt", 46, True), ("gt", 47, False), ("gte", 47, True), ("gte", 48, False),
        ("lt", 48, True), ("lt", 47, False), ("lte", 47, True), ("lte", 46.5, False), ("gt", 46.5, True),
    ],
)  # fmt: skip
def test_numeric_comparisons(op, bound, expected):
    assert fires({"field": "quality", op: bound}) is expected


def test_negative_numbers_compare():
    assert fires({"field": "heat", "lt": 0})
    assert not fires({"field": "heat", "gte": 0})


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"field": "publishedDateTime", "before": "2020-05-08T04:01:01Z"}, True),
        ({"field": "publishedDateTime", "before": "2020-05-08T04:01:00Z"}, False),
        ({"field": "publishedDateTime", "after": "2020-05-08T04:00:59Z"}, True),
        ({"field": "publishedDateTime", "after": "2020-05-08T06:02:00+02:00"}, False),
        ({"field": "publishedDateTime", "older_than": "58 minutes"}, True),  # NOW is 59 minutes later
        ({"field": "publishedDateTime", "older_than": "1 hour"}, False),
        ({"field": "publishedDateTime", "newer_than": "1 hour"}, True),
        ({"field": "publishedDateTime", "newer_than": "30 minutes"}, False),
        ({"field": "publishedDateTime", "future_by": "0 seconds"}, False),
    ],
)
def test_dates_absolute_and_relative(when, expected):
    assert fires(when) is expected


def test_relative_dates_follow_the_reference_time_not_the_clock():
    when = {"field": "publishedDateTime", "older_than": "30 days"}
    assert not fires(when, now=NOW + timedelta(days=29))
    assert fires(when, now=NOW + timedelta(days=31))
    ahead = {"field": "publishedDateTime", "future_by": "1 hour"}
    assert fires(ahead, now=NOW - timedelta(hours=2))
    assert not fires(ahead, now=NOW - timedelta(minutes=30))


def test_yaml_timestamps_are_accepted_unquoted():
    from service.core.rules import load_rules

    text = """
rules:
  - id: old
    description: before 2021
    when: {field: publishedDateTime, before: 2021-01-01T00:00:00Z}
    action: reject
    reason: date.old
"""
    assert load_rules(text).evaluate(make_article(), {}, NOW).fired == ("old",)


def test_duration_units():
    for text in ("2 weeks", "14 days", "336 hours", "20160 minutes", "1209600 seconds", "1 week"):
        assert fires({"field": "publishedDateTime", "newer_than": text})


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"field": "title", "length": {"gt": 80}}, True),  # the seed title has 85 characters
        ({"field": "title", "length": {"gt": 85}}, False),
        ({"field": "title", "length": {"eq": 85}}, True),
        ({"field": "title", "length": {"gte": 10, "lte": 90}}, True),
        ({"field": "title", "length": {"lt": 85}}, False),
        ({"field": "topics", "length": {"eq": 2}}, True),  # list length
        ({"field": "images", "length": {"gte": 2}}, False),
        ({"field": "topics[any]", "length": {"eq": 2}}, True),  # "AI" has 2 characters
        ({"field": "topics[all]", "length": {"gt": 2}}, False),
    ],
)
def test_length_of_text_and_lists(when, expected):
    assert fires(when) is expected


def test_exists_missing_and_blank():
    assert fires({"field": "excerpt", "exists": True})
    assert not fires({"field": "excerpt", "missing": True})
    no_excerpt = make_article(excerpt=None)
    assert fires({"field": "excerpt", "missing": True}, no_excerpt)
    assert fires({"field": "excerpt", "exists": False}, no_excerpt)
    assert fires({"field": "excerpt", "blank": True}, no_excerpt)
    assert fires({"field": "excerpt", "blank": True}, make_article(excerpt="  \n\t "))
    assert fires({"field": "excerpt", "blank": True}, make_article(excerpt=""))
    assert not fires({"field": "excerpt", "blank": True})
    assert fires({"field": "topics", "blank": True}, make_article(topics=[]))
    assert fires({"field": "excerpt", "blank": False})


def test_missing_values_match_no_comparison_not_even_negated_ones():
    bare = make_article(quality=None, category=None, excerpt=None)
    for when in (
        {"field": "quality", "lt": 100},
        {"field": "quality", "gte": -100},
        {"field": "category", "not_equals": "news"},
        {"field": "category", "not_in": ["news"]},
        {"field": "excerpt", "not_text": "x"},
        {"field": "excerpt", "length": {"gte": 0}},
    ):
        assert not fires(when, bare), when


@pytest.mark.parametrize(
    ("field", "domains", "expected"),
    [
        ("provider.domain", "siliconangle.com", True),
        ("provider.domain", "SiliconAngle.COM.", True),  # case and a trailing dot do not matter
        ("provider.domain", "angle.com", False),  # no look-alike suffixes
        ("provider.domain", "com", True),  # a whole top-level domain can be listed
        ("webUrl", "siliconangle.com", True),  # URLs: their host is compared
        ("related[any].webUrl", "engadget.com", True),  # www.engadget.com is a subdomain
        ("related[any].webUrl", "www.engadget.com", True),
        ("related[any].webUrl", "news.engadget.com", False),
        ("related[any].provider.domain", ["other.org", "engadget.com"], True),
    ],
)
def test_domain_matches_the_domain_and_its_subdomains_only(field, domains, expected):
    assert fires({"field": field, "domain": domains}) is expected


def test_domain_is_not_fooled_by_look_alikes():
    bad = make_article(provider={"name": "Bad", "domain": "badexample.com"})
    sub = make_article(provider={"name": "Sub", "domain": "news.example.com"})
    assert not fires({"field": "provider.domain", "domain": "example.com"}, bad)
    assert fires({"field": "provider.domain", "domain": "example.com"}, sub)
    userinfo = make_article(webUrl="https://example.com@evil.org/path")
    assert not fires({"field": "webUrl", "domain": "example.com"}, userinfo)
    assert fires({"field": "webUrl", "domain": "evil.org"}, userinfo)


def test_scheme():
    assert fires({"field": "webUrl", "scheme": "https"})
    assert fires({"field": "webUrl", "scheme": ["HTTP", "https"]})
    assert not fires({"field": "webUrl", "not_scheme": "https"})
    plain = make_article(webUrl="http://siliconangle.com/x")
    assert fires({"field": "webUrl", "not_scheme": "https"}, plain)
    assert fires({"field": "webUrl", "scheme": "http"}, make_article(webUrl="HTTP://siliconangle.com/x"))


def test_not_domain():
    assert fires({"field": "provider.domain", "not_domain": "example.com"})
    assert not fires({"field": "provider.domain", "not_domain": "siliconangle.com"})


def test_every_operator_the_language_names_has_a_compiler_in_the_table():
    """conditions.OPERATORS (what a rule may write) and the operator table (what compiles) agree."""
    from service.core.rules import operators
    from service.core.rules.conditions import OPERATORS

    plain = {op.removeprefix("not_") for op in OPERATORS}
    assert plain == {*operators._OPERATORS, "text"}
    assert all(op.removeprefix("not_") in operators.NEGATABLE for op in OPERATORS if op.startswith("not_"))
