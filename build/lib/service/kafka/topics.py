"""Create the topics a run needs, idempotently: `await ensure_topics(bootstrap, {"articles": 3})`.

The local broker (and most production clusters) has `auto.create.topics.enable=false`, so the service,
tests and benchmarks create their topics explicitly. Topics that already exist are left as they are,
whatever their partition count. After creating, the helper waits until every new partition has a leader
in the broker's metadata, so a producer started right after does not race the controller.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(topics)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] != 0 or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise KafkaError(f"topics without a partition leader after {timeout_s:.0f} s: {pending}")
        await asyncio.sleep(0.05)


async def ensure_topics(
    bootstrap: str, topics: dict[str, int], *, timeout_s: float = 30.0, **client_kwargs: Any
) -> list[str]:
    """Create each missing topic with its partition count (replication factor 1); return the created names.

    `client_kwargs` go to AIOKafkaAdminClient (security_protocol, ssl_context, sasl_* ...).
    Raises the aiokafka error for any failure other than "already exists".
    """
    if not topics:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        new = [NewTopic(name, partitions, replication_factor=1) for name, partitions in topics.items()]
        response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
        created: list[str] = []
        for topic, code, *rest in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif code != TopicAlreadyExistsError.errno:
                message = rest[0] if rest and rest[0] else ""
                raise for_code(code)(f"cannot create topic {topic!r}: {message}")
        await _wait_for_leaders(admin, list(topics), timeout_s)
        return created
    finally:
        await admin.close()
