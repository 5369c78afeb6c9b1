"""The decision: what the core returns for one record, and what the shell publishes.

Plain frozen dataclasses, not pydantic models: one is built per event on the hot path, and pydantic's
``TypeAdapter`` still derives the published JSON Schema from them (``service/contracts/schemas.py``).
The core fills everything it can know from its arguments; the shell adds where the record came from
(``source``) when it builds the output event (``service/core/envelope.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from service.core.reasons import Reason

SCHEMA_VERSION = 1

# "review": a rule held the event for a person to settle (docs/rules.md, precedence); it is neither approved
# nor rejected yet, so ``approved`` is False and ``held`` is True.
Outcome = Literal["approved", "rejected", "review"]


# Not frozen, built once per record: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~4x the time). Nothing assigns to one after it is built (docs/benchmarks.md, issue 14).
@dataclass(slots=True)
class Decision:
    decision: Outcome
    reasons: tuple[Reason, ...]
    rulesFired: tuple[str, ...]
    rulesVersion: str
    evaluatedAt: datetime  # the reference time the rules used (the record timestamp in the service)
    signer: str | None = None
    # The event as it was written (JSON values, ``secured`` included) when it is an article (it decoded and
    # matched the article schema); otherwise None, and the envelope carries the original bytes so nothing is lost.
    article: dict[str, Any] | None = None

    @property
    def approved(self) -> bool:
        return self.decision == "approved"

    @property
    def held(self) -> bool:
        """Held for human review: the decision is "review"."""
        return self.decision == "review"
