"""Replay detection: an exact copy of an already-decided signed event is rejected as ``signature.replay``.

A copy is recognised by its signer and nonce (a producer never reuses a nonce; see docs/signing.md). The window
is bounded by count (oldest forgotten first) and by age, measured in record time (the records' own timestamps,
never the wall clock, so reprocessing a backlog does not change what counts as a copy). Record time is chosen by
the producer unless the input topic uses ``message.timestamp.type=LogAppendTime``; docs/signing.md says why an
operator who relies on replay detection should set it.

Records are remembered only once their batch is delivered (``ReplayBatch.commit``): a batch that fails and is
decided again must not find its own records in the window. Windows are kept per input partition, because an
exact copy has the same key as its original and so lands in the same partition; a partition that moves to
another instance starts with an empty window there. Nothing survives a restart: the window is memory only.
Pure: no clock, no I/O. ``service.core.decide.decide_record`` is the one caller of ``ReplayBatch.check``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from service.core import reasons as r
from service.core.decision import Decision
from service.core.reasons import Reason


# Not frozen, built once per signed record: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~4x the time). Nothing assigns to one after it is built (docs/benchmarks.md, issue 14).
@dataclass(slots=True)
class FirstSeen:
    at: datetime
    where: str  # e.g. "offset 41", for the rejection message


class ReplayWindow:
    """The signed events decided recently in one partition: key (signer and nonce) -> when and where first seen.

    A dict and a deque of its keys, oldest first, rather than an OrderedDict: ~90 bytes less per entry (380 -> 290
    with the key below), which a full window of 100,000 multiplies (docs/benchmarks.md, issue 14)."""

    def __init__(self, max_entries: int = 100_000, max_age: timedelta = timedelta(hours=24)) -> None:
        self.max_entries, self.max_age = max_entries, max_age
        self._seen: dict[Hashable, FirstSeen] = {}
        self._order: deque[Hashable] = deque()  # the keys of _seen, in the order they were remembered

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, key: Hashable, at: datetime) -> FirstSeen | None:
        first = self._seen.get(key)
        return first if first is not None and at - first.at <= self.max_age else None

    def remember(self, key: Hashable, first: FirstSeen) -> None:
        # Forget by count only. Forgetting by age would let one record with a producer-chosen far-future
        # timestamp push the horizon past every entry and empty the window; age is judged at lookup instead.
        if key in self._seen:
            return  # the first sighting is the one a copy's rejection names
        self._seen[key] = first
        self._order.append(key)
        while len(self._order) > self.max_entries:
            del self._seen[self._order.popleft()]


def replay_key(signer: str, nonce: bytes) -> bytes:
    """One bytes object for the pair (a tuple of two objects costs ~50 bytes more per entry): the nonce's length
    (16 bytes, docs/signing.md; any length below 256 stays unambiguous), the nonce, then the signer's id."""
    return bytes((len(nonce),)) + nonce + signer.encode()


class ReplayWindows:
    """One ReplayWindow per partition, with batches that only remember what was delivered."""

    def __init__(self, max_entries: int = 100_000, max_age: timedelta = timedelta(hours=24)) -> None:
        self.max_entries, self.max_age = max_entries, max_age
        self._windows: dict[Hashable, ReplayWindow] = {}

    def window(self, partition: Hashable) -> ReplayWindow:
        found = self._windows.get(partition)
        if found is None:
            found = self._windows[partition] = ReplayWindow(self.max_entries, self.max_age)
        return found

    def forget(self, partitions: Iterable[Hashable]) -> None:
        for partition in partitions:
            self._windows.pop(partition, None)

    def batch(self, after: ReplayBatch | None = None) -> ReplayBatch:
        """A batch's view of the windows; ``after``: the batch before it, still being delivered, whose events
        count as seen (the loop decides a batch while the one before it is delivered: service/app.py)."""
        return ReplayBatch(self, after)


class ReplayBatch:
    def __init__(self, windows: ReplayWindows, after: ReplayBatch | None = None) -> None:
        self._windows, self._after = windows, after
        self._pending: dict[Hashable, dict[bytes, FirstSeen]] = {}

    def check(self, decision: Decision, nonce: bytes, partition: Hashable, where: str) -> Decision:
        """The decision, or a rejection if its signed event (signer, ``nonce`` of its verified ``secured``) was
        already decided in this partition's window. ``decide_record`` calls it; the nonce comes from the
        signature step, so ``secured`` is parsed once."""
        if decision.signer is None:
            return decision
        key, at = replay_key(decision.signer, nonce), decision.evaluatedAt
        pending = self._pending.setdefault(partition, {})
        first = pending.get(key) or self._windows.window(partition).get(key, at)
        if first is None and self._after is not None:  # the batch before, still being delivered
            first = self._after._pending.get(partition, {}).get(key)
            if first is not None and at - first.at > self._windows.max_age:
                first = None  # as the window judges age
        if first is None:
            pending[key] = FirstSeen(at, where)
            return decision
        reason = Reason(
            r.SIGNATURE_REPLAY,
            f"an identical signed event (same signer and nonce) was already decided ({first.where})",
            path="secured",
        )
        return replace(decision, decision="rejected", reasons=(reason,), rulesFired=())

    def commit(self, partitions: Iterable[Hashable]) -> None:
        """Remember the events of these partitions: their decisions were delivered."""
        for partition in partitions:
            window = self._windows.window(partition)
            for key, first in self._pending.pop(partition, {}).items():
                window.remember(key, first)

    def settled(self) -> None:
        """The batch before this one is delivered (what it delivered is committed) or given up: stop looking
        into it."""
        self._after = None

    def drop(self, partitions: Iterable[Hashable]) -> None:
        """Forget what this batch saw in these partitions: their records are decided again later."""
        for partition in partitions:
            self._pending.pop(partition, None)
