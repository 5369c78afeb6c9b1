"""Fetch the broker's jars from Maven Central with `mvn`, once per version of kafka/pom.xml.

The jars land in `.cache/kafka/libs` (git-ignored). A stamp file holds the sha256 of the pom that produced
them, so editing the pom (say, a new Kafka release) triggers a fresh copy instead of mixing two versions on
one classpath. Maven writes into `libs.partial` first and the folder is renamed only once complete, so an
interrupted download never looks like a usable broker. A file lock keeps parallel test runs from racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

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


def ensure_jars(project_root: Path | str) -> Path:
    """Return `.cache/kafka/libs` under `project_root`, running Maven first when needed.

    Maven runs when the folder is missing or `kafka/pom.xml` changed since the last copy.
    Raises ToolMissingError without java/mvn and RuntimeError (with Maven's output) if Maven fails.
    """
    root = Path(project_root).resolve()
    pom = root / "kafka" / "pom.xml"
    cache = root / ".cache" / "kafka"
    libs, partial, stamp = cache / "libs", cache / "libs.partial", cache / "pom.sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        stamped = stamp.read_text().strip() if stamp.exists() else ""
        if stamped == digest and _looks_complete(libs):
            return libs
        find_java()
        mvn = _find_mvn()
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), f"-Dlibs.dir={partial}", "dependency:copy-dependencies"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not _looks_complete(partial):
            output = (done.stdout + done.stderr)[-4000:]
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        stamp.write_text(digest + "\n")
    return libs
