"""The decision loop, and reason messages.

Semantics (docs/rules.md states the same):
  * rules run in evaluation order: higher ``priority`` first, ties in file order;
  * a matching ``reject`` rule adds its reason and evaluation goes on, so the producer sees every problem
    at once; with ``stop: true`` evaluation ends there;
  * a matching ``approve`` rule ends evaluation. The event is approved unless a reject rule earlier in the
    order already matched (then it stays rejected; the approve rule is still listed in ``fired``);
  * no rule matched: the file's default decision (``defaults: {decision: ...}``, approve unless stated).

Only a rule that matched allocates: the Hit it returns and its Reason.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import datetime
from typing import Any

from service.core.reasons import Reason
from service.core.rules.model import RULES_DEFAULT_REJECT, Hit, Rule, RulesOutcome

TEMPLATE_FIELDS = ("match", "value", "field", "rule")
MAX_QUOTE = 200

_APPROVED = RulesOutcome(True, (), ())
_DEFAULT_REJECTED = RulesOutcome(
    False, (), (Reason(RULES_DEFAULT_REJECT, "no publish rule approved the article (default: reject)"),)
)


def evaluate(rules: tuple[Rule, ...], default_approve: bool, article: Any, now: datetime) -> RulesOutcome:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")  # a caller bug: article dates are all aware
    fired: list[str] = []
    reasons: list[Reason] = []
    approved_by_rule = False
    for rule in rules:
        hit = rule.when(article, now)
        if hit is None:
            continue
        fired.append(rule.id)
        if rule.action == "approve":
            approved_by_rule = not reasons
            break
        assert rule.render is not None and rule.reason is not None
        reasons.append(Reason(rule.reason, rule.render(hit), rule.id, hit[0] or None))
        if rule.stop:
            break
    if not fired:
        return _APPROVED if default_approve else _DEFAULT_REJECTED
    return RulesOutcome(approved_by_rule or not reasons, tuple(fired), tuple(reasons))


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
