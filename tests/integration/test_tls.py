"""Secure connections on a private broker: TLS end to end, SASL PLAIN and SCRAM, and clear refusals.

A wrong password or an untrusted certificate must stop ``moderation run`` quickly with a message that says
which (aiokafka alone reports only "Unable to bootstrap" and would be retried forever), and the password must
not appear anywhere in what the process writes, even at debug level.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from harness import collect, make_key, output_topics, produce, recent_ms, running, settings_for

from service.core.keys import HMAC_SHA256
from service.kafka.broker_check import check_brokers
from service.kafka.topics import ensure_topics
from service.settings import Settings
from service.signing import sign_event

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).parents[2]
USER, PASSWORD = "moderation", "Sasl-pw-4f9c1e7a2b"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def article() -> dict:
    return {"title": "A headline for the secure path test", "webUrl": "https://www.reuters.com/a/secure",
            "provider": {"name": "Reuters", "domain": "reuters.com"}, "category": "news", "type": "article",
            "excerpt": "An excerpt long enough to be an excerpt of a real article that someone wrote for this.",
            "publishedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "quality": 80, "heat": 1,
            "published": False,
            "topics": [], "images": [], "related": []}


async def create_topics_securely(settings: Settings) -> None:
    names = [settings.input_topic, *output_topics(settings)]
    await ensure_topics(settings.bootstrap_servers, dict.fromkeys(names, 1), **settings.kafka_security())


def decide_one_record(broker, settings: Settings, key) -> dict:
    """Produce one signed article on the plaintext listener; the service (secure settings) must decide it."""

    async def scenario() -> list:
        await create_topics_securely(settings)
        await produce(broker.bootstrap, settings.input_topic, [(b"k", orjson.dumps(sign_event(article(), key)))],
                      timestamp_ms=recent_ms())
        async with running(settings):
            return await collect(broker.bootstrap, output_topics(settings), expected=1, settle=0.5)

    (record,) = asyncio.run(scenario())
    return orjson.loads(record.value)


def test_the_service_decides_through_the_tls_listener_and_refuses_an_untrusted_broker(kafka_factory,
                                                                                      unique_topic_prefix, tmp_path):
    broker = kafka_factory(tls=True)
    keys = tmp_path / "keys"
    key = make_key(keys)
    settings = settings_for(broker.ssl_bootstrap, unique_topic_prefix, keys, security_protocol="SSL",
                            ssl_cafile=broker.ca_file)
    assert asyncio.run(check_brokers(settings)).ok
    event = decide_one_record(broker, settings, key)
    assert event["decision"] == "approved" and event["signer"] == "test"

    untrusted = settings.model_copy(update={"ssl_cafile": None})  # system CAs do not know the test CA
    check = asyncio.run(asyncio.wait_for(check_brokers(untrusted), timeout=30))
    assert not check.ok and "TLS certificate not trusted" in (check.refused or "")
    plaintext_to_tls = settings.model_copy(update={"security_protocol": "PLAINTEXT", "connect_timeout_s": 2.0})
    check = asyncio.run(asyncio.wait_for(check_brokers(plaintext_to_tls), timeout=30))
    assert not check.ok and check.refused is None and check.unreachable  # retried by the loop, not fatal


def test_sasl_plain_and_scram_accept_the_right_password_and_refuse_a_wrong_one(kafka_factory, unique_topic_prefix,
                                                                             tmp_path):
    broker = kafka_factory(sasl_users={USER: PASSWORD})
    keys = tmp_path / "keys"
    key = make_key(keys)
    base = settings_for(broker.sasl_bootstrap, unique_topic_prefix, keys, security_protocol="SASL_PLAINTEXT",
                        sasl_username=USER, sasl_password=PASSWORD)
    for mechanism in MECHANISMS:
        good = base.model_copy(update={"sasl_mechanism": mechanism})
        assert asyncio.run(check_brokers(good)).ok, mechanism
        wrong = Settings(**{**good.model_dump(), "sasl_password": "not-the-password"})
        check = asyncio.run(asyncio.wait_for(check_brokers(wrong), timeout=30))
        assert not check.ok and "SASL authentication failed" in (check.refused or ""), mechanism
        assert "not-the-password" not in check.refused
    event = decide_one_record(broker, base.model_copy(update={"sasl_mechanism": "SCRAM-SHA-512"}), key)
    assert event["decision"] == "approved"


def test_moderation_run_stops_with_a_clear_error_on_a_wrong_password_and_never_prints_a_secret(kafka_factory,
                                                                                             tmp_path):
    broker = kafka_factory(sasl_users={USER: PASSWORD})
    keys = tmp_path / "keys"
    hmac_key = make_key(keys, key_id="shared", algorithm=HMAC_SHA256)
    (keys / "bad.key.json").write_text('{"secret": "' + base64.b64encode(os.urandom(40)).decode() + '"')
    (keys / "bad.key.json").chmod(0o600)
    wrong = "Wrong-pw-8d2e6f0a1c"
    password_file = tmp_path / "sasl-password"
    password_file.write_text(wrong + "\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MODERATION_", "KAFKA_"))}
    env.update({
        "MODERATION_BOOTSTRAP_SERVERS": broker.sasl_bootstrap, "MODERATION_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MODERATION_SASL_MECHANISM": "SCRAM-SHA-256", "MODERATION_SASL_USERNAME": USER,
        "MODERATION_SASL_PASSWORD_FILE": str(password_file), "MODERATION_LOG_LEVEL": "debug",
        "MODERATION_KEYS_DIR": str(keys), "MODERATION_RULES_PATH": str(ROOT / "config" / "rules.yaml"),
        "MODERATION_HTTP_PORT": "0",
    })
    done = subprocess.run([sys.executable, "-m", "service", "run"], cwd=ROOT, env=env, capture_output=True,
                          timeout=120, check=False)
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    assert done.returncode == 2, output[-2000:]
    assert "broker_refused" in output and "SASL authentication failed" in output
    assert "key_file_refused" in output and "policy_loaded" in output
    for secret in (wrong, PASSWORD, base64.b64encode(hmac_key.material).decode(), hmac_key.material.hex()):
        assert secret not in output
