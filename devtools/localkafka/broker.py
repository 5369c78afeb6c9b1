"""LocalKafka: one real Kafka broker process (KRaft, broker+controller) in a state directory.

Lifecycle: start() formats storage on first use, launches the JVM in its own process group and waits
until the log says `Kafka Server started` and the port accepts connections (a first start that loses a
port to another process between choosing and binding it is retried on fresh ports). stop() sends SIGTERM (clean
shutdown), then SIGKILL after 30 s; kill() is the crash; restart() comes back on the same ports and data;
pause()/resume() freeze the JVM with SIGSTOP/SIGCONT (an unresponsive broker, without closing sockets).
Every running broker is stopped at interpreter exit, and (Linux, main thread) SIGTERMed if we die.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.localkafka import config, layout, process
from devtools.localkafka.layout import BrokerStartError
from devtools.localkafka.versions import KafkaVersion, kafka_version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Kafka Server started"
BIND_FAILED = "Address already in use"  # java.net.BindException's message, in the log or the JVM output
BIND_ATTEMPTS = 3
_running: set[LocalKafka] = set()
_atexit_registered = False


def _address(port: int | None, option: str) -> str:
    if port is None:
        raise RuntimeError(f"this broker was started without {option}")
    return f"127.0.0.1:{port}"


def _stop_all() -> None:
    for broker in list(_running):
        broker.stop()


class LocalKafka:
    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        port: int | None = None,
        tls: bool = False,
        sasl_users: dict[str, str] | None = None,
        project_root: Path | str = PROJECT_ROOT,
        start_timeout: float = 90.0,
        version: KafkaVersion | str | None = None,
    ) -> None:
        # None: $KAFKA_VERSION, else the default release (versions.py)
        self.version = version if isinstance(version, KafkaVersion) else kafka_version(version)
        self._owns_dir = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="localkafka-") if state_dir is None else state_dir)
        self.log_file = self.state_dir / "server.log"  # the broker's log4j output
        self.out_file = self.state_dir / "jvm.out"  # JVM stdout/stderr: crashes before logging starts
        self._port, self._tls, self._sasl_users = port, tls, dict(sasl_users or {})
        config.check_sasl_users(self._sasl_users)
        self._root, self._timeout = Path(project_root), start_timeout
        self._ports: config.Ports | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # wall time of the last start(), JVM launch to ready

    def __repr__(self) -> str:  # no passwords
        return (f"LocalKafka(version={self.version.text}, state_dir={str(self.state_dir)!r}, ports={self._ports}, "
                f"pid={self.pid})")

    @property
    def ports(self) -> config.Ports:
        if self._ports is None:
            raise RuntimeError("broker has not been started")
        return self._ports

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.plaintext}"

    @property
    def ssl_bootstrap(self) -> str:
        return _address(self.ports.ssl, "tls=True")

    @property
    def sasl_bootstrap(self) -> str:
        return _address(self.ports.sasl, "sasl_users")

    @property
    def ca_file(self) -> Path:
        if not self._tls:
            raise RuntimeError("this broker was started without tls=True")
        return self.state_dir / "tls" / "ca.pem"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalKafka:
        """Start the broker and block until it serves requests; a no-op if it already runs.

        Ports are chosen free and released before the JVM binds them, so another process may take one in
        between: a first start that fails to bind is retried on fresh ports (BIND_ATTEMPTS in all).
        """
        if self.running:
            return self
        for attempt in range(1, BIND_ATTEMPTS + 1):
            fresh = self._ports is None
            if fresh:
                self._ports = process.pick_ports(self._port, self._tls, bool(self._sasl_users))
            formatted = (self.state_dir / "data" / "meta.properties").exists()
            offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                return self._launch()
            except BrokerStartError:
                lost_race = BIND_FAILED in process.text_since(self.log_file, offset) + process.tail(self.out_file)
                if not (fresh and lost_race) or attempt == BIND_ATTEMPTS:
                    raise
                self._ports = None
                if not formatted:  # formatted for the lost ports a moment ago: format again for the new ones
                    shutil.rmtree(self.state_dir / "data", ignore_errors=True)
        raise AssertionError("unreachable")

    def _launch(self) -> LocalKafka:
        global _atexit_registered
        props = layout.prepare(self._root, self.state_dir, self.ports, self._tls, self._sasl_users, self.version)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        began = time.monotonic()
        cmd = layout.java_command(self._root, self.state_dir, self.version, "kafka.Kafka", str(props))
        self._proc = process.spawn(cmd, self.state_dir, self.out_file)
        _running.add(self)
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True
        self._wait_ready(offset, began + self._timeout)
        self.start_seconds = round(time.monotonic() - began, 2)
        return self

    def _wait_ready(self, offset: int, deadline: float) -> None:
        ports = [p for p in (self.ports.plaintext, self.ports.ssl, self.ports.sasl) if p is not None]
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                self._fail(f"broker exited with code {code} before it was ready")
            if READY_LINE in process.text_since(self.log_file, offset) and all(
                process.accepts_connections(p) for p in ports
            ):
                return
            time.sleep(0.1)
        self._fail(f"broker not ready after {self._timeout:.0f} s")

    def _fail(self, why: str) -> None:
        self.kill()
        raise BrokerStartError(
            f"{why} (state dir {self.state_dir})\n--- last 40 lines of {self.log_file}:\n"
            f"{process.tail(self.log_file)}\n--- {self.out_file}:\n{process.tail(self.out_file, 15)}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM), SIGKILL after `timeout` seconds. Safe to call twice."""
        if self._proc is not None and self._proc.poll() is None:
            process.signal_group(self._proc, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
            process.signal_group(self._proc, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        _running.discard(self)

    def kill(self) -> None:
        """SIGKILL the broker: the crash case (no clean shutdown, log recovery on next start)."""
        if self._proc is not None:
            process.signal_group(self._proc, signal.SIGKILL)
            self._proc.wait()
        _running.discard(self)

    def restart(self) -> LocalKafka:
        """Stop, then start again on the same ports and data directory."""
        self.stop()
        return self.start()

    def pause(self) -> None:
        if self._proc is not None:
            process.signal_group(self._proc, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            process.signal_group(self._proc, signal.SIGCONT)

    def close(self) -> None:
        """stop(), and delete the state dir if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
