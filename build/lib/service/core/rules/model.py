"""The values the rule language is made of: errors, compiled rules, rule sets and outcomes.

Everything here is immutable. A ``RuleSet`` only exists complete: ``load_rules`` either returns one whose
every rule compiled, or raises ``RulesError`` listing every problem it found (never a half-loaded set).

Error tree:

    RulesError (ValueError)   the rules file cannot be used; ``.problems`` holds one ``Problem`` per mistake,
                              each naming the file, the line and (when known) the rule id
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.core.reasons import Reason

# The reason given when no rule matched and the file says ``defaults: {decision: reject}``.
RULES_DEFAULT_REJECT = "rules.default_reject"

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


class RulesError(ValueError):
    """The rules file cannot be used. ``str()`` lists every problem, one per line."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``render`` turns a Hit into the reason message (None for approve rules)."""

    id: str
    priority: int
    action: str  # "approve" | "reject"
    reason: str | None
    stop: bool
    when: Predicate
    render: Callable[[Hit], str] | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class RulesOutcome:
    approved: bool
    fired: tuple[str, ...]
    reasons: tuple[Reason, ...]
