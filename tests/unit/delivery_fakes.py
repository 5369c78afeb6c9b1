"""Recording fakes of the two Kafka ports delivery.py talks to: the producer and the consumer.

Not a fake broker: each fake only writes what it was asked to do, in order, into one shared journal, so a test
can pin the order of calls the delivery protocol rests on (the way cosmicpython tests its unit of work). The
fake producer offers exactly the surface delivery.py uses, private aiokafka attributes included
(``_partitioner``, ``_metadata``, ``client._wait_on_metadata``, ``create_batch``/``send_batch``,
``_txn_manager``, ``_message_accumulator``, ``_sender``). Every coroutine yields to the loop once, so a mutant
that runs two steps concurrently instead of one after the other shows up as interleaved journal entries.

Journal entries are tuples ``(who, what, *details)``: ``who`` is the producer's transactional id (or client id
when it has none) or ``"consumer"``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.producer.transaction_manager import TransactionState

from service.core.batch import Outgoing
from service.core.envelope import Source


@dataclass
class Faults:
    """What the fakes should fail, by step name: ``"init_transactions"`` (``"start"`` without a transactional
    id), ``"begin_transaction"``, ``"ack"``, ``"stop"``, ``"sender_close"``, ``"abort_transaction"``,
    ``"send_offsets_to_transaction"``, ``"commit_transaction"``, ``"commit"`` (the consumer's)."""

    steps: set[str] = field(default_factory=set)
    only: str | None = None  # limit producer faults to this producer (its transactional id)
    error: type[BaseException] = KafkaError  # what a failing step raises (CancelledError: a shutdown)

    def hit(self, step: str, who: str) -> bool:
        return step in self.steps and (self.only is None or who == self.only or who == "consumer")


class _Batch:
    """A record batch under construction; full after ``capacity`` records, like aiokafka's BatchBuilder."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.values, self.closed = capacity, [], False

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes, headers: Any) -> object | None:
        if len(self.values) >= self.capacity:
            return None
        self.values.append(value)
        return object()

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    def __init__(self, journal: list[tuple], faults: Faults, batch_capacity: int, **options: Any) -> None:
        self.options, self.journal, self.faults, self.capacity = options, journal, faults, batch_capacity
        self.name: str = options.get("transactional_id") or options["client_id"]
        self.transactional = "transactional_id" in options
        self._txn_manager = SimpleNamespace(state=TransactionState.READY) if self.transactional else None
        self._partitioner = lambda key, every, available: 0  # one output partition per topic is enough here
        self._metadata = SimpleNamespace(partitions_for_topic=lambda topic: {0},
                                         available_partitions_for_topic=lambda topic: {0})
        self.client = SimpleNamespace(_wait_on_metadata=self._wait_on_metadata, close=self._closed("client_close"))
        self._message_accumulator = SimpleNamespace(fail_all=lambda exc: self.record("fail_all", type(exc)))
        self._sender = SimpleNamespace(close=self._closed("sender_close"))
        self.pending_acks: list[asyncio.Future] = []

    def record(self, *entry: Any) -> None:
        self.journal.append((self.name, *entry))

    async def _step(self, step: str, *details: Any) -> None:
        await asyncio.sleep(0)
        if self.faults.hit(step, self.name):
            self.record(step + "_failed", *details)
            raise self.faults.error(f"injected: {step}")
        self.record(step, *details)

    def _closed(self, step: str) -> Any:
        async def close() -> None:
            await self._step(step)
        return close

    async def _wait_on_metadata(self, topic: str) -> None:
        await self._step("metadata", topic)

    async def start(self) -> None:
        # AIOKafkaProducer.start(): with a transactional id it runs InitProducerId, which bumps the epoch and
        # fences every older producer of that id. Recorded when it completes: that is when the fence holds.
        await self._step("init_transactions" if self.transactional else "start")

    async def stop(self) -> None:
        await self._step("stop")

    async def begin_transaction(self) -> None:
        await self._step("begin_transaction")
        self._txn_manager.state = TransactionState.IN_TRANSACTION

    async def commit_transaction(self) -> None:
        await self._step("commit_transaction")
        self._txn_manager.state = TransactionState.READY

    async def abort_transaction(self) -> None:
        await self._step("abort_transaction")
        self._txn_manager.state = TransactionState.READY

    async def send_offsets_to_transaction(self, offsets: dict[TopicPartition, int], group_id: str) -> None:
        await self._step("send_offsets_to_transaction", dict(offsets), group_id)

    def create_batch(self) -> _Batch:
        return _Batch(self.capacity)

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future:
        """Queued now, acknowledged later: the returned future resolves on a later turn of the loop."""
        await asyncio.sleep(0)
        self.record("send", topic, partition, tuple(batch.values))
        ack = asyncio.get_running_loop().create_future()
        self.pending_acks.append(ack)

        def acknowledge() -> None:
            if self.faults.hit("ack", self.name):
                self.record("ack_failed", topic, tuple(batch.values))
                ack.set_exception(KafkaError("injected: ack"))
            else:
                self.record("ack", topic, tuple(batch.values))
                ack.set_result(None)

        asyncio.get_running_loop().call_soon(acknowledge)
        return ack


class FakeConsumer:
    """The consumer port: committed offsets, commits, and the position calls the loop makes."""

    def __init__(self, journal: list[tuple], faults: Faults, committed: dict[TopicPartition, int]) -> None:
        self.journal, self.faults, self.offsets = journal, faults, dict(committed)

    def record(self, *entry: Any) -> None:
        self.journal.append(("consumer", *entry))

    # Recorded when called, before yielding: the request is on its way from that moment on (the strict reading,
    # where the producer's fence is recorded only once it completed).
    async def committed(self, tp: TopicPartition) -> int | None:
        self.record("committed", tp)
        await asyncio.sleep(0)
        return self.offsets.get(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.faults.hit("commit", "consumer"):
            self.record("commit_failed", dict(offsets))
            raise self.faults.error("injected: commit")
        self.record("commit", dict(offsets))
        await asyncio.sleep(0)
        self.offsets.update(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.record("seek", tp, offset)

    def pause(self, *partitions: TopicPartition) -> None:
        self.record("pause", *sorted(partitions))

    def resume(self, *partitions: TopicPartition) -> None:
        self.record("resume", *sorted(partitions))


@dataclass
class World:
    """One journal, one consumer, and the producers the delivery under test made (in order of creation)."""

    journal: list[tuple] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    batch_capacity: int = 1000
    producers: list[FakeProducer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.consumer = FakeConsumer(self.journal, self.faults, self.committed)

    def producer_factory(self, **options: Any) -> FakeProducer:
        producer = FakeProducer(self.journal, self.faults, self.batch_capacity, **options)
        self.producers.append(producer)
        return producer

    def of(self, who: str) -> list[tuple]:
        """The journal entries of one party, without the ``who``."""
        return [entry[1:] for entry in self.journal if entry[0] == who]

    def steps(self, who: str) -> list[str]:
        return [entry[1] for entry in self.journal if entry[0] == who]


@dataclass(frozen=True)
class Record:
    """What delivery.py reads of a consumer record: its offset."""

    offset: int


def outgoing(tp: TopicPartition, offset: int, topic: str = "approved") -> Outgoing:
    value = f"{tp.partition}:{offset}".encode()
    return Outgoing(topic=topic, key=b"k", value=value, headers=[], source=Source(tp.topic, tp.partition, offset),
                    decision=None)
