"""The broker's server.properties and logging config, rendered from ports, paths and the Kafka line.

One KRaft process is both broker and controller. Every internal topic is set to replication factor 1:
with Kafka's defaults (3) a single node never hosts `__consumer_offsets` or `__transaction_state`, so
consumer groups find no coordinator and InitProducerId hangs for minutes (4.x: the share coordinator's
state topic too). Logging: log4j2 properties for 4.x, reload4j (log4j 1) properties for 3.x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devtools.localkafka.tls import TlsFiles
from devtools.localkafka.versions import KafkaVersion

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Names and passwords go unescaped into JAAS config and StorageTool's --add-scram syntax; refuse the
# characters either would misread rather than escape them twice.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_SAFE_PASSWORD = re.compile(r"[^\s\"\\,\[\]=;']{1,128}")


@dataclass(frozen=True)
class Ports:
    plaintext: int
    controller: int
    ssl: int | None = None
    sasl: int | None = None


def check_sasl_users(users: dict[str, str]) -> None:
    for name, password in users.items():
        if not _SAFE_NAME.fullmatch(name) or not _SAFE_PASSWORD.fullmatch(password):
            # never echo the password
            raise ValueError(f"SASL user {name!r}: name or password uses characters this helper cannot quote")


def _listeners(ports: Ports) -> tuple[list[str], list[str], list[str]]:
    listeners = [f"PLAINTEXT://127.0.0.1:{ports.plaintext}", f"CONTROLLER://127.0.0.1:{ports.controller}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{ports.plaintext}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    for name, port in (("SSL", ports.ssl), ("SASL_PLAINTEXT", ports.sasl)):
        if port is not None:
            listeners.append(f"{name}://127.0.0.1:{port}")
            advertised.append(f"{name}://127.0.0.1:{port}")
            protocols.append(f"{name}:{name}")
    return listeners, advertised, protocols


def server_properties(
    log_dir: Path, ports: Ports, tls: TlsFiles | None, sasl_users: dict[str, str], version: KafkaVersion
) -> str:
    listeners, advertised, protocols = _listeners(ports)
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{ports.controller}",
        f"listeners={','.join(listeners)}",
        f"advertised.listeners={','.join(advertised)}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"listener.security.protocol.map={','.join(protocols)}",
        f"log.dirs={log_dir}",
        "num.partitions=1",
        "default.replication.factor=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "min.insync.replicas=1",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.dedupe.buffer.size=2097152",
        "log.segment.bytes=16777216",
        "log.retention.hours=24",
        # After a SIGKILL the restarted controller still holds the dead incarnation's registration and
        # refuses the new one (DUPLICATE_BROKER_REGISTRATION) until this session expires: 9 s by default,
        # which made start-after-crash take ~14 s. Heartbeats every 0.5 s keep 6 beats of slack.
        "broker.heartbeat.interval.ms=500",
        "broker.session.timeout.ms=3000",
        "num.network.threads=2",
        "num.io.threads=4",
        "num.recovery.threads.per.data.dir=1",
    ]
    if version.major >= 4:  # share groups (KIP-932) keep their state in an internal topic: RF 3 by default
        lines += ["share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1"]
    if tls is not None:
        lines += [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls.keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls.ca_file}",
            "ssl.client.auth=none",
        ]
    if sasl_users:
        check_sasl_users(sasl_users)
        prefix = "listener.name.sasl_plaintext"
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in sorted(sasl_users.items()))
        lines += [
            f"sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
            f"{prefix}.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        ]
        for mechanism in SASL_MECHANISMS[1:]:
            lines.append(
                f"{prefix}.{mechanism.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
    return "\n".join(lines) + "\n"


def scram_format_args(sasl_users: dict[str, str]) -> list[str]:
    """StorageTool `--add-scram` arguments: SCRAM credentials written into the metadata log at format."""
    args: list[str] = []
    for name, password in sorted(sasl_users.items()):
        for mechanism in SASL_MECHANISMS[1:]:
            args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
    return args


LOG_CONFIG_FILE = "log4j.properties"
QUIET_LOGGERS = ("kafka.request.logger", "kafka.network.RequestChannel$", "state.change.logger")


def log_config(log_file: Path, version: KafkaVersion) -> str:
    """The broker's logging config for its line: INFO to one file (readiness is read from it), noise off."""
    return log4j2_properties(log_file) if version.log4j2 else log4j_properties(log_file)


def log_config_flags(path: Path, version: KafkaVersion) -> list[str]:
    """The JVM system properties that point the broker's logging backend at ``path``.

    log4j2 stops logging from its own shutdown hook, which races Kafka's: without the second flag the last
    lines of a clean shutdown (`shut down completed`) are lost. The file appender flushes every line anyway.
    """
    if version.log4j2:
        return [f"-Dlog4j2.configurationFile={path}", "-Dlog4j2.shutdownHookEnabled=false"]
    return [f"-Dlog4j.configuration=file:{path}"]


def log4j2_properties(log_file: Path) -> str:
    """log4j2 (Kafka 4.x) in its properties syntax, which needs no YAML or XML parser on the classpath."""
    lines = [
        "status=warn",
        "appender.file.type=File",
        "appender.file.name=file",
        f"appender.file.fileName={log_file}",
        "appender.file.append=true",
        "appender.file.layout.type=PatternLayout",
        "appender.file.layout.pattern=[%d] %p %m (%c)%n",
        "rootLogger.level=INFO",
        "rootLogger.appenderRef.file.ref=file",
    ]
    for index, name in enumerate(QUIET_LOGGERS):
        lines += [f"logger.quiet{index}.name={name}", f"logger.quiet{index}.level=WARN"]
    return "\n".join(lines) + "\n"


def log4j_properties(log_file: Path) -> str:
    """reload4j config (Kafka 3.x): INFO to one file (readiness is read from it), noisy request logs off."""
    return "\n".join(
        [
            "log4j.rootLogger=INFO, file",
            "log4j.appender.file=org.apache.log4j.FileAppender",
            f"log4j.appender.file.File={log_file}",
            "log4j.appender.file.Append=true",
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "log4j.logger.kafka.request.logger=WARN",
            "log4j.logger.kafka.network.RequestChannel$=WARN",
            "log4j.logger.org.apache.kafka.controller=INFO",
            "log4j.logger.state.change.logger=WARN",
            "",
        ]
    )
