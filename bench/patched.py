"""``moderation run`` with producer options merged over the service's: what-if runs of a proposed setting.

    python -m bench.patched '{"retry_backoff_ms": 20}'

Used by ``python -m bench --producer-options JSON`` so that a change to ``service.kafka.delivery.producer_options`` can
be measured (on the service and the relay alike) before anyone edits service/kafka/delivery.py.
"""

from __future__ import annotations

import json
import sys

import service.kafka.delivery as delivery


def main() -> int:
    extra = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    original = delivery.producer_options
    delivery.producer_options = lambda settings: {**original(settings), **extra}  # looked up at each producer
    from service.cli import main as cli

    return cli(["run"])


if __name__ == "__main__":
    sys.exit(main())
