"""Exactly one decision per input record, through SIGKILLs of real `moderation run` processes and rebalances.

Each test pre-produces signed ~2 KB events over 6 partitions, runs the service as subprocesses, kills them at
random moments *while they are deciding* (the kill waits until the group's committed offsets pass a random
point), then reads every output topic with a read_committed consumer and matches decisions to inputs by source
topic/partition/offset (crashlib.verify prints ALL-RECORDS-DELIVERED n=... lost=0 duplicated=0).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from crashlib import Progress, ServiceProcess, produce_spread, signed_values, verify
from harness import create_topics, make_key, settings_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
PARTITIONS = 6


def _setup(kafka_bootstrap, prefix, tmp_path, n, **overrides):
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")  # HMAC: the test measures delivery, not Ed25519
    settings = settings_for(kafka_bootstrap, prefix, keys, shutdown_timeout_s=10, **overrides)
    values = signed_values(key, n)

    async def prepare():
        await create_topics(settings, partitions=PARTITIONS)
        await produce_spread(kafka_bootstrap, settings.input_topic, values, PARTITIONS)

    asyncio.run(prepare())
    return settings


def _kill_points(rng: random.Random, n: int, kills: int) -> list[int]:
    return sorted(int(n * rng.uniform(0.08, 0.85)) for _ in range(kills))


async def _kill_and_restart_at(progress, proc, points, rng):
    for point in points:
        await progress.wait_for(point, timeout=90, procs=(proc,))
        await asyncio.sleep(rng.uniform(0, 0.3))  # not always right after a commit
        proc.kill()
        proc.start()


def _run_with_kills(settings, tmp_path, n: int, kills: int, rng: random.Random):
    """One service process, SIGKILLed ``kills`` times at random progress points and restarted; the verdict."""
    proc = ServiceProcess(settings, tmp_path / "service.log")

    async def scenario():
        async with Progress(settings) as progress:
            proc.start()
            await _kill_and_restart_at(progress, proc, _kill_points(rng, n, kills), rng)
            settled = await progress.wait_for(n, timeout=150, procs=(proc,))
        code, _ = proc.terminate()
        return settled, code, await verify(settings, PARTITIONS)

    settled, code, verdict = asyncio.run(scenario())
    assert settled == n and code == 0, proc.log_text()[-4000:]
    return verdict


def test_sigkilled_three_times_yet_every_record_has_exactly_one_decision(kafka_bootstrap, unique_topic_prefix,
                                                                        tmp_path):
    n, seed = 20_000, random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    settings = _setup(kafka_bootstrap, unique_topic_prefix, tmp_path, n, delivery="exactly-once")
    verdict = _run_with_kills(settings, tmp_path, n, kills=3, rng=rng)
    assert (verdict.n, verdict.lost, verdict.duplicated) == (n, 0, 0), verdict.line()
    assert verdict.by_topic.get("approved", 0) > 0 and verdict.by_topic.get("rejected", 0) > 0


def test_two_instances_one_sigkilled_its_partitions_move_and_nothing_is_lost_or_doubled(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    n, seed = 10_000, random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    settings = _setup(kafka_bootstrap, unique_topic_prefix, tmp_path, n, delivery="exactly-once")
    first = ServiceProcess(settings, tmp_path / "first.log")
    second = ServiceProcess(settings, tmp_path / "second.log")

    async def scenario():
        async with Progress(settings) as progress:
            first.start()
            second.start()
            await progress.wait_for(int(n * rng.uniform(0.15, 0.5)), timeout=90, procs=(first, second))
            first.kill()  # its partitions move to the second once the group notices (session timeout)
            settled = await progress.wait_for(n, timeout=150, procs=(second,))
        code, _ = second.terminate()
        return settled, code, await verify(settings, PARTITIONS)

    settled, code, verdict = asyncio.run(scenario())
    assert settled == n and code == 0, second.log_text()[-4000:]
    assert (verdict.n, verdict.lost, verdict.duplicated) == (n, 0, 0), verdict.line()


def test_at_least_once_loses_nothing_through_sigkills_and_counts_its_duplicates(kafka_bootstrap, unique_topic_prefix,
                                                                               tmp_path):
    n, seed = 10_000, random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    settings = _setup(kafka_bootstrap, unique_topic_prefix, tmp_path, n, delivery="at-least-once")
    verdict = _run_with_kills(settings, tmp_path, n, kills=2, rng=rng)
    print(f"at-least-once: duplicated={verdict.duplicated} after 2 kills (allowed)")
    assert verdict.n == n and verdict.lost == 0, verdict.line()
