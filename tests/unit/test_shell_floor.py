"""The shell floor's canned step (bench/shell_floor.py): process_batch's result shape at the cost of one Outgoing per
record, its value, headers and decision those of one real approval. No broker."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

from bench.generator import is_rejected, record_key, signed_events, signing_key
from bench.shell_floor import CannedStep
from service.core.batch import PolicySnapshot, Topics, process_batch
from service.core.rules import load_rules
from service.core.signature import Keyring

RULES_PATH = Path(__file__).parents[2] / "config" / "rules.yaml"
KEY = signing_key("hmac")
POLICY = PolicySnapshot(Keyring([KEY.verification_key()]), load_rules(RULES_PATH.read_text(), str(RULES_PATH)))
TOPICS = Topics("out.approved", "out.rejected", "out.dead")
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
VALUES = signed_events(20, KEY, NOW, "2k")
Record = namedtuple("Record", "topic partition offset timestamp key value headers")


def records(*indexes: int, partition: int = 0) -> list[Record]:
    """The bench's events ``indexes`` as one partition's records, offsets from 100."""
    return [Record("in", partition, 100 + n, int(NOW.timestamp() * 1000) + n, record_key(i), VALUES[i], ())
            for n, i in enumerate(indexes)]


class Counted:
    """The real process_batch, counting the records it decides."""

    def __init__(self) -> None:
        self.decided = 0

    def __call__(self, batch, *args, **kwargs):
        self.decided += sum(len(part) for part in batch.values())
        return process_batch(batch, *args, **kwargs)


def test_one_outgoing_per_record_in_order_with_its_key_and_source_and_the_first_real_decision():
    batch = {("in", 0): records(0, 1, 2, partition=0), ("in", 3): records(3, 4, partition=3)}
    real = Counted()
    step = CannedStep(real)
    found = step(batch, POLICY, NOW, topics=TOPICS)

    (expected,) = process_batch({("in", 0): batch["in", 0][:1]}, POLICY, NOW, topics=TOPICS)["in", 0]
    assert expected.topic == TOPICS.approved  # event 0 is approved: the canned decision is a real approval
    assert list(found) == list(batch) and real.decided == 1
    for tp, part in batch.items():
        assert len(found[tp]) == len(part)
        for record, out in zip(part, found[tp], strict=True):
            assert out.key == record.key and out.topic == TOPICS.approved and out.error is None
            assert (out.source.topic, out.source.partition, out.source.offset, out.source.timestamp) == (
                record.topic, record.partition, record.offset, record.timestamp)
            assert out.value == expected.value and out.headers == expected.headers
            assert out.decision == expected.decision and out.decision.article is None  # as the shell gets it

    again = step({("in", 1): records(5, 6, partition=1)}, POLICY, NOW, topics=TOPICS)
    assert [out.key for out in again["in", 1]] == [record_key(5), record_key(6)]
    assert again["in", 1][0].value == expected.value and real.decided == 1  # decided once, canned since


def test_the_canned_decision_is_the_first_approval_and_empty_batches_stay_empty():
    rejected = next(i for i in range(len(VALUES)) if is_rejected(i))
    real = Counted()
    step = CannedStep(real)
    assert step({("in", 0): []}, POLICY, NOW, topics=TOPICS) == {("in", 0): []} and step.canned is None
    batch = {("in", 0): records(rejected, rejected + 1)}
    found = step(batch, POLICY, NOW, topics=TOPICS)["in", 0]
    (approval,) = process_batch({("in", 0): batch["in", 0][1:]}, POLICY, NOW, topics=TOPICS)["in", 0]
    assert real.decided == 2  # the rejection, then the approval
    assert [out.topic for out in found] == [TOPICS.approved] * 2 and found[0].value == approval.value
    assert [out.key for out in found] == [record_key(rejected), record_key(rejected + 1)]
