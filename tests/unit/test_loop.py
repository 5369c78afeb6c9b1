"""The Kafka loop's order of work with recording fakes of its two ports (consumer, delivery): claim before reading,
fetch -> process -> deliver -> report, and a failed partition rewound to its batch's first record, paused until
claimed again, then decided again. The real broker runs the same loop in tests/integration."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from pathlib import Path

import structlog
from aiokafka import TopicPartition

from service.app import Moderator
from service.core.batch import PolicySnapshot
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.kafka.delivery import DeliveryFailed
from service.kafka.ownership import Ownership
from service.kafka.settle import Stall
from service.ops.reports import Assignment, BatchReport, Reports
from service.settings import Settings

Record = namedtuple("Record", "topic partition offset timestamp key value headers")
TP = TopicPartition("in", 0)
POLICY = PolicySnapshot(Keyring(), read_rules(Path(__file__).parents[2] / "config" / "rules.yaml"))


class FakeConsumer:
    def __init__(self, records: list[Record]) -> None:
        self.records, self.cursor, self.paused = records, 0, set()
        self.calls: list[tuple] = []

    def subscribe(self, topics, listener) -> None:
        self.listener = listener

    async def start(self) -> None:
        await self.listener.on_partitions_assigned({TP})

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        await asyncio.sleep(0.01)
        if TP in self.paused or self.cursor >= len(self.records):
            return {}
        batch = self.records[self.cursor:]
        self.calls.append(("fetched", batch[0].offset))
        self.cursor = len(self.records)
        return {TP: batch}

    def seek(self, tp, offset: int) -> None:
        self.calls.append(("seek", offset))
        self.cursor = offset

    def pause(self, *tps) -> None:
        self.paused |= set(tps)
        self.calls.append(("pause",))

    def resume(self, *tps) -> None:
        self.paused -= set(tps)
        self.calls.append(("resume",))

    async def position(self, tp) -> int:
        return self.cursor

    def highwater(self, tp) -> int:
        return len(self.records)

    async def stop(self) -> None:
        self.calls.append(("stopped",))


class FakeDelivery:
    """Fails the first ``fail`` deliveries (as a fenced transaction would), records the rest."""

    def __init__(self, consumer: FakeConsumer, fail: int = 0) -> None:
        self.consumer, self.fail, self.delivered = consumer, fail, []

    async def claim(self, partitions) -> dict:
        self.consumer.calls.append(("claimed",))
        return {tp: 0 for tp in partitions}  # the committed offset: nothing was committed yet

    async def retain(self, partitions) -> None:
        return None

    async def deliver(self, batches, outgoing, committed=None) -> None:
        if self.fail:
            self.fail -= 1
            raise DeliveryFailed(set(batches), RuntimeError("injected: fenced"))
        self.delivered.append({tp: [out.source.offset for out in part] for tp, part in outgoing.items()})

    async def stop(self) -> None:
        return None


def moderator(consumer, delivery, sink, *, pool=None, **settings_overrides) -> Moderator:
    """The loop over these fakes, reporting to ``sink`` (None: nowhere); deciding on the event loop unless
    given a ``pool``."""
    settings = Settings(decide_threads=0 if pool is None else 1, replay_window_entries=0, input_topic="in",
                        **settings_overrides)
    log = structlog.get_logger("test")
    report, stall = Reports(*([sink] if sink is not None else [])), Stall(log)
    ownership = Ownership(consumer, delivery, log, report, None, stall)
    policy = type("Policy", (), {"current": POLICY})()
    return Moderator(settings, consumer, delivery, ownership, policy, report, log, stall=stall, replay=None,
                     pool=pool)


def run_loop(records: list[Record], fail: int = 0) -> tuple[FakeConsumer, FakeDelivery, list]:
    reports: list = []

    async def scenario() -> tuple[FakeConsumer, FakeDelivery]:
        stop = asyncio.Event()

        class Recorder:
            def report(self, event) -> None:
                reports.append(event)
                if isinstance(event, BatchReport) and event.delivered:
                    stop.set()

        consumer = FakeConsumer(records)
        delivery = FakeDelivery(consumer, fail)
        await asyncio.wait_for(moderator(consumer, delivery, Recorder()).run(stop), timeout=30)
        return consumer, delivery

    consumer, delivery = asyncio.run(scenario())
    return consumer, delivery, reports


def records(n: int) -> list[Record]:
    return [Record("in", 0, offset, None, b"k", b"\x00 not an event", ()) for offset in range(n)]


def test_a_partition_is_claimed_before_it_is_read_and_each_batch_is_reported_after_delivery():
    consumer, delivery, reports = run_loop(records(3))
    assert consumer.calls[:4] == [("pause",), ("claimed",), ("seek", 0), ("resume",)]
    assert consumer.calls[4] == ("fetched", 0)
    assert delivery.delivered == [{TP: [0, 1, 2]}]  # keyed by source partition, in input order
    assert isinstance(reports[0], Assignment) and reports[0].owned == {TP}
    done = [r for r in reports if isinstance(r, BatchReport) and r.records]
    assert len(done) == 1 and done[0].failed == frozenset() and done[0].lag == {TP: 0}
    assert [o.source.offset for o in done[0].delivered[TP]] == [0, 1, 2]
    assert consumer.calls[-1] == ("stopped",)


def test_a_failed_delivery_rewinds_and_pauses_only_its_partition_until_claimed_again_then_decides_it_again():
    consumer, delivery, reports = run_loop(records(2), fail=1)
    after_first_fetch = consumer.calls[consumer.calls.index(("fetched", 0)) + 1:]
    assert after_first_fetch[:5] == [("seek", 0), ("pause",), ("claimed",), ("seek", 0), ("resume",)]
    assert ("fetched", 0) in after_first_fetch  # decided again from the rewound position
    assert delivery.delivered == [{TP: [0, 1]}]
    failed = [r for r in reports if isinstance(r, BatchReport) and r.failed]
    assert len(failed) == 1 and failed[0].failed == {TP} and not failed[0].delivered  # nothing logged for it


def test_delivery_takes_the_batch_step_result_as_it_is_and_groups_a_flat_list_by_source_partition():
    from service.core.batch import Outgoing
    from service.core.envelope import Source
    from service.kafka.delivery import by_source

    def out(partition: int, offset: int) -> Outgoing:
        return Outgoing("out", b"k", b"v", [], Source("in", partition, offset), None, "x")

    grouped = {TP: [out(0, 0)]}
    assert by_source(grouped) is grouped  # no regrouping of what process_batch returned
    flat = by_source([out(0, 0), out(1, 0), out(0, 1)])
    offsets = {tp: [o.source.offset for o in part] for tp, part in flat.items()}
    assert offsets == {TP: [0, 1], TopicPartition("in", 1): [0]}


# The next batch is decided while the one before it is delivered (decide threads only): a slow delivery, a
# consumer that returns `chunk` records per fetch, and a stop once every record's decision is delivered.

class ChunkedConsumer(FakeConsumer):
    def __init__(self, records: list[Record], chunk: int) -> None:
        super().__init__(records)
        self.chunk = chunk

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        if timeout_ms:
            await asyncio.sleep(0.01)
        if TP in self.paused or self.cursor >= len(self.records):
            return {}
        batch = self.records[self.cursor:self.cursor + self.chunk]
        self.calls.append(("fetched", batch[0].offset))
        self.cursor += len(batch)
        return {TP: batch}


class SlowDelivery(FakeDelivery):
    def __init__(self, consumer: FakeConsumer, fail: int = 0, during=None) -> None:
        super().__init__(consumer, fail)
        self.during = during  # called (awaited) while the first batch is delivered
        self.committed = 0

    async def claim(self, partitions) -> dict:
        self.consumer.calls.append(("claimed",))
        return {tp: self.committed for tp in partitions}

    async def deliver(self, batches, outgoing, committed=None) -> None:
        first = batches[TP][0].offset
        self.consumer.calls.append(("delivering", first))
        await asyncio.sleep(0.05)
        if self.during is not None:
            during, self.during = self.during, None
            await during()
        await super().deliver(batches, outgoing, committed)
        self.committed = batches[TP][-1].offset + 1
        self.consumer.calls.append(("delivered", first))


class ResettingConsumer(ChunkedConsumer):
    """Its position is being reset once, after the first batch was fetched ahead (as after OffsetOutOfRange):
    the cursor goes back to ``reset_to`` and ``position()`` does not answer until it is asked again."""

    def __init__(self, records: list[Record], chunk: int, reset_to: int) -> None:
        super().__init__(records, chunk)
        self.reset_to, self.resets = reset_to, 0

    async def position(self, tp) -> int:
        if self.resets == 0 and self.cursor >= self.reset_to + self.chunk:  # the batch from reset_to is held
            self.resets += 1
            self.cursor = self.reset_to
            self.calls.append(("reset", self.reset_to))
            await asyncio.Event().wait()  # never answers: the loop must not wait for it
        return self.cursor


def run_ahead(n: int, chunk: int, fail: int = 0, rebalance: bool = False,
              consumer: ChunkedConsumer | None = None) -> tuple[ChunkedConsumer, SlowDelivery, list]:
    from concurrent.futures import ThreadPoolExecutor

    reports: list = []

    async def scenario() -> tuple[ChunkedConsumer, SlowDelivery]:
        stop = asyncio.Event()
        nonlocal consumer
        consumer = consumer or ChunkedConsumer(records(n), chunk)
        rebalancing: list[asyncio.Future] = []

        async def rebalance_now() -> None:  # the listener's callbacks wait for the batch in flight (the lock)
            async def listener() -> None:
                await consumer.listener.on_partitions_revoked({TP})
                await consumer.listener.on_partitions_assigned({TP})
            rebalancing.append(asyncio.ensure_future(listener()))
            await asyncio.sleep(0)

        delivery = SlowDelivery(consumer, fail, during=rebalance_now if rebalance else None)

        class Recorder:
            def report(self, event) -> None:
                reports.append(event)
                done = sum(len(d[TP]) for d in delivery.delivered)
                if done >= n:
                    stop.set()

        with ThreadPoolExecutor(1) as pool:
            await asyncio.wait_for(moderator(consumer, delivery, Recorder(), pool=pool).run(stop), timeout=30)
        return consumer, delivery

    consumer, delivery = asyncio.run(scenario())
    return consumer, delivery, reports


def delivered_offsets(delivery: FakeDelivery) -> list[int]:
    return [offset for batch in delivery.delivered for offset in batch[TP]]


def test_the_next_batch_is_fetched_and_decided_while_one_is_delivered_and_delivered_after_it_in_order():
    consumer, delivery, _ = run_ahead(6, chunk=2)
    assert delivered_offsets(delivery) == list(range(6))  # each record once, in order
    calls = [c for c in consumer.calls if c[0] in ("fetched", "delivering", "delivered")]
    assert calls[:4] == [("fetched", 0), ("delivering", 0), ("fetched", 2), ("delivered", 0)]
    assert calls.index(("fetched", 4)) < calls.index(("delivered", 2))


def test_a_failed_delivery_drops_what_was_decided_ahead_for_its_partition_and_decides_it_again():
    consumer, delivery, reports = run_ahead(6, chunk=2, fail=1)
    assert delivered_offsets(delivery) == list(range(6))  # nothing lost, nothing twice
    calls = consumer.calls
    rewind = calls.index(("seek", 0), calls.index(("delivering", 0)))
    assert calls.index(("fetched", 2)) < rewind  # fetched ahead, then the rewind
    assert calls.count(("fetched", 2)) == 2  # dropped with its partition, read again after the claim
    failed = [r for r in reports if isinstance(r, BatchReport) and r.failed]
    assert len(failed) == 1 and not failed[0].delivered


def test_a_batch_fetched_before_a_rebalance_is_not_delivered_after_it():
    consumer, delivery, _ = run_ahead(6, chunk=2, rebalance=True)
    assert delivered_offsets(delivery) == list(range(6))  # the stale batch was read again, not delivered twice
    calls = consumer.calls
    assert calls.index(("fetched", 2)) < calls.index(("delivered", 0)) < calls.index(("seek", 2))
    assert calls.count(("fetched", 2)) == 2  # once ahead (dropped as stale), once from the claimed position


def test_a_position_being_reset_is_not_waited_for_and_its_partition_is_read_again():
    consumer, delivery, _ = run_ahead(6, chunk=2, consumer=ResettingConsumer(records(6), chunk=2, reset_to=4))
    assert ("reset", 4) in consumer.calls
    assert delivered_offsets(delivery) == list(range(6))  # the batch held when it reset was read again, once


def test_cancelling_the_loop_cancels_the_delivery_in_flight_and_the_fetch_ahead():
    from concurrent.futures import ThreadPoolExecutor

    class Rebalancing(ChunkedConsumer):  # the fetch ahead waits, as getmany does while a rebalance is under way
        async def getmany(self, timeout_ms: int, max_records: int) -> dict:
            if not timeout_ms:
                self.calls.append(("waiting",))
                await asyncio.Event().wait()
            return await super().getmany(timeout_ms, max_records)

    async def scenario() -> list:
        consumer = Rebalancing(records(4), chunk=2)
        ended: list = []

        class Stuck(SlowDelivery):
            async def deliver(self, batches, outgoing, committed=None) -> None:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    ended.append("delivery cancelled")
                    raise

        delivery = Stuck(consumer)
        with ThreadPoolExecutor(1) as pool:
            task = asyncio.ensure_future(moderator(consumer, delivery, None, pool=pool).run(asyncio.Event()))
            while ("waiting",) not in consumer.calls:  # the fetch ahead is waiting, the delivery too
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.wait({task})
            await asyncio.sleep(0.05)
            return list(ended)  # before asyncio.run cancels whatever was left running

    assert asyncio.run(scenario()) == ["delivery cancelled"]


# A delivery cancelled after some of its partitions committed (exactly-once: a transaction per partition): the
# time-out, or the shutdown's grace, ran out while one partition's transaction waited for the broker.

TP1 = TopicPartition("in", 1)


class TwoPartitionConsumer(FakeConsumer):
    """``n`` records on each of two partitions, ``chunk`` of each per fetch; a rewound partition is read again."""

    def __init__(self, n: int = 2, chunk: int = 2) -> None:
        super().__init__([])
        self.n, self.chunk = n, chunk
        self.cursors = {TP: 0, TP1: 0}

    async def start(self) -> None:
        await self.listener.on_partitions_assigned({TP, TP1})

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        if timeout_ms:
            await asyncio.sleep(0.01)
        batch = {}
        for tp, cursor in self.cursors.items():
            if tp not in self.paused and cursor < self.n:
                end = min(cursor + self.chunk, self.n)
                batch[tp] = [Record("in", tp.partition, offset, None, b"k", b"x", ()) for offset in range(cursor, end)]
                self.calls.append(("fetched", tp.partition, cursor))
                self.cursors[tp] = end
        return batch

    def seek(self, tp, offset: int) -> None:
        self.calls.append(("seek", tp.partition, offset))
        self.cursors[tp] = offset

    async def position(self, tp) -> int:
        return self.cursors[tp]

    def highwater(self, tp) -> int:
        return self.n


class OnePartitionHangs(FakeDelivery):
    """Commits TP's transaction at once; TP1's waits for a broker that does not answer, the first time."""

    def __init__(self, consumer: FakeConsumer, on_hang=None) -> None:
        super().__init__(consumer)
        self.hangs, self.on_hang = 1, on_hang

    async def deliver(self, batches, outgoing, committed=None) -> None:
        await asyncio.sleep(0.02)  # a round trip: the loop fetches and decides the next batch meanwhile
        for tp in sorted(batches, key=lambda tp: tp.partition):
            if tp == TP1 and self.hangs:
                self.hangs -= 1
                if self.on_hang is not None:
                    self.on_hang()
                await asyncio.Event().wait()
            self.delivered.append({tp: [out.source.offset for out in outgoing[tp]]})
            committed.add(tp)


def batch_reports(reports: list) -> list[BatchReport]:
    return [r for r in reports if isinstance(r, BatchReport) and r.records]


def test_a_timed_out_delivery_rewinds_only_the_partitions_that_did_not_commit(monkeypatch):
    from service.kafka import settle

    monkeypatch.setattr(settle, "DELIVERY_TIMEOUT_S", 0.3)
    reports: list = []

    async def scenario() -> tuple[TwoPartitionConsumer, OnePartitionHangs]:
        stop = asyncio.Event()
        consumer = TwoPartitionConsumer()
        delivery = OnePartitionHangs(consumer)

        class Recorder:
            def report(self, event) -> None:
                reports.append(event)
                if isinstance(event, BatchReport) and TP1 in event.delivered:
                    stop.set()

        await asyncio.wait_for(moderator(consumer, delivery, Recorder()).run(stop), timeout=30)
        return consumer, delivery

    consumer, delivery = asyncio.run(scenario())
    first, second = batch_reports(reports)
    assert set(first.delivered) == {TP} and first.failed == {TP1}  # TP's decisions are logged and counted
    assert [o.source.offset for o in first.delivered[TP]] == [0, 1]
    assert set(second.delivered) == {TP1} and not second.failed
    assert delivery.delivered == [{TP: [0, 1]}, {TP1: [0, 1]}]  # each decision written once
    after = consumer.calls[consumer.calls.index(("fetched", 0, 0)) + 1:]
    assert ("seek", 1, 0) in after and ("seek", 0, 0) not in after  # only TP1 went back
    assert ("fetched", 0, 0) not in after


def test_a_delivery_abandoned_at_shutdown_still_reports_what_committed_before_the_loop_ends():
    reports: list = []

    async def scenario() -> TwoPartitionConsumer:
        stop = asyncio.Event()
        consumer = TwoPartitionConsumer()
        delivery = OnePartitionHangs(consumer, on_hang=stop.set)  # the shutdown comes while TP1 waits

        class Recorder:
            def report(self, event) -> None:
                reports.append(event)

        await asyncio.wait_for(moderator(consumer, delivery, Recorder(), shutdown_timeout_s=1).run(stop), timeout=30)
        return consumer

    consumer = asyncio.run(scenario())
    (only,) = batch_reports(reports)
    assert set(only.delivered) == {TP} and only.failed == frozenset()  # TP1: left to the next owner, not retried
    after = consumer.calls[consumer.calls.index(("fetched", 1, 0)) + 1:]
    assert after == [("stopped",)]  # nothing rewound, nothing read again: the loop ended


def test_after_a_partial_time_out_the_batch_decided_ahead_keeps_the_committed_partition_and_drops_the_other(
        monkeypatch):
    """With decide threads the next batch is fetched and decided during the delivery that times out: its records
    of the committed partition go on (once), those of the rewound one are dropped and read again from the
    committed offset. Every record's decision is delivered exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    from service.kafka import settle

    monkeypatch.setattr(settle, "DELIVERY_TIMEOUT_S", 0.3)
    seen: dict = {TP: [], TP1: []}

    async def scenario() -> OnePartitionHangs:
        stop = asyncio.Event()
        consumer = TwoPartitionConsumer(n=4, chunk=2)
        delivery = OnePartitionHangs(consumer)

        class Recorder:
            def report(self, event) -> None:
                if isinstance(event, BatchReport):
                    for tp, part in event.delivered.items():
                        seen[tp] += [out.source.offset for out in part]
                    if len(seen[TP]) >= 4 and len(seen[TP1]) >= 4:
                        stop.set()

        with ThreadPoolExecutor(1) as pool:
            await asyncio.wait_for(moderator(consumer, delivery, Recorder(), pool=pool).run(stop), timeout=30)
        return delivery

    delivery = asyncio.run(scenario())
    written = sorted((tp.partition, offset) for batch in delivery.delivered for tp, offsets in batch.items()
                     for offset in offsets)
    assert written == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]  # once each
    assert seen == {TP: [0, 1, 2, 3], TP1: [0, 1, 2, 3]}  # logged once each, in order
