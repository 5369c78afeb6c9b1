"""Operations on the real broker: readiness follows assignment and broker contact, /metrics counts decisions."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import orjson
import pytest
import structlog
from harness import collect, create_topics, good_article, make_key, output_topics, produce, recent_ms, settings_for
from prometheus_client.parser import text_string_to_metric_families

from service.bootstrap import Service
from service.signing import sign_event

pytestmark = pytest.mark.kafka


async def get(url: str) -> tuple[int, bytes]:
    def fetch() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return await asyncio.to_thread(fetch)


async def wait_for_status(url: str, status: int, timeout: float = 60.0) -> list[tuple[int, bytes]]:
    """Poll ``url`` until it answers ``status``; returns every answer seen, in order."""
    seen: list[tuple[int, bytes]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        seen.append(await get(url))
        if seen[-1][0] == status:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}; last: {seen[-1:]}")


async def samples(base: str) -> dict[tuple[str, tuple], float]:
    status, body = await get(base + "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


async def wait_for_decisions(base: str, count: float, timeout: float = 60.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await samples(base)
        total = sum(v for (name, _), v in found.items() if name == "moderation_decisions_total")
        if total >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serving(settings) -> AsyncIterator[Service]:
    """The whole service (loop, metrics, HTTP on an ephemeral port) in this event loop, stopped at the end."""
    service = Service(settings, structlog.get_logger("test"), http_port=0)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def decisions(found: dict, decision: str, reason: str) -> float:
    return found.get(("moderation_decisions_total", (("decision", decision), ("reason", reason))), 0.0)


def test_readiness_follows_assignment_and_metrics_count_decisions_by_outcome_and_reason(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    keys = tmp_path / "keys"
    key = make_key(keys)
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys)
    first = [(b"good", orjson.dumps(sign_event(good_article(1), key))), (b"garbage", b"\x00\x9f garbage"),
             (b"unsigned", orjson.dumps(good_article(2)))]

    async def scenario() -> None:
        await create_topics(settings, partitions=2)
        async with serving(settings) as service:
            base = service.server.url
            answers = await wait_for_status(base + "/readyz", 200)
            assert answers[0][0] == 503 and orjson.loads(answers[0][1])["reason"] == "no input partitions assigned"
            assert orjson.loads(answers[-1][1]) == {"status": "ok", "reason": "ok (2 partitions)"}
            assert (await get(base + "/healthz"))[0] == 200

            await produce(kafka_bootstrap, settings.input_topic, first, timestamp_ms=recent_ms())
            found = await wait_for_decisions(base, 3)
            assert decisions(found, "approved", "none") == 1
            assert decisions(found, "rejected", "input.unknown_format") == 1
            assert decisions(found, "rejected", "signature.missing") == 1
            assert found[("moderation_events_consumed_total", ())] == 3
            assert found[("moderation_assigned_partitions", ())] == 2
            assert found[("moderation_stage_seconds_count", (("stage", "batch"),))] >= 1
            rules = [labels for (name, labels) in found if name == "moderation_rules_info"]
            assert rules and dict(rules[0])["version"] == service.policy.current.rules.version
            lags = [v for (name, labels), v in found.items() if name == "moderation_consumer_lag"]
            assert lags and all(v == 0 for v in lags)

            more = [(f"more{n}".encode(), b"\x00 not an event") for n in range(4)]
            await produce(kafka_bootstrap, settings.input_topic, more, timestamp_ms=recent_ms())
            found = await wait_for_decisions(base, 7)
            assert decisions(found, "rejected", "input.unknown_format") == 5
            assert found[("moderation_events_consumed_total", ())] == 7
            await collect(kafka_bootstrap, output_topics(settings), expected=7, settle=0)
        with pytest.raises(OSError):
            urllib.request.urlopen(base + "/readyz", timeout=2)  # the server stops with the loop

    asyncio.run(scenario())


def test_readiness_turns_false_while_the_broker_is_unresponsive_and_recovers(kafka, unique_topic_prefix, tmp_path):
    keys = tmp_path / "keys"
    make_key(keys)
    settings = settings_for(kafka.bootstrap, unique_topic_prefix, keys, ready_stale_s=2.0, health_stall_s=60)

    async def scenario() -> None:
        await create_topics(settings, partitions=1)
        async with serving(settings) as service:
            base = service.server.url
            await wait_for_status(base + "/readyz", 200)
            await asyncio.sleep(3 * settings.ready_stale_s)  # idle: the probe keeps an idle instance ready
            assert (await get(base + "/readyz"))[0] == 200
            kafka.pause()
            try:
                answers = await wait_for_status(base + "/readyz", 503, timeout=30)
                assert b"broker not heard from" in answers[-1][1]
                assert (await get(base + "/healthz"))[0] == 200  # not stuck: waiting on a broker is alive
            finally:
                kafka.resume()
            await wait_for_status(base + "/readyz", 200, timeout=60)

    asyncio.run(scenario())
