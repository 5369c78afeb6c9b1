"""``moderation run`` with the decision core replaced by a canned step: what the service's shell alone costs.

    python -m bench.shell_floor [PRODUCER_OPTIONS_JSON]

The process is the real service (``service.cli.main(["run"])``): the same Kafka loop, hand-off to the worker
thread, delivery (either guarantee), decision log line per record, metrics and replay-window bookkeeping. Only
``process_batch`` (``service.core.batch``, looked up by ``service.app`` at each batch) is replaced by
``CannedStep``: one real decision is made once, and every record then gets a copy of it (its value bytes,
headers and decision object) under its own key and source coordinates. So the outputs have the real size and
shape, and the shell handles them exactly as it handles real decisions, but no record is decoded, validated,
verified, evaluated, encoded or stamped with its own CloudEvents headers (all of that is core work).

The bench runs it as the system "service-shell" (bench/runner.py). Its CPU per 1,000 events is the shell's
floor; the service's minus this, from the same run, is what the decision costs end to end
(``report.shell_floor``, docs/benchmarks.md). A producer-options JSON argument is applied as ``bench.patched``
applies it to the service, so a what-if run compares like with like.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any

import service.app as app
from service.core.batch import Outgoing, PolicySnapshot, Topics
from service.core.envelope import Source
from service.core.limits import DEFAULT_LIMITS, Limits
from service.core.replay import ReplayBatch


class CannedStep:
    """``process_batch``'s signature and result shape (``{partition: [Outgoing, ...]}``, input order), at the
    cost of one ``Outgoing`` and one ``Source`` per record.

    The canned decision is the first record of the first non-empty batch that the real step approves, decided
    in a batch of its own (records before it that are not approved are decided for nothing, usually none: the
    bench rejects one event in ten). An approval because it is the common case (90% of the bench's events):
    everything then goes to the approved topic with an approval's bytes, whatever record happened to come
    first. Replay detection is left out of that one decision: it would hold a window entry for that record.
    """

    def __init__(self, real: Callable[..., dict[Any, list[Outgoing]]]) -> None:
        self.real = real
        self.canned: Outgoing | None = None
        self._lock = threading.Lock()  # the first batch's partitions can be decided in several worker threads

    def __call__(self, records: Mapping[Hashable, Sequence[Any]], policy: PolicySnapshot, decided_at: datetime, *,
                 topics: Topics, limits: Limits = DEFAULT_LIMITS, replay: ReplayBatch | None = None
                 ) -> dict[Hashable, list[Outgoing]]:
        canned = self.canned or self._first(records, policy, decided_at, topics, limits)
        if canned is None:  # nothing to decide (empty partitions)
            return {tp: [] for tp in records}
        topic, value, headers, decision = canned.topic, canned.value, canned.headers, canned.decision
        # One headers list shared by every record: the shell only reads it (delivery appends it to a batch).
        return {tp: [Outgoing(topic, r.key, value, headers, Source(r.topic, r.partition, r.offset, r.timestamp),
                              decision) for r in part]
                for tp, part in records.items()}

    def _first(self, records: Mapping[Hashable, Sequence[Any]], policy: PolicySnapshot, decided_at: datetime,
               topics: Topics, limits: Limits) -> Outgoing | None:
        with self._lock:
            if self.canned is not None:  # another worker thread made it meanwhile
                return self.canned
            first = None
            for tp, part in records.items():
                for record in part:
                    out = self.real({tp: [record]}, policy, decided_at, topics=topics, limits=limits)[tp][0]
                    first = first or out
                    if out.topic == topics.approved:
                        self.canned = out
                        return out
            self.canned = first  # none approved in this batch: the first record's outcome, whatever it was
            return first


def main() -> int:
    app.process_batch = CannedStep(app.process_batch)
    if len(sys.argv) > 1:  # --producer-options: the what-if the service runs get through bench.patched
        from bench import patched

        return patched.main()
    from service.cli import main as cli

    return cli(["run"])


if __name__ == "__main__":
    sys.exit(main())
