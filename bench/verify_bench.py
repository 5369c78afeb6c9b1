"""How much a signature check costs per event, and whether a second thread helps.

    .venv/bin/python bench/verify_bench.py [--events 4000]

Prints a table: µs per verification for HMAC-SHA256 and Ed25519, the crypto alone and with the canonical
form included (``verify_document``, what decide() pays), with 1 and 2 threads. The 2-thread figure is wall
time divided by events, so a value near half the 1-thread one means the work ran outside the GIL.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core.canonical import canonical_bytes, signing_input
from service.core.decode import decode_event
from service.core.keys import ED25519, HMAC_SHA256, SigningKey
from service.core.signature import Keyring, sign_document, verify_document

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_eec557f0eb51af83.txt"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def per_call_us(work: Callable[[], object], events: int, threads: int) -> float:
    """Wall-clock µs per call, with ``events`` calls shared among ``threads`` threads (best of 5)."""
    share = events // threads

    def run() -> None:
        for _ in range(share):
            work()

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: work(), range(threads * 4)))  # warm up
        for _ in range(5):
            start = time.perf_counter()
            for future in [pool.submit(run) for _ in range(threads)]:
                future.result()
            best = min(best, time.perf_counter() - start)
    return best / (share * threads) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    events = parser.parse_args().events
    document = decode_event(SEED.read_bytes())
    assert isinstance(document, dict)
    print(f"event: the seed, {len(canonical_bytes(document))} canonical bytes; {events} verifications per cell")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work skews the 2-thread column)")
    rows = [("canonical form only", lambda: canonical_bytes(document))]
    for algorithm in (HMAC_SHA256, ED25519):
        signing = SigningKey(f"bench-{algorithm}", algorithm, frozenset({"siliconangle.com"}),
                             material=hashlib.sha256(algorithm.encode()).digest())
        key = signing.verification_key()
        keyring = Keyring([key])
        secured = sign_document(document, signing, bytes(16))
        signed = {**document, "secured": secured}
        message = signing_input(bytes(16), canonical_bytes(document))
        tag = signing.sign(message)
        assert verify_document(signed, keyring, NOW) == key.key_id and key.verify(message, tag)
        rows.append((f"{algorithm}: crypto only", lambda k=key, m=message, t=tag: k.verify(m, t)))
        rows.append((f"{algorithm}: verify_document", lambda s=signed, kr=keyring: verify_document(s, kr, NOW)))
    print(f"{'operation':<34}{'1 thread µs':>13}{'2 threads µs':>14}{'speed-up':>10}")
    for name, work in rows:
        one, two = per_call_us(work, events, 1), per_call_us(work, events, 2)
        print(f"{name:<34}{one:>13.2f}{two:>14.2f}{one / two:>9.2f}x")


if __name__ == "__main__":
    main()
