"""Helpers for the rule tests: an article like the seed, and one-rule rule sets built from Python values.

Imported as a plain module: pytest puts this folder on sys.path (rootdir import mode, no __init__.py).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import yaml

from service.core.article import Article
from service.core.rules import RuleSet, load_rules

NOW = datetime(2020, 5, 8, 5, 0, tzinfo=UTC)

SEED: dict[str, Any] = {
    "category": "news",
    "title": "Clearview AI will stop selling its facial recognition technology to private companies",
    "excerpt": "The controversial facial recognition firm Clearview AI Inc. has stopped selling.",
    "publishedDateTime": "2020-05-08T04:01:00Z",
    "webUrl": "https://siliconangle.com/2020/05/07/clearview-ai-will-stop-selling/",
    "type": "article",
    "quality": 47,
    "heat": -1,
    "published": False,
    "provider": {"name": "SiliconANGLE", "domain": "siliconangle.com"},
    "topics": ["Computer Vision", "AI"],
    "images": [
        {
            "url": "https://d15shllkswkct0.cloudfront.net/files/2020/05/15908830396_c.jpg",
            "width": 800,
            "height": 314,
            "isCached": True,
            "title": "Clearview AI will stop selling",
        }
    ],
    "related": [
        {
            "title": "Clearview AI claims its facial recognition tech isn't for private companies",
            "publishedDateTime": "2020-05-08T03:23:00Z",
            "webUrl": "https://www.engadget.com/clearview-ai-claims.html",
            "provider": {"name": "Engadget", "domain": "engadget.com"},
            "quality": 102,
            "images": [{"url": "https://o.aolcdn.com/images/dims?q=80", "width": 600, "height": 350}],
        }
    ],
}


def make_document(**changes: Any) -> dict[str, Any]:
    """The seed-like document with top-level fields replaced (a value of None removes the field)."""
    document = copy.deepcopy(SEED)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def make_article(**changes: Any) -> Article:
    return Article.model_validate(make_document(**changes))


def rules_yaml(*rules: dict[str, Any], **top: Any) -> str:
    return yaml.safe_dump({**top, "rules": list(rules)}, sort_keys=False, allow_unicode=True)


def reject_rule(when: dict[str, Any], rule_id: str = "r", **extra: Any) -> dict[str, Any]:
    rule = {"id": rule_id, "description": "test rule", "when": when, "action": "reject"}
    return rule | {"reason": "test.fired"} | extra


def one_rule(when: dict[str, Any], **top: Any) -> RuleSet:
    return load_rules(rules_yaml(reject_rule(when), **top), "test.yaml")


def fires(when: dict[str, Any], article: Article | None = None, now: datetime = NOW, **top: Any) -> bool:
    """Does a reject rule with this condition fire on the article (default: the seed)?"""
    outcome = one_rule(when, **top).evaluate(article or make_article(), {}, now)
    return outcome.fired == ("r",)
