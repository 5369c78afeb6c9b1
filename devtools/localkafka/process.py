"""Small process and socket helpers for the broker: free ports, readiness polling, log tails, signals."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from devtools.localkafka.config import Ports

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; a race is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick_ports(plaintext: int | None, tls: bool, sasl: bool) -> Ports:
    """Ports for each listener: `plaintext` if given (and free), the rest chosen by the kernel."""
    if plaintext is not None and not port_is_free(plaintext):
        raise OSError(f"port {plaintext} on 127.0.0.1 is already in use")
    return Ports(
        plaintext=plaintext or free_port(),
        controller=free_port(),
        ssl=free_port() if tls else None,
        sasl=free_port() if sasl else None,
    )


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64 * 1024))
        return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:])


def text_since(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us if the parent dies, so a SIGKILLed test run leaves no broker."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(cmd: list[str], cwd: Path, output: Path) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own process group, stdout+stderr appended to `output`.

    The parent-death signal is tied to the thread that forks, so it is set only from the main thread
    (a worker thread exiting would otherwise take the broker with it).
    """
    watch_parent = sys.platform == "linux" and threading.current_thread() is threading.main_thread()
    with open(output, "ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if watch_parent else None,
        )


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` to the process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
