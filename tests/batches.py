"""A flat list of records through the batch step, for tests that do not care about source-partition grouping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.core.batch import Outgoing, PolicySnapshot, Topics, process_batch
from service.core.limits import DEFAULT_LIMITS, Limits


def decide_flat(records: list[Any], keyring: Any, rules: Any, topics: Topics, replay: Any = None,
                limits: Limits = DEFAULT_LIMITS, *, decided_at: datetime) -> list[Outgoing]:
    """``process_batch`` over the records as one group, its outgoing records in input order."""
    (outgoing,) = process_batch({0: list(records)}, PolicySnapshot(keyring, rules), decided_at, topics=topics,
                                limits=limits, replay=replay).values() or ([],)
    return outgoing
