"""`python -m devtools.localkafka run [--state-dir DIR] [--port N]`: a broker in the foreground.

Prints exactly one line, `bootstrap=127.0.0.1:PORT`, once the broker is ready (scripts wait for it), then
runs until SIGINT/SIGTERM and shuts the broker down cleanly. A given --state-dir keeps topics across runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from devtools.localkafka.broker import LocalKafka
from devtools.localkafka.jars import ToolMissingError
from devtools.localkafka.layout import BrokerStartError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.localkafka", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one broker in the foreground until SIGINT/SIGTERM")
    run.add_argument("--state-dir", type=Path, help="config, data and logs (default: a temp dir, deleted)")
    run.add_argument("--port", type=int, help="PLAINTEXT port on 127.0.0.1 (default: a free one)")
    run.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        broker = LocalKafka(args.state_dir, port=args.port, start_timeout=args.timeout)
    except ValueError as exc:  # a KAFKA_VERSION this helper does not support
        print(f"localkafka: {exc}", file=sys.stderr)
        return 2
    try:
        broker.start()
    except (BrokerStartError, ToolMissingError, OSError) as exc:
        print(f"localkafka: {exc}", file=sys.stderr)
        broker.close()
        return 1
    print(f"bootstrap={broker.bootstrap}", flush=True)
    ready = f"localkafka: Kafka {broker.version.text} ready in {broker.start_seconds} s, log {broker.log_file}"
    print(ready, file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        if not broker.running:
            print(f"localkafka: broker died, see {broker.log_file}", file=sys.stderr)
            broker.close()
            return 1
    broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
