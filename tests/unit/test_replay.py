"""Replay windows: exact copies of a signed event are rejected; only delivered batches are remembered."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from service.core.decide import decide, decide_record
from service.core.keys import SigningKey
from service.core.replay import ReplayWindow, ReplayWindows
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.signing import sign_event

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
KEY = SigningKey("k1", "hmac-sha256", frozenset({"reuters.com"}), material=b"s" * 32)
KEYRING = Keyring([KEY.verification_key()])
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def event(n: int = 0) -> bytes:
    doc = {"title": f"Title {n}", "excerpt": "An excerpt that is long enough.", "webUrl": f"https://reuters.com/{n}",
           "publishedDateTime": "2026-11-20T11:00:00Z", "provider": {"name": "Reuters", "domain": "reuters.com"},
           "quality": 80}
    return orjson.dumps(sign_event(doc, KEY))


def checked(batch, value: bytes, partition: str, where: str, at: datetime = T0):
    """The decision of ``value`` with its replay check against ``batch`` (what the service and check call)."""
    return decide_record(value, (), KEYRING, RULES, at, replay=batch, partition=partition, where=where)


def test_a_copy_in_the_same_batch_is_a_replay_and_the_original_is_not():
    windows = ReplayWindows()
    batch = windows.batch()
    value = event()
    first = checked(batch, value, "p0", "offset 1")
    second = checked(batch, value, "p0", "offset 2")
    assert first.decision == "approved"
    assert second.decision == "rejected" and second.reasons[0].code == "signature.replay"
    assert "offset 1" in second.reasons[0].message and second.rulesFired == ()


def test_a_copy_in_a_later_batch_is_a_replay_only_if_the_first_batch_was_delivered():
    windows = ReplayWindows()
    value = event()
    failed = windows.batch()
    checked(failed, value, "p0", "offset 1")  # never committed: the batch is decided again
    retried = windows.batch()
    assert checked(retried, value, "p0", "offset 1").decision == "approved"
    retried.commit(["p0"])
    later = windows.batch()
    assert checked(later, value, "p0", "offset 9").reasons[0].code == "signature.replay"


def test_different_nonces_and_other_partitions_are_not_replays():
    windows = ReplayWindows()
    batch = windows.batch()
    assert checked(batch, event(1), "p0", "o1").decision == "approved"
    assert checked(batch, event(1), "p1", "o1").decision == "approved"  # other partition: own window
    assert checked(batch, event(2), "p0", "o2").decision == "approved"  # re-signed: new nonce


def test_unsigned_or_rejected_events_are_left_alone():
    batch = ReplayWindows().batch()
    garbage = decide(b"garbage", (), KEYRING, RULES, T0)
    assert checked(batch, b"garbage", "p0", "o1") == garbage
    assert checked(batch, b"garbage", "p0", "o2") == garbage


def test_a_far_future_record_does_not_empty_the_window():
    windows = ReplayWindows(max_age=timedelta(hours=1))
    value = event(1)
    batch = windows.batch()
    checked(batch, value, "p0", "o1", T0)
    checked(batch, event(2), "p0", "o2", T0 + timedelta(days=365 * 80))  # CreateTime in 2106
    batch.commit(["p0"])
    copy = checked(windows.batch(), value, "p0", "o3", T0 + timedelta(minutes=5))
    assert copy.reasons[0].code == "signature.replay"


def test_the_window_forgets_by_age_in_record_time_and_by_count():
    windows = ReplayWindows(max_age=timedelta(hours=1))
    value = event()
    batch = windows.batch()
    checked(batch, value, "p0", "o1", T0)
    batch.commit(["p0"])
    assert checked(windows.batch(), value, "p0", "o2", T0 + timedelta(minutes=59)).decision == "rejected"
    assert checked(windows.batch(), value, "p0", "o3", T0 + timedelta(hours=2)).decision == "approved"

    small = ReplayWindow(max_entries=2)
    from service.core.replay import FirstSeen

    for n in range(5):
        small.remember(("k", bytes([n])), FirstSeen(T0, f"o{n}"))
    assert len(small) == 2 and small.get(("k", bytes([4])), T0) is not None
    assert small.get(("k", bytes([0])), T0) is None


def test_forget_drops_a_revoked_partition():
    windows = ReplayWindows()
    batch = windows.batch()
    value = event()
    checked(batch, value, "p0", "o1")
    batch.commit(["p0"])
    windows.forget(["p0"])
    assert checked(windows.batch(), value, "p0", "o2").decision == "approved"


def test_secured_is_parsed_once_per_decision_with_its_replay_check(monkeypatch):
    import service.core.signature as signature

    calls = []
    real = signature.parse_secured
    monkeypatch.setattr(signature, "parse_secured", lambda value: calls.append(value) or real(value))
    assert checked(ReplayWindows().batch(), event(), "p0", "o1").decision == "approved"
    assert len(calls) == 1


def test_a_batch_decided_while_the_one_before_is_delivered_sees_its_events():
    """The loop decides the next batch while the one before it is delivered (service/app.py): a copy there
    of an event of the batch before is a replay, unless that batch's partition failed (both are decided again)."""
    windows = ReplayWindows()
    value, other = event(1), event(2)
    delivering = windows.batch()
    checked(delivering, value, "p0", "offset 1")
    checked(delivering, other, "p1", "offset 1")
    ahead = windows.batch(after=delivering)
    copy = checked(ahead, value, "p0", "offset 2")
    assert copy.reasons[0].code == "signature.replay" and "offset 1" in copy.reasons[0].message
    assert checked(ahead, other, "p0", "offset 3").decision == "approved"  # p1's event, another partition's window
    ahead.settled()  # delivered: p0 committed, p1 failed and its records in both batches are read again
    delivering.commit(["p0"])
    ahead.drop(["p1"])
    ahead.commit(["p0", "p1"])
    again = windows.batch()
    assert checked(again, other, "p1", "offset 1").decision == "approved"  # p1 remembered nothing
    assert checked(again, value, "p0", "offset 9").reasons[0].code == "signature.replay"


def test_the_batch_before_is_judged_by_age_as_the_window_is_and_forgotten_once_settled():
    windows = ReplayWindows(max_age=timedelta(hours=1))
    value = event(3)
    delivering = windows.batch()
    checked(delivering, value, "p0", "offset 1", at=T0)
    ahead = windows.batch(after=delivering)
    late = checked(ahead, value, "p0", "offset 2", at=T0 + timedelta(hours=2))
    assert late.decision == "approved"  # older than the window's age: as if the batch before were remembered
    ahead.settled()  # the batch before failed, say: nothing of it counts any more
    assert checked(ahead, event(4), "p0", "offset 3").decision == "approved"
    assert checked(windows.batch(after=None), value, "p0", "offset 4").decision == "approved"


def test_a_window_keeps_the_first_sighting_and_forgets_the_oldest_by_count():
    from service.core.replay import FirstSeen

    window = ReplayWindow(max_entries=3)
    for n, where in [(1, "first"), (2, "o2"), (1, "again"), (3, "o3"), (4, "o4")]:
        window.remember(bytes([n]), FirstSeen(T0, where))
    # 1 was seen twice: kept once (its first sighting), so the fourth key pushed it out, and only it.
    assert len(window) == 3 and window.get(bytes([1]), T0) is None
    assert [window.get(bytes([n]), T0).where for n in (2, 3, 4)] == ["o2", "o3", "o4"]
    window.remember(bytes([5]), FirstSeen(T0, "o5"))
    assert window.get(bytes([2]), T0) is None and len(window) == 3


@given(st.text(max_size=20), st.binary(max_size=40), st.text(max_size=20), st.binary(max_size=40))
@example("bc", b"a", "c", b"ab")  # the same bytes once joined: the nonce's length tells them apart
@example("k1", b"n" * 16, "k1", b"n" * 16)
def test_a_replay_key_names_one_signer_and_nonce(signer, nonce, other_signer, other_nonce):
    from service.core.replay import replay_key

    same = (signer, nonce) == (other_signer, other_nonce)
    assert (replay_key(signer, nonce) == replay_key(other_signer, other_nonce)) is same
