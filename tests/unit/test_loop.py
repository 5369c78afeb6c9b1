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
        self.records, self.position, self.paused = records, 0, set()
        self.calls: list[tuple] = []

    def subscribe(self, topics, listener) -> None:
        self.listener = listener

    async def start(self) -> None:
        await self.listener.on_partitions_assigned({TP})

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        await asyncio.sleep(0.01)
        if TP in self.paused or self.position >= len(self.records):
            return {}
        batch = self.records[self.position:]
        self.calls.append(("fetched", batch[0].offset))
        self.position = len(self.records)
        return {TP: batch}

    def seek(self, tp, offset: int) -> None:
        self.calls.append(("seek", offset))
        self.position = offset

    def pause(self, *tps) -> None:
        self.paused |= set(tps)
        self.calls.append(("pause",))

    def resume(self, *tps) -> None:
        self.paused -= set(tps)
        self.calls.append(("resume",))

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

    async def deliver(self, batches, outgoing) -> None:
        if self.fail:
            self.fail -= 1
            raise DeliveryFailed(set(batches), RuntimeError("injected: fenced"))
        self.delivered.append({tp: [out.source.offset for out in part] for tp, part in outgoing.items()})

    async def stop(self) -> None:
        return None


def run_loop(records: list[Record], fail: int = 0) -> tuple[FakeConsumer, FakeDelivery, list]:
    reports: list = []

    async def scenario() -> tuple[FakeConsumer, FakeDelivery]:
        stop = asyncio.Event()

        class Recorder:
            def report(self, event) -> None:
                reports.append(event)
                if isinstance(event, BatchReport) and event.delivered:
                    stop.set()

        settings = Settings(decide_threads=0, replay_window_entries=0, input_topic="in")
        log = structlog.get_logger("test")
        consumer = FakeConsumer(records)
        delivery = FakeDelivery(consumer, fail)
        report, stall = Reports(Recorder()), Stall(log)
        ownership = Ownership(consumer, delivery, log, report, None, stall)
        policy = type("Policy", (), {"current": POLICY})()
        moderator = Moderator(settings, consumer, delivery, ownership, policy, report, log, stall=stall,
                              replay=None, pool=None)
        await asyncio.wait_for(moderator.run(stop), timeout=30)
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
