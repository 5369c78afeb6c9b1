"""A real single-node Apache Kafka broker, assembled from Maven Central jars, for `make run` and tests.

    with LocalKafka() as kafka:            # temp state dir, free 127.0.0.1 ports
        ...connect to kafka.bootstrap...   # "127.0.0.1:PORT"
    LocalKafka(tls=True)                   # + SSL listener: .ssl_bootstrap, .ca_file (PEM CA for clients)
    LocalKafka(sasl_users={"alice": "pw"}) # + SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256/512): .sasl_bootstrap

`python -m devtools.localkafka run [--state-dir DIR] [--port N]` runs one in the foreground and prints
`bootstrap=127.0.0.1:PORT` when ready. Needs `java` 17+ and, the first time for each Kafka version or after
kafka/pom.xml changes, `mvn` (jars.py). The release is Kafka 4.1.1 unless KAFKA_VERSION (or
``LocalKafka(version=...)``) names another 4.x or 3.9.x one (versions.py). Modules: versions (which release,
what differs by line), jars (Maven), config (properties and logging files), tls (certificates), layout (state
dir, format, java command line), process (ports, signals), broker (LocalKafka).

Kafka 4.1.1 (Dec 2026, same machine, both cores shared with other test runs): 46 jars, 43 MB; JVM launch to
ready 3.6-7 s under that load (3.9.1 alongside: 6.7 s), clean stop 0.6-0.9 s. Both lines use the same main
classes and readiness line; 4.x needs log4j2 (with its shutdown hook off, or the last shutdown lines are lost).

Measured here (Kafka 3.9.1, OpenJDK 17, 2 vCPU, 24 GB; Nov 2026):
- first start of a fresh dir: ~1.8 s total = StorageTool format ~0.5 s + JVM launch to ready 1.2-1.4 s
  (up to ~3.5 s while other JVMs or tests load both cores; start_timeout defaults to 90 s).
  With TLS and SASL (certificates + SCRAM at format): ~2.0 s. restart() (clean stop + start): ~1.8 s.
- start after kill() (SIGKILL): 14 s with Kafka's defaults, because the restarted controller rejects the
  new broker incarnation (DUPLICATE_BROKER_REGISTRATION) until the dead one's session expires
  (broker.session.timeout.ms=9000); with 3000 / heartbeat 500 ms it is ~4.3 s.
- clean stop (SIGTERM): 0.2-0.4 s; the JVM exits with 143. The log then says `shut down completed`.
- memory: RSS ~180 MB idle with -Xms128m -Xmx512m; ~250 MB after 100k x 2 KB records (aiokafka
  produced them in 2.1 s, linger 5 ms, 256 KB batches), so -Xmx512m leaves plenty of room.
- `mvn dependency:copy-dependencies` with a warm ~/.m2: ~2 s; 57 jars, 46 MB.
- aiokafka reports a SASL wrong password only as KafkaConnectionError("Unable to bootstrap ..."); the
  broker's reason (SaslAuthenticationFailed) appears only in aiokafka's ERROR log. An untrusted TLS
  server likewise surfaces as KafkaConnectionError, with CERTIFICATE_VERIFY_FAILED in the log.
"""

from devtools.localkafka.broker import LocalKafka
from devtools.localkafka.jars import ToolMissingError, ensure_jars
from devtools.localkafka.layout import BrokerStartError

__all__ = ["BrokerStartError", "LocalKafka", "ToolMissingError", "ensure_jars"]
