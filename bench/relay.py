"""The baseline: a bare aiokafka consume -> produce loop that moves the input bytes to one output topic.

    python -m bench.relay --bootstrap HOST:PORT --input T --output T --group G [--delivery exactly-once]

Everything the service does around Kafka, and nothing else: the same consumer options (read_committed, manual
commits, ``service.kafka.consumer.CONSUMER_FETCH``, ``getmany(max_records=batch_max_records)``), the same producer
options (``service.kafka.delivery.producer_options``) and the same delivery guarantee:

- at-least-once: one idempotent producer; every record of the batch sent, the acks awaited, then the offsets
  committed;
- exactly-once: one transactional producer per input partition (``<group>-<topic>-<partition>``), each
  partition's slice of a batch one transaction carrying its records and its input offset, all partitions of
  a batch in parallel.

The same event loop too (``--event-loop``, default the service's: uvloop).

No decoding, no validation, no signature, no rules, no logging: the service's cost above this is its work.
Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.kafka.consumer import CONSUMER_FETCH
from service.kafka.delivery import TRANSACTION_TIMEOUT_MS, producer_options
from service.ops.event_loop import loop_factory
from service.settings import Settings


async def send_all(producer: AIOKafkaProducer, topic: str, records: Sequence[Any]) -> None:
    # As the service does: enqueue one after another, then await the acknowledgements together.
    acks = [await producer.send(topic, r.value, key=r.key) for r in records]
    await asyncio.gather(*acks)


class Relay:
    def __init__(self, settings: Settings, output: str, extra: dict[str, Any] | None = None) -> None:
        self.settings, self.output = settings, output
        self.options = {**producer_options(settings), **(extra or {})}
        self.producers: dict[TopicPartition, AIOKafkaProducer] = {}  # exactly-once: one per input partition
        self.relayed = 0

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            s.input_topic, bootstrap_servers=s.bootstrap_servers, group_id=s.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            max_poll_records=s.batch_max_records, **CONSUMER_FETCH,
        )
        await consumer.start()
        shared = None
        if s.delivery == "at-least-once":
            shared = AIOKafkaProducer(**self.options)
            await shared.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=s.batch_max_records)
                if not batches:
                    continue
                if shared is not None:
                    await send_all(shared, self.output, [r for part in batches.values() for r in part])
                    await consumer.commit({tp: part[-1].offset + 1 for tp, part in batches.items()})
                else:
                    await asyncio.gather(*(self._transaction(tp, part) for tp, part in batches.items()))
                self.relayed += sum(len(part) for part in batches.values())
        finally:
            for producer in [*self.producers.values(), *([shared] if shared else [])]:
                await producer.stop()
            await consumer.stop()

    async def _transaction(self, tp: TopicPartition, records: list[Any]) -> None:
        producer = self.producers.get(tp)
        if producer is None:  # fresh topics and one instance: no rebalance, nothing to resume from
            producer = AIOKafkaProducer(
                transactional_id=f"{self.settings.group_id}-{tp.topic}-{tp.partition}",
                transaction_timeout_ms=TRANSACTION_TIMEOUT_MS, **self.options,
            )
            await producer.start()
            self.producers[tp] = producer
        async with producer.transaction():
            await send_all(producer, self.output, records)
            await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, self.settings.group_id)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--delivery", choices=("exactly-once", "at-least-once"), default="exactly-once")
    parser.add_argument("--batch-max-records", type=int, default=None, help="default: the service's")
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"),
                        default=Settings.model_fields["event_loop"].default, help="default: the service's")
    parser.add_argument("--producer-options", type=json.loads, default={},
                        help="JSON object merged over the service's producer options (what-if runs)")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    overrides = {"batch_max_records": args.batch_max_records} if args.batch_max_records else {}
    # Every other setting (linger, producer batch bytes) is the service's default, or its MODERATION_* variable.
    settings = Settings(bootstrap_servers=args.bootstrap, input_topic=args.input, group_id=args.group,
                        delivery=args.delivery, **overrides)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Relay(settings, args.output, args.producer_options).run(stop)


if __name__ == "__main__":
    arguments = parse_args()
    with asyncio.Runner(loop_factory=loop_factory(arguments.event_loop)) as runner:  # the service's event loop
        runner.run(main(arguments))
