"""The machine's description, the service/relay ratios, events per CPU-second, the shell floor, the targets of
issue 14, whether everything completed, and the table printed on stdout (matrix, brokers side by side,
sustainable rates, scale-out)."""

from __future__ import annotations

import os
import platform
import re
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {  # issue 14 (name: figure path, comparison, bound); issue 7's were 0.5x / 0.4x, p99 50 / 150 ms, 150 MB
    "at-least-once HMAC throughput >= 0.35x the relay": ("ratios.at-least-once.hmac.throughput", ">=", 0.35),
    "exactly-once HMAC throughput >= 0.5x the relay": ("ratios.exactly-once.hmac.throughput", ">=", 0.5),
    "CPU s per 1,000 events <= 0.06, at-least-once HMAC": ("service.at-least-once.hmac.cpu_s_per_1000", "<=", 0.06),
    "CPU s per 1,000 events <= 0.12, at-least-once Ed25519": (
        "service.at-least-once.ed25519.cpu_s_per_1000", "<=", 0.12),
    "p99 at 1,000/s <= 10 ms, at-least-once HMAC": ("service.at-least-once.hmac.latency_ms.p99", "<=", 10),
    "p99 at 1,000/s <= 20 ms, exactly-once HMAC": ("service.exactly-once.hmac.latency_ms.p99", "<=", 20),
    "peak RSS of the service <= 100 MB": ("service_peak_rss_mb", "<=", 100),
}


def best_of(repeats: list[dict]) -> dict:
    """One run's figures from its repeats: contention on a shared machine only ever slows a run down, so the
    best throughput, the lowest CPU per event and the latency of the repeat with the lowest p99 are kept; the
    peak RSS is the highest seen. Every repeat stays in ``repeats``."""
    done = [r for r in repeats if r.get("throughput_eps")] or repeats
    best = dict(max(done, key=lambda r: r.get("throughput_eps") or 0))
    cpu = [r["cpu_s_per_1000"] for r in done if r.get("cpu_s_per_1000")]
    best["cpu_s_per_1000"] = min(cpu) if cpu else None
    best["latency_ms"] = min((r["latency_ms"] for r in done if r.get("latency_ms")),
                             key=lambda lat: lat.get("p99") or float("inf"), default=None)
    best["peak_rss_mb"] = max((r.get("peak_rss_mb") or 0 for r in repeats), default=None)
    best["complete"] = all(r.get("complete") for r in repeats)
    best["repeats"] = [{k: v for k, v in r.items() if k != "profile"} for r in repeats] if len(repeats) > 1 else []
    return best


def machine(kafka_version: str) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    return {
        "cores": os.cpu_count(), "cpu_model": model.group(1) if model else platform.processor(),
        "memory_gb": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "os": platform.platform(), "python": platform.python_version(), "aiokafka": version("aiokafka"),
        "kafka": kafka_version, "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "reference_loop_ms_at_start": reference_loop_ms(),
    }


def reference_loop_ms(repeats: int = 5) -> float:
    """Milliseconds one core takes for a fixed piece of plain Python (1,000,000 additions in a loop), best of
    ``repeats``: how fast this machine runs CPython right now. On this project's shared 2-core machine it read
    37 to 69 ms within ten minutes, and every absolute figure (µs per stage, CPU s per 1,000 events) moves with
    it; ratios measured in one run do not."""
    import time

    best = float("inf")
    for _ in range(repeats):
        started, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def _get(figures: dict, path: str) -> object:
    node: object = figures
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _run(runs: list[dict], system: str, delivery: str, algorithm: str | None = None) -> dict | None:
    """The run of ``system`` at ``delivery`` (with ``algorithm``, unless None: the relay has one), or None."""
    return next((r for r in runs if r["system"] == system and r["delivery"] == delivery
                 and algorithm in (None, r["algorithm"])), None)


def ratios(runs: list[dict]) -> dict:
    """service / relay per delivery mode and algorithm: throughput, CPU per event, latency p99, peak RSS."""
    found: dict = {}
    for run in (r for r in runs if r["system"] == "service"):
        relay = _run(runs, "relay", run["delivery"])
        if relay is None:
            continue

        def ratio(a: object, b: object) -> float | None:
            return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None

        found.setdefault(run["delivery"], {})[run["algorithm"]] = {
            "throughput": ratio(run.get("throughput_eps"), relay.get("throughput_eps")),
            "cpu_per_event": ratio(run.get("cpu_s_per_1000"), relay.get("cpu_s_per_1000")),
            "latency_p99": ratio(_get(run, "latency_ms.p99"), _get(relay, "latency_ms.p99")),
            "peak_rss": ratio(run.get("peak_rss_mb"), relay.get("peak_rss_mb")),
        }
    return found


def events_per_cpu_second(runs: list[dict]) -> dict:
    """Events moved per second of the process's own CPU (1,000 / CPU s per 1,000 events): unlike events/s, it
    hardly depends on how fast the machine's other processes (the broker, the clients) let the process run."""
    found: dict = {}
    for run in runs:
        cpu = run.get("cpu_s_per_1000")
        name = f"{run['system']} {run['delivery']}" + (f" {run['algorithm']}" if run["system"] != "relay" else "")
        found[name] = round(1000 / cpu) if isinstance(cpu, int | float) and cpu else None
    return found


def shell_floor(runs: list[dict]) -> dict:
    """Per delivery, CPU s per 1,000 events of the shell floor (the service with its decision core canned,
    bench/shell_floor.py), the service and the relay, all HMAC and from the same run: ``decision_share`` is the
    part of the service's CPU that deciding costs end to end ((service - shell) / service), ``shell_over_relay``
    how far the shell alone is above a bare relay."""
    def cpu(system: str, delivery: str) -> float | None:
        run = _run(runs, system, delivery, "hmac")
        value = run.get("cpu_s_per_1000") if run else None
        return value if isinstance(value, int | float) and value > 0 else None

    found: dict = {}
    for delivery in dict.fromkeys(r["delivery"] for r in runs if r["system"] == "service-shell"):
        shell, service, relay = (cpu(system, delivery) for system in ("service-shell", "service", "relay"))
        found[delivery] = {
            "shell_cpu_s_per_1000": shell, "service_cpu_s_per_1000": service, "relay_cpu_s_per_1000": relay,
            "decision_share": round((service - shell) / service, 3) if service and shell else None,
            "shell_over_relay": round(shell / relay, 2) if shell and relay else None,
        }
    return found


def offloading(runs: list[dict]) -> dict | None:
    """Ed25519 throughput with decisions in worker threads vs on the event loop, from the same run."""
    threads, inline = (_run(runs, system, "at-least-once", "ed25519") for system in ("service", "service-inline"))
    if not threads or not inline or not threads.get("throughput_eps") or not inline.get("throughput_eps"):
        return None
    return {"threads_eps": threads["throughput_eps"], "inline_eps": inline["throughput_eps"],
            "ratio": round(threads["throughput_eps"] / inline["throughput_eps"], 3)}


def targets(figures: dict) -> dict:
    verdicts = {}
    for name, (path, op, bound) in TARGETS.items():
        value = _get(figures, path)
        met = None if not isinstance(value, int | float) else (value >= bound if op == ">=" else value <= bound)
        verdicts[name] = {"value": value, "bound": f"{op} {bound}", "met": met}
    return verdicts


def complete(figures: dict) -> bool:
    """Every matrix run of every broker, every sustainable search and every scale-out configuration finished."""
    runs = [run for found in figures.get("brokers", {}).values() for run in found.get("runs", [])]
    searches = (figures.get("sustainable") or {}).get("searches", [])
    scale = [config for pair in ((figures.get("scale_out") or {}).get("deliveries") or {}).values()
             for config in (pair["one"], pair["two"])]
    return all(item.get("complete") for item in [*runs, *searches, *scale])


def _float(value: object) -> object:
    return float(value) if isinstance(value, int) else value


def _name(run: dict) -> str:
    return f"{run['system']} {run['delivery']}" + (f" {run['algorithm']}" if run["system"] != "relay" else "")


def _cell(value: object, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}" if isinstance(value, float) else f"{value}"


def table(figures: dict) -> str:
    lines = [f"machine: {figures['machine']['cores']} cores, {figures['machine']['cpu_model']}, "
             f"{figures['machine']['memory_gb']} GB, Python {figures['machine']['python']}, "
             f"Kafka {figures['machine']['kafka']}; mode {figures['mode']}, {figures['plan']}",
             f"reference loop (plain Python, lower is faster): {figures['machine'].get('reference_loop_ms_at_start')}"
             f" ms at the start, {figures['machine'].get('reference_loop_ms_at_end')} ms at the end", ""]
    head = f"{'run':<34}{'events/s':>10}{'CPU s/1k':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'peak MB':>9}"
    lines += [head, "-" * len(head)]
    floor = figures.get("floor_latency_ms")
    if floor:
        lines.append(f"{'floor: producer -> consumer':<34}{'':>10}{'':>10}{_cell(floor['p50']):>9}"
                     f"{_cell(floor['p95']):>9}{_cell(floor['p99']):>9}{'':>9}")
    for run in figures["runs"]:
        name = _name(run)
        lat = run.get("latency_ms") or {}
        lines.append(f"{name:<34}{_cell(run.get('throughput_eps'), 0):>10}{_cell(run.get('cpu_s_per_1000'), 3):>10}"
                     f"{_cell(lat.get('p50')):>9}{_cell(lat.get('p95')):>9}{_cell(lat.get('p99')):>9}"
                     f"{_cell(run.get('peak_rss_mb')):>9}" + ("" if run.get("complete") else "  INCOMPLETE"))
    lines.append("")
    for delivery, by_alg in figures["ratios"].items():
        for alg, r in by_alg.items():
            lines.append(f"service/relay {delivery} {alg}: throughput {_cell(r['throughput'], 2)}x, "
                         f"CPU per event {_cell(r['cpu_per_event'], 1)}x, p99 {_cell(r['latency_p99'], 1)}x")
    for delivery, floor in (figures.get("shell_floor") or {}).items():
        share, over = floor["decision_share"], floor["shell_over_relay"]
        lines.append(f"shell floor {delivery} hmac: CPU s/1k shell {_cell(floor['shell_cpu_s_per_1000'], 3)}, "
                     f"service {_cell(floor['service_cpu_s_per_1000'], 3)}, relay "
                     f"{_cell(floor['relay_cpu_s_per_1000'], 3)} -> the decision "
                     f"{'-' if share is None else f'{share:.0%}'} of the service's CPU, the shell "
                     f"{_cell(over, 2)}x the relay")
    offload = figures.get("offloading")
    if offload:
        lines.append(f"offloading (at-least-once ed25519): threads {_cell(offload['threads_eps'], 0)} events/s, "
                     f"event loop {_cell(offload['inline_eps'], 0)} events/s -> {_cell(offload['ratio'], 2)}x")
    lines += _brokers(figures) + _sustainable(figures) + _scale_out(figures)
    lines.append("")
    for name, verdict in figures["targets"].items():
        mark = {True: "met", False: "NOT met", None: "not measured"}[verdict["met"]]
        lines.append(f"target {name}: {_cell(verdict['value'], 2)} -> {mark}")
    scaling = figures.get("scaling", {})
    for title, key in (("hot path, µs per event (2 KB)", "stages"), ("decide() µs by event size", "by_size")):
        if key in scaling:
            lines += ["", title]
            for name, cells in scaling[key].items():
                lines.append(f"  {name:<10}" + "  ".join(f"{k} {v}" for k, v in cells.items()))
    if "by_rules" in scaling:
        lines += ["", "rules.evaluate() µs per event (2 KB)"]
        lines += [f"  {name:<22}{value:>9}" for name, value in scaling["by_rules"].items()]
    if "tracing" in scaling:
        lines += ["", "decide step µs per event (process_batch + tracing hooks, 2 KB HMAC)"]
        lines += [f"  {name:<36}{value:>9}" for name, value in scaling["tracing"].items()]
    memory = scaling.get("hostile_memory")
    if memory:
        laughs, growth = memory["billion_laughs"], memory["growth"]
        lines += ["", "hostile input, traced memory (tracemalloc)",
                  f"  billion laughs: {laughs['input_bytes']} bytes in, peak {laughs['peak_traced_bytes']} bytes",
                  f"  {growth['decisions']} repeated decisions, warm: grew by {growth['grown_bytes']} bytes"]
    return "\n".join(lines)


def _brokers(figures: dict) -> list[str]:
    """The matrix runs measured on more than one broker, side by side: events/s, CPU s / 1,000, p99 ms."""
    brokers = {version: found for version, found in figures.get("brokers", {}).items() if found.get("runs")}
    if len(brokers) < 2:
        return []
    names = [name for name in {_name(r): None for found in brokers.values() for r in found["runs"]}
             if all(any(_name(r) == name for r in found["runs"]) for found in brokers.values())]
    head = f"{'Kafka: events/s, CPU s/1k, p99 ms':<34}" + "".join(f"{'Kafka ' + v:>26}" for v in brokers)
    lines = ["", head, "-" * len(head)]
    for name in names:
        cells = ""
        for found in brokers.values():
            run = next(r for r in found["runs"] if _name(r) == name)
            p99 = (run.get("latency_ms") or {}).get("p99")
            cells += f"{_cell(run.get('throughput_eps'), 0):>10}{_cell(run.get('cpu_s_per_1000'), 3):>8}" \
                     f"{_cell(p99):>8}"
        lines.append(f"{name:<34}{cells}")
    return lines


def _sustainable(figures: dict) -> list[str]:
    found = figures.get("sustainable")
    if not found:
        return []
    lines = ["", f"max sustainable rate, open loop ({found['criterion']})"]
    for search in found["searches"]:
        name = f"{search['system']} {search['delivery']}"
        if not search.get("steps"):
            lines.append(f"  {name:<26}not measured: {search.get('error') or 'no step ran'}")
            continue
        best = search.get("max_sustainable_eps")
        low, high = search["bracket_eps"]
        if best:
            per_cpu = _float(search["events_per_cpu_second_at_max"])
            head = (f"{_cell(best, 0)} events/s ({_cell(search['max_vs_closed_loop'], 2)}x closed loop "
                    f"{_cell(search['base_eps'], 0)}), {_cell(per_cpu, 0)} events per CPU-second, "
                    f"process {_cell(search['process_cpu_share_at_max'], 2)} cores")
        else:
            head = f"none of the steps: below {_cell(high, 0)} events/s"
        flags = ("" if search.get("complete") else "  INCOMPLETE") + (
            "  (the producer fell short: the max may be higher)" if search.get("bounded_by_producer") else "") + (
            "  (every step was sustainable: the max may be higher)" if search.get("every_step_sustainable") else "")
        lines.append(f"  {name:<26}{head}{flags}")
        steps = ", ".join(
            f"{_cell(step['achieved_offered_eps'], 0)}" + (f" of {_cell(step['target_eps'], 0)}"
                                                           if step["producer_short"] else "")
            + f" {'yes' if step['sustainable'] else 'no'} ({_cell(step['slope_eps'], 0)}/s)"
            for step in search["steps"])
        lines.append(f"  {'':<26}steps offered/s, sustainable (lag slope): {steps}; bracket "
                     f"{_cell(low, 0)}-{_cell(high, 0)}")
    return lines


def _scale_out(figures: dict) -> list[str]:
    found = figures.get("scale_out")
    if not found:
        return []
    lines = ["", f"scale-out, service HMAC, {found['events']:,} events pre-produced, closed loop"]
    for delivery, pair in found["deliveries"].items():
        one, two = pair["one"], pair["two"]
        lines.append(f"  {delivery:<16}one instance {_cell(one.get('events_per_s'), 0)} events/s "
                     f"({_cell(one.get('cpu_s_per_1000'), 3)} CPU s/1k), two {_cell(two.get('events_per_s'), 0)} "
                     f"events/s ({_cell(two.get('cpu_s_per_1000'), 3)} CPU s/1k) -> {_cell(pair['ratio'], 2)}x"
                     + ("" if one.get("complete") and two.get("complete") else "  INCOMPLETE"))
        if pair.get("bound"):
            lines.append(f"  {'':<16}{pair['bound']}")
    return lines
