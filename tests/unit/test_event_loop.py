"""The event loop setting (MODERATION_EVENT_LOOP): uvloop by default, Python's own on request."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from service.ops.event_loop import loop_factory
from service.settings import Settings


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_uvloop_is_the_default_and_runs_coroutines():
    assert Settings().event_loop == "uvloop"
    with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
        assert runner.run(_loop_type()) is uvloop.Loop


def test_asyncio_keeps_pythons_own_loop():
    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        kind = runner.run(_loop_type())
    assert kind is not uvloop.Loop and issubclass(kind, asyncio.BaseEventLoop)


def test_an_unknown_loop_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("MODERATION_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()
