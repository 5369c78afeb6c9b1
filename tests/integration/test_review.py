"""Human review on the real broker: held events settled by signed actions, exactly one final decision each.

The service runs as real `moderation run` processes (its review settler inside) and reviewers use the real
`moderation review` command; outputs are read with read_committed consumers.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime

import orjson
import pytest
from contract import check, cloudevent
from crashlib import ServiceProcess
from harness import create_topics
from reviewlib import (
    action_for,
    cli,
    cli_async,
    finals,
    outcomes,
    pending,
    produce_held,
    read_all,
    review_setup,
    send_actions,
    source_id,
)

from service.core.cloudevents import TYPES
from service.core.envelope import DECISION_SCHEMA_ID
from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey
from service.core.review_action import sign_action

pytestmark = [pytest.mark.kafka]
PARTITIONS = 3


def test_held_article_is_settled_once_by_the_cli_and_races_forgeries_and_replays_settle_nothing(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    settings, article_key, review_key = review_setup(tmp_path, kafka_bootstrap, unique_topic_prefix)
    asyncio.run(create_topics(settings, PARTITIONS))
    service = ServiceProcess(settings, tmp_path / "service.log").start()
    try:
        asyncio.run(produce_held(settings, article_key, 3))
        items = pending(settings, 3)
        assert len(items) == 3, service.log_text()[-3000:]
        first, second, third = (item["id"] for item in items)
        assert items[0]["reasons"][0]["code"] == "review.borderline" and "borderline" in items[0]["title"]
        assert [i["heldAt"] for i in items] == sorted(i["heldAt"] for i in items)  # oldest first

        # 1. approve settles it: exit 0, and one final decision carrying the reviewer
        done = cli(settings, "review", "approve", first, "--reviewer", "alice", "--note", "checked the source")
        assert done.returncode == 0, (done.stdout, done.stderr, service.log_text()[-3000:])
        again = cli(settings, "review", "reject", first, "--reviewer", "bob", "--reason", "review.nope")
        assert again.returncode == 1 and "alice" in again.stdout
        assert first not in [i["id"] for i in pending(settings, 0)]

        # 2. unsigned, forged (an article key; an unknown review key) and replayed actions settle nothing
        forger = SigningKey("reviewers", ED25519, frozenset(), material=os.urandom(32), purpose=REVIEW_ACTIONS)
        unsigned = action_for(review_key, second, "mallory")
        unsigned.pop("secured")
        forged = sign_action({k: v for k, v in action_for(review_key, second, "mallory").items()
                              if k != "secured"}, forger, os.urandom(16))
        wrong_purpose = dict(action_for(review_key, second, "mallory"), keyId=article_key.key_id)
        replayed_winner = _winning_action(settings, first)
        replay_on_second = dict(replayed_winner, id=second)  # the signature covers the id: a forgery too
        asyncio.run(send_actions(settings, [unsigned, forged, wrong_purpose, replay_on_second, replayed_winner],
                                 PARTITIONS))
        # the good action sent after them settles `second`: so the bad ones before it did not
        done = cli(settings, "review", "reject", second, "--reviewer", "carol", "--reason", "review.misleading")
        assert done.returncode == 0, (done.stdout, done.stderr)

        # 3. two reviewers race on `third` from two processes: exactly one wins, the loser names the winner
        racers = [cli_async(settings, "review", "approve", third, "--reviewer", "dave"),
                  cli_async(settings, "review", "reject", third, "--reviewer", "erin", "--reason", "review.no")]
        results = [(p.wait(90), *p.communicate()) for p in racers]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], results
        winner = "dave" if results[0][0] == 0 else "erin"
        loser_out = next(out for code, out, _ in results if code == 1)
        assert f"already settled by {winner}" in loser_out

        # exactly one final decision per held event, with the right reviewer, outcome and source
        events = asyncio.run(finals(settings))
        by_source = {source_id(e): e for e in events}
        assert sorted(source_id(e) for e in events) == sorted([first, second, third])
        assert by_source[first]["decision"] == "approved" and by_source[first]["review"]["reviewer"] == "alice"
        assert by_source[first]["review"]["note"] == "checked the source"
        assert by_source[first]["review"]["heldReasons"][0]["code"] == "review.borderline"
        assert by_source[second]["decision"] == "rejected" and by_source[second]["review"]["reviewer"] == "carol"
        assert by_source[second]["reasons"][0]["code"] == "review.misleading"
        assert by_source[third]["review"]["reviewer"] == winner
        _check_cloudevents(settings, by_source)
        refusals = _refusals(settings)
        for code in ("review.unsigned", "review.bad_signature", "review.replay"):
            assert code in refusals, refusals
        assert "review_action" in service.log_text()
    finally:
        service.kill()


def _check_cloudevents(settings, by_source: dict[str, dict]) -> None:
    """Each final decision, read with the CloudEvents SDK's Kafka binding, carries every attribute (issue 13)."""
    records = asyncio.run(read_all(settings, [settings.approved_topic, settings.rejected_topic], timeout=10))
    finals_seen = [r for r in records if dict(r.headers).get("moderation-review") == b"settled"]
    assert len(finals_seen) == len(by_source)
    for record in finals_seen:
        check(record)  # the AsyncAPI headers, the decision schema, a valid CloudEvent
        event, body = cloudevent(record), orjson.loads(record.value)
        source = body["source"]
        assert event.get_specversion() == "1.0"
        assert event.get_id() == f"{source['topic']}/{source['partition']}/{source['offset']}/{body['decision']}"
        assert event.get_source() == settings.cloudevents_source
        assert event.get_type() == TYPES[body["decision"]]
        assert event.get_time() == datetime.fromisoformat(body["decidedAt"].replace("Z", "+00:00"))
        assert event.get_subject() == body["article"]["webUrl"]
        assert event.get_dataschema() == DECISION_SCHEMA_ID
        assert event.get_datacontenttype() == "application/json"
        assert event.get_data() == by_source[source_id(body)]


def _winning_action(settings, event_id: str) -> dict:
    """The action record that settled ``event_id``, as it sits on the actions topic (to replay it)."""
    records = asyncio.run(read_all(settings, [settings.review_actions_topic], timeout=10))
    for record in records:
        action = orjson.loads(record.value)
        if action["id"] == event_id and action["reviewer"] == "alice":
            return action
    raise AssertionError("alice's action is not on the topic")


def _refusals(settings) -> list[str]:
    records = asyncio.run(read_all(settings, [settings.review_resolutions_topic], timeout=10))
    values = [orjson.loads(r.value) for r in records if r.key.startswith((b"action:", b"record:"))]
    return [v["refusal"] for v in values if v["status"] == "refused"]


@pytest.mark.slow
def test_sigkill_restart_and_a_second_instance_settle_each_event_once_and_lose_no_action(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    """24 held events, two actions each from different reviewers; instance A is SIGKILLed while actions stream
    in and it settles them, B takes over, A comes back. Every action gets exactly one outcome, every event
    exactly one final decision, and the second action on each event is refused naming the first (state rebuilt
    from the changelog)."""
    settings, article_key, review_key = review_setup(tmp_path, kafka_bootstrap, unique_topic_prefix)
    asyncio.run(create_topics(settings, PARTITIONS))
    a = ServiceProcess(settings, tmp_path / "a.log").start()
    b = None
    try:
        n = 24
        asyncio.run(produce_held(settings, article_key, n))
        ids = [item["id"] for item in pending(settings, n)]
        assert len(ids) == n
        firsts = [action_for(review_key, i, f"first-{k}") for k, i in enumerate(ids)]

        async def kill_a_while_it_settles() -> None:
            stream = asyncio.create_task(send_actions(settings, firsts, PARTITIONS, spread_s=0.05))
            await outcomes(settings, 1)  # A has begun settling, and actions keep arriving: kill it now
            a.kill()
            await stream

        asyncio.run(kill_a_while_it_settles())
        b = ServiceProcess(settings, tmp_path / "b.log").start()
        seconds = [action_for(review_key, i, f"second-{k}", "rejected") for k, i in enumerate(ids)]
        asyncio.run(send_actions(settings, seconds, PARTITIONS))
        a = ServiceProcess(settings, tmp_path / "a2.log").start()  # a rebalance while B settles
        counts = asyncio.run(outcomes(settings, 2 * n, timeout=120))
        assert len(counts) == 2 * n, (len(counts), b.log_text()[-3000:])
        assert set(counts.values()) == {1}, counts  # no action judged twice, none lost
        events = asyncio.run(finals(settings))
        assert sorted(source_id(e) for e in events) == sorted(ids)  # exactly one final decision each
        assert all(e["review"]["reviewer"].startswith("first-") for e in events)
        refusals = _refusals(settings)
        assert refusals.count("review.already_settled") == n
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_a_settlement_left_open_by_a_killed_settler_is_aborted_and_the_action_applied_once(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    """The broker state a SIGKILL between "final decision sent" and "commit" leaves behind: an open transaction
    of the partition's transactional id holding a final decision, a resolution and the action's offset. The
    next owner's claim fences and aborts it; the action is judged again and applied exactly once."""
    settings, article_key, review_key = review_setup(tmp_path, kafka_bootstrap, unique_topic_prefix)
    asyncio.run(create_topics(settings, PARTITIONS))
    service = ServiceProcess(settings, tmp_path / "service.log").start()
    try:
        asyncio.run(produce_held(settings, article_key, 1))
        [event_id] = [item["id"] for item in pending(settings, 1)]
    finally:
        service.kill()
    action = action_for(review_key, event_id, "frank")
    asyncio.run(send_actions(settings, [action], PARTITIONS))
    asyncio.run(_leave_open_settlement(settings, action))
    service = ServiceProcess(settings, tmp_path / "service2.log").start()
    try:
        counts = asyncio.run(outcomes(settings, 1))
        assert counts == {f"action:{action['actionId']}": 1}
        events = asyncio.run(finals(settings))
        assert [(source_id(e), e["review"]["reviewer"], e["review"]["note"]) for e in events] == \
            [(event_id, "frank", "note by frank")]  # the zombie's "zombie" decision was never visible
    finally:
        service.kill()


async def _leave_open_settlement(settings, action: dict) -> None:
    from aiokafka import AIOKafkaProducer, TopicPartition

    from service.review.transaction import hashed_partition, review_settings

    rs = review_settings(settings)
    partition = hashed_partition(action["id"].encode(), PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers,
                                transactional_id=f"{rs.group_id}-{rs.review_actions_topic}-{partition}")
    await producer.start()
    await producer.begin_transaction()
    fake = {"decision": "approved", "review": {"reviewer": "zombie", "note": "zombie"},
            "source": dict(zip(("topic", "partition", "offset"), action["id"].rsplit(":", 2), strict=True))}
    await producer.send_and_wait(settings.approved_topic, orjson.dumps(fake), key=b"k")
    await producer.send_and_wait(settings.review_resolutions_topic, orjson.dumps({"type": "resolution",
                                 "reviewer": "zombie"}), key=action["id"].encode(), partition=partition)
    await producer.send_offsets_to_transaction({TopicPartition(rs.review_actions_topic, partition): 1}, rs.group_id)
    # SIGKILL here: no commit, no abort. Drop the connection without ending the transaction.
    producer._sender._sender_task.cancel()
    await producer.client.close()


def test_without_review_topics_the_service_says_so_once_and_still_stops_at_once(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    """A deployment that does not use review has no review topics: the settler waits for them quietly, and a
    SIGTERM is not held up by aiokafka waiting for a topic that does not exist."""
    from harness import ensure_topics, output_topics

    settings, _, _ = review_setup(tmp_path, kafka_bootstrap, unique_topic_prefix)
    names = [settings.input_topic, *output_topics(settings)]
    asyncio.run(ensure_topics(settings.bootstrap_servers, dict.fromkeys(names, PARTITIONS)))
    service = ServiceProcess(settings, tmp_path / "service.log").start()
    try:
        deadline = time.monotonic() + 60
        while "review_topics_missing" not in service.log_text() and time.monotonic() < deadline:
            assert service.alive(), service.log_text()
            time.sleep(0.1)
        code, seconds = service.terminate()
        assert code == 0 and seconds < settings.shutdown_timeout_s, (code, seconds, service.log_text()[-2000:])
        log = service.log_text()
        assert log.count("review_topics_missing") == 1 and "not found in cluster metadata" not in log
    finally:
        service.kill()
