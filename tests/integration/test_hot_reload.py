"""Rules and keys change under the running service, with no restart: valid changes apply between batches,
an invalid rules file leaves the old rules running, a removed key stops verifying."""

from __future__ import annotations

import asyncio
import shutil

import orjson
import pytest
from harness import (
    DEFAULT_RULES,
    Counts,
    collect,
    create_topics,
    good_article,
    make_key,
    output_topics,
    produce,
    recent_ms,
    running,
    settings_for,
)

from service.signing import sign_event

pytestmark = pytest.mark.kafka


async def decide_one(settings, value: bytes, seen: int) -> dict:
    """Publish one record and return its decision (the (seen+1)-th on the output topics)."""
    await produce(settings.bootstrap_servers, settings.input_topic, [(b"k", value)], timestamp_ms=recent_ms())
    records = await collect(settings.bootstrap_servers, output_topics(settings), expected=seen + 1, settle=0)
    events = sorted((orjson.loads(r.value) for r in records), key=lambda e: e["source"]["offset"])
    assert len(events) == seen + 1
    return events[-1]


def test_rules_reload_between_batches_and_a_bad_file_keeps_the_old_rules(kafka_bootstrap, unique_topic_prefix,
                                                                         tmp_path):
    keys, rules = tmp_path / "keys", tmp_path / "rules.yaml"
    key = make_key(keys)
    shutil.copy(DEFAULT_RULES, rules)
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, rules_path=rules, reload_interval_s=0.1)
    stricter = DEFAULT_RULES.read_text().replace("when: { field: quality, lt: 20 }", "when: { field: quality, lt: 90 }")
    assert stricter != DEFAULT_RULES.read_text()

    def article(n: int) -> bytes:
        return orjson.dumps(sign_event({**good_article(n), "provider": {"name": "Ex", "domain": "example.com"}}, key))

    async def scenario():
        await create_topics(settings, partitions=1)
        counts = Counts()
        async with running(settings, counts=counts):
            first = await decide_one(settings, article(1), 0)
            rules.write_text(stricter)
            await counts.reach("rules_reloads", 1)
            second = await decide_one(settings, article(2), 1)
            rules.write_text("rules:\n  - id: broken\n    when: { field: nosuchfield, equals: 1 }\n")
            await counts.reach("rules_reload_failures", 1)
            third = await decide_one(settings, article(3), 2)
            return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first["decision"] == "approved"
    assert second["decision"] == "rejected" and second["rulesFired"] == ["quality-floor"]
    assert second["rulesVersion"] != first["rulesVersion"]
    assert third["decision"] == "rejected" and third["rulesVersion"] == second["rulesVersion"]  # old rules kept


def test_key_rotation_without_restart(kafka_bootstrap, unique_topic_prefix, tmp_path):
    keys = tmp_path / "keys"
    old = make_key(keys, key_id="acme-2025")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, reload_interval_s=0.1)

    def signed(key, n: int) -> bytes:
        return orjson.dumps(sign_event(good_article(n), key))

    async def scenario():
        await create_topics(settings, partitions=1)
        counts = Counts()
        async with running(settings, counts=counts):
            results = [await decide_one(settings, signed(old, 1), 0)]
            new = make_key(keys, key_id="acme-2026")  # rotation: both keys active
            await counts.reach("key_reloads", 1)
            results.append(await decide_one(settings, signed(new, 2), 1))
            results.append(await decide_one(settings, signed(old, 3), 2))
            (keys / "acme-2025.key.json").unlink()  # the old key is retired
            await counts.reach("key_reloads", 2)
            results.append(await decide_one(settings, signed(old, 4), 3))
            results.append(await decide_one(settings, signed(new, 5), 4))
            return results

    before, new_key, old_key_during, old_key_after, new_key_after = asyncio.run(scenario())
    assert before["decision"] == "approved" and before["signer"] == "acme-2025"
    assert new_key["decision"] == "approved" and new_key["signer"] == "acme-2026"
    assert old_key_during["decision"] == "approved" and old_key_during["signer"] == "acme-2025"
    assert old_key_after["decision"] == "rejected"
    assert [r["code"] for r in old_key_after["reasons"]] == ["signature.invalid"]
    assert new_key_after["decision"] == "approved"
