"""Which Apache Kafka release the local broker runs, and what differs between the 3.x and 4.x lines.

The default is the current 4.x line; ``KAFKA_VERSION=3.9.1`` (environment) selects the last 3.x release, so
the whole suite can be run against either (`KAFKA_VERSION=3.9.1 make test`). Both lines start from the same
main classes (kafka.Kafka, kafka.tools.StorageTool) and print the same readiness line; they differ in the
logging backend (4.x log4j2, 3.x reload4j: kafka/pom.xml profiles kafka4/kafka3, the JVM flag naming the
config file) and in 4.x's share coordinator, whose state topic wants replication factor 1 on one node.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_VERSION = "4.1.1"  # aiokafka 0.14 runs the service exactly-once against it (4x kill -9, nothing lost)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class KafkaVersion:
    text: str  # "4.1.1"
    major: int

    @property
    def maven_profile(self) -> str:
        return "kafka4" if self.major >= 4 else "kafka3"

    @property
    def log4j2(self) -> bool:
        """4.x logs through log4j2; 3.x through reload4j (log4j 1 syntax)."""
        return self.major >= 4


def kafka_version(text: str | None = None) -> KafkaVersion:
    """``text``, else $KAFKA_VERSION, else DEFAULT_VERSION; only 3.9+ and 4.x are known to work here."""
    text = text or os.environ.get("KAFKA_VERSION") or DEFAULT_VERSION
    match = _VERSION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"KAFKA_VERSION={text!r}: expected a release number such as {DEFAULT_VERSION} or 3.9.1")
    major, minor = int(match[1]), int(match[2])
    if (major, minor) < (3, 9) or major > 4:
        raise ValueError(f"KAFKA_VERSION={text}: the local broker supports Kafka 3.9.x and 4.x")
    return KafkaVersion(match[0], major)
