"""Regressions from the review of the human-review code (service/review, service/core/review_action.py)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import structlog
from contract import cloudevent
from structlog.testing import capture_logs

from service.core import cloudevents as ce
from service.core.envelope import DECISION_SCHEMA_ID
from service.kafka.settle import Deadline
from service.review.changelog import PartitionState
from service.review.settler import Settler
from service.review.view import HeldItem
from service.settings import Settings

ROOT = Path(__file__).parents[2]
Record = namedtuple("Record", "topic partition offset timestamp key value headers")
NOW = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
URL = "https://example.org/a"
SOURCE = {"topic": "articles.incoming", "partition": 1, "offset": 42}


def settler(**settings) -> Settler:
    return Settler(Settings(**settings), lambda: [], structlog.get_logger("test"))


def held(trace=()) -> HeldItem:
    event = {"source": SOURCE, "decision": "review", "article": {"title": "t", "webUrl": URL},
             "decidedAt": "2026-12-02T07:00:00Z", "reasons": []}
    return HeldItem("articles.incoming:1:42", b"held-1", event, trace)


def test_decision_headers_are_the_attributes_stamp_gives_a_decision():
    headers = ce.decision_headers("in", 2, 10, "approved", URL.encode(), NOW, "/svc")
    assert dict(headers) == {"ce_specversion": b"1.0", "ce_id": b"in/2/10/approved", "ce_source": b"/svc",
                             "ce_type": ce.TYPES["approved"].encode(), "ce_time": b"2026-12-02T08:00:00Z",
                             "ce_subject": URL.encode(), "ce_dataschema": DECISION_SCHEMA_ID.encode(),
                             "content-type": b"application/json"}


def test_a_final_decision_is_a_cloudevent_carrying_the_held_records_trace():
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
    item = held(((ce.TRACEPARENT, parent), (ce.TRACESTATE, b"k=v")))
    final = {**item.event, "decision": "rejected", "decidedAt": "2026-12-02T08:00:00Z"}
    action = Record("articles.review.actions", 0, 7, 0, b"articles.incoming:1:42", b"{}", ())
    headers = settler(cloudevents_source="/moderation-test")._headers(item, final, action, NOW)
    record = Record("articles.rejected", 0, 0, 0, item.key, orjson.dumps(final), headers)
    event = cloudevent(record)
    assert event.get_id() == "articles.incoming/1/42/rejected"  # the held one's is .../review
    assert event.get_source() == "/moderation-test"
    assert event.get_type() == ce.TYPES["rejected"]
    assert event.get_time() == NOW and event.get_subject() == URL
    assert event.get_dataschema() == DECISION_SCHEMA_ID and event.get_datacontenttype() == "application/json"
    values = dict(headers)
    assert values["moderation-decision"] == b"rejected" and values["moderation-review"] == b"settled"
    version, trace, span, flags = values["traceparent"].decode().split("-")
    assert (version, trace, flags) == ("00", TRACE_ID, "01") and span != "00f067aa0ba902b7"
    assert values["tracestate"] == b"k=v"
    assert "traceparent" not in dict(settler()._headers(held(), final, action, NOW))


class _Moderator:
    """The loop's stand-in: runs until stopped; the shutdown budget is ``budget_s``."""

    def __init__(self, budget_s: float = 30.0) -> None:
        self.deadline, self.consumer = Deadline(budget_s), None

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


def _service(tmp_path, settler_run, budget_s: float = 30.0):
    from service.bootstrap import Service

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    settings = Settings(keys_dir=keys, rules_path=ROOT / "config" / "rules.yaml", http_port=0)
    service = Service(settings, structlog.get_logger("test"))
    assert service.settler is not None
    service.settler.run = settler_run  # type: ignore[method-assign]
    service._moderator = lambda: (_Moderator(budget_s), None)  # type: ignore[method-assign]

    async def idle(consumer) -> None:
        await asyncio.Event().wait()

    service.health.watch = idle  # type: ignore[method-assign]
    return service


def test_a_crashed_settler_stops_the_service_which_then_raises_for_exit_1(tmp_path):
    from service.bootstrap import SettlerCrashed

    async def crash(stop: asyncio.Event) -> None:
        raise RuntimeError("a bug in the settler")

    service = _service(tmp_path, crash)
    with capture_logs() as logs, pytest.raises(SettlerCrashed, match="a bug in the settler"):
        # wait_for only turns the old behaviour (the service ran on without its settler) into a failure
        asyncio.run(asyncio.wait_for(service.run(asyncio.Event()), 60))
    assert [e for e in logs if e["event"] == "review_settler_crashed"]


def test_a_settler_that_does_not_stop_is_given_up_within_the_shutdown_budget(tmp_path):
    cancelled = []

    async def stubborn(stop: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()  # never heeds stop
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    service = _service(tmp_path, stubborn, budget_s=0.2)

    async def stop_soon() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_soon(stop.set)
        await asyncio.wait_for(service.run(stop), 60)

    with capture_logs() as logs:
        asyncio.run(stop_soon())
    assert cancelled == [True]
    assert {"event": "shutdown_step_failed", "step": "review-settler"}.items() <= \
        next(e for e in logs if e["event"] == "shutdown_step_failed").items()


class _Hanging:
    """A broker that never answers: claim and commit wait forever."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def _forever(self, what: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(what)
            raise

    async def claim(self, partitions):
        await self._forever("claim")

    async def commit(self, tp, next_offset, outgoing):
        await self._forever("commit")


class _Consumer:
    def partitions_for_topic(self, topic):
        return {0}

    def pause(self, *partitions) -> None:
        pass


def test_a_claim_or_a_commit_waiting_for_the_broker_ends_when_the_settler_is_stopped():
    from aiokafka import TopicPartition

    tp = TopicPartition("articles.review.actions", 0)
    subject = settler()
    subject.delivery, subject.consumer = _Hanging(), _Consumer()  # type: ignore[assignment]
    subject.assigned, subject.unclaimed = {tp}, {tp}
    subject.states[tp] = PartitionState()
    bad = Record(tp.topic, 0, 5, 0, b"x", b"not an action", ())

    async def stop_while(step) -> None:
        subject.stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, subject.stop.set)
        await asyncio.wait_for(step, 60)  # only a guard: the old waits were 20 s (claim) and 25 s (commit)

    with capture_logs() as logs:
        asyncio.run(stop_while(subject._claim(3600)))
        asyncio.run(stop_while(subject._settle(tp, [bad])))
    assert subject.delivery.cancelled == ["claim", "commit"]
    assert tp in subject.unclaimed and subject.states[tp] == PartitionState()  # nothing claimed or applied
    assert not [e for e in logs if e["event"] in ("review_claim_failed", "review_settle_failed", "review_action")]


class _Recording:
    """A delivery whose commits succeed and are kept."""

    def __init__(self) -> None:
        self.commits: list[list] = []

    async def commit(self, tp, next_offset, outgoing) -> None:
        self.commits.append(outgoing)


def _signed_action(key, event_id: str, note: str = "") -> bytes:
    import os

    from service.core.review_action import encode_action, new_action, sign_action

    doc = new_action(event_id, "approved", "alice", note, None, NOW, key.key_id, os.urandom(16).hex())
    return encode_action(sign_action(doc, key, os.urandom(16)))


def test_an_action_whose_final_decision_would_be_too_large_is_refused_not_sent():
    import os

    from aiokafka import TopicPartition

    from service.core.batch import MAX_DECISION_BYTES
    from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey

    key = SigningKey("reviewers", ED25519, frozenset(), material=os.urandom(32), purpose=REVIEW_ACTIONS)
    tp = TopicPartition("articles.review.actions", 0)
    subject = Settler(Settings(), lambda: [key.verification_key()], structlog.get_logger("test"))
    subject.delivery, subject.consumer = _Recording(), _Consumer()  # type: ignore[assignment]
    subject.states[tp] = PartitionState()
    item = held()
    # a held decision that fitted, and a note (2,000 characters, each 6 bytes once escaped) that tips it over
    item.event["article"]["excerpt"] = "x" * (MAX_DECISION_BYTES - 8_000)
    subject.view.held[item.id] = item
    note = "\u0001" * 2_000
    records = [Record(tp.topic, 0, 0, 0, item.id.encode(), _signed_action(key, item.id, note), ()),
               Record(tp.topic, 0, 1, 0, item.id.encode(), _signed_action(key, item.id, "short"), ())]
    with capture_logs() as logs:
        asyncio.run(subject._settle(tp, records))
    [outgoing] = subject.delivery.commits
    sizes = [len(value) + sum(len(n) + len(v) for n, v in headers) for _, _, _, value, headers in outgoing]
    assert max(sizes) <= MAX_DECISION_BYTES
    lines = [e for e in logs if e["event"] == "review_action"]
    assert [(e["status"], e["refusal"]) for e in lines] == [("refused", "review.too_large"), ("applied", None)]
    assert lines[0]["log_level"] == "warning"
    outcomes = [orjson.loads(value) for topic, _, key_, value, _ in outgoing if key_.startswith(b"action:")]
    assert [o["refusal"] for o in outcomes] == ["review.too_large", None]
    assert item.id in subject.states[tp].resolved  # the shorter note settled it


# -- the console -------------------------------------------------------------------------------------------------
def _request(path: str, form: dict[str, str] | None = None, session: dict | None = None,
             client: str = "192.0.2.7", params: dict | None = None):
    from urllib.parse import urlencode

    from starlette.requests import Request

    body = urlencode(form or {}).encode()
    scope = {"type": "http", "method": "POST" if form is not None else "GET", "path": path, "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")], "client": (client, 40000),
             "session": {} if session is None else session, "path_params": params or {}}

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


class _View:
    def __init__(self, items=()) -> None:
        self.held = {i.id: i for i in items}
        self.resolved: dict = {}
        self.version = 0

    def pending(self):
        return list(self.held.values())

    def recent(self):
        return []

    async def poll(self) -> bool:
        return False


def _console(tmp_path, view=None, submit=None):
    from service.review.console.accounts import add_reviewer
    from service.review.console.web import Console

    accounts = tmp_path / "accounts.json"
    add_reviewer(accounts, "alice", "correct horse battery")
    add_reviewer(accounts, "bob", "another long password")

    async def no_submit(*args):
        raise AssertionError("nothing may be sent")

    return Console(view or _View(), submit or no_submit, accounts, secret="s" * 32, secure=False,
                   log=structlog.get_logger("test")), accounts


def test_parallel_sign_in_attempts_cannot_get_past_the_limit(tmp_path):
    from service.review.console import web

    console, _ = _console(tmp_path)

    async def attempts(count: int, password: str) -> list[int]:
        def one():
            return console.login(_request("/login", {"csrf": "t", "name": "alice", "password": password},
                                          {"csrf": "t"}))
        return [r.status_code for r in await asyncio.gather(*(one() for _ in range(count)))]

    statuses = asyncio.run(attempts(3 * web.LOGIN_FAILURES, "wrong password guess"))
    assert statuses.count(401) == web.LOGIN_FAILURES  # only five passwords were tried, however parallel
    assert statuses.count(429) == 2 * web.LOGIN_FAILURES
    # a success is discounted: four failures and a success leave room for another try
    other, _ = _console(tmp_path / "b")

    async def sequence() -> list[int]:
        out = []
        for password in ["nope nope nope"] * (web.LOGIN_FAILURES - 1) + ["correct horse battery", "x"]:
            response = await other.login(_request("/login", {"csrf": "t", "name": "alice", "password": password},
                                                  {"csrf": "t"}))
            out.append(response.status_code)
        return out

    assert asyncio.run(sequence()) == [401] * (web.LOGIN_FAILURES - 1) + [303, 401]


def test_removing_a_reviewer_from_the_accounts_file_ends_their_sessions(tmp_path):
    import json

    console, accounts = _console(tmp_path)
    alice, bob = {"reviewer": "alice", "csrf": "t"}, {"reviewer": "bob", "csrf": "t"}
    assert asyncio.run(console.version(_request("/api/version", session=alice))).status_code == 200
    doc = json.loads(accounts.read_text())
    del doc["reviewers"]["alice"]
    accounts.write_text(json.dumps(doc))
    with capture_logs() as logs:
        assert asyncio.run(console.version(_request("/api/version", session=alice))).status_code == 401
    assert alice == {} and [e for e in logs if e["event"] == "console_session_ended"]
    assert asyncio.run(console.version(_request("/api/version", session=bob))).status_code == 200


def test_a_reject_reason_over_100_characters_is_a_clear_400_not_a_503(tmp_path):
    item = held()
    console, _ = _console(tmp_path, _View([item]))
    session = {"reviewer": "alice", "csrf": "t"}
    response = asyncio.run(console.settle(_request(
        f"/item/{item.id}/settle", {"csrf": "t", "action": "rejected", "reason": "a" * 101}, session,
        params={"event_id": item.id})))
    assert response.status_code == 400 and b"at most 100" in response.body


def test_the_metrics_read_the_queue_while_the_event_loop_adds_to_it():
    """The /metrics thread iterates the view while the loop inserts: simulated by an item whose ``id`` lookup
    (Python code, where a thread switch can happen) adds a held event, as the loop would meanwhile."""
    from service.ops.metrics import _ReviewCollector
    from service.review.view import ReviewView

    view = ReviewView(Settings())

    class Racing:
        held_at = "2026-12-02T07:00:00Z"

        def __init__(self, n: int) -> None:
            self.n = n

        @property
        def id(self) -> str:
            view.held[f"in:0:{len(view.held) + 100}"] = held()  # the event loop, between two steps
            return f"in:0:{self.n}"

        def waiting_s(self, now) -> float:
            return 1.0

    view.held.update({f"in:0:{n}": Racing(n) for n in range(3)})  # type: ignore[misc]
    families = list(_ReviewCollector(view).collect())
    assert families[0].samples[0].value == 3


def test_a_review_actions_key_is_never_hmac_at_keygen_or_at_load(tmp_path, capsys):
    import json

    from service.cli import main
    from service.core.errors import InvalidKeyError
    from service.core.keys import HMAC_SHA256, REVIEW_ACTIONS, SigningKey, VerificationKey, key_from_json
    from service.files.keydir import load_keyring

    assert main(["keygen", "--algorithm", "hmac-sha256", "--key-id", "reviewers", "--purpose", "review-actions",
                 "--out", str(tmp_path)]) == 2
    assert "ed25519" in capsys.readouterr().err and not list(tmp_path.iterdir())
    with pytest.raises(InvalidKeyError, match="ed25519"):
        SigningKey("reviewers", HMAC_SHA256, (), material=b"r" * 32, purpose=REVIEW_ACTIONS)
    document = {"keyId": "reviewers", "algorithm": "hmac-sha256", "purpose": "review-actions",
                "secret": "cnJycnJycnJycnJycnJycnJycnJycnJycnJycnJycnI="}
    with pytest.raises(InvalidKeyError, match="ed25519"):
        key_from_json(document, VerificationKey)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    (keys / "reviewers.key.json").write_text(json.dumps(document))
    (keys / "reviewers.key.json").chmod(0o600)
    keyring, problems = load_keyring(keys)
    assert len(keyring) == 0 and problems and "ed25519" in str(problems[0])


def test_a_back_dated_action_record_does_not_keep_a_retired_key_working():
    import os
    from datetime import timedelta

    from aiokafka import TopicPartition

    from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey

    retired = datetime.now(UTC) - timedelta(days=1)
    key = SigningKey("reviewers", ED25519, frozenset(), not_after=retired, material=os.urandom(32),
                     purpose=REVIEW_ACTIONS)
    tp = TopicPartition("articles.review.actions", 0)
    subject = Settler(Settings(), lambda: [key.verification_key()], structlog.get_logger("test"))
    subject.consumer = _Consumer()  # type: ignore[assignment]
    item = held()
    subject.view.held[item.id] = item
    back_dated_ms = int((retired - timedelta(days=30)).timestamp() * 1000)  # the producer chose this CreateTime
    record = Record(tp.topic, 0, 0, back_dated_ms, item.id.encode(), _signed_action(key, item.id), ())
    verdict = asyncio.run(subject._judge(record, tp, 1, {key.key_id: key.verification_key()}, PartitionState()))
    assert not verdict.applied and verdict.refusal == "review.bad_signature"


SECRET = "s3cret-session-value-1234"


@pytest.fixture
def clean_logging():
    from service.ops.logs import reset_logging

    yield
    reset_logging()


def test_the_console_and_review_commands_mask_the_secret_settings(tmp_path, monkeypatch, capsys, clean_logging):
    import os

    import service.cli.review as review_cli
    from service.cli import main
    from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey
    from service.errors import BrokerUnavailable
    from service.files.keydir import write_key_file

    signing = tmp_path / "reviewers.signing.json"
    write_key_file(signing, SigningKey("reviewers", ED25519, frozenset(), material=os.urandom(32),
                                       purpose=REVIEW_ACTIONS))
    monkeypatch.setenv("MODERATION_REVIEW_SIGNING_KEY", str(signing))
    monkeypatch.setenv("MODERATION_CONSOLE_SESSION_SECRET", SECRET)
    monkeypatch.setenv("MODERATION_SASL_PASSWORD", SECRET + "-sasl")

    async def console_that_logs(settings, key, log, **kwargs) -> None:
        log.warning("console_oops", detail=f"session secret {SECRET}")

    async def view_that_fails(settings):
        raise BrokerUnavailable(f"cannot authenticate with password {SECRET}-sasl")

    monkeypatch.setattr(review_cli, "serve_console", console_that_logs)
    monkeypatch.setattr(review_cli, "_read_view", view_that_fails)
    assert main(["console"]) == 0
    assert main(["review", "list"]) == 1
    out, err = capsys.readouterr()
    assert "console_oops" in out + err and "cannot authenticate" in err
    assert SECRET not in out + err


def test_a_replay_refusal_does_not_overwrite_the_original_actions_outcome():
    from service.core import review_action as ra

    action = {"actionId": "a" * 32, "id": "in:0:1"}
    first = ra.Verdict(True, None, "approved by alice", action, True)
    replay = ra.Verdict(False, ra.REPLAY, "already judged", action, True)
    assert ra.outcome_key(first, "actions:0:5") == f"action:{'a' * 32}"
    assert ra.outcome_key(replay, "actions:0:9") == "record:actions:0:9"


def test_the_asyncapi_document_describes_the_actions_and_resolutions_records_the_core_builds():
    import os

    import jsonschema
    import yaml

    from service.core import review_action as ra
    from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey

    doc = yaml.safe_load((ROOT / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))

    def check(name: str, value: dict) -> None:
        jsonschema.Draft7Validator({**doc, "$ref": f"#/components/schemas/{name}"},
                                   format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(value)

    key = SigningKey("reviewers", ED25519, frozenset(), material=os.urandom(32), purpose=REVIEW_ACTIONS)
    action = orjson.loads(_signed_action(key, "articles.incoming:1:42", "checked"))
    check("ReviewAction", action)
    rejection = ra.sign_action(ra.new_action("articles.incoming:1:42", "rejected", "bob", "", "quality.low", NOW,
                                             "reviewers", "b" * 32), key, os.urandom(16))
    check("ReviewAction", rejection)
    with pytest.raises(jsonschema.ValidationError):
        check("ReviewAction", {**action, "reviewer": ""})
    check("ReviewResolution", ra.resolution(action, held().event, NOW))
    applied = ra.Verdict(True, None, "approved by alice", action, True)
    check("ReviewOutcome", ra.outcome(applied, "articles.review.actions:0:3", None, NOW))
    settled = {"reviewer": "alice", "settledAt": "2026-12-02T08:00:00Z"}
    refused = ra.Verdict(False, ra.ALREADY_SETTLED, "already settled", rejection, True)
    check("ReviewOutcome", ra.outcome(refused, "articles.review.actions:0:4", settled, NOW))
    check("ReviewOutcome", ra.outcome(ra.Verdict(False, ra.MALFORMED, "not JSON", None, False), "a:0:5", None, NOW))
