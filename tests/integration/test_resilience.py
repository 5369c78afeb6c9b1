"""The service through failures that are not crashes: a record that breaks the code, SIGTERM under load, and the
broker going away mid-stream. Every test ends with the exactly-once count of crashlib.verify."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from crashlib import Progress, ServiceProcess, produce_spread, signed_values, verify
from harness import collect, create_topics, make_key, output_topics, produce, recent_ms, running, settings_for

import service.core.batch

pytestmark = pytest.mark.kafka
PARTITIONS = 6


def test_a_record_that_makes_the_code_raise_is_dead_lettered_with_its_origin_and_the_stream_goes_on(
        kafka_bootstrap, unique_topic_prefix, tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, batch_max_records=20)
    values = signed_values(key, 60)
    poison = {7, 33}
    real_decide = service.core.batch.decide_record

    def decide(value, headers, *args, **kwargs):  # a bug that only this record's bytes trigger
        if dict(headers or ()).get("marker") == b"poison":
            raise ZeroDivisionError("division by zero in rule 'x'")
        return real_decide(value, headers, *args, **kwargs)

    monkeypatch.setattr(service.core.batch, "decide_record", decide)
    records = [(f"k{i}".encode(), value) for i, value in enumerate(values)]

    async def scenario():
        await create_topics(settings, partitions=1)
        producer_headers = {i: [("marker", b"poison"), ("trace", f"t{i}".encode())] for i in poison}
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i, (k, v) in enumerate(records):
                await producer.send_and_wait(settings.input_topic, v, key=k, headers=producer_headers.get(i),
                                             timestamp_ms=recent_ms())
        finally:
            await producer.stop()
        async with running(settings):
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(records))

    out = asyncio.run(scenario())
    dead = [r for r in out if r.topic == settings.deadletter_topic]
    decided = [r for r in out if r.topic != settings.deadletter_topic]
    assert len(out) == len(records) and len(dead) == len(poison)
    assert sorted(orjson.loads(r.value)["source"]["offset"] for r in decided) == [
        i for i in range(len(records)) if i not in poison]
    for record in dead:
        headers = dict(record.headers)
        offset = int(headers["moderation-source-offset"])
        assert offset in poison
        assert (record.key, record.value) == records[offset]  # the original, byte for byte
        assert headers["marker"] == b"poison" and headers["trace"] == f"t{offset}".encode()  # its own headers too
        assert headers["moderation-error-type"] == b"ZeroDivisionError"
        assert headers["moderation-error-message"] == b"division by zero in rule 'x'"
        assert headers["moderation-source-topic"] == settings.input_topic.encode()
        assert headers["moderation-source-partition"] == b"0"


@pytest.mark.slow
def test_sigterm_under_load_exits_0_within_the_bound_and_a_restart_continues_exactly_once(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    n, bound = 10_000, 8.0
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, shutdown_timeout_s=bound)
    proc = ServiceProcess(settings, tmp_path / "service.log")

    async def scenario():
        await create_topics(settings, partitions=PARTITIONS)
        await produce_spread(kafka_bootstrap, settings.input_topic, signed_values(key, n), PARTITIONS)
        async with Progress(settings) as progress:
            proc.start()
            await progress.wait_for(n // 3, timeout=90, procs=(proc,))
            stopped = proc.terminate(timeout=bound + 30)
            at_stop = await progress.committed()
            proc.start()
            settled = await progress.wait_for(n, timeout=120, procs=(proc,))
        proc.terminate()
        return stopped, at_stop, settled, await verify(settings, PARTITIONS)

    (code, took), at_stop, settled, verdict = asyncio.run(scenario())
    print(f"SIGTERM: exit {code} after {took:.2f} s (bound {bound} s); {at_stop} of {n} settled at the stop")
    assert code == 0 and took < bound, proc.log_text()[-4000:]
    assert at_stop < n  # it really was stopped mid-stream
    assert settled == n and (verdict.n, verdict.lost, verdict.duplicated) == (n, 0, 0), verdict.line()


@pytest.mark.slow
def test_broker_stopped_mid_stream_and_restarted_the_service_resumes_by_itself_exactly_once(kafka, unique_topic_prefix,
                                                                                           tmp_path):
    n = 10_000
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka.bootstrap, unique_topic_prefix, keys, shutdown_timeout_s=10)
    proc = ServiceProcess(settings, tmp_path / "service.log", MODERATION_LOG_LEVEL="info")

    async def scenario():
        await create_topics(settings, partitions=PARTITIONS)
        await produce_spread(kafka.bootstrap, settings.input_topic, signed_values(key, n), PARTITIONS)
        async with Progress(settings) as progress:
            proc.start()
            await progress.wait_for(n // 4, timeout=90, procs=(proc,))
        kafka.stop()
        await asyncio.sleep(4)
        assert proc.alive(), proc.log_text()[-4000:]
        kafka.restart()
        async with Progress(settings) as progress:
            settled = await progress.wait_for(n, timeout=150, procs=(proc,))
        code, _ = proc.terminate()
        return settled, code, await verify(settings, PARTITIONS)

    settled, code, verdict = asyncio.run(scenario())
    log = proc.log_text()
    assert settled == n and code == 0, log[-4000:]
    assert (verdict.n, verdict.lost, verdict.duplicated) == (n, 0, 0), verdict.line()
    assert "Unable connect to node" in log or "broker_unreachable" in log  # it did see the outage, and said so


def test_no_offset_is_committed_for_decisions_that_were_not_written(kafka_bootstrap, unique_topic_prefix, tmp_path,
                                                                    monkeypatch):
    """A transaction that fails after its decisions were sent is aborted: the committed offset stays where it was,
    read_committed readers never see the aborted decisions, and the partition is decided again."""
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, batch_max_records=10)
    values = signed_values(key, 30)
    from service.kafka import delivery

    failures = {"left": 2}
    real = delivery.AIOKafkaProducer.send_offsets_to_transaction

    async def flaky(self, offsets, group_id):  # the broker refusing the offsets, twice, after the sends
        if failures["left"] > 0:
            failures["left"] -= 1
            raise delivery.KafkaError("injected: offsets refused")
        return await real(self, offsets, group_id)

    monkeypatch.setattr(delivery.AIOKafkaProducer, "send_offsets_to_transaction", flaky)

    async def scenario():
        await create_topics(settings, partitions=1)
        await produce(kafka_bootstrap, settings.input_topic, [(None, v) for v in values], timestamp_ms=recent_ms())
        async with running(settings):
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(values), settle=2.0)

    out = asyncio.run(scenario())
    offsets = sorted(orjson.loads(r.value)["source"]["offset"] for r in out)
    assert failures["left"] == 0
    assert offsets == list(range(len(values)))  # each exactly once, the aborted attempts invisible


@pytest.mark.slow
def test_an_outage_longer_than_the_delivery_timeout_aborts_retries_with_backoff_and_resumes_exactly_once(
        kafka, unique_topic_prefix, tmp_path, monkeypatch):
    """The in-flight transactions give up (abort, producers replaced), claim() retries with back-off while the
    broker is away, and once it is back every partition resumes from its committed offset."""
    from structlog.testing import capture_logs

    from service.kafka import delivery, ownership, settle

    monkeypatch.setattr(settle, "DELIVERY_TIMEOUT_S", 2.0)
    monkeypatch.setattr(settle, "WAIT_LOG_S", 0.5)
    monkeypatch.setattr(ownership, "CLAIM_TIMEOUT_S", 2.0)
    monkeypatch.setattr(delivery, "STOP_TIMEOUT_S", 0.5)
    monkeypatch.setattr(delivery, "ABORT_TIMEOUT_S", 0.5)
    n = 3_000
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka.bootstrap, unique_topic_prefix, keys, batch_max_records=100)

    async def scenario():
        await create_topics(settings, partitions=PARTITIONS)
        await produce_spread(kafka.bootstrap, settings.input_topic, signed_values(key, n), PARTITIONS)
        with capture_logs() as logs:
            async with running(settings), Progress(settings) as progress:
                await progress.wait_for(n // 5, timeout=60)
                await asyncio.to_thread(kafka.stop)
                await asyncio.sleep(6)
                await asyncio.to_thread(kafka.start)
                settled = await progress.wait_for(n, timeout=120)
        return settled, logs, await verify(settings, PARTITIONS)

    settled, logs, verdict = asyncio.run(scenario())
    events = [entry["event"] for entry in logs]
    print({name: events.count(name) for name in ("broker_unreachable", "delivery_failed", "delivery_resumed")})
    assert "delivery_failed" in events and "delivery_resumed" in events
    assert settled == n and (verdict.n, verdict.lost, verdict.duplicated) == (n, 0, 0), verdict.line()
