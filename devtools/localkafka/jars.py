"""Fetch the broker's jars from Maven Central with `mvn`, once per Kafka version and version of kafka/pom.xml.

The jars land in `.cache/kafka/<version>/libs` (git-ignored), one folder per Kafka release, so switching
KAFKA_VERSION back and forth never mixes two releases on one classpath nor downloads twice. A stamp file
holds the sha256 of the pom (and version) that produced them, so editing the pom triggers a fresh copy.
Maven writes into `libs.partial` first and the folder is renamed only once complete, so an
interrupted download never looks like a usable broker. A file lock keeps parallel test runs from racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from devtools.localkafka.versions import KafkaVersion, kafka_version
from service.errors import UsageError


class ToolMissingError(UsageError, RuntimeError):
    """`java` or `mvn` is not installed; the message says what to install."""


def find_java() -> str:
    """The `java` executable: $JAVA_HOME/bin/java first, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ToolMissingError(
            "java not found: the local Kafka broker needs a Java 17+ runtime "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless), or set JAVA_HOME"
        )
    return found


def _find_mvn() -> str:
    found = shutil.which("mvn")
    if not found:
        raise ToolMissingError(
            "mvn not found: Maven fetches the Kafka broker jars from Maven Central "
            "(Debian/Ubuntu: apt-get install maven)"
        )
    return found


def _looks_complete(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka_2.13-*.jar"))


def ensure_jars(project_root: Path | str, version: KafkaVersion | None = None) -> Path:
    """Return `.cache/kafka/<version>/libs` under `project_root`, running Maven first when needed.

    Maven runs when the folder is missing or `kafka/pom.xml` changed since the last copy. ``version``
    defaults to kafka_version() ($KAFKA_VERSION or the default release).
    Raises ToolMissingError without java/mvn and RuntimeError (with Maven's output) if Maven fails.
    """
    version = version or kafka_version()
    root = Path(project_root).resolve()
    pom = root / "kafka" / "pom.xml"
    cache = root / ".cache" / "kafka" / version.text
    libs, partial, stamp = cache / "libs", cache / "libs.partial", cache / "pom.sha256"
    digest = hashlib.sha256(pom.read_bytes() + f"\n{version.text} {version.maven_profile}".encode()).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        stamped = stamp.read_text().strip() if stamp.exists() else ""
        if stamped == digest and _looks_complete(libs):
            return libs
        find_java()
        mvn = _find_mvn()
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), f"-Dkafka.version={version.text}", "-P", version.maven_profile,
               f"-Dlibs.dir={partial}", "dependency:copy-dependencies"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not _looks_complete(partial):
            output = (done.stdout + done.stderr)[-4000:]
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        stamp.write_text(digest + "\n")
    return libs
