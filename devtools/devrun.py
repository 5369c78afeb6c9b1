"""``make run``: the service on a local broker, with the seeds published and each decision printed.

1. start the project's own Apache Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS names one);
2. create the topics; generate a local Ed25519 dev key for the seeds' providers (once, in .cache/dev-keys,
   never committed);
3. start ``moderation run`` as a child process (its JSON log goes to .cache/devrun/service.log);
4. publish ``seeds/``: documents without ``secured`` are signed with the dev key, the original seed keeps its
   own (unverifiable) signature; each record is stamped with its article's publishedDateTime, so the rules'
   "stale" check sees the article as it was when published;
5. print one line per decision as it arrives, until Ctrl-C; then stop everything it started.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from service.cli.kafka import format_decision_line
from service.core.decode import decode_event
from service.files.eventfiles import iter_event_files

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
KEYS = CACHE / "dev-keys"  # the producer's side: dev.signing.json
TRUSTED = KEYS / "trusted"  # the service's key directory: dev.key.json
BIN = Path(sys.executable).parent


def seed_paths() -> list[str]:
    return sorted(str(p) for p in (ROOT / "seeds").iterdir() if p.is_file())


def seed_providers(paths: list[str]) -> list[str]:
    domains = set()
    for _, value in iter_event_files(paths):
        document = decode_event(value)
        provider = document.get("provider") if isinstance(document, dict) else None
        if isinstance(provider, dict) and isinstance(provider.get("domain"), str):
            domains.add(provider["domain"])
    return sorted(domains)


def ensure_dev_key(paths: list[str]) -> Path:
    signing = KEYS / "dev.signing.json"
    if not signing.exists():
        KEYS.mkdir(parents=True, exist_ok=True)
        providers = [arg for domain in seed_providers(paths) for arg in ("--provider", domain)]
        subprocess.run([BIN / "moderation", "keygen", "--algorithm", "ed25519", "--key-id", "dev", *providers,
                        "--out", str(KEYS)], check=True, stdout=subprocess.DEVNULL)
        TRUSTED.mkdir(exist_ok=True)
        (KEYS / "dev.key.json").replace(TRUSTED / "dev.key.json")
    return signing


async def show_decisions(bootstrap: str, stop: asyncio.Event, ready: asyncio.Event) -> None:
    import logging

    from aiokafka import AIOKafkaConsumer

    # The topics were created a moment ago: aiokafka retries "not leader" while their leaders settle and logs
    # each retry at error. That is noise on this screen; the service's own log (.cache/devrun/) keeps its errors.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    consumer = AIOKafkaConsumer("articles.approved", "articles.rejected", "articles.deadletter", "articles.review",
                                bootstrap_servers=bootstrap, isolation_level="read_committed",
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        for tp in consumer.assignment():  # resolve the end offsets now, before the seeds are published
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    print(format_decision_line(record.topic, record.value, "articles.deadletter"), flush=True)
    finally:
        await consumer.stop()


async def main_async(bootstrap: str) -> None:
    from service.kafka.topics import ensure_topics, service_topics
    from service.settings import Settings

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    names, configs = service_topics(Settings(bootstrap_servers=bootstrap), 3)  # the default topic names
    await ensure_topics(bootstrap, names, configs=configs)
    paths = seed_paths()
    signing = ensure_dev_key(paths)
    logs = CACHE / "devrun"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODERATION_BOOTSTRAP_SERVERS": bootstrap, "MODERATION_KEYS_DIR": str(TRUSTED),
           "MODERATION_RULES_PATH": str(ROOT / "config" / "rules.yaml"), "MODERATION_HTTP_PORT": "0"}
    with open(logs / "service.log", "wb") as log:
        service = subprocess.Popen([BIN / "moderation", "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = asyncio.Event()
        watcher = asyncio.create_task(show_decisions(bootstrap, stop, ready))
        await asyncio.wait_for(ready.wait(), 60)
        print(f"service running (log: {logs / 'service.log'}); publishing {len(paths)} seed documents...", flush=True)
        subprocess.run([BIN / "moderation", "produce", "--bootstrap-servers", bootstrap, "--sign-with",
                        str(signing), "--timestamp", "article", *paths], check=True, env=env, stdout=subprocess.DEVNULL)
        print("decisions (Ctrl-C to stop):", flush=True)
        await stop.wait()
        await watcher
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=40)
        except subprocess.TimeoutExpired:
            service.kill()


def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        asyncio.run(main_async(bootstrap))
        return 0
    from devtools.localkafka import LocalKafka

    state = CACHE / "kafka" / "devrun"
    shutil.rmtree(state, ignore_errors=True)
    from devtools.localkafka.versions import kafka_version

    try:
        version = kafka_version()
    except ValueError as exc:  # an unsupported KAFKA_VERSION: one line, no traceback
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    print(f"starting a local Apache Kafka {version.text} broker (first run of a version downloads it from Maven "
          "Central)...", flush=True)
    with LocalKafka(state, version=version) as kafka:
        print(f"broker ready at {kafka.bootstrap}", flush=True)
        asyncio.run(main_async(kafka.bootstrap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
