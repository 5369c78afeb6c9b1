"""The review settler: the single writer of final decisions for held events. See docs/review.md.

It consumes the actions topic in its own consumer group (``<group_id>-review``) and judges each action
(service/core/review_action.py). Per actions partition, one transaction holds everything an action causes:
the final decision (approved/rejected topic, the input record's key), the resolution record (compacted
resolutions topic, key = the held event's id), the action's outcome record (key ``action:<actionId>``, which
the CLI and the console wait for) and the action's offset. Commit makes all of it visible; abort none of it.

The machinery is service/kafka/delivery.py's ExactlyOnce: one transactional producer per actions partition,
``transactional_id = <group>-review-<actions topic>-<partition>``, opened (fencing every earlier owner and
completing its transaction) BEFORE the committed offset is read. Only then is the partition's state rebuilt
from the same-numbered resolutions partition, read to its end with read_committed: the changelog pattern of
Kafka Streams. Every action on one event is keyed by the event id, so it lands in one actions partition, whose
owner alone judges it: "first wins" holds across restarts, kill -9 and several instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from service.core.batch import MAX_DECISION_BYTES
from service.core.cloudevents import decision_headers, subject_of, trace_headers
from service.core.envelope import encode
from service.core.keys import REVIEW_ACTIONS
from service.core.review_action import (
    TOO_LARGE,
    UNKNOWN_EVENT,
    Verdict,
    final_decision,
    judge,
    outcome,
    outcome_key,
    read_action,
    resolution,
    too_large,
)
from service.kafka.ownership import names
from service.kafka.settle import unless_stopped
from service.review.changelog import PartitionState, rebuild
from service.review.transaction import Outgoing, SettleDelivery, hashed_partition, review_settings
from service.review.view import HeldItem, ReviewView, consumer_options
from service.settings import Settings

CLAIM_TIMEOUT_S, REBUILD_TIMEOUT_S, SETTLE_TIMEOUT_S = 20.0, 30.0, 25.0
BACKOFF_S = 1.0
DECISION_HEADER, REVIEW_HEADER, REVIEW_SETTLED = "moderation-decision", "moderation-review", b"settled"
TOPIC_POLL_S = 5.0  # how often a missing actions topic is looked for


class Settler:
    def __init__(self, settings: Settings, keys: Callable[[], Any], log: Any,
                 on_action: Callable[[bool, str | None], None] | None = None) -> None:
        """``keys()`` returns the keyring in force (the policy's, reloaded with the key directory);
        ``on_action(applied, refusal)`` is called once per action judged and committed (metrics)."""
        self.settings, self.rsettings = settings, review_settings(settings)
        self.keys, self.log = keys, log
        self.on_action = on_action or (lambda applied, refusal: None)
        self.states: dict[TopicPartition, PartitionState] = {}
        self.assigned: set[TopicPartition] = set()
        self.unclaimed: set[TopicPartition] = set()
        self.lock = asyncio.Lock()
        self.view = ReviewView(settings)  # held events (and, for the metrics, every resolution)
        self._retry_at = 0.0
        self.stop = asyncio.Event()  # run()'s: every broker wait below is raced with it (shutdown stays bounded)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.rsettings
        self.consumer = AIOKafkaConsumer(group_id=s.group_id, client_id=f"{s.client_id}-consumer",
                                         max_poll_records=100, **consumer_options(s))
        self.delivery = SettleDelivery(s, self.consumer)
        self.stop = stop
        try:
            if not await self._start(stop):
                return
            self.log.info("review_settler_started", topic=s.review_actions_topic, group=s.group_id)
            await self._loop(stop)
        except Exception as exc:  # a bug: say so loudly; nothing uncommitted is lost (actions stay in Kafka)
            self.log.error("review_settler_failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await _quietly(self.delivery.stop())
            await _quietly(self.consumer.stop())
            await self.view.stop()

    async def _start(self, stop: asyncio.Event) -> bool:
        """Start the view, wait until the actions topic exists, then join the group; False when stopped first.

        Subscribing to a topic that does not exist makes aiokafka's start() wait ~40 s without heeding a stop,
        and log an error every 100 ms meanwhile: a service that does not use review (no review topics) would
        shut down slowly and flood its log. So the settler asks first, says once what is missing, and waits.
        """
        topic, said = self.settings.review_actions_topic, False
        while not stop.is_set():
            try:
                if self.view.started or await unless_stopped(self.view.start(), stop):
                    if await self.view.partitions(topic):
                        with contextlib.suppress(Exception):  # assigns the review topics, if they came late
                            await self.view.catch_up()
                        self.consumer.subscribe([topic], listener=_Listener(self))
                        await unless_stopped(self.consumer.start(), stop)
                        return not stop.is_set()
                    if not said:
                        self.log.warning("review_topics_missing", topic=topic,
                                         note="held events are settled once the review topics exist "
                                              "(moderation topics create)")
                        said = True
            except KafkaError as exc:
                self.log.warning("broker_unreachable", step="review_start", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TOPIC_POLL_S)
        return False

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.unclaimed and time.monotonic() >= self._retry_at:
                async with self.lock:
                    await self._claim(CLAIM_TIMEOUT_S)
            batches = await unless_stopped(self.consumer.getmany(timeout_ms=300), stop)
            with contextlib.suppress(Exception):  # the metrics' view; the judge reads it fresh when needed
                await self.view.poll()
            if not batches:
                continue
            async with self.lock:
                for tp, records in batches.items():
                    if tp in self.assigned and tp not in self.unclaimed:
                        await self._settle(tp, records)

    async def _claim(self, timeout: float) -> None:
        self.unclaimed &= self.assigned
        partitions = set(self.unclaimed)
        if not partitions:
            return
        try:
            resume = await unless_stopped(asyncio.wait_for(self.delivery.claim(partitions), timeout), self.stop)
            # Only now: every earlier owner is fenced and its transaction completed, so the changelog is final.
            for tp in partitions:
                if self.stop.is_set():
                    return
                state = await unless_stopped(asyncio.wait_for(rebuild(self.settings, tp.partition),
                                                              REBUILD_TIMEOUT_S), self.stop)
                if state is not None:
                    self.states[tp] = state
            if self.stop.is_set():
                return  # stopping: left unclaimed (the next owner claims it)
        except Exception as exc:
            self._retry_at = time.monotonic() + BACKOFF_S
            self.log.warning("review_claim_failed", error=repr(exc), partitions=names(partitions))
            return
        for tp in partitions:
            if tp in resume:
                self.consumer.seek(tp, resume[tp])
            else:
                await self.consumer.seek_to_beginning(tp)
        self.consumer.resume(*partitions)
        self.unclaimed -= partitions
        self.log.info("review_partitions_claimed", partitions=names(partitions),
                      resolved={tp.partition: len(self.states[tp].resolved) for tp in partitions})

    async def _settle(self, tp: TopicPartition, records: list[Any]) -> None:
        state = self.states[tp]
        scratch = PartitionState(dict(state.resolved), set(state.seen))  # applied only once committed
        keyring = self.keys()
        keys = {k.key_id: k for k in keyring if k.purpose == REVIEW_ACTIONS}
        count = len(self.consumer.partitions_for_topic(tp.topic) or ()) or 1
        outgoing: list[Outgoing] = []
        lines = []
        for record in records:
            verdict = await self._judge(record, tp, count, keys, scratch)
            where = f"{record.topic}:{record.partition}:{record.offset}"
            now = datetime.now(UTC)
            settled = None
            if verdict.applied:
                assert verdict.action is not None
                held = self.view.held[verdict.action["id"]]
                final = final_decision(held.event, verdict.action, now)
                value, headers = encode(final), self._headers(held, final, record, now)
                size = len(value) + sum(len(name) + len(data) for name, data in headers)
                if size > MAX_DECISION_BYTES:  # the broker would refuse it, and the partition retry for ever
                    verdict = too_large(verdict, size, MAX_DECISION_BYTES)
            if verdict.applied:
                assert verdict.action is not None
                settled = resolution(verdict.action, held.event, now)
                topic = self.settings.approved_topic if verdict.action["action"] == "approved" \
                    else self.settings.rejected_topic
                outgoing.append((topic, None, held.key, value, headers))
                outgoing.append((self.settings.review_resolutions_topic, tp.partition, held.id.encode(),
                                 orjson.dumps(settled), []))
                scratch.resolved[held.id] = settled
            elif verdict.action is not None:
                settled = scratch.resolved.get(verdict.action.get("id"))
            if verdict.signed and verdict.action_id:
                scratch.seen.add(verdict.action_id)
            record_out = outcome(verdict, where, settled, now)
            outgoing.append((self.settings.review_resolutions_topic, tp.partition,
                             outcome_key(verdict, where).encode(), orjson.dumps(record_out), []))
            lines.append((verdict, where, settled))
        try:
            # Raced with stop: a commit cancelled midway aborts (SettleDelivery.commit), and the next owner's claim
            # completes whatever the broker holds of it; the state below is only updated after a commit.
            if not await unless_stopped(self._commit(tp, records[-1].offset + 1, outgoing), self.stop):
                return
        except Exception as exc:
            # Nothing of it is visible. The partition is claimed again: a new producer (whose init aborts what
            # is left), the state rebuilt from the changelog, and the actions judged again from the committed offset.
            self.unclaimed.add(tp)
            with contextlib.suppress(IllegalStateError):
                self.consumer.pause(tp)
            self._retry_at = time.monotonic() + BACKOFF_S
            self.log.warning("review_settle_failed", error=repr(exc), partition=tp.partition)
            return
        self.states[tp] = scratch
        for verdict, where, settled in lines:
            self._log(verdict, where, settled)

    async def _commit(self, tp: TopicPartition, next_offset: int, outgoing: list[Outgoing]) -> bool:
        await asyncio.wait_for(self.delivery.commit(tp, next_offset, outgoing), SETTLE_TIMEOUT_S)
        return True

    def _headers(self, held: HeldItem, final: dict[str, Any], action: Any, now: datetime) -> list[tuple[str, bytes]]:
        """A final decision's headers: as the loop's decisions (a CloudEvent, service/core/cloudevents.py) plus
        ``moderation-review: settled``; the held record's trace continues with a span of this settling step."""
        source = final["source"]
        return [(DECISION_HEADER, final["decision"].encode()), (REVIEW_HEADER, REVIEW_SETTLED),
                *decision_headers(source["topic"], source["partition"], source["offset"], final["decision"],
                                  subject_of(final.get("article"), held.key), now, self.settings.cloudevents_source),
                *trace_headers(held.trace, action.topic, action.partition, action.offset)]

    async def _judge(self, record: Any, tp: TopicPartition, count: int, keys: dict[str, Any],
                     state: PartitionState) -> Verdict:
        event_id = _event_id(record.value)
        partition_ok = record.key is not None and hashed_partition(record.key, count) == tp.partition
        # The key's validity window is checked against this process's clock, never the record's CreateTime:
        # its producer chooses that, and a back-dated record would keep a retired key working.
        when = datetime.now(UTC)

        def verdict() -> Verdict:
            return judge(record.value, record.key, partition_ok, keys, when, held=event_id in self.view.held,
                         settled=state.resolved.get(event_id or ""), seen=state.seen)

        first = verdict()
        if first.refusal != UNKNOWN_EVENT:
            return first
        # A signed, well-placed action on an event this view has not read yet: read the review topic up to now
        # and judge again (only then: forged records never cost a read of the topic).
        with contextlib.suppress(Exception):
            await self.view.catch_up()
        return verdict()

    def _log(self, verdict: Verdict, where: str, settled: dict[str, Any] | None) -> None:
        """The canonical line per action; a refusal of an unsigned or forged action is a warning."""
        action = verdict.action or {}
        fields = {"record": where, "action_id": verdict.action_id, "id": action.get("id"),
                  "action": action.get("action"), "reviewer": action.get("reviewer"),
                  "status": "applied" if verdict.applied else "refused", "refusal": verdict.refusal,
                  "message": verdict.message}
        if settled is not None and not verdict.applied:
            fields["settled_by"], fields["settled_at"] = settled.get("reviewer"), settled.get("settledAt")
        serious = (verdict.refusal is not None and not verdict.signed) or verdict.refusal in (UNKNOWN_EVENT, TOO_LARGE)
        (self.log.warning if serious else self.log.info)("review_action", **fields)
        self.on_action(verdict.applied, verdict.refusal)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, settler: Settler) -> None:
        self.s = settler

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.s.lock:  # the partition's transaction in flight finishes first
            self.s.assigned -= set(revoked)
            self.s.unclaimed -= set(revoked)
            for tp in revoked:
                self.s.states.pop(tp, None)
        self.s.log.info("review_partitions_revoked", partitions=names(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        s, assigned = self.s, set(assigned)
        if assigned:
            s.consumer.pause(*assigned)  # nothing is read before the claim and the rebuild
        async with s.lock:
            s.assigned, s.unclaimed = set(assigned), set(assigned)
            with contextlib.suppress(Exception):
                await s.delivery.retain(assigned)
        s._retry_at = 0.0  # claimed by the loop (a rebuild may take longer than a listener should)
        s.log.info("review_partitions_assigned", partitions=names(assigned))


def _event_id(value: bytes | None) -> str | None:
    doc = read_action(value)
    return doc.get("id") if isinstance(doc, dict) else None


async def _quietly(step: Any) -> None:
    with contextlib.suppress(Exception):  # shutdown: nothing useful to do with a failure here
        await asyncio.wait_for(step, 5)

