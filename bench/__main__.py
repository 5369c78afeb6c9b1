"""``python -m bench [--quick] [--only PARTS] [--kafka-versions V,V] [--json PATH] ...``: the service against a
bare relay, on a real Kafka broker.

Parts (``--only matrix,sustainable,scale-out``; all three by default):

- matrix: closed-loop throughput, latency at 1,000 events/s, CPU and memory of the relay and the service (HMAC,
  Ed25519; at-least-once and exactly-once) and of the shell floor (the service with its decision core canned,
  HMAC: bench/shell_floor.py), each run twice (interleaved, best figures kept: report.best_of); then the
  in-process scaling figures;
- sustainable: the max sustainable rate, open loop (bench/sustainable.py), of the relay and the service (HMAC)
  at each delivery: a bisection of 3 steps of 60 s between 0.3x and 1.2x the matrix's closed-loop throughput;
- scale-out: one service instance against two in one group, closed loop (bench/scale_out.py).

Full mode (~22 minutes) runs every part on the first Kafka version of ``--kafka-versions`` (default: 4.1.1, or
$KAFKA_VERSION, then 3.9.1), each on its own LocalKafka, and the matrix reduced to the relay and the service with
HMAC, both deliveries, one pass, on the others; writes bench/results/latest.json unless --json names another
file. Quick mode (CI, ~1 minute): at-least-once only, the relay, the service and the shell floor with HMAC,
small N, two sustainable steps of 3 s, scale-out with 3,000 events, one broker; writes JSON only with --json.
With KAFKA_BOOTSTRAP_SERVERS set, that broker alone is measured (the JSON says so).
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
from typing import Any

from bench import hostile_memory, report, scaling
from bench.latency import floor_latency
from bench.runner import Events, Plan, run_system
from bench.scale_out import FULL_EVENTS, QUICK_EVENTS, scale_out
from bench.sustainable import FULL_SEARCH, QUICK_SEARCH, Search, run_search

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
FULL = Plan(events=30_000, rate=1_000, latency_s=8)
REPEATS = {"full": 2, "quick": 1}  # full: each run twice, interleaved; best_of() keeps the best figures
QUICK = Plan(events=1_500, rate=1_000, latency_s=2, timeout_s=60)
PARTS = ("matrix", "sustainable", "scale-out")
DELIVERIES = ("at-least-once", "exactly-once")
OTHER_VERSION = {"4": "3.9.1", "3": "4.1.1"}  # the second broker of a full run: the other major line


@dataclasses.dataclass(frozen=True)
class Options:
    quick: bool
    parts: tuple[str, ...]
    delivery: str | None  # only this delivery, in every part
    system: str | None  # only this system, in the matrix and the sustainable search
    search: Search

    def deliveries(self) -> list[str]:
        return [d for d in (("at-least-once",) if self.quick else DELIVERIES) if self.delivery in (None, d)]


def matrix(quick: bool, only: str | None = None, reduced: bool = False,
           system: str | None = None) -> list[tuple[str, str, str]]:
    """(system, delivery, algorithm) of each run; ``reduced``: the relay and the service with HMAC only.

    "service-shell" is the service with its decision core canned (bench/shell_floor.py), run right after the
    service with HMAC at each delivery so that the two are measured in the same conditions; ``system``
    "service" selects it too (it is the service's process)."""
    if quick:
        runs = [("relay", "at-least-once", "hmac"), ("service", "at-least-once", "hmac"),
                ("service-shell", "at-least-once", "hmac")]
    else:
        algorithms = (("relay", "hmac"), ("service", "hmac")) if reduced else (
            ("relay", "hmac"), ("service", "hmac"), ("service-shell", "hmac"), ("service", "ed25519"))
        runs = [(s, delivery, alg) for delivery in DELIVERIES if only in (None, delivery) for s, alg in algorithms]
        if only in (None, "at-least-once") and not reduced:  # what offloading verification buys, same run
            runs.append(("service-inline", "at-least-once", "ed25519"))
    return [run for run in runs if system in (None, run[0].split("-")[0])]


async def measure_matrix(bootstrap: str, plan: Plan, events: Events, workdir: Path, options: Options,
                         reduced: bool) -> tuple[dict | None, list[dict]]:
    floor = None if options.quick else await floor_latency(bootstrap, plan, events)
    repeats: dict[tuple[str, str, str], list[dict]] = {}
    for repeat in range(1 if reduced else REPEATS["quick" if options.quick else "full"]):
        for system, delivery, algorithm in matrix(options.quick, options.delivery, reduced, options.system):
            print(f"... {system} {delivery} {algorithm} (pass {repeat + 1})", file=sys.stderr, flush=True)
            run = await run_system(system, delivery, algorithm, bootstrap, plan, events, workdir)
            repeats.setdefault((system, delivery, algorithm), []).append(run)
    return floor, [report.best_of(found) for found in repeats.values()]


async def measure_sustainable(bootstrap: str, plan: Plan, events: Events, workdir: Path, options: Options,
                              runs: list[dict], broker_pid: int | None) -> dict:
    searches = []
    for delivery in options.deliveries():
        for system in ("relay", "service"):
            if options.system not in (None, system):
                continue
            closed = next((r for r in runs if (r["system"], r["delivery"], r["algorithm"]) == (system, delivery, "hmac")
                           and r.get("throughput_eps")), None)
            if closed is not None:
                base, source = closed["throughput_eps"], "matrix (runs[].throughput_eps)"
            else:  # --only sustainable: a closed-loop run of its own first (short latency phase)
                print(f"... closed-loop throughput of {system} {delivery}, for the search", file=sys.stderr,
                      flush=True)
                own = await run_system(system, delivery, "hmac", bootstrap, dataclasses.replace(plan, latency_s=1),
                                       events, workdir)
                base, source = own.get("throughput_eps"), "own closed-loop run"
            if not base:
                searches.append({"system": system, "delivery": delivery, "complete": False,
                                 "error": "no closed-loop throughput to start from"})
                continue
            print(f"... sustainable rate: {system} {delivery} from {base:,.0f} events/s", file=sys.stderr, flush=True)
            searches.append(await run_search(system, delivery, bootstrap, plan, events, workdir, base, source,
                                             options.search, broker_pid))
    return {"criterion": f"lag slope after {options.search.warmup_s:g} s <= {options.search.slope_share:.0%} of "
                         f"the achieved offered rate, over {options.search.step_s:g} s steps",
            "searches": searches}


async def measure_broker(bootstrap: str, broker_pid: int | None, plan: Plan, events: Events, workdir: Path,
                         options: Options, primary: bool) -> dict[str, Any]:
    """Every part asked for on one broker; the parts other than the matrix on the primary broker only, and a
    reduced matrix on the others (full mode)."""
    found: dict[str, Any] = {"primary": primary}
    runs: list[dict] = []
    if "matrix" in options.parts:
        reduced = not primary and not options.quick
        found["matrix"] = "reduced: relay and service HMAC, one pass" if reduced else "full"
        found["floor_latency_ms"], runs = await measure_matrix(bootstrap, plan, events, workdir, options, reduced)
        found.update(runs=runs, ratios=report.ratios(runs), events_per_cpu_second=report.events_per_cpu_second(runs))
    if primary and "sustainable" in options.parts:
        found["sustainable"] = await measure_sustainable(bootstrap, plan, events, workdir, options, runs, broker_pid)
    if primary and "scale-out" in options.parts:
        count = QUICK_EVENTS if options.quick else FULL_EVENTS
        found["scale_out"] = await scale_out(options.deliveries(), bootstrap, plan, events, workdir, count,
                                             broker_pid)
    return found


def in_process(quick: bool) -> dict:
    count = 100 if quick else 500
    return {"stages": {alg: scaling.stages(alg, count=count) for alg in ("hmac", "ed25519")},
            "by_size": scaling.by_size(count=count // 2 if quick else 300),
            "by_rules": scaling.by_rules(count=50 if quick else 200),
            "tracing": scaling.tracing(count=count),
            "hostile_memory": hostile_memory.figures(quick)}


def kafka_versions(asked: str | None, quick: bool) -> list[str]:
    """The brokers to measure, the primary first: ``--kafka-versions``, else $KAFKA_VERSION or the default
    release, followed in full mode by the other major line."""
    from devtools.localkafka.versions import kafka_version

    if asked:
        return [kafka_version(v).text for v in asked.split(",") if v.strip()]
    primary = kafka_version()
    return [primary.text] if quick else [primary.text, OTHER_VERSION[str(primary.major)]]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~1 minute: CI keeps the bench alive")
    parser.add_argument("--json", type=Path, help=f"where to write every figure (full mode default: {DEFAULT_JSON})")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--kafka-versions", help="comma-separated LocalKafka versions, the first one measured by "
                        "every part, the others by a reduced matrix (full default: 4.1.1,3.9.1; ignored with "
                        "KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--producer-options", default="", help="JSON merged over the producer options of both "
                        "the service and the relay, to measure a proposed setting (e.g. '{\"linger_ms\": 10}')")
    parser.add_argument("--delivery", choices=DELIVERIES, help="only this one, in every part")
    parser.add_argument("--system", choices=("relay", "service"), help="only this one, in the matrix and the "
                        "sustainable search (scale-out is the service's)")
    parser.add_argument("--step-s", type=float, help="sustainable search: seconds per step (default 60, quick 3)")
    parser.add_argument("--steps", type=int, help="sustainable search: how many steps (default 3, quick 2)")
    parser.add_argument("--service-env", default="", help='JSON of MODERATION_* settings for the service runs '
                        'only, e.g. \'{"MODERATION_BATCH_MAX_RECORDS": 1000}\' (what-if, like --producer-options)')
    parser.add_argument("--profile", type=Path, help="record each service run with py-spy into this directory")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retries on fresh topics are expected noise
    plan = dataclasses.replace(QUICK if args.quick else FULL, producer_options=args.producer_options,
                               service_env=args.service_env, profile_dir=str(args.profile or ""))
    search = QUICK_SEARCH if args.quick else FULL_SEARCH
    search = dataclasses.replace(search, **{k: v for k, v in (("step_s", args.step_s), ("steps", args.steps))
                                            if v is not None})
    if args.step_s is not None:
        search = dataclasses.replace(search, warmup_s=min(search.warmup_s, args.step_s / 3))
    options = Options(args.quick, tuple(p for p in PARTS if p in args.only.split(",")), args.delivery, args.system,
                      search)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.time()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    versions = ["external"] if external else kafka_versions(args.kafka_versions, args.quick)
    if "matrix" not in options.parts:
        versions = versions[:1]  # the other brokers are measured by the matrix only
    events = Events()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))  # key files and process logs; removed at the end
    brokers: dict[str, dict] = {}
    for index, version in enumerate(versions):
        with contextlib.ExitStack() as stack:
            if external:
                bootstrap, pid = external, None
            else:
                from devtools.localkafka import LocalKafka

                print(f"... Kafka {version}", file=sys.stderr, flush=True)
                broker = stack.enter_context(LocalKafka(version=version))
                bootstrap, pid = broker.bootstrap, broker.pid
            if index == 0:
                description = report.machine(
                    "external (KAFKA_BOOTSTRAP_SERVERS)" if external else version)
            brokers[version] = asyncio.run(measure_broker(bootstrap, pid, plan, events, workdir, options,
                                                          primary=index == 0))
    shutil.rmtree(workdir, ignore_errors=True)  # an incomplete run keeps its log's tail in the figures
    figures = assemble(brokers, versions, description, plan, options, bool(external))
    figures["seconds"] = round(time.time() - started, 1)
    print(report.table(figures))
    path = args.json or (None if args.quick else DEFAULT_JSON)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v for k, v in figures.items() if k != "service"}, indent=2) + "\n")
        print(f"\nfigures written to {path} ({figures['seconds']} s)")
    return 0 if report.complete(figures) else 1


def assemble(brokers: dict[str, dict], versions: list[str], description: dict, plan: Plan, options: Options,
             external: bool) -> dict:
    """The JSON: the primary broker's figures at the top level (as before there were several brokers), every
    broker's matrix under ``brokers``."""
    primary = brokers[versions[0]]
    runs = primary.get("runs", [])
    figures: dict = {"mode": "quick" if options.quick else "full", "parts": list(options.parts),
                     "machine": description, "plan": dataclasses.asdict(plan),
                     "floor_latency_ms": primary.get("floor_latency_ms"), "runs": runs}
    figures["kafka"] = {"versions": versions, "primary": versions[0], "external": external,
                        "note": "KAFKA_BOOTSTRAP_SERVERS was set: only that broker was measured" if external
                        else "each version on its own LocalKafka, one after the other; the first measured by "
                             "every part, the others by the matrix"}
    figures["brokers"] = {version: {k: v for k, v in found.items() if k not in ("sustainable", "scale_out")}
                          for version, found in brokers.items()}
    if "matrix" in options.parts:
        figures["scaling"] = in_process(options.quick)
    figures["ratios"] = report.ratios(runs)
    figures["offloading"] = report.offloading(runs)
    figures["shell_floor"] = report.shell_floor(runs)
    figures["events_per_cpu_second"] = report.events_per_cpu_second(runs)
    figures["sustainable"] = primary.get("sustainable")
    figures["scale_out"] = primary.get("scale_out")
    services: dict = {r["delivery"]: {} for r in runs}
    for run in runs:
        if run["system"] == "service":
            services[run["delivery"]][run["algorithm"]] = run
    figures["service"] = services
    rss = [r["peak_rss_mb"] for r in runs if r["system"] == "service" and r.get("peak_rss_mb")]
    figures["service_peak_rss_mb"] = round(max(rss), 1) if rss else None
    figures["targets"] = report.targets(figures)
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["machine"]["reference_loop_ms_at_end"] = report.reference_loop_ms()
    return figures


if __name__ == "__main__":
    sys.exit(main())
