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

Outcome = Literal["approved", "rejected"]


@dataclass(frozen=True, slots=True)
class Decision:
    decision: Outcome
    reasons: tuple[Reason, ...]
    rulesFired: tuple[str, ...]
    rulesVersion: str
    evaluatedAt: datetime  # the reference time the rules used (the record timestamp in the service)
    signer: str | None = None
    # The event as it was written (JSON values, ``secured`` included) when it could be decoded; otherwise
    # None, and the shell carries the original bytes so nothing is lost.
    article: dict[str, Any] | None = None

    @property
    def approved(self) -> bool:
        return self.decision == "approved"
