"""`moderation run` settles the cyclic collector once start-up is done (service/ops/garbage.py)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap

from service.ops.garbage import THRESHOLDS


def test_start_up_objects_are_frozen_and_young_objects_collected_rarely() -> None:
    # In a child: freezing is for the life of the process, and the test session's collector must stay as it is.
    code = textwrap.dedent("""
        import gc, json
        import service.bootstrap  # the service's modules, as `moderation run` has them at start-up
        before = (gc.get_threshold(), gc.get_freeze_count())
        from service.ops.garbage import settle_after_start_up
        settle_after_start_up()
        print(json.dumps([before, [gc.get_threshold(), gc.get_freeze_count()]]))
    """)
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    (threshold_before, frozen_before), (threshold_after, frozen_after) = json.loads(found)
    assert frozen_before == 0 and threshold_before == list(gc.get_threshold())
    assert threshold_after == list(THRESHOLDS)
    assert frozen_after > 10_000  # the modules, pydantic's validators, the rule compiler: all frozen


def test_run_settles_the_collector_before_the_event_loop_starts() -> None:
    import inspect

    from service import bootstrap

    source = inspect.getsource(bootstrap.run_service)
    assert source.index("settle_after_start_up()") < source.index("asyncio.Runner(")
