"""Which asyncio event loop the long-running commands use (``event_loop`` setting, MODERATION_EVENT_LOOP).

uvloop (libuv, in C) by default: in interleaved runs it gave more events/s and a lower p99 than asyncio's own
loop, with CPU per event within the noise (docs/benchmarks.md). aiokafka only uses the public asyncio API, which
uvloop implements; ``asyncio`` keeps Python's loop, for a platform uvloop does not support or to compare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """``asyncio.Runner(loop_factory=...)`` for the setting's value: "uvloop" or "asyncio"."""
    if name == "uvloop":
        import uvloop  # imported here: only the commands that run a loop need it

        return uvloop.new_event_loop
    return asyncio.new_event_loop
