"""The delivery protocol, call by call: what delivery.py asks of the producer and consumer, and in which order.

Exactly-once and at-least-once are otherwise only protected by the SIGKILL integration tests, which catch a
wrong order only when a kill happens to land in its window. Here recording fakes (tests/unit/delivery_fakes.py)
make every order visible and every failure certain. Each test's docstring names the failure it prevents.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from delivery_fakes import Faults, Record, World, outgoing

from service.kafka import delivery as delivery_module
from service.kafka.delivery import AtLeastOnce, DeliveryFailed, ExactlyOnce, make_delivery
from service.settings import Settings

GROUP = "moderation-test"
P0, P1 = TopicPartition("articles", 0), TopicPartition("articles", 1)
TXN0, TXN1 = f"{GROUP}-articles-0", f"{GROUP}-articles-1"


def settings(delivery: str = "exactly-once") -> Settings:
    return Settings(group_id=GROUP, client_id="mod", delivery=delivery, bootstrap_servers="broker:9092",
                    linger_ms=7, producer_batch_bytes=300_000)


def exactly_once(world: World) -> ExactlyOnce:
    return ExactlyOnce(settings(), world.consumer, producer_factory=world.producer_factory)


def at_least_once(world: World) -> AtLeastOnce:
    return AtLeastOnce(settings("at-least-once"), world.consumer, producer_factory=world.producer_factory)


def batch(tp: TopicPartition, first: int, count: int) -> tuple[list[Record], list]:
    records = [Record(offset) for offset in range(first, first + count)]
    return records, [outgoing(tp, r.offset) for r in records]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- exactly-once: claim ---------------------------------------------------------------------------------------

def test_claim_fences_every_partition_before_reading_any_committed_offset() -> None:
    """Prevents zombie writes and lost offsets. init_transactions (the producer's start) fences the previous
    owner of the transactional id and completes its open transaction; only then is the committed offset final.
    Read before the fence, it can miss the zombie's last commit: that batch is decided twice (duplicates), or,
    if the zombie aborts, the claim resumes past records whose decisions were never written (lost)."""
    world = World(committed={P0: 40, P1: 7})
    delivery = exactly_once(world)

    resume = run(delivery.claim({P0, P1}))

    steps = [(who, what) for who, what, *_ in world.journal]
    fences = [i for i, (_, what) in enumerate(steps) if what == "init_transactions"]
    reads = [i for i, (_, what) in enumerate(steps) if what == "committed"]
    assert sorted(who for who, what in steps if what == "init_transactions") == [TXN0, TXN1]
    assert len(reads) == 2 and max(fences) < min(reads)
    assert resume == {P0: 40, P1: 7}


def test_claim_uses_one_transactional_id_per_input_partition_stable_across_owners() -> None:
    """Prevents zombie writes: only a producer with the same transactional id fences the previous owner of a
    partition, so the id must be <group>-<topic>-<partition>, the same on every instance and after a failure."""
    world = World()
    run(exactly_once(world).claim({P0}))
    run(exactly_once(world).claim({P0}))  # another instance (or this one after a restart) takes P0 over

    assert [p.options["transactional_id"] for p in world.producers] == [TXN0, TXN0]
    assert all(p.options["enable_idempotence"] and p.options["acks"] == "all" for p in world.producers)


def test_claim_without_a_committed_offset_leaves_the_position_alone() -> None:
    """Prevents lost events: a partition never committed has no resume offset (the consumer's earliest reset
    applies); inventing one (say 0 or the end) would skip or repeat records."""
    world = World(committed={P1: 3})
    assert run(exactly_once(world).claim({P0, P1})) == {P1: 3}


def test_a_claim_that_cannot_fence_reads_no_offset() -> None:
    """Prevents lost offsets: when init_transactions fails, the previous owner may still commit, so the
    committed offset must not be read (and no resume position handed back)."""
    world = World(faults=Faults({"init_transactions"}))
    with pytest.raises(Exception, match="injected: init_transactions"):
        run(exactly_once(world).claim({P0}))
    assert "committed" not in world.steps("consumer")


def test_reclaiming_an_owned_partition_keeps_its_producer() -> None:
    """Prevents needless fencing of ourselves: a partition already claimed keeps its producer (no second
    init_transactions), and its committed offset is read again."""
    world = World(committed={P0: 5})
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    assert run(delivery.claim({P0, P1})) == {P0: 5}
    assert [p.name for p in world.producers] == [TXN0, TXN1]


# --- exactly-once: a batch -------------------------------------------------------------------------------------

def test_a_partitions_batch_is_one_transaction_with_its_offset_inside() -> None:
    """Prevents lost offsets and duplicates: the decisions and the input offset (last + 1) commit together in
    one transaction, in this order. Without send_offsets_to_transaction the decisions commit but the offset
    does not, and a restart decides the batch again (duplicates on the output topics)."""
    world = World()
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    records, out = batch(P0, 10, 3)

    run(delivery.deliver({P0: records}, out))

    assert world.of(TXN0) == [
        ("init_transactions",),
        ("begin_transaction",),
        ("metadata", "approved"),  # the output topic's partitions, as send() would wait for them
        ("send", "approved", 0, (b"0:10", b"0:11", b"0:12")),
        ("ack", "approved", (b"0:10", b"0:11", b"0:12")),
        ("send_offsets_to_transaction", {P0: 13}, GROUP),
        ("commit_transaction",),
    ]
    assert "commit" not in world.steps("consumer")  # never outside the transaction


def test_each_partition_commits_its_own_decisions_in_its_own_transaction() -> None:
    """Prevents duplicates and lost offsets across partitions: a partition's decisions travel with its own
    offset, so one partition failing never takes another's decisions or offset with it."""
    world = World()
    delivery = exactly_once(world)
    run(delivery.claim({P0, P1}))
    r0, out0 = batch(P0, 0, 2)
    r1, out1 = batch(P1, 5, 1)

    run(delivery.deliver({P0: r0, P1: r1}, out0 + out1))

    sent = {who: [e[4] for e in world.journal if e[0] == who and e[1] == "send"] for who in (TXN0, TXN1)}
    assert sent == {TXN0: [(b"0:0", b"0:1")], TXN1: [(b"1:5",)]}
    offsets = {who: [e[2] for e in world.journal if e[0] == who and e[1] == "send_offsets_to_transaction"]
               for who in (TXN0, TXN1)}
    assert offsets == {TXN0: [{P0: 2}], TXN1: [{P1: 6}]}


def test_a_batch_without_decisions_still_commits_its_offset() -> None:
    """Prevents re-deciding: a partition whose records produced no output still moves its offset, in a
    transaction of its own."""
    world = World()
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    run(delivery.deliver({P0: [Record(8)]}, []))
    assert world.steps(TXN0)[1:] == ["begin_transaction", "send_offsets_to_transaction", "commit_transaction"]


def test_a_full_record_batch_is_sent_and_a_new_one_started() -> None:
    """Prevents lost decisions: when a record batch is full, its records are sent and the rest go into the
    next batch of the same transaction; none is dropped."""
    world = World(batch_capacity=2)
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    records, out = batch(P0, 0, 5)
    run(delivery.deliver({P0: records}, out))
    sends = [e[4] for e in world.journal if e[1] == "send"]
    assert sends == [(b"0:0", b"0:1"), (b"0:2", b"0:3"), (b"0:4",)]


# --- exactly-once: abort, rewind, revoke -----------------------------------------------------------------------

@pytest.mark.parametrize("step", ["ack", "send_offsets_to_transaction", "commit_transaction"])
def test_a_failed_transaction_is_aborted_and_its_producer_never_reused(step: str) -> None:
    """Prevents zombie writes and duplicates: after any failure inside the transaction it is aborted and the
    producer closed (aiokafka's sender may be dead for good); the partition is named in DeliveryFailed, and no
    further write goes through that producer, so nothing of the failed batch can commit later."""
    world = World(faults=Faults({step}, only=TXN0))
    delivery = exactly_once(world)
    run(delivery.claim({P0, P1}))
    r0, out0 = batch(P0, 0, 2)
    r1, out1 = batch(P1, 0, 2)

    with pytest.raises(DeliveryFailed) as failed:
        run(delivery.deliver({P0: r0, P1: r1}, out0 + out1))

    assert failed.value.partitions == {P0}
    assert f"injected: {step}" in str(failed.value.cause)  # the cause is what the loop logs
    steps = world.steps(TXN0)
    assert "commit_transaction" not in steps
    assert steps[-2:] == ["abort_transaction", "stop"]
    assert world.steps(TXN1)[-1] == "commit_transaction"  # the healthy partition is unaffected
    with pytest.raises(DeliveryFailed):  # no producer until a new claim fences
        run(delivery.deliver({P0: r0}, out0))
    assert world.steps(TXN0)[-1] == "stop"


def test_after_a_failure_the_claim_fences_again_then_rewinds_to_the_committed_offset() -> None:
    """Prevents zombie writes and lost events: the next claim opens a NEW producer with the same id (its
    init_transactions aborts the failed transaction if the abort did not reach the broker), and only then reads
    the committed offset, which is where the partition is decided again from."""
    world = World(committed={P0: 10}, faults=Faults({"commit_transaction"}))
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    records, out = batch(P0, 10, 3)
    with pytest.raises(DeliveryFailed):
        run(delivery.deliver({P0: records}, out))
    world.faults.steps.clear()
    mark = len(world.journal)

    resume = run(delivery.claim({P0}))

    assert [(who, what) for who, what, *_ in world.journal[mark:]] == [
        (TXN0, "init_transactions"),
        ("consumer", "committed"),
    ]
    assert len(world.producers) == 2 and world.producers[1] is not world.producers[0]
    assert resume == {P0: 10}


def test_a_producer_that_fails_before_its_transaction_is_closed_without_abort() -> None:
    """Prevents a stuck shutdown: nothing was begun, so there is nothing to abort; the producer is closed."""
    world = World(faults=Faults({"begin_transaction"}))
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    with pytest.raises(DeliveryFailed):
        run(delivery.deliver({P0: [Record(0)]}, [outgoing(P0, 0)]))
    assert world.steps(TXN0) == ["init_transactions", "begin_transaction_failed", "stop"]


def test_revoked_partitions_lose_their_producer_and_cannot_write() -> None:
    """Prevents zombie writes after a rebalance: the producers of partitions that went elsewhere are closed,
    and a batch still naming them fails without a write instead of committing for a partition we lost."""
    world = World()
    delivery = exactly_once(world)
    run(delivery.claim({P0, P1}))

    run(delivery.retain({P1}))

    assert world.steps(TXN0) == ["init_transactions", "stop"]
    assert world.steps(TXN1) == ["init_transactions"]
    with pytest.raises(DeliveryFailed) as failed:
        run(delivery.deliver({P0: [Record(0)]}, [outgoing(P0, 0)]))
    assert failed.value.partitions == {P0}
    assert world.steps(TXN0) == ["init_transactions", "stop"]


def test_stop_closes_every_producer_and_refuses_new_claims() -> None:
    """Prevents writes during shutdown: after stop() no producer is left and a late claim opens none."""
    world = World()
    delivery = exactly_once(world)
    run(delivery.claim({P0, P1}))
    run(delivery.stop())
    assert world.steps(TXN0)[-1] == world.steps(TXN1)[-1] == "stop"
    with pytest.raises(Exception, match="delivery stopped"):
        run(delivery.claim({P0}))
    assert len(world.producers) == 2


# --- at-least-once ---------------------------------------------------------------------------------------------

def test_at_least_once_commits_only_after_every_send_is_acknowledged() -> None:
    """Prevents lost events: committing the input offsets before the decisions are acknowledged loses them
    when the producer then fails. Acknowledged first, a crash in between only republishes (duplicates)."""
    world = World()
    delivery = at_least_once(world)
    assert run(delivery.claim({P0, P1})) == {}  # the consumer's own position is the resume point
    r0, out0 = batch(P0, 4, 2)
    r1 = [Record(0)]

    run(delivery.deliver({P0: r0, P1: r1}, [*out0, outgoing(P1, 0, topic="rejected")]))

    steps = [what for _, what, *_ in world.journal]
    assert steps.count("ack") == 2  # approved and rejected: one batch each
    assert steps.index("commit") > max(i for i, s in enumerate(steps) if s == "ack")
    assert world.of("consumer")[-1] == ("commit", {P0: 6, P1: 1})
    assert "begin_transaction" not in steps and "transactional_id" not in world.producers[0].options


def test_at_least_once_commits_nothing_when_a_send_fails() -> None:
    """Prevents lost events: a decision the broker did not acknowledge leaves the offsets uncommitted; the
    producer is replaced, and the next claim makes a new one."""
    world = World(faults=Faults({"ack"}))
    delivery = at_least_once(world)
    run(delivery.claim({P0}))
    records, out = batch(P0, 0, 2)

    with pytest.raises(DeliveryFailed) as failed:
        run(delivery.deliver({P0: records}, out))

    assert failed.value.partitions == {P0} and "injected: ack" in str(failed.value.cause)
    assert "commit" not in world.steps("consumer")
    assert world.steps("mod-producer")[-1] == "stop"
    world.faults.steps.clear()
    run(delivery.claim({P0}))
    run(delivery.deliver({P0: records}, out))
    assert len(world.producers) == 2 and world.of("consumer")[-1] == ("commit", {P0: 2})


def test_at_least_once_a_failed_commit_fails_the_batch() -> None:
    """Prevents silent loss of progress: a failed offset commit is reported (the batch is decided again,
    duplicates rather than a gap)."""
    world = World(faults=Faults({"commit"}))
    delivery = at_least_once(world)
    run(delivery.claim({P0}))
    with pytest.raises(DeliveryFailed):
        run(delivery.deliver({P0: [Record(0)]}, [outgoing(P0, 0)]))


# --- producers: how they are made and closed -------------------------------------------------------------------

def test_make_delivery_follows_the_setting() -> None:
    """Prevents the wrong guarantee: `delivery: at-least-once` must never silently run exactly-once, or the
    reverse."""
    consumer = World().consumer
    assert isinstance(make_delivery(settings(), consumer), ExactlyOnce)
    assert isinstance(make_delivery(settings("at-least-once"), consumer), AtLeastOnce)


def test_producers_get_the_configured_options() -> None:
    """Prevents a producer that ignores the settings (another cluster, default batching), whose requests do
    not fit the largest decision (1 MB + headers), or whose orphaned transactions outlive the loop's timeout."""
    world = World()
    run(exactly_once(world).claim({P0}))
    run(at_least_once(world).claim({P0}))
    transactional, plain = (p.options for p in world.producers)
    for options in (transactional, plain):
        assert options["bootstrap_servers"] == "broker:9092"
        assert options["linger_ms"] == 7 and options["max_batch_size"] == 300_000
        assert options["max_request_size"] == 2 * 1_048_576
    assert transactional["transaction_timeout_ms"] == delivery_module.TRANSACTION_TIMEOUT_MS
    assert transactional["retry_backoff_ms"] == delivery_module.TXN_RETRY_BACKOFF_MS
    assert transactional["client_id"] == "mod-articles-0" and plain["client_id"] == "mod-producer"
    big = Settings(producer_batch_bytes=4_000_000)
    assert delivery_module.producer_options(big)["max_request_size"] == 4_000_000


def test_a_cancelled_partition_propagates_the_cancellation_not_a_retry() -> None:
    """Prevents a shutdown from turning into a retry loop: a partition's transaction cancelled by the shutdown
    raises the cancellation itself, not DeliveryFailed (which the loop would rewind and retry)."""
    world = World(faults=Faults({"commit_transaction"}, only=TXN0, error=asyncio.CancelledError))
    delivery = exactly_once(world)
    run(delivery.claim({P0, P1}))
    r0, out0 = batch(P0, 0, 1)
    r1, out1 = batch(P1, 0, 1)
    with pytest.raises(asyncio.CancelledError):
        run(delivery.deliver({P0: r0, P1: r1}, out0 + out1))


def test_a_producer_that_will_not_stop_is_torn_down_anyway() -> None:
    """Prevents a shutdown stuck on a broker that is away: when stop() fails, queued batches are failed with a
    KafkaError (their senders see an ordinary error), and the sender and the connections are closed, each
    even if the one before failed."""
    world = World(faults=Faults({"stop", "sender_close", "client_close"}))
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    run(delivery.stop())
    assert world.of(TXN0)[1:] == [
        ("stop_failed",), ("fail_all", delivery_module.KafkaError), ("sender_close_failed",), ("client_close_failed",),
    ]


def test_a_failed_abort_still_closes_the_producer_and_reports_the_original_failure() -> None:
    """Prevents a leaked producer and a misleading error: when the abort itself fails (broker away), the
    producer is closed all the same (the next owner's fence aborts the transaction) and the batch fails with
    the error that broke it."""
    world = World(faults=Faults({"commit_transaction", "abort_transaction"}))
    delivery = exactly_once(world)
    run(delivery.claim({P0}))
    with pytest.raises(DeliveryFailed) as failed:
        run(delivery.deliver({P0: [Record(0)]}, [outgoing(P0, 0)]))
    assert "injected: commit_transaction" in str(failed.value.cause)
    assert world.steps(TXN0)[-2:] == ["abort_transaction_failed", "stop"]


def test_at_least_once_stop_closes_its_producer() -> None:
    """Prevents a leaked producer (and its unsent batches) at shutdown."""
    world = World()
    delivery = at_least_once(world)
    run(delivery.claim({P0}))
    run(delivery.stop())
    run(delivery.stop())  # twice is harmless
    assert world.steps("mod-producer") == ["start", "stop"]


def test_a_delivery_cancelled_midway_names_the_partitions_that_committed() -> None:
    """Prevents committed decisions going unlogged and unremembered: when the loop cancels a delivery from
    outside (its time ran out, or the shutdown's grace) while one partition's commit waits for the broker, the
    partitions whose transactions had committed are already named in ``committed``, so only the others are
    rewound and decided again."""
    world = World()
    delivery = exactly_once(world)

    async def scenario() -> set[TopicPartition]:
        await delivery.claim({P0, P1})
        waiting = next(p for p in world.producers if p.name == TXN1)

        async def never_answered() -> None:
            await asyncio.Event().wait()

        waiting.commit_transaction = never_answered  # type: ignore[method-assign]
        r0, out0 = batch(P0, 0, 2)
        r1, out1 = batch(P1, 0, 1)
        committed: set[TopicPartition] = set()
        task = asyncio.ensure_future(delivery.deliver({P0: r0, P1: r1}, out0 + out1, committed))
        while (TXN0, "commit_transaction") not in [e[:2] for e in world.journal]:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        task.cancel()  # as settle() does when the time runs out
        await asyncio.wait({task})
        assert task.cancelled()
        return committed

    assert asyncio.run(scenario()) == {P0}


@pytest.mark.parametrize("fails", [False, True])
def test_at_least_once_names_its_partitions_committed_only_after_the_offset_commit(fails: bool) -> None:
    """At-least-once commits every partition of a batch in one offset commit: all of them or none."""
    world = World(faults=Faults({"commit"} if fails else set()))
    delivery = at_least_once(world)
    run(delivery.claim({P0, P1}))
    r0, out0 = batch(P0, 0, 1)
    r1, out1 = batch(P1, 0, 1)
    committed: set[TopicPartition] = set()
    if fails:
        with pytest.raises(DeliveryFailed):
            run(delivery.deliver({P0: r0, P1: r1}, out0 + out1, committed))
    else:
        run(delivery.deliver({P0: r0, P1: r1}, out0 + out1, committed))
    assert committed == (set() if fails else {P0, P1})
