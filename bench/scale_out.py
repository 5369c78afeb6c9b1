"""Scale-out: one service instance against two in one consumer group, closed loop, on the same broker.

For each configuration (1 or 2 instances, HMAC events, fresh topics with ``plan.partitions`` partitions):

1. the instances start on the empty input topic and the bench waits until the group is stable with every
   instance holding partitions (each one's last ``partitions_assigned`` log line covers all partitions, in
   total, and the group says Stable with that many members): no rebalance falls inside the measured window;
2. ``WARM_UP`` events are decided first (each instance's first batches are slower: as runner.py leaves out
   what was decided before the first decision was seen); then the instances are frozen (SIGSTOP: sockets stay
   open, the group keeps them for its 10 s session), N events are produced, and the instances are resumed
   (SIGCONT): the input is there before they run, as in the throughput phase of runner.py, without a
   rebalance in the middle of the drain;
3. events/s = N / (t_last - t_resume), t_last when the N-th decision became readable (read_committed);
   CPU per 1,000 events = the instances' CPU seconds over the same window (summed) / N x 1,000. Over the
   window: the machine's busy share of all cores (/proc/stat), the broker's cores (its pid, when the bench
   started it) and the bench process's own (the collector).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from bench.generator import record_key, signing_key, write_verification_key
from bench.kafka_io import Collector, produce_all
from bench.process import Child, Window
from bench.runner import Events, Plan, output_topics, start_process
from service.kafka.topics import ensure_topics

FULL_EVENTS, QUICK_EVENTS = 30_000, 3_000
WARM_UP = 600  # ~100 per partition: every instance decides a few batches before the measured window


def assigned_in_log(log: Path) -> set[str]:
    """The partitions the instance holds now, by its own log: its last ``partitions_assigned`` line, unless a
    ``partitions_revoked`` came after it (JSON log lines, as the bench runs the service)."""
    held: set[str] = set()
    if not log.exists():
        return held
    for line in log.read_bytes().splitlines():
        if b"partitions_" not in line:
            continue
        with contextlib.suppress(orjson.JSONDecodeError):
            entry = orjson.loads(line)
            if entry.get("event") == "partitions_assigned":
                held = set(entry.get("partitions") or [])
            elif entry.get("event") == "partitions_revoked":
                held -= set(entry.get("partitions") or [])
    return held


async def group_members(admin: AIOKafkaAdminClient, group: str) -> tuple[str, list[set[int]]]:
    """The group's state and each member's assigned partitions, as the coordinator describes them."""
    response = (await admin.describe_consumer_groups([group]))[0]
    _error, _group, state, _type, _protocol, members, *_ = response.groups[0]
    found = []
    for member in members:
        raw = member[-1]  # member_assignment is the last field in every DescribeGroups version
        assignment = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
        found.append({tp.partition for tp in assignment.partitions()} if assignment else set())
    return state, found


async def wait_stable(admin: AIOKafkaAdminClient, group: str, children: list[Child], logs: list[Path],
                      partitions: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and all(c.alive() for c in children):
        with contextlib.suppress(Exception):  # the coordinator may not know the group yet
            state, members = await group_members(admin, group)
            held = [assigned_in_log(log) for log in logs]
            if (state == "Stable" and len(members) == len(children) and all(members)
                    and all(held) and sum(len(h) for h in held) == partitions):
                return True
        await asyncio.sleep(0.25)
    return False


async def measure(instances: int, delivery: str, bootstrap: str, plan: Plan, events: Events, workdir: Path,
                  count: int, broker_pid: int | None) -> dict[str, Any]:
    prefix = f"bench-scale-{instances}x-{delivery}-{uuid.uuid4().hex[:6]}-"
    outputs = output_topics("service", prefix)
    await ensure_topics(bootstrap, dict.fromkeys([f"{prefix}in", *outputs], plan.partitions))
    keys_dir = workdir / "keys-hmac"
    write_verification_key(signing_key("hmac"), keys_dir)
    values = events.get("hmac", plan.size, count + WARM_UP)
    records = [(record_key(i), value) for i, value in enumerate(values)]
    logs = [workdir / f"{prefix}log-{n}.txt" for n in range(instances)]
    children = [start_process("service", delivery, bootstrap, prefix, keys_dir, log, plan.producer_options,
                              plan.service_env) for log in logs]
    figures: dict[str, Any] = {"instances": instances, "delivery": delivery, "algorithm": "hmac", "events": count,
                               "partitions": plan.partitions}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    collector = Collector(bootstrap, outputs)
    try:
        await admin.start()
        began = time.monotonic()
        ready = await wait_stable(admin, f"{prefix}group", children, logs, plan.partitions, plan.timeout_s)
        figures["stable_after_s"] = round(time.monotonic() - began, 2)
        await collector.start()
        if ready:
            await produce_all(bootstrap, f"{prefix}in", records[count:])
            ready = await collector.wait(lambda: len(collector.seen) >= WARM_UP, plan.timeout_s)
        if ready:
            for child in children:
                child.pause()
            paused = time.monotonic()
            await produce_all(bootstrap, f"{prefix}in", records[:count])
            figures["paused_s"] = round(time.monotonic() - paused, 2)
            cpu_before = [child.cpu() for child in children]
            window = Window({"broker": broker_pid, "bench": os.getpid()})
            resumed = time.time()
            for child in children:
                child.resume()
            complete = await collector.wait(lambda: len(collector.seen) >= count + WARM_UP, plan.timeout_s)
            shares = window.close()
            cpu = sum(child.cpu() - before for child, before in zip(children, cpu_before, strict=True))
            drained = max(collector.seen.values()) - resumed if collector.seen else None
            figures.update({
                "complete": complete and len(collector.seen) == count + WARM_UP,
                "events_per_s": round(count / drained, 1) if complete and drained else None,
                "cpu_s_per_1000": round(cpu / count * 1000, 3) if complete else None,
                "drain_s": round(drained, 2) if drained else None,
                "instances_cores": round(cpu / shares["seconds"], 3) if shares["seconds"] else None,
                "machine_busy_share": shares["machine_busy_share"], "broker_cores": shares.get("broker_cores"),
                "bench_cores": shares.get("bench_cores"), "duplicates": collector.duplicates,
                "held_partitions": [sorted(assigned_in_log(log)) for log in logs],
            })
        else:
            figures["complete"] = False
    finally:
        await collector.stop()
        await admin.close()
        figures["exit_codes"] = [child.stop() for child in children]
    if not figures["complete"]:
        figures["log_tail"] = children[0].tail()
    return figures


async def scale_out(deliveries: list[str], bootstrap: str, plan: Plan, events: Events, workdir: Path, count: int,
                    broker_pid: int | None) -> dict[str, Any]:
    """One instance, then two, per delivery; the ratio two/one, and a sentence on what bounds it."""
    found: dict[str, Any] = {"events": count, "deliveries": {}}
    for delivery in deliveries:
        runs = {}
        for instances in (1, 2):
            print(f"... scale-out: {instances} service instance(s), {delivery}", file=sys.stderr, flush=True)
            runs[instances] = await measure(instances, delivery, bootstrap, plan, events, workdir, count, broker_pid)
        one, two = runs[1], runs[2]
        ratio = (round(two["events_per_s"] / one["events_per_s"], 3)
                 if one.get("events_per_s") and two.get("events_per_s") else None)
        found["deliveries"][delivery] = {"one": one, "two": two, "ratio": ratio, "bound": bound(one, two)}
    return found


def bound(one: dict[str, Any], two: dict[str, Any]) -> str | None:
    """What the measured shares say bounds two instances (the machine's cores, or something else)."""
    if not one.get("complete") or not two.get("complete"):
        return None
    busy = two.get("machine_busy_share")
    parts = [f"two instances used {two['instances_cores']:.2f} cores (one: {one['instances_cores']:.2f})"]
    if two.get("broker_cores") is not None:
        parts.append(f"the broker {two['broker_cores']:.2f}")
    if two.get("bench_cores") is not None:
        parts.append(f"the bench's collector {two['bench_cores']:.2f}")
    said = ", ".join(parts)
    if busy is None:
        return said
    verdict = ("the machine's cores are the bound" if busy >= 0.9
               else "the cores were not all busy: waits (broker round trips, batches in flight) bound it")
    return f"{said}; the machine was {busy:.0%} busy over the drain: {verdict}"
