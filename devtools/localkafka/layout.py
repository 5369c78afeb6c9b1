"""A broker's state directory and the JVM command lines that use it.

    STATE_DIR/server.properties  log4j.properties (log4j2 or reload4j syntax, by Kafka line)
    STATE_DIR/server.log (broker log)  jvm.out (JVM stdout/stderr)
    STATE_DIR/data/              KRaft metadata log and topic data (meta.properties once formatted)
    STATE_DIR/tls/               ca.pem, server-keystore.pem (tls=True only)

Config files are rewritten on every start (ports may be new); storage is formatted only once, so data and
the SCRAM users written at format time survive restarts.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from devtools.localkafka import config
from devtools.localkafka.jars import ensure_jars, find_java
from devtools.localkafka.tls import write_tls_files
from devtools.localkafka.versions import KafkaVersion
from service.errors import OperationFailed

JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]


class BrokerStartError(OperationFailed, RuntimeError):
    """The broker could not be set up or did not become ready; the message carries its log."""


def cluster_id() -> str:
    """Kafka's cluster id format: a UUID as 22 chars of unpadded base64url, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def java_command(
    project_root: Path, state_dir: Path, version: KafkaVersion, main_class: str, *args: str
) -> list[str]:
    libs = ensure_jars(project_root, version)
    log_flags = config.log_config_flags(state_dir / config.LOG_CONFIG_FILE, version)
    return [find_java(), *JVM_OPTS, *log_flags, "-cp", f"{libs}/*", main_class, *args]


def prepare(
    project_root: Path, state_dir: Path, ports: config.Ports, tls: bool, sasl_users: dict[str, str],
    version: KafkaVersion,
) -> Path:
    """Write the config files, format storage on first use; return the server.properties path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tls_files = write_tls_files(state_dir / "tls") if tls else None
    data, props = state_dir / "data", state_dir / "server.properties"
    props.write_text(config.server_properties(data, ports, tls_files, sasl_users, version))
    (state_dir / config.LOG_CONFIG_FILE).write_text(config.log_config(state_dir / "server.log", version))
    if not (data / "meta.properties").exists():
        cmd = java_command(project_root, state_dir, version, "kafka.tools.StorageTool", "format")
        cmd += ["-t", cluster_id(), "-c", str(props), *config.scram_format_args(sasl_users)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:  # StorageTool output names the bad setting, never a password
            raise BrokerStartError(f"kafka-storage format failed:\n{done.stdout}{done.stderr}")
    return props
