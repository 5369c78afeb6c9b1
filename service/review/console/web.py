"""The reviewer console: a Starlette app over a ReviewView, signing each action with the console's key.

Pages are rendered on the server by Jinja2 with autoescaping on (article content is hostile input); the only
script is ``static/console.js`` (no inline script, so the Content-Security-Policy forbids every other one),
which polls ``/api/version`` and swaps in the re-rendered queue when it changes.

Security, in the order a request meets it:
* every response carries a strict CSP (``script-src 'self'``), ``nosniff``, ``frame-ancestors 'none'``;
* the session is a signed cookie (itsdangerous via Starlette's SessionMiddleware): HttpOnly, SameSite=Strict,
  Secure when served over TLS, 8 hours;
* every POST must carry the session's CSRF token (compared in constant time), login included;
* logins are rate-limited per client address and per name (LOGIN_FAILURES within LOGIN_WINDOW_S), each attempt
  counted before the password is checked (taken back on success), so parallel requests cannot exceed the limit.
  Behind NAT all clients share an address's bucket, and anyone can lock a name out for the window;
* a signed-in request whose reviewer is no longer in the accounts file ends the session;
* the reviewer on an action is the session's; a form that carries a ``reviewer`` field is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service.core.review_action import MAX_REASON, REASON_CODE
from service.review.console.accounts import AccountError, AccountsFile, check_password, dummy_hash

HERE = Path(__file__).parent
LOGIN_FAILURES, LOGIN_WINDOW_S = 5, 300.0
SESSION_MAX_AGE_S = 8 * 3600
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}

Submit = Callable[[str, str, str, str, str | None], Awaitable[Any]]  # (id, action, reviewer, note, reason)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["web_url"] = web_url
    env.filters["ago"] = ago
    env.filters["when"] = when
    env.filters["idpath"] = lambda text: quote(str(text), safe="")
    return env


def web_url(value: object) -> str | None:
    """``value`` if it is an http(s) URL a link may point to; None otherwise (``javascript:`` and friends)."""
    if not isinstance(value, str):
        return None
    try:
        scheme = urlsplit(value).scheme.lower()
    except ValueError:
        return None
    return value if scheme in ("http", "https") else None


def when(text: object) -> str:
    """An ISO 8601 instant as people read it: ``2026-12-02 07:06:50 UTC``."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return str(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


class LoginLimiter:
    """At most LOGIN_FAILURES failed logins per client address, and per name, within LOGIN_WINDOW_S."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            times = self._failures.get(key)
            if times is None:
                continue
            while times and times[0] < now - LOGIN_WINDOW_S:
                times.popleft()
            if not times:
                del self._failures[key]  # memory stays bounded by the failures of the last window
            elif len(times) >= LOGIN_FAILURES:
                return True
        return False

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._failures[key].append(time.monotonic())

    def attempt(self, *keys: str) -> float | None:
        """Count an attempt as failed *before* the password is checked; None when ``keys`` are blocked.

        Check and count happen with no await in between, so parallel requests cannot all pass the check while
        the first ones are still verifying (argon2 runs in a thread). ``forgive`` takes back a success."""
        if self.blocked(*keys):
            return None
        stamp = time.monotonic()
        for key in keys:
            self._failures[key].append(stamp)
        return stamp

    def forgive(self, stamp: float, *keys: str) -> None:
        for key in keys:
            with contextlib.suppress(ValueError, KeyError):
                self._failures[key].remove(stamp)


class Console:
    def __init__(self, view: Any, submit: Submit, accounts_path: Path, *, secret: str, secure: bool,
                 log: Any) -> None:
        self.view, self.submit, self.accounts_path, self.log = view, submit, accounts_path, log
        self.env = _environment()
        self.limiter = LoginLimiter()
        self.accounts = AccountsFile(accounts_path)
        dummy_hash()  # now, not at the first unknown name's login (its timing would tell the name is unknown)
        self.app = Starlette(
            routes=[
                Route("/", self.queue), Route("/login", self.login_page), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/item/{event_id}", self.item), Route("/item/{event_id}/settle", self.settle, methods=["POST"]),
                Route("/api/version", self.version), Route("/fragment/queue", self.queue_fragment),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[Middleware(_SecurityHeaders),
                        Middleware(SessionMiddleware, secret_key=secret, session_cookie="moderation_console",
                                   max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=secure)],
        )

    # -- helpers ---------------------------------------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("reviewer", request.session.get("reviewer"))
        context["csrf"] = _csrf(request)
        return HTMLResponse(self.env.get_template(template).render(**context), status_code=status)

    async def _form(self, request: Request) -> dict[str, str] | Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        token = values.get("csrf", "")
        expected = request.session.get("csrf", "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return self.render(request, "message.html", 403, title="Refused",
                               text="The form's CSRF token is missing or wrong. Reload the page and try again.")
        return values

    def _reviewer(self, request: Request) -> str | None:
        """The signed-in reviewer, if they still have an account: removing a name from the accounts file ends
        its sessions at their next request (the file is read again only when it changed)."""
        name = request.session.get("reviewer")
        if not name:
            return None
        try:
            known = name in self.accounts.current()
        except AccountError as exc:  # an unreadable file vouches for no one
            self.log.warning("console_accounts_unreadable", error=str(exc))
            known = False
        if not known:
            request.session.clear()
            self.log.warning("console_session_ended", reviewer=name, note="no longer in the accounts file")
            return None
        return str(name)

    def _filtered(self, request: Request) -> dict[str, Any]:
        reason, provider = request.query_params.get("reason", ""), request.query_params.get("provider", "")
        now = datetime.now(UTC)
        items = self.view.pending()
        reasons = sorted({r.get("code", "") for i in items for r in i.event.get("reasons") or []})
        providers = sorted({p for i in items if (p := i.summary()["provider"])})
        shown = [i for i in items
                 if (not reason or reason in [r.get("code") for r in i.event.get("reasons") or []])
                 and (not provider or i.summary()["provider"] == provider)]
        rows = [{**i.summary(), "waiting": i.waiting_s(now)} for i in shown]
        return {"rows": rows, "reasons": reasons, "providers": providers, "reason": reason, "provider": provider,
                "recent": self.view.recent(), "total": len(items), "version": self.view.version}

    # -- pages -----------------------------------------------------------------------------------------------
    async def queue(self, request: Request) -> Response:
        if not self._reviewer(request):
            return RedirectResponse("/login", 303)
        return self.render(request, "queue.html", **self._filtered(request))

    async def queue_fragment(self, request: Request) -> Response:
        if not self._reviewer(request):
            return Response(status_code=401)
        return self.render(request, "_queue.html", **self._filtered(request))

    async def version(self, request: Request) -> Response:
        if not self._reviewer(request):
            return Response(status_code=401)
        return JSONResponse({"version": self.view.version})

    async def item(self, request: Request) -> Response:
        if not self._reviewer(request):
            return RedirectResponse("/login", 303)
        event_id = request.path_params["event_id"]
        held = self.view.held.get(event_id)
        if held is None:
            return self.render(request, "message.html", 404, title="Not found", text=f"No held event {event_id}.")
        raw = orjson.dumps(held.event, option=orjson.OPT_INDENT_2).decode()
        return self.render(request, "item.html", item=held.summary(), event=held.event, article=held.article,
                           raw=raw, settled=self.view.resolved.get(event_id),
                           waiting=held.waiting_s(datetime.now(UTC)))

    async def settle(self, request: Request) -> Response:
        reviewer = self._reviewer(request)
        if not reviewer:
            return RedirectResponse("/login", 303)
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        if "reviewer" in form:  # the name on an action is the session's, never the form's
            return self.render(request, "message.html", 400, title="Refused",
                               text="An action names its reviewer from the sign-in, not from the form.")
        event_id, verb = request.path_params["event_id"], form.get("action", "")
        note, reason = form.get("note", "")[:2000], form.get("reason") or None
        if event_id not in self.view.held or verb not in ("approved", "rejected"):
            return self.render(request, "message.html", 400, title="Refused", text="Unknown event or action.")
        if verb == "rejected" and not (reason and REASON_CODE.fullmatch(reason) and len(reason) <= MAX_REASON):
            return self.render(request, "message.html", 400, title="Refused",
                               text=f"A rejection needs a reason code like quality.too_low, at most {MAX_REASON} "
                                    "characters.")
        try:
            result = await self.submit(event_id, verb, reviewer, note, reason if verb == "rejected" else None)
        except ValueError as exc:  # an action the core would refuse (service/core/review_action.new_action): unsent
            return self.render(request, "message.html", 400, title="Refused", text=f"Not sent: {exc}.")
        except Exception as exc:  # the broker away, the actions topic missing
            self.log.warning("console_action_failed", id=event_id, reviewer=reviewer, error=repr(exc))
            return self.render(request, "message.html", 503, title="No answer",
                               text=f"The action may not have reached the service ({type(exc).__name__}). "
                                    "The queue shows whether the event is settled; act again if it is not.")
        outcome = result.outcome
        if outcome is None:
            title, text, status = "Waiting", "The service has not answered yet; the action is queued.", 202
        elif result.applied:
            title, text, status = "Settled", f"{verb.capitalize()} by {reviewer}.", 200
        elif result.already_settled:
            title = "Already settled"
            text, status = f"Already settled by {outcome.get('settledBy')} at {outcome.get('settledAt')}.", 409
        else:
            title, text, status = "Refused", f"The service refused the action: {outcome.get('message')}", 400
        with contextlib.suppress(Exception):
            await self.view.poll()
        return self.render(request, "message.html", status, title=title, text=text, event_id=event_id)

    async def login_page(self, request: Request) -> Response:
        return self.render(request, "login.html", error=None)

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, password = form.get("name", "")[:64], form.get("password", "")[:1024]
        client = request.client.host if request.client else "?"
        keys = (f"ip:{client}", f"name:{name}")
        attempt = self.limiter.attempt(*keys)
        if attempt is None:
            self.log.warning("console_login_limited", client=client, name=name)
            return self.render(request, "login.html", 429, error="Too many attempts. Wait a few minutes.")
        accounts = await asyncio.to_thread(self.accounts.current)
        if not await asyncio.to_thread(check_password, accounts, name, password):
            self.log.warning("console_login_failed", client=client, name=name)  # the attempt stays counted
            return self.render(request, "login.html", 401, error="Wrong name or password.")
        self.limiter.forgive(attempt, *keys)
        request.session.clear()
        request.session.update({"reviewer": name, "csrf": secrets.token_urlsafe(32)})  # a fresh token per sign-in
        self.log.info("console_login", client=client, reviewer=name)
        return RedirectResponse("/", 303)

    async def logout(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        request.session.clear()
        return RedirectResponse("/login", 303)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


class _SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
