"""``moderation console``: the reviewers' web page (web.py), over a live ReviewView, served by uvicorn.

The console reads the review and resolutions topics itself (it never writes them) and publishes signed
actions like the CLI does (service/review/submit.py); the service's settler judges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from service.settings import Settings

POLL_S = 0.5


async def serve_console(settings: Settings, key: Any, log: Any, *, stop: asyncio.Event | None = None,
                        port: int | None = None, ready: Any = None) -> None:
    """Serve until ``stop`` is set (or the process is interrupted). ``ready(port)`` is called once listening."""
    import uvicorn

    from service.review.console.web import Console
    from service.review.submit import signed_action, submit
    from service.review.view import ReviewView

    view = await ReviewView(settings).start()

    async def send(event_id: str, verb: str, reviewer: str, note: str, reason: str | None) -> Any:
        action = signed_action(key, event_id, verb, reviewer, note, reason)
        result = await submit(settings, action, timeout_s=15.0)
        log.info("console_action", id=event_id, action=verb, reviewer=reviewer, action_id=action["actionId"],
                 status=(result.outcome or {}).get("status"), refusal=(result.outcome or {}).get("refusal"))
        return result

    secret = settings.console_session_secret.get_secret_value() if settings.console_session_secret \
        else secrets.token_urlsafe(32)
    tls = settings.console_tls_certfile is not None
    console = Console(view, send, settings.console_accounts, secret=secret, secure=tls, log=log)
    config = uvicorn.Config(console.app, host=settings.console_host,
                            port=settings.console_port if port is None else port, log_level="warning",
                            ssl_certfile=str(settings.console_tls_certfile) if tls else None,
                            ssl_keyfile=str(settings.console_tls_keyfile) if settings.console_tls_keyfile else None,
                            proxy_headers=False, server_header=False)
    server = uvicorn.Server(config)

    async def follow() -> None:
        while True:
            with contextlib.suppress(Exception):
                await view.catch_up(timeout_s=5)  # also picks up review topics created after the start
            await asyncio.sleep(POLL_S)

    async def watch_stop() -> None:
        if stop is not None:
            await stop.wait()
            server.should_exit = True

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else config.port
        log.info("console_listening", url=f"{'https' if tls else 'http'}://{settings.console_host}:{bound}")
        if ready is not None:
            ready(bound)

    tasks = [asyncio.create_task(follow()), asyncio.create_task(watch_stop()), asyncio.create_task(announce())]
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
        await view.stop()
