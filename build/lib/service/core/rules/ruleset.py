"""RuleSet: a loaded rules file, ready to evaluate events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.core.rules.evaluate import evaluate
from service.core.rules.model import Rule, RulesOutcome


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A loaded rules file. ``rules`` are the rule ids in evaluation order (priority, then file order)."""

    version: str  # "sha256:" + the full hex SHA-256 of the file's UTF-8 bytes
    source: str
    default: str  # the decision when no rule matched: "approve" | "reject"
    compiled: tuple[Rule, ...] = field(repr=False)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.compiled)

    def __len__(self) -> int:
        return len(self.compiled)

    def evaluate(self, article: Any, document: Any, now: datetime) -> RulesOutcome:
        """Decide on a validated article. ``document`` (the raw JSON values) is accepted for the decide()
        contract; conditions read the typed article, so dates are already parsed and fields typed."""
        return evaluate(self.compiled, self.default == "approve", article, now)
