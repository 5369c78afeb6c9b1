"""Shared fixtures: one real Kafka broker per test session, private brokers for tests that control one.

- `kafka_bootstrap` (session): "host:port" of the session broker. With KAFKA_BOOTSTRAP_SERVERS set, that
  cluster is used and no broker is started (e.g. the docker-compose one, or CI's service container).
- `kafka` (function): a private LocalKafka the test may stop, kill, restart or pause. Always started here,
  never taken from KAFKA_BOOTSTRAP_SERVERS; tests using it get the `broker_control` marker automatically.
- `kafka_factory` (function): `kafka_factory(tls=True, sasl_users={...})` -> a started private LocalKafka.
- `unique_topic_prefix` (function): a per-test prefix, so tests never share topics or consumer groups.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis  # noqa: F401  (see below)
import pytest

from devtools.localkafka import LocalKafka

# hypothesis is imported here, at collection, so that its pytest plugin never imports it first at the end of a
# session (pytest_terminal_summary): a run that used no hypothesis test (tests/integration alone) then rewrote
# hypothesis's modules after the whole run and, on CPython 3.11.7, sometimes failed there with "SystemError: AST
# constructor recursion depth mismatch" after every test had passed.

BROKER_CONTROL = "broker_control: starts its own broker to stop/kill/restart/pause it (a few seconds each)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", BROKER_CONTROL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "kafka" in fixtures or "kafka_factory" in fixtures:
            item.add_marker(pytest.mark.broker_control)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = LocalKafka(tmp_path_factory.mktemp("session-kafka"))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def kafka_factory(tmp_path: Path) -> Iterator[Callable[..., LocalKafka]]:
    started: list[LocalKafka] = []

    def start(**options: object) -> LocalKafka:
        broker = LocalKafka(tmp_path / f"kafka-{len(started)}", **options)  # type: ignore[arg-type]
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def kafka(kafka_factory: Callable[..., LocalKafka]) -> LocalKafka:
    return kafka_factory()


@pytest.fixture
def unique_topic_prefix(request: pytest.FixtureRequest) -> str:
    """`t-<test name>-<8 hex>-`: legal in topic and group names, and says which test made it."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}-"
