"""The decision loop, and reason messages.

Semantics (docs/rules.md states the same):
  * rules run in evaluation order: higher ``priority`` first, ties in file order;
  * a matching ``reject`` rule adds its reason and evaluation goes on, so the producer sees every problem
    at once; with ``stop: true`` evaluation ends there;
  * a matching ``review`` rule records its reason and evaluation goes on (a review never stops: a reject
    further down must still be able to win);
  * a matching ``approve`` rule ends evaluation;
  * the outcome, by precedence: any reject that fired -> rejected (its reasons); else any review that fired
    -> review (its reasons); else approved. So an approve above every review and reject approves, as before;
  * no rule matched: the file's default decision (``defaults: {decision: ...}``, approve unless stated).

Only a rule that matched allocates: the Hit it returns and its Reason.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import datetime
from typing import Any

from service.core.reasons import Reason
from service.core.rules.model import RULES_DEFAULT_REJECT, RULES_DEFAULT_REVIEW, Hit, Rule, RulesOutcome

TEMPLATE_FIELDS = ("match", "value", "field", "rule")
MAX_QUOTE = 200

# What a file's ``defaults.decision`` gives when no rule matched.
DEFAULT_OUTCOMES = {
    "approve": RulesOutcome(True, (), ()),
    "reject": RulesOutcome(
        False, (), (Reason(RULES_DEFAULT_REJECT, "no publish rule approved the article (default: reject)"),)
    ),
    "review": RulesOutcome(
        False, (), (Reason(RULES_DEFAULT_REVIEW, "no publish rule approved the article (default: review)"),),
        held=True,
    ),
}


def evaluate(rules: tuple[Rule, ...], default: str, article: Any, now: datetime) -> RulesOutcome:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")  # a caller bug: article dates are all aware
    fired: list[str] = []
    rejects: list[Reason] = []
    reviews: list[Reason] = []
    for rule in rules:
        hit = rule.when(article, now)
        if hit is None:
            continue
        fired.append(rule.id)
        if rule.action == "approve":
            break
        assert rule.render is not None and rule.reason is not None
        reason = Reason(rule.reason, rule.render(hit), rule.id, hit[0] or None)
        if rule.action == "review":
            reviews.append(reason)
            continue
        rejects.append(reason)
        if rule.stop:
            break
    if not fired:
        return DEFAULT_OUTCOMES[default]
    if rejects:
        return RulesOutcome(False, tuple(fired), tuple(rejects))
    if reviews:
        return RulesOutcome(False, tuple(fired), tuple(reviews), held=True)
    return RulesOutcome(True, tuple(fired), ())


def check_template(template: str) -> None:
    """Raise ValueError unless ``template`` only uses {match}, {value}, {field}, {rule} (no format specs,
    conversions, attribute or index access: a template must not reach into Python objects)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"bad message template ({exc}); write {{{{ and }}}} for literal braces") from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            raise ValueError(f"message placeholder {{{name}}} is not one of {allowed}")


def make_renderer(template: str, rule_id: str) -> Callable[[Hit], str]:
    def render(hit: Hit) -> str:
        return template.format(field=hit[0], value=quote(hit[1]), match=quote(hit[2]), rule=rule_id)

    return render


def quote(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, tuple):
        text = ", ".join(quote(item) for item in value)
    else:
        text = str(value)
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"
