"""Logs: JSON lines at the configured level, the stdlib's loggers included, and secrets never written.

The last test runs everything that touches secrets at start (settings errors, ``config show``, key directory
loads with bad and good key files, the policy load and reload) at debug level, captures every byte written, and
looks for each secret in every encoding it is stored in.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

from service.cli import config as cli_config
from service.core.keys import HMAC_SHA256, SigningKey
from service.files.keydir import write_key_file
from service.files.policy import Policy
from service.ops.logs import configure_logging, register_secret, reset_logging
from service.ops.metrics import Metrics
from service.settings import Settings, describe_error

RULES = Path(__file__).parents[2] / "config" / "rules.yaml"
SASL_PASSWORD = "sasl-Pw-9x7q\"quote\\slash"


@pytest.fixture
def stream():
    out = io.StringIO()
    yield out
    reset_logging()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_event_at_the_configured_level(stream):
    configure_logging("info", "json", stream)
    log = structlog.get_logger("moderation")
    log.debug("hidden", detail=1)
    log.info("decision", topic="in", partition=0, offset=7, decision="approved", reasons=[])
    (line,) = lines(stream)
    assert line["event"] == "decision" and line["level"] == "info" and line["offset"] == 7
    assert line["timestamp"].endswith("Z")


def test_library_loggers_are_rendered_as_json_at_warning_and_above_unless_debugging(stream):
    configure_logging("info", "json", stream)
    logging.getLogger("aiokafka.conn").info("chatty")
    logging.getLogger("aiokafka").error("Unable connect to %s", "127.0.0.1:9093")
    (line,) = lines(stream)
    assert line == {**line, "event": "Unable connect to 127.0.0.1:9093", "level": "error", "logger": "aiokafka"}
    configure_logging("debug", "json", stream)
    logging.getLogger("aiokafka.conn").info("chatty")
    assert lines(stream)[-1]["event"] == "chatty"


def test_registered_secrets_are_masked_in_fields_at_any_depth_in_exceptions_and_in_library_lines(stream):
    configure_logging("debug", "json", stream)
    register_secret(SASL_PASSWORD)
    log = structlog.get_logger("moderation")
    log.info("nested", config={"sasl": [f"password={SASL_PASSWORD}"]})
    try:
        raise RuntimeError(f"login failed for {SASL_PASSWORD}")
    except RuntimeError:
        log.exception("failed")
    log.info("as_object", value=ValueError(SASL_PASSWORD))  # rendered with repr(): masked in the rendered line
    logging.getLogger("aiokafka").warning("password %s", SASL_PASSWORD)
    text = stream.getvalue()
    assert len(lines(stream)) == 4 and text.count("***") >= 4
    assert SASL_PASSWORD not in text and json.dumps(SASL_PASSWORD)[1:-1] not in text
    assert "sasl-Pw-9x7q" not in text


def _encodings(secret: bytes) -> list[str]:
    b64 = base64.b64encode(secret).decode()
    return [b64, b64.rstrip("="), base64.urlsafe_b64encode(secret).decode().rstrip("="), secret.hex(),
            secret.hex().upper(), secret.decode("latin-1")]


def test_no_secret_reaches_any_output_at_debug_level(tmp_path, capsys, monkeypatch, stream):
    for name in list(os.environ):
        if name.startswith(("MODERATION_", "KAFKA_")):
            monkeypatch.delenv(name)
    keys = tmp_path / "keys"
    keys.mkdir()
    secrets: list[bytes] = [SASL_PASSWORD.encode()]

    def hmac_key(key_id: str, size: int = 32) -> SigningKey:
        material = os.urandom(size)
        secrets.append(material)
        return SigningKey(key_id, HMAC_SHA256, frozenset({"reuters.com"}), material=material)

    write_key_file(keys / "good.key.json", hmac_key("good"))  # a trusted HMAC secret, loaded
    write_key_file(keys / "other.key.json", hmac_key("misnamed"))  # refused: name does not match the key id
    write_key_file(keys / "signer.signing.json", hmac_key("signer"))  # refused: a signing key
    short = base64.b64encode(os.urandom(16)).decode()  # refused: too short for HMAC, quoted nowhere
    secrets.append(base64.b64decode(short))
    (keys / "short.key.json").write_text(json.dumps({"keyId": "short", "algorithm": "hmac-sha256",
                                                     "providers": ["x.com"], "secret": short}))
    (keys / "short.key.json").chmod(0o600)
    loose = keys / "loose.key.json"
    write_key_file(loose, hmac_key("loose"))
    loose.chmod(0o644)  # refused: readable by others
    broken_material = os.urandom(32)
    secrets.append(broken_material)
    (keys / "broken.key.json").write_text('{"secret": "' + base64.b64encode(broken_material).decode() + '", oops')
    (keys / "broken.key.json").chmod(0o600)

    configure_logging("debug", "json", stream)
    register_secret(SASL_PASSWORD)
    log = structlog.get_logger("moderation")
    settings = Settings(keys_dir=keys, rules_path=RULES, reload_interval_s=0.001, log_level="debug",
                        security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password=SASL_PASSWORD)
    policy = Policy(settings, log, Metrics())
    write_key_file(keys / "later.key.json", hmac_key("later"))
    policy.refresh()
    assert len(policy.current.keyring) == 2, "the good key and the later key are trusted"
    log.debug("policy", current=policy.current, settings=settings)  # reprs of keyring, rules and settings

    parser = argparse.ArgumentParser()
    cli_config.add_parsers(parser.add_subparsers(dest="command"))
    config = tmp_path / "moderation.yaml"
    config.write_text(json.dumps({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u",
                                  "sasl_password": SASL_PASSWORD}))
    for argv in (["show"], ["show", "--format", "json"]):
        args = parser.parse_args(["config", *argv, "--config", str(config)])
        assert args.func(args) == 0
    with pytest.raises(ValidationError) as caught:
        Settings(security_protocol="SASL_SSL", sasl_password=SASL_PASSWORD)
    errors = [str(caught.value), repr(caught.value), describe_error(caught.value)]

    captured = capsys.readouterr()
    everything = "\n".join([stream.getvalue(), captured.out, captured.err, *errors])
    assert "key_file_refused" in everything and "keys_reloaded" in everything and "sasl_password: '***'" in everything
    assert everything.count("key_file_refused") >= 5
    for secret in secrets:
        for form in _encodings(secret):
            assert form not in everything, "a secret was written"


def test_aiokafka_retry_floods_are_throttled_with_a_count():
    import logging

    from service.ops.logs import LibraryThrottle

    throttle = LibraryThrottle(every_s=60)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)

    assert throttle.filter(record("aiokafka.producer.sender", "retrying %s"))
    assert not any(throttle.filter(record("aiokafka.producer.sender", "retrying %s")) for _ in range(50))
    assert throttle.filter(record("aiokafka.conn", "another message"))
    assert all(throttle.filter(record("moderation", "ours")) for _ in range(5))  # only aiokafka is throttled
    throttle.every_s = 0
    again = record("aiokafka.producer.sender", "retrying %s")
    assert throttle.filter(again) and "50 similar lines held back" in again.msg
