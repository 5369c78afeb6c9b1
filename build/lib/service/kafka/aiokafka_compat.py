"""The private aiokafka attributes the service relies on, in one place (checked against aiokafka 0.12-0.14).

Each is here because the public API cannot do what delivery needs; when upstream can, the function goes:

- ``partition_chooser``: ``send_batch()`` takes an explicit partition and aiokafka offers no public way to ask
  which partition ``send()`` would pick (its partitioner and metadata are private; the batching interface
  was added without one, aio-libs/aiokafka#217). Delivery builds one record batch per output partition
  (a third of the per-record cost of ``send()``), so it borrows ``_partitioner``, ``_metadata`` and
  ``client._wait_on_metadata``, exactly as ``send()`` uses them.
- ``force_close``: ``producer.stop()`` waits for every queued batch to be acknowledged, while the broker is away
  for ever (aio-libs/aiokafka#1101, #1013). Past our bound we fail the queued batches
  (``_message_accumulator.fail_all``) and close the sender (``_sender``) and client ourselves.
- ``transaction_open``: whether the producer has a transaction to abort (``_txn_manager.state``); aiokafka only
  exposes the ``transaction()`` context manager, and after a fatal error (ProducerFenced,
  OutOfOrderSequenceNumber: the sender dies for good, aio-libs/aiokafka#1017) an abort must not be attempted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.transaction_manager import TransactionState


async def partition_chooser(producer: AIOKafkaProducer, topic: str) -> Callable[[bytes | None], int]:
    """``key -> partition`` as ``producer.send(topic, key=key)`` would choose it (murmur2 of the key, as the Java
    client), over the partition lists ``send()`` would use. Fails after request_timeout_ms without metadata."""
    await producer.client._wait_on_metadata(topic)
    metadata = producer._metadata
    every = list(metadata.partitions_for_topic(topic))
    available = list(metadata.available_partitions_for_topic(topic))
    choose = producer._partitioner
    return lambda key: choose(key, every, available)


async def force_close(producer: AIOKafkaProducer, timeout: float) -> None:
    """What ``stop()`` would do, without waiting for the broker: fail what is queued, close sender and client."""
    producer._message_accumulator.fail_all(KafkaError("producer closed before delivery"))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer._sender.close(), timeout)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.client.close(), timeout)


def transaction_open(producer: AIOKafkaProducer) -> bool:
    """The producer is inside a transaction that an ``abort_transaction()`` can end."""
    txn = producer._txn_manager
    return txn is not None and txn.state in (TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR)
