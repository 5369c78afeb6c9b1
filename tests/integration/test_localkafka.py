"""The local broker is a real Kafka: records, transactions, groups, restarts, TLS and SASL all work.

Each test proves one piece of server.properties or of LocalKafka's lifecycle against the real JVM broker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from aiokafka.helpers import create_ssl_context

from devtools.localkafka import BrokerStartError, LocalKafka
from service.kafka.topics import ensure_topics

pytestmark = pytest.mark.kafka


async def produce(bootstrap: str, topic: str, values: list[bytes], **client: object) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=value[:1])
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 20.0, **client: object) -> list[bytes]:
    """Read `count` values from the start of `topic` (fewer if the timeout passes first)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **client)
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(seen) < count:
                batches = await consumer.getmany(timeout_ms=500)
                seen += [record.value for records in batches.values() for record in records]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return seen


def test_round_trip(kafka_bootstrap: str, unique_topic_prefix: str) -> None:
    """Records come back in order, on a topic created by ensure_topics (auto-create is off)."""
    topic = unique_topic_prefix + "rt"
    values = [f"record-{i}".encode() for i in range(50)]

    async def scenario() -> list[bytes]:
        assert await ensure_topics(kafka_bootstrap, {topic: 1}) == [topic]
        assert await ensure_topics(kafka_bootstrap, {topic: 1}) == []  # idempotent
        await produce(kafka_bootstrap, topic, values)
        return await consume(kafka_bootstrap, topic, len(values))

    assert asyncio.run(scenario()) == values


def test_transactions_commit_and_abort(kafka_bootstrap: str, unique_topic_prefix: str) -> None:
    """InitProducerId, commit and abort work (transaction state log at RF 1); read_committed skips aborts."""
    topic = unique_topic_prefix + "txn"

    async def scenario() -> list[bytes]:
        await ensure_topics(kafka_bootstrap, {topic: 2})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_topic_prefix)
        await producer.start()
        try:
            for batch, abort in (([b"a1", b"a2"], False), ([b"x1", b"x2"], True), ([b"c1"], False)):
                await producer.begin_transaction()
                for value in batch:
                    await producer.send(topic, value, partition=0)
                await (producer.abort_transaction() if abort else producer.commit_transaction())
        finally:
            await producer.stop()
        return await consume(kafka_bootstrap, topic, 3, isolation_level="read_committed")

    assert asyncio.run(scenario()) == [b"a1", b"a2", b"c1"]


def test_consumer_group_assignment_and_commit(kafka_bootstrap: str, unique_topic_prefix: str) -> None:
    """A group gets both partitions; its committed offsets reach the next member (via __consumer_offsets)."""
    topic, group = unique_topic_prefix + "grp", unique_topic_prefix + "group"

    async def scenario() -> None:
        await ensure_topics(kafka_bootstrap, {topic: 2})
        await produce(kafka_bootstrap, topic, [b"k1", b"k2", b"m1", b"m2"])
        first = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await first.start()
        try:
            seen = 0
            async with asyncio.timeout(30):
                while seen < 4:
                    seen += sum(map(len, (await first.getmany(timeout_ms=1000)).values()))
            assert first.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
            await first.commit()
        finally:
            await first.stop()
        await produce(kafka_bootstrap, topic, [b"z-late"])
        second = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group)
        await second.start()
        try:
            late = await second.getmany(timeout_ms=10_000)
            assert [r.value for rs in late.values() for r in rs] == [b"z-late"]
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_restart_and_crash_keep_data(kafka: LocalKafka, unique_topic_prefix: str) -> None:
    """restart() comes back on the same port with the data; so does start() after a SIGKILL."""
    topic, bootstrap = unique_topic_prefix + "keep", kafka.bootstrap
    asyncio.run(ensure_topics(bootstrap, {topic: 1}))
    asyncio.run(produce(bootstrap, topic, [b"before-restart"]))
    kafka.restart()
    print(f"restart: ready in {kafka.start_seconds} s")
    assert kafka.bootstrap == bootstrap
    asyncio.run(produce(bootstrap, topic, [b"after-restart"]))
    kafka.kill()
    assert not kafka.running
    kafka.start()
    print(f"start after SIGKILL: ready in {kafka.start_seconds} s")
    assert asyncio.run(consume(bootstrap, topic, 2)) == [b"before-restart", b"after-restart"]
    kafka.stop()
    kafka.stop()  # idempotent
    assert kafka.pid is None


def test_paused_broker_times_out_then_recovers(kafka: LocalKafka) -> None:
    """pause() freezes the JVM: requests time out; resume() brings it back."""

    async def metadata() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap, request_timeout_ms=1500)
        await admin.start()
        try:
            return await admin.list_topics()
        finally:
            await admin.close()

    kafka.pause()
    try:
        with pytest.raises((KafkaConnectionError, KafkaTimeoutError, TimeoutError)):
            asyncio.run(asyncio.wait_for(metadata(), 5))
    finally:
        kafka.resume()
    assert isinstance(asyncio.run(metadata()), list)


def test_start_failure_reports_the_broker_log(kafka: LocalKafka) -> None:
    """A broker that exits during start raises BrokerStartError carrying the broker's own log lines."""
    kafka.stop()
    meta = kafka.state_dir / "data" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    with pytest.raises(BrokerStartError, match=r"(?s)exited with code 1.*Stored node id 7"):
        kafka.start()
    assert not kafka.running


def test_a_port_taken_between_choosing_and_binding_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's ports are chosen free, then released until the JVM binds them: another process may take
    one in between (a flaky start under parallel tests). The first start is retried on fresh ports."""
    from devtools.localkafka import config, process

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lost = taken.getsockname()[1]
        real_pick, picks = process.pick_ports, []

        def pick_ports(plaintext: int | None, tls: bool, sasl: bool) -> config.Ports:
            picks.append(plaintext)
            if len(picks) == 1:  # the race, made certain: the first choice is a port someone else holds
                return config.Ports(plaintext=lost, controller=process.free_port())
            return real_pick(plaintext, tls, sasl)

        monkeypatch.setattr(process, "pick_ports", pick_ports)
        broker = LocalKafka(tmp_path / "kafka")
        try:
            broker.start()
            assert len(picks) == 2 and broker.ports.plaintext != lost
            assert asyncio.run(ensure_topics(broker.bootstrap, {"after-retry": 1})) == ["after-retry"]
        finally:
            broker.close()


def test_stop_is_clean_even_when_paused_and_escalates_after_timeout(kafka: LocalKafka) -> None:
    """stop() continues a paused JVM so SIGTERM runs Kafka's shutdown; a stop that overruns is a SIGKILL."""
    kafka.pause()
    kafka.stop()
    assert kafka._proc is not None and kafka._proc.returncode == 143  # JVM exit after SIGTERM: 128 + 15
    assert "shut down completed" in kafka.log_file.read_text()
    kafka.start()
    kafka.stop(timeout=0.01)  # a clean shutdown takes ~0.3 s
    assert kafka._proc is not None and kafka._proc.returncode == -signal.SIGKILL
    assert not kafka.running


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("secure-kafka"), tls=True, sasl_users={"alice": "s3cret-pw"})
    with broker:
        yield broker


@pytest.mark.broker_control
def test_tls_round_trip_and_untrusted_client(secure_kafka: LocalKafka, unique_topic_prefix: str) -> None:
    """The SSL listener serves a cert for 127.0.0.1 signed by ca_file; a client without that CA is refused."""
    topic = unique_topic_prefix + "tls"
    tls = {"security_protocol": "SSL", "ssl_context": create_ssl_context(cafile=str(secure_kafka.ca_file))}
    asyncio.run(ensure_topics(secure_kafka.ssl_bootstrap, {topic: 1}, **tls))
    asyncio.run(produce(secure_kafka.ssl_bootstrap, topic, [b"over-tls"], **tls))
    assert asyncio.run(consume(secure_kafka.ssl_bootstrap, topic, 1, **tls)) == [b"over-tls"]
    untrusted = {"security_protocol": "SSL", "ssl_context": create_ssl_context()}
    with pytest.raises(KafkaConnectionError):
        asyncio.run(produce(secure_kafka.ssl_bootstrap, topic, [b"never"], **untrusted))


@pytest.mark.broker_control
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_accepts_the_user_and_refuses_a_wrong_password(
    secure_kafka: LocalKafka, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Right password: connected. Wrong one: aiokafka raises KafkaConnectionError ('Unable to bootstrap')
    and only its log names the broker's reason, SaslAuthenticationFailed."""

    def client(password: str) -> dict[str, object]:
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "alice",
            "sasl_plain_password": password,
        }

    async def connect(password: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=secure_kafka.sasl_bootstrap, **client(password))
        try:
            await producer.start()
        finally:
            await producer.stop()

    asyncio.run(connect("s3cret-pw"))
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(connect("wrong-password"))
    assert "SaslAuthenticationFailed" in caplog.text
