"""A measured child process: peak RSS (VmHWM) and CPU seconds (utime + stime) read from /proc/<pid>; the
machine's CPU (/proc/stat) and CPU shares over a window."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process (threads included), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of stat(5)


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from the first line of /proc/stat; busy is everything
    but idle and iowait. Two readings give the share of the machine's cores that was busy in between."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is counted inside user)
    return total - fields[3] - fields[4], total


class Window:
    """CPU over a window: the machine's busy share of all cores, and the cores used by each named process
    (its CPU seconds / wall seconds), read at ``Window()`` and at ``close()``."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self._t0, self._jiffies = time.monotonic(), machine_jiffies()
        self._cpu = {name: _cpu_or_nan(pid) for name, pid in self.pids.items()}

    def close(self) -> dict[str, float | None]:
        wall = time.monotonic() - self._t0
        busy, total = machine_jiffies()
        found: dict[str, float | None] = {
            "seconds": round(wall, 2),
            "machine_busy_share": round((busy - self._jiffies[0]) / (total - self._jiffies[1]), 3)
            if total > self._jiffies[1] else None,
        }
        for name, pid in self.pids.items():
            used = _cpu_or_nan(pid) - self._cpu[name]
            found[f"{name}_cores"] = round(used / wall, 3) if wall > 0 and used == used else None
        return found


def _cpu_or_nan(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")


def memory_mb(pid: int) -> dict[str, float]:
    """Peak (VmHWM) and current (VmRSS) resident memory, in MB (10^6 bytes)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0]) * 1024 / 1e6
    return {"peak_rss_mb": found.get("VmHWM", 0.0), "rss_mb": found.get("VmRSS", 0.0)}


class Child:
    """A subprocess whose output goes to ``log_path``; stopped with SIGTERM (then SIGKILL) by ``stop()``."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid) if self.alive() else float("nan")

    def memory(self) -> dict[str, float]:
        return memory_mb(self.pid) if self.alive() else {"peak_rss_mb": float("nan"), "rss_mb": float("nan")}

    def pause(self) -> None:
        """SIGSTOP: frozen, sockets open (the group keeps it while its session lasts)."""
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
