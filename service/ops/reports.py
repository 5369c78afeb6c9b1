"""What the Kafka loop tells logs, metrics and health: typed values, handed to every sink by ``Reports``.

- ``BatchReport``: one per loop turn. An idle turn (nothing fetched) is ``BatchReport()``: it still tells
  health that the loop turns. A failed delivery names its partitions in ``failed`` (they are rewound and decided
  again); ``delivered`` holds the outgoing records, by source partition, of the partitions that were committed
  (all of them, or in a partly failed batch the others).
- ``Assignment``: the input partitions this instance owns after a rebalance step, and those it just lost.
- ``PolicyChange``: what the policy watcher saw (a reload, a failed reload), told to ``Metrics.policy_changed``.

A sink is any object with ``report(event)``; it matches on the event's type (``match``), never on a name.
Reports are handed over on the event loop after the batch's transaction ended, so sinks see committed work only.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from service.core.batch import Outgoing


@dataclass(frozen=True, slots=True)
class BatchReport:
    records: int = 0  # input records fetched this turn (0: an idle turn)
    seconds: float = 0.0  # decide + deliver + commit
    delivered: Mapping[Hashable, Sequence[Outgoing]] = field(default_factory=dict)  # by source partition
    lag: Mapping[Hashable, int | None] = field(default_factory=dict)  # records behind the end, per partition
    failed: frozenset[Hashable] = frozenset()  # partitions whose delivery failed (rewound, retried)


@dataclass(frozen=True, slots=True)
class Assignment:
    owned: frozenset[Hashable]
    revoked: frozenset[Hashable] = frozenset()


class PolicyChange(Enum):
    """What the policy watcher saw; each value is the name of its counter (``moderation_<value>_total``)."""

    RULES_RELOADED = "rules_reloads"
    RULES_RELOAD_FAILED = "rules_reload_failures"
    KEYS_RELOADED = "key_reloads"
    KEY_RELOAD_FAILED = "key_reload_failures"


Event = BatchReport | Assignment


class Sink(Protocol):
    def report(self, event: Event) -> None: ...


class Reports:
    """The loop's one reporting hook: every event to every sink, in order (logs, metrics, health)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def __call__(self, event: Event) -> None:
        for sink in self.sinks:
            sink.report(event)
