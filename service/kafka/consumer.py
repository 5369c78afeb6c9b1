"""The input consumer: read_committed, no auto-commit (offsets travel in the transactions), bounded fetches."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from service.settings import Settings

# ~2 KB events: 512 KiB per partition is ~230 events (two partitions fill a 500-record batch); a fetch response
# is at most 4 MiB. aiokafka buffers one fetch per partition, so memory stays <= partitions x 512 KiB.
CONSUMER_FETCH = {"max_partition_fetch_bytes": 512 * 1024, "fetch_max_bytes": 4 * 1024 * 1024}


def make_consumer(settings: Settings) -> AIOKafkaConsumer:
    """Not started, not subscribed (ownership.py subscribes it with its rebalance listener). Needs a running
    event loop: aiokafka binds its clients to the loop that builds them."""
    s = settings
    return AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap_servers, group_id=s.group_id, client_id=f"{s.client_id}-consumer",
        enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
        max_poll_records=s.batch_max_records, **CONSUMER_FETCH, **s.kafka_security(),
    )
