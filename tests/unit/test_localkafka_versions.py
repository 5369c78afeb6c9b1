"""The local broker's Kafka release: 4.x by default, 3.9.x selectable, and what each line needs in its files.

The brokers themselves are exercised by tests/integration/test_localkafka.py (run it with KAFKA_VERSION=3.9.1
for the 3.x line); these check the choice and the rendered files without starting a JVM.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.localkafka import config
from devtools.localkafka.versions import DEFAULT_VERSION, kafka_version

PORTS = config.Ports(plaintext=9092, controller=9093)


def test_the_default_is_the_current_4x_line_and_kafka_version_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_VERSION", raising=False)
    assert kafka_version().text == DEFAULT_VERSION == "4.1.1"
    monkeypatch.setenv("KAFKA_VERSION", "3.9.1")
    assert kafka_version().text == "3.9.1" and kafka_version().maven_profile == "kafka3"
    assert kafka_version("4.0.0").maven_profile == "kafka4"  # an explicit version wins over the environment


@pytest.mark.parametrize("text", ["3.8.1", "2.8.0", "5.0.0", "4.1", "latest", "4.1.1; rm -rf /"])
def test_unsupported_or_malformed_versions_are_refused_with_the_supported_range(text: str) -> None:
    with pytest.raises(ValueError, match="KAFKA_VERSION"):
        kafka_version(text)


def test_4x_gets_the_share_coordinator_settings_a_single_node_needs_and_3x_does_not() -> None:
    four = config.server_properties(Path("/d"), PORTS, None, {}, kafka_version("4.1.1"))
    three = config.server_properties(Path("/d"), PORTS, None, {}, kafka_version("3.9.1"))
    assert "share.coordinator.state.topic.replication.factor=1" in four.splitlines()
    assert "share.coordinator.state.topic.min.isr=1" in four.splitlines()
    assert "share.coordinator" not in three
    assert set(three.splitlines()) < set(four.splitlines())  # otherwise the same broker


def test_each_line_gets_its_own_logging_backend_config(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    four, three = kafka_version("4.1.1"), kafka_version("3.9.1")
    log4j2 = config.log_config(log, four)
    assert f"appender.file.fileName={log}" in log4j2 and "rootLogger.appenderRef.file.ref=file" in log4j2
    assert "logger.quiet0.name=kafka.request.logger" in log4j2
    assert f"log4j.appender.file.File={log}" in config.log_config(log, three)
    path = tmp_path / config.LOG_CONFIG_FILE
    assert config.log_config_flags(path, four) == [f"-Dlog4j2.configurationFile={path}",
                                                   "-Dlog4j2.shutdownHookEnabled=false"]
    assert config.log_config_flags(path, three) == [f"-Dlog4j.configuration=file:{path}"]


def test_the_pom_has_a_profile_per_line_and_defaults_to_4x() -> None:
    pom = (Path(__file__).parents[2] / "kafka" / "pom.xml").read_text(encoding="utf-8")
    assert f"<kafka.version>{DEFAULT_VERSION}</kafka.version>" in pom
    assert "<id>kafka4</id>" in pom and "<id>kafka3</id>" in pom
    assert "log4j-slf4j-impl" in pom and "slf4j-reload4j" in pom
