"""In-process figures, µs per event on one thread: the hot path stage by stage, event size, rule-set size.

No broker: these isolate what the service's CPU per event is made of. The process-level CPU per event
(runner.py) minus ``process_batch`` and the log line is what the Kafka clients and the loop cost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from bench.generator import SIZES, signed_events, signing_key
from bench.rules_bench import banned_terms_rules, many_rules
from service.core.article import Article, validate_article
from service.core.batch import PolicySnapshot, Topics, process_batch
from service.core.canonical import canonical_bytes
from service.core.decide import decide
from service.core.decode import decode_event
from service.core.envelope import Source, decision_event, encode
from service.core.intake import read_article
from service.core.rules import load_rules
from service.core.signature import Keyring, verify_document, verify_signature

RULES = Path(__file__).resolve().parents[1] / "config" / "rules.yaml"
TOPICS = Topics("approved", "rejected", "dead")


class Record(NamedTuple):  # the fields of aiokafka's ConsumerRecord that process_batch reads
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes
    headers: list


def per_item_us(work: Callable[[Any], object], items: list[Any], repeats: int = 5) -> float:
    """Best of ``repeats`` passes over ``items`` (distinct events, so no cache flatters the figure)."""
    for item in items[:20]:
        work(item)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            work(item)
        best = min(best, time.perf_counter() - start)
    return round(best / len(items) * 1e6, 2)


def _fixture(algorithm: str, size: str, count: int) -> tuple[list[bytes], Keyring, Any, datetime]:
    now = datetime.now(UTC)
    key = signing_key(algorithm)
    values = signed_events(count, key, now, size)
    return values, Keyring([key.verification_key()]), load_rules(RULES.read_text(), str(RULES)), now


def _log_line_cost(decisions: list[Any]) -> float:
    """One ``decision`` log line as ops.decision_log.DecisionLog writes it (one call into structlog's processor
    chain, lines of a batch held for one write), rendered to /dev/null."""
    import structlog

    from service.ops.decision_log import emitter
    from service.ops.logs import configure_logging, held_lines

    with open(os.devnull, "w") as sink:
        configure_logging("info", "json", stream=sink)
        info = emitter(structlog.get_logger("moderation").bind(), "info")

        def line(d: Any) -> None:
            info("decision", {"topic": "articles", "partition": 0, "offset": 1, "decision": d.decision,
                              "reasons": [r.code for r in d.reasons], "rules_fired": d.rulesFired,
                              "rules_version": d.rulesVersion, "signer": d.signer})

        with held_lines():
            return per_item_us(line, decisions)


def stages(algorithm: str, size: str = "2k", count: int = 500) -> dict[str, float]:
    """µs per event for each step of the hot path, and for the whole of decide() and process_batch()."""
    values, keyring, rules, now = _fixture(algorithm, size, count)
    documents = [decode_event(v) for v in values]
    articles = [Article.model_validate(d) for d in documents]
    pairs = list(zip(articles, documents, strict=True))
    decisions = [decide(v, [], keyring, rules, now) for v in values]
    source = Source("articles", 0, 1, int(now.timestamp() * 1000))
    records = [Record("articles", 0, i, int(now.timestamp() * 1000), b"k", v, []) for i, v in enumerate(values)]
    batches = [records[i:i + 100] for i in range(0, len(records), 100)]
    return {
        "decode": per_item_us(decode_event, values),
        "validate": per_item_us(Article.model_validate, documents),
        "validate, as decide() runs it (validate_article: URLs and dates checked in pydantic-core)": per_item_us(
            validate_article, documents),
        "decode + validate (read_article, as decide() runs them)": per_item_us(read_article, values),
        "canonical": per_item_us(canonical_bytes, documents),
        "verify (canonical + crypto)": per_item_us(lambda d: verify_document(d, keyring, now), documents),
        "verify, as decide() runs it (no type walk)": per_item_us(
            lambda d: verify_signature(d, keyring, now, values_checked=True), documents),
        "rules": per_item_us(lambda p: rules.evaluate(p[0], p[1], now), pairs),
        "envelope (build + orjson)": per_item_us(lambda d: encode(decision_event(d, source, None, now)), decisions),
        "decide()": per_item_us(lambda v: decide(v, [], keyring, rules, now), values),
        "process_batch() per event": round(per_item_us(
            lambda b: process_batch({0: b}, PolicySnapshot(keyring, rules), now, topics=TOPICS), batches) / 100, 2),
        "log line": _log_line_cost(decisions),
        **_library_calls_cost(algorithm, values, documents),
    }


# The C-implemented calls a decision cannot do without, and nothing else: the floor under decide() however its
# Python is written (issue 14's CPU target is judged against it in docs/benchmarks.md).
LIBRARY_CALLS = "library calls alone (orjson parse, pydantic-core schema, signature crypto, orjson write)"
CRYPTO_ALONE = "signature crypto alone (HMAC-SHA256 or Ed25519 verify of the canonical form)"


def _library_calls_cost(algorithm: str, values: list[bytes], documents: list[Any]) -> dict[str, float]:
    key = signing_key(algorithm)
    verifier = key.verification_key()
    signed = [(canonical_bytes(d), key.sign(canonical_bytes(d))) for d in documents]

    def calls(item: tuple[bytes, tuple[bytes, bytes]]) -> None:
        value, (message, tag) = item
        document = orjson.loads(value)
        validate_article(document)
        if not verifier.verify(message, tag):  # never: the figure is of a signature that verifies
            raise AssertionError("the signature did not verify")
        orjson.dumps(document)

    return {LIBRARY_CALLS: per_item_us(calls, list(zip(values, signed, strict=True))),
            CRYPTO_ALONE: per_item_us(lambda pair: verifier.verify(*pair), signed)}


def by_size(algorithms: tuple[str, ...] = ("hmac", "ed25519"), count: int = 300) -> dict[str, dict[str, float]]:
    """decide() µs per event for 1 KB, 2 KB and 8 KB events."""
    found: dict[str, dict[str, float]] = {}
    for algorithm in algorithms:
        for size in SIZES:
            values, keyring, rules, now = _fixture(algorithm, size, count)
            found.setdefault(algorithm, {})[size] = per_item_us(
                lambda v, k=keyring, r=rules, n=now: decide(v, [], k, r, n), values)
    return found


def by_rules(count: int = 200) -> dict[str, float]:
    """rules.evaluate() µs per event (2 KB events) as the banned-term list and the rule count grow."""
    values, _, config_rules, now = _fixture("hmac", "2k", count)
    pairs = [(Article.model_validate(d), d) for d in (decode_event(v) for v in values)]
    cases = {"config/rules.yaml": config_rules, "10 banned terms": banned_terms_rules(10),
             "1,000 banned terms": banned_terms_rules(1_000), "10,000 banned terms": banned_terms_rules(10_000),
             "10 rules": many_rules(10), "500 rules": many_rules(500)}
    return {name: per_item_us(lambda p, r=rules: r.evaluate(p[0], p[1], now), pairs) for name, rules in cases.items()}


def tracing(count: int = 500, repeats: int = 15) -> dict[str, float]:
    """The decide step, µs per event (100-record batches, 2 KB HMAC events), as the loop runs it with tracing.

    ``off`` is what runs without an OTLP endpoint (service/ops/tracing.NO_TRACING); ``API, no SDK`` is the same
    step through the OpenTelemetry API with nothing configured behind it (its no-op tracer), i.e. tracing code
    on but no endpoint; ``SDK, recording`` is the price of exporting (spans kept in memory, no network). Every
    input carries a traceparent except in the first line, so the core's trace headers are in all the others.
    """
    from service.ops.tracing import NO_TRACING, Tracing

    values, keyring, rules, now = _fixture("hmac", "2k", count)
    policy = PolicySnapshot(keyring, rules)
    parent = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    plain = [Record("articles", 0, i, int(now.timestamp() * 1000), b"k", v, []) for i, v in enumerate(values)]
    traced = [record._replace(headers=parent) for record in plain]

    def batches(records: list[Record]) -> list[list[Record]]:
        return [records[i:i + 100] for i in range(0, len(records), 100)]

    def step_with(tracer: Any) -> Callable[[list[Record]], object]:
        def step(batch: list[Record]) -> object:
            grouped = {0: batch}
            handle = tracer.received(grouped, 0, "articles")
            with handle.decide():
                outgoing = process_batch(grouped, policy, now, topics=TOPICS)
            handle.moderated(grouped, outgoing)
            return outgoing
        return step

    from opentelemetry import trace

    cases = {"off, inputs without traceparent": (NO_TRACING, plain), "off": (NO_TRACING, traced),
             "on, API without SDK (no endpoint)": (Tracing(trace.get_tracer("bench")), traced)}
    try:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        cases["on, SDK recording (in memory)"] = (Tracing.with_processor(
            SimpleSpanProcessor(InMemorySpanExporter()), "bench"), traced)
    except ImportError:  # the [otel] extra is not installed
        pass
    # Interleaved passes, best of each: on a shared machine the load drifts between consecutive measurements.
    work = {name: (step_with(tracer), batches(records)) for name, (tracer, records) in cases.items()}
    best = dict.fromkeys(work, float("inf"))
    for _ in range(repeats):
        for name, (step, items) in work.items():
            start = time.perf_counter()
            for item in items:
                step(item)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: round(best[name] / count * 1e6, 2) for name in work}
