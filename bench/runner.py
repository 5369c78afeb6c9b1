"""One measured run: the service or the relay, as a subprocess, against fresh topics on the shared broker.

Phases of a run (definitions in docs/benchmarks.md):
1. throughput: ``plan.events`` events are produced BEFORE the process starts; the process drains them.
   events/s = (N - k0) / (t_last - t0): t0 is the first moment the collector (read_committed) saw decisions,
   k0 how many it saw then, t_last when the N-th became readable. Process start-up and group join are
   excluded (reported as ``first_decision_s``). CPU s / 1,000 events over the same window.
2. latency: ``plan.rate`` events/s offered for ``plan.latency_s`` seconds; latency of an event = when its
   decision became readable - its input record's timestamp (set when it was handed to the producer).
3. peak RSS (VmHWM) of the process over its whole life, read just before SIGTERM.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.generator import record_key, signed_events, signing_key, write_verification_key
from bench.kafka_io import Collector, produce_all, produce_paced
from bench.latency import latency_figures
from bench.process import Child
from service.kafka.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Plan:
    events: int = 20_000  # throughput phase
    rate: float = 1_000.0  # latency phase: offered events/s
    latency_s: float = 10.0
    partitions: int = 6
    size: str = "2k"
    timeout_s: float = 120.0
    producer_options: str = ""  # JSON merged over the service's producer options, in both systems (what-if)
    profile_dir: str = ""  # py-spy recordings of the service runs go here (bench/profile.py)
    service_env: str = ""  # JSON object of MODERATION_* settings for the service runs (what-if: a loop setting)


def _service_argv() -> list[str]:
    script = Path(sys.executable).parent / "moderation"
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "service", "run"]


def start_process(system: str, delivery: str, bootstrap: str, prefix: str, keys_dir: Path, log: Path,
                  what_if: str, service_env: str = "", extra_env: dict[str, str] | None = None) -> Child:
    """The relay or the service on the topics named ``<prefix>in`` / ``<prefix>out`` (relay) or ``<prefix>in``
    / ``approved`` / ``rejected`` / ``dead`` (service), group ``<prefix>group``. ``extra_env``: MODERATION_*
    settings a part of the bench needs (service only), applied before ``service_env``'s what-if ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    if system == "relay":
        argv = [sys.executable, "-m", "bench.relay", "--bootstrap", bootstrap, "--input", f"{prefix}in",
                "--output", f"{prefix}out", "--group", f"{prefix}group", "--delivery", delivery]
        argv += ["--producer-options", what_if] if what_if else []
        return Child(argv, env, log, ROOT)
    env.update({
        "MODERATION_BOOTSTRAP_SERVERS": bootstrap, "MODERATION_INPUT_TOPIC": f"{prefix}in",
        "MODERATION_APPROVED_TOPIC": f"{prefix}approved", "MODERATION_REJECTED_TOPIC": f"{prefix}rejected",
        "MODERATION_DEADLETTER_TOPIC": f"{prefix}dead", "MODERATION_GROUP_ID": f"{prefix}group",
        "MODERATION_DELIVERY": delivery, "MODERATION_KEYS_DIR": str(keys_dir),
        "MODERATION_RULES_PATH": str(ROOT / "config" / "rules.yaml"), "MODERATION_HTTP_PORT": "0",
        "MODERATION_LOG_FORMAT": "json", "MODERATION_LOG_LEVEL": "info",
    })
    if system == "service-inline":  # no offloading: batches decided on the event loop thread
        env["MODERATION_DECIDE_THREADS"] = "0"
    env.update(extra_env or {})
    env.update({name: str(value) for name, value in (json.loads(service_env) if service_env else {}).items()})
    if system == "service-shell":  # the same process with the decision core canned (bench/shell_floor.py)
        argv = [sys.executable, "-m", "bench.shell_floor", *([what_if] if what_if else [])]
    else:
        argv = [sys.executable, "-m", "bench.patched", what_if] if what_if else _service_argv()
    return Child(argv, env, log, ROOT)


class Events:
    """Signed events per (algorithm, size), generated once and shared by the runs that need them."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], list[bytes]] = {}
        self.now = time.time()

    def get(self, algorithm: str, size: str, count: int) -> list[bytes]:
        from datetime import UTC, datetime

        made = self._made.get((algorithm, size), [])
        if len(made) < count:
            now = datetime.fromtimestamp(self.now, UTC)
            made = made + signed_events(count - len(made), signing_key(algorithm), now, size, start=len(made))
            self._made[(algorithm, size)] = made
        return made[:count]


def output_topics(system: str, prefix: str) -> list[str]:
    return [f"{prefix}out"] if system == "relay" else [f"{prefix}{t}" for t in ("approved", "rejected", "dead")]


async def run_system(system: str, delivery: str, algorithm: str, bootstrap: str, plan: Plan, events: Events,
                     workdir: Path | None = None) -> dict:
    """Figures of one run; ``system`` is "service", "service-inline" (decided on the event loop), "service-shell"
    (the decision core canned, bench/shell_floor.py) or "relay".

    A run is complete when every input key has an output, on any output topic (``Collector.seen``): the real
    service splits its decisions 90/10 between approved and rejected, the shell floor sends them all to one."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-"))
    prefix = f"bench-{system}-{delivery}-{algorithm}-{uuid.uuid4().hex[:6]}-"
    outputs = output_topics(system, prefix)
    await ensure_topics(bootstrap, dict.fromkeys([f"{prefix}in", *outputs], plan.partitions))
    keys_dir = workdir / f"keys-{algorithm}"
    write_verification_key(signing_key(algorithm), keys_dir)
    latency_count = int(plan.rate * plan.latency_s)
    values = events.get(algorithm, plan.size, plan.events + latency_count)
    records = [(record_key(i), value) for i, value in enumerate(values)]
    await produce_all(bootstrap, f"{prefix}in", records[:plan.events])

    collector = Collector(bootstrap, outputs)
    await collector.start()
    child = start_process(system, delivery, bootstrap, prefix, keys_dir, workdir / f"{prefix}log.txt",
                   plan.producer_options, plan.service_env)
    started = time.time()
    spy = None
    if plan.profile_dir and system == "service":
        from bench.profile import attach

        spy = attach(child.pid, Path(plan.profile_dir) / f"{delivery}-{algorithm}.txt")
    first: dict[str, float] = {}

    def note_first() -> None:
        if collector.seen and not first:
            first.update(cpu=child.cpu(), t0=min(collector.seen.values()))

    figures: dict = {"system": system, "delivery": delivery, "algorithm": algorithm, "size": plan.size,
                     "events": plan.events, "partitions": plan.partitions}
    try:
        complete = await collector.wait(lambda: len(collector.seen) >= plan.events, plan.timeout_s, note_first)
        cpu_last = child.cpu()
        seen = dict(collector.seen)
        figures.update(_throughput(seen, first, cpu_last, started, complete))
        sent: dict[bytes, float] = {}
        cpu_before, t_before = child.cpu(), time.time()
        offered = await produce_paced(bootstrap, f"{prefix}in", records[plan.events:], plan.rate, sent)
        keys = set(sent)
        complete &= await collector.wait(lambda: keys.issubset(collector.seen), 30.0)
        cpu_rate = (child.cpu() - cpu_before) / (time.time() - t_before)
        figures["latency_ms"] = {"offered_eps": round(offered, 1), **latency_figures(collector.seen, sent),
                                 "cpu_share_at_rate": round(cpu_rate, 3)}
        figures.update(child.memory(), cpu_total_s=round(child.cpu(), 2), complete=complete,
                       duplicates=collector.duplicates, decisions=dict(collector.by_topic))
    finally:
        await collector.stop()
        figures["exit_code"] = child.stop()
        if spy is not None:
            spy.wait(30)
            from bench.profile import summarize

            figures["profile"] = summarize(Path(plan.profile_dir) / f"{delivery}-{algorithm}.txt")
    if not figures.get("complete"):
        figures["log_tail"] = child.tail()
    return figures


def _throughput(seen: dict[bytes, float], first: dict[str, float], cpu_last: float, started: float,
                complete: bool) -> dict:
    if not seen or not first:
        return {"throughput_eps": None, "cpu_s_per_1000": None, "first_decision_s": None}
    t0, t_last = first["t0"], max(seen.values())
    k0 = sum(1 for moment in seen.values() if moment == t0)
    window = t_last - t0
    counted = len(seen) - k0
    return {
        "throughput_eps": round(counted / window, 1) if window > 0 else None,
        "cpu_s_per_1000": round((cpu_last - first["cpu"]) / counted * 1000, 3) if counted else None,
        "first_decision_s": round(t0 - started, 2),
        "drain_s": round(window, 2),
    }

