"""The canonical log line per decision: one ``decision`` line (or ``dead_lettered``) per delivered record.

A report sink (``service.ops.reports``): it writes a delivered batch's lines together (``held_lines``). Lines
come after the batch's transaction committed, so a line means a committed decision; after a crash a line can
repeat (logs happen once per attempt, see docs/delivery.md).
"""

from __future__ import annotations

from typing import Any

from service.ops.logs import held_lines
from service.ops.reports import BatchReport, Event


class DecisionLog:
    def __init__(self, log: Any) -> None:
        self.log = log

    def report(self, event: Event) -> None:
        match event:
            case BatchReport(delivered=delivered) if delivered:
                self._write(delivered)

    def _write(self, delivered: Any) -> None:
        info, error = self.log.info, self.log.error  # once per batch: a lazy structlog proxy resolves each access
        with held_lines():
            for part in delivered.values():
                for out in part:
                    src, d = out.source, out.decision
                    if d is None:
                        error("dead_lettered", topic=src.topic, partition=src.partition, offset=src.offset,
                              error=out.error)
                        continue
                    info("decision", topic=src.topic, partition=src.partition, offset=src.offset,
                         decision=d.decision, reasons=[reason.code for reason in d.reasons],
                         rules_fired=d.rulesFired, rules_version=d.rulesVersion, signer=d.signer)
