"""config/rules.yaml, the shipped policy: it loads, passes the seed, and refuses what it says it refuses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rules_helpers import NOW, SEED, make_article

from service.core.article import Article
from service.core.decode import decode_event
from service.files.rules_file import read_rules

ROOT = Path(__file__).parents[3]
POLICY = read_rules(ROOT / "config" / "rules.yaml")


def codes(article: Article, now=NOW) -> list[str]:
    return [reason.code for reason in POLICY.evaluate(article, {}, now).reasons]


def test_the_default_policy_loads_and_every_rule_is_commented():
    assert POLICY.rules[0] == "https-article-url" and len(POLICY) >= 10
    text = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")
    for rule_id in POLICY.rules:
        before = text[: text.index(f"- id: {rule_id}\n")].rstrip().splitlines()[-1].strip()
        assert before.startswith("#"), f"rule {rule_id} has no comment above it"


def test_the_seed_event_is_approved_at_its_own_time():
    document = decode_event((ROOT / "seeds" / "000_eec557f0eb51af83.txt").read_bytes())
    outcome = POLICY.evaluate(Article.model_validate(document), document, NOW)
    assert outcome.approved and outcome.fired == ()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"webUrl": "http://siliconangle.com/x"}, "url.not_https"),
        ({"images": [{"url": "http://img.example.org/a.jpg"}]}, "image.not_https"),
        ({"related": [{**SEED["related"][0], "webUrl": "http://www.engadget.com/x"}]}, "url.not_https"),
        ({"title": "   "}, "field.required"),
        ({"excerpt": None}, "field.required"),
        ({"provider": {"name": " ", "domain": "siliconangle.com"}}, "field.required"),
        ({"provider": {"name": "Farm", "domain": "www.content-farm.example"}}, "source.blocked"),
        ({"webUrl": "https://clickbait.example/a"}, "source.blocked"),
        ({"title": "This Miracle Cure works"}, "text.banned_term"),
        ({"excerpt": "Click here for more"}, "text.banned_term"),
        ({"publishedDateTime": "2020-03-01T00:00:00Z"}, "date.stale"),
        ({"publishedDateTime": "2020-05-08T07:00:00Z"}, "date.in_future"),
        ({"images": [{"url": "https://img.example.org/p.gif", "height": 1}]}, "image.suspicious_size"),
        ({"images": [{"url": "https://img.example.org/p.gif", "width": 80_000}]}, "image.suspicious_size"),
        ({"title": "x " * 101}, "title.too_long"),
        ({"title": "CLEARVIEW AI WILL STOP SELLING"}, "title.all_caps"),
        ({"quality": 19}, "quality.too_low"),
        ({"quality": -1}, "quality.too_low"),
    ],
)
def test_each_rule_refuses_what_it_says(changes, code):
    assert code in codes(make_article(**changes))


def test_short_acronyms_are_not_all_caps():
    assert codes(make_article(title="NASA")) == []
    assert codes(make_article(title="NASA and ESA agree on Mars plan")) == []


def test_trusted_sources_skip_only_the_quality_floor():
    trusted = {"name": "AP", "domain": "apnews.com"}
    assert codes(make_article(provider=trusted, quality=3)) == []
    plain = make_article(provider=trusted, quality=3, webUrl="http://apnews.com/x")
    outcome = POLICY.evaluate(plain, {}, NOW)
    assert not outcome.approved and [r.code for r in outcome.reasons] == ["url.not_https"]


def test_staleness_is_relative_to_the_reference_time():
    assert codes(make_article(), NOW + timedelta(days=29)) == []
    assert codes(make_article(), NOW + timedelta(days=31)) == ["date.stale"]
