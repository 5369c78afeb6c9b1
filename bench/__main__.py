"""``python -m bench [--quick] [--json PATH] [--producer-options JSON]``: the service against a bare relay.

Full mode (~5 minutes): at-least-once and exactly-once; the relay, the service with HMAC-signed events and
with Ed25519-signed ones, each run twice (interleaved, best figures kept: report.best_of); then the in-process
scaling figures. Writes bench/results/latest.json unless --json
names another file. Quick mode (CI): at-least-once only, the relay and the service with HMAC, small N; writes
JSON only with --json. One broker for every run: KAFKA_BOOTSTRAP_SERVERS, or a LocalKafka started here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import hostile_memory, report, scaling
from bench.latency import floor_latency
from bench.runner import Events, Plan, run_system

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
FULL = Plan(events=30_000, rate=1_000, latency_s=8)
REPEATS = {"full": 2, "quick": 1}  # full: each run twice, interleaved; best_of() keeps the best figures
QUICK = Plan(events=1_500, rate=1_000, latency_s=2, timeout_s=60)


def matrix(quick: bool, only: str | None = None) -> list[tuple[str, str, str]]:
    if quick:
        return [("relay", "at-least-once", "hmac"), ("service", "at-least-once", "hmac")]
    runs = [(system, delivery, alg) for delivery in ("at-least-once", "exactly-once") if only in (None, delivery)
            for system, alg in (("relay", "hmac"), ("service", "hmac"), ("service", "ed25519"))]
    if only in (None, "at-least-once"):  # what offloading verification to worker threads buys, same run
        runs.append(("service-inline", "at-least-once", "ed25519"))
    return runs


async def measure(bootstrap: str, plan: Plan, quick: bool, only: str | None) -> tuple[dict | None, list[dict]]:
    events = Events()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))  # key files and process logs; removed at the end
    floor = None if quick else await floor_latency(bootstrap, plan, events)
    repeats: dict[tuple[str, str, str], list[dict]] = {}
    for repeat in range(REPEATS["quick" if quick else "full"]):
        for system, delivery, algorithm in matrix(quick, only):
            print(f"... {system} {delivery} {algorithm} (pass {repeat + 1})", file=sys.stderr, flush=True)
            run = await run_system(system, delivery, algorithm, bootstrap, plan, events, workdir)
            repeats.setdefault((system, delivery, algorithm), []).append(run)
    shutil.rmtree(workdir, ignore_errors=True)  # an incomplete run keeps its log's tail in the figures
    return floor, [report.best_of(found) for found in repeats.values()]


def in_process(quick: bool) -> dict:
    count = 100 if quick else 500
    return {"stages": {alg: scaling.stages(alg, count=count) for alg in ("hmac", "ed25519")},
            "by_size": scaling.by_size(count=count // 2 if quick else 300),
            "by_rules": scaling.by_rules(count=50 if quick else 200),
            "tracing": scaling.tracing(count=count),
            "hostile_memory": hostile_memory.figures(quick)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds' worth: CI keeps the bench alive")
    parser.add_argument("--json", type=Path, help=f"where to write every figure (full mode default: {DEFAULT_JSON})")
    parser.add_argument("--producer-options", default="", help="JSON merged over the producer options of both "
                        "the service and the relay, to measure a proposed setting (e.g. '{\"linger_ms\": 10}')")
    parser.add_argument("--delivery", choices=("at-least-once", "exactly-once"), help="full mode: only this one")
    parser.add_argument("--service-env", default="", help='JSON of MODERATION_* settings for the service runs '
                        'only, e.g. \'{"MODERATION_BATCH_MAX_RECORDS": 1000}\' (what-if, like --producer-options)')
    parser.add_argument("--profile", type=Path, help="record each service run with py-spy into this directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retries on fresh topics are expected noise
    plan = dataclasses.replace(QUICK if args.quick else FULL, producer_options=args.producer_options,
                               service_env=args.service_env, profile_dir=str(args.profile or ""))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.time()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with contextlib.ExitStack() as stack:
        if external:
            bootstrap, kafka_version = external, "external (KAFKA_BOOTSTRAP_SERVERS)"
        else:
            from devtools.localkafka import LocalKafka

            bootstrap, kafka_version = stack.enter_context(LocalKafka()).bootstrap, report.local_kafka_version()
        description = report.machine(kafka_version)
        floor, runs = asyncio.run(measure(bootstrap, plan, args.quick, args.delivery))
    figures: dict = {"mode": "quick" if args.quick else "full", "machine": description,
                     "plan": dataclasses.asdict(plan), "floor_latency_ms": floor, "runs": runs}
    figures["scaling"] = in_process(args.quick)
    figures["ratios"] = report.ratios(runs)
    figures["offloading"] = report.offloading(runs)
    figures["events_per_cpu_second"] = report.events_per_cpu_second(runs)
    services = {r["delivery"]: {} for r in runs}
    for run in runs:
        if run["system"] == "service":
            services[run["delivery"]][run["algorithm"]] = run
    figures["service"] = services
    rss = [r["peak_rss_mb"] for r in runs if r["system"] == "service" and r.get("peak_rss_mb")]
    figures["service_peak_rss_mb"] = round(max(rss), 1) if rss else None
    figures["targets"] = report.targets(figures)
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["seconds"] = round(time.time() - started, 1)
    print(report.table(figures))
    path = args.json or (None if args.quick else DEFAULT_JSON)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v for k, v in figures.items() if k != "service"}, indent=2) + "\n")
        print(f"\nfigures written to {path} ({figures['seconds']} s)")
    return 0 if all(r.get("complete") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
