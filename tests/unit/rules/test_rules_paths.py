"""Field paths: nested objects, list quantifiers (any/all), missing objects, the reported concrete path."""

from __future__ import annotations

import pytest
from rules_helpers import NOW, SEED, fires, make_article, reject_rule, rules_yaml

from service.core.rules import load_rules


def image(url: str = "https://img.example.org/a.jpg", **fields):
    return {"url": url, **fields}


IMAGES = [image(isCached=True, width=10), image("http://img.example.org/b.jpg", isCached=False, width=900)]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"field": "images[any].isCached", "equals": False}, True),
        ({"field": "images[].isCached", "equals": False}, True),  # [] is [any]
        ({"field": "images[all].isCached", "equals": False}, False),
        ({"field": "images[all].isCached", "exists": True}, True),
        ({"field": "images[any].width", "gt": 800}, True),
        ({"field": "images[all].width", "gt": 5}, True),
        ({"field": "images[all].url", "scheme": "https"}, False),
        ({"field": "images[any].url", "not_scheme": "https"}, True),
    ],
)
def test_any_and_all_over_list_items(when, expected):
    assert fires(when, make_article(images=IMAGES)) is expected


def test_all_is_true_and_any_false_for_an_empty_or_absent_list():
    for article in (make_article(images=[]), make_article(images=None)):
        assert fires({"field": "images[all].isCached", "equals": True}, article)
        assert not fires({"field": "images[any].isCached", "equals": True}, article)


def test_nested_lists_and_objects():
    related = [
        {**SEED["related"][0], "provider": {"name": "A", "domain": "a.org"}, "images": [image()]},
        {**SEED["related"][0], "provider": None, "images": [image(), image("http://x.org/i.jpg")]},
    ]
    article = make_article(related=related)
    assert fires({"field": "related[any].provider.domain", "domain": "a.org"}, article)
    assert not fires({"field": "related[all].provider.domain", "domain": "a.org"}, article)
    assert fires({"field": "related[any].provider", "missing": True}, article)  # a missing object
    assert not fires({"field": "related[all].provider.name", "exists": True}, article)
    assert fires({"field": "related[any].images[any].url", "scheme": "http"}, article)
    assert not fires({"field": "related[all].images[any].url", "scheme": "http"}, article)
    assert fires({"field": "related[all].images[any].url", "scheme": "https"}, article)
    assert not fires({"field": "related[any].images[all].url", "scheme": "http"}, article)


def test_the_reason_names_the_concrete_path_with_list_indexes():
    related = [SEED["related"][0], {**SEED["related"][0], "images": [image(), image("http://x.org/i.jpg")]}]
    rule = reject_rule({"field": "related[any].images[any].url", "scheme": "http"}, message="{field}={value}")
    outcome = load_rules(rules_yaml(rule)).evaluate(make_article(related=related), {}, NOW)
    (reason,) = outcome.reasons
    assert reason.path == "related.1.images.1.url"
    assert reason.message == "related.1.images.1.url=http://x.org/i.jpg"
    topic = reject_rule({"field": "topics[any]", "text": "ai"}, message="{field}")
    assert load_rules(rules_yaml(topic)).evaluate(make_article(), {}, NOW).reasons[0].path == "topics.1"


def test_whole_list_operators_do_not_need_a_quantifier():
    assert fires({"field": "topics", "exists": True})
    assert fires({"field": "topics", "length": {"eq": 2}})
    assert fires({"field": "related", "missing": True}, make_article(related=None))
