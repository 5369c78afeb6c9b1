"""The values the rule language is made of: errors, compiled rules, rule sets and outcomes.

Everything here is immutable. A ``RuleSet`` only exists complete: ``load_rules`` either returns one whose
every rule compiled, or raises ``RulesError`` listing every problem it found (never a half-loaded set).

Errors: ``RulesError`` (service/errors.py draws the tree), the rules file cannot be used; ``.problems`` holds
one ``Problem`` per mistake, each naming the file, the line and (when known) the rule id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.core.decision import Outcome
from service.core.errors import RulesError as RulesError  # re-exported: the rules package exports it
from service.core.reasons import Reason

# The reasons given when no rule matched and the file says ``defaults: {decision: reject}`` / ``review``.
RULES_DEFAULT_REJECT = "rules.default_reject"
RULES_DEFAULT_REVIEW = "rules.default_review"

# What a rule does when it matches, and what a file may name as its default decision.
ACTIONS = ("approve", "reject", "review")

# A compiled condition: (article or sub-object, now) -> None (no match) or a Hit.
# A Hit is (path, value, match): the concrete field path with list indexes ("images.0.url", "" when the
# condition is not about one field, e.g. a `not`), the value found there and the text that matched (or None).
Hit = tuple[str, Any, Any]
Predicate = Callable[[Any, datetime], Hit | None]
NO_FIELD_HIT: Hit = ("", None, None)


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int | None
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: rule {self.rule!r}: {self.message}" if self.rule else f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``render`` turns a Hit into the reason message (None for approve rules)."""

    id: str
    priority: int
    action: str  # "approve" | "reject" | "review"
    reason: str | None
    stop: bool
    when: Predicate
    render: Callable[[Hit], str] | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class RulesOutcome:
    """What the rules decided. ``held`` (never together with ``approved``) means a person settles it."""

    approved: bool
    fired: tuple[str, ...]
    reasons: tuple[Reason, ...]
    held: bool = False

    @property
    def decision(self) -> Outcome:
        """The Decision's value: "approved", "rejected" or "review"."""
        return "approved" if self.approved else "review" if self.held else "rejected"
