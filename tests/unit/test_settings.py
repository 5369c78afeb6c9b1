"""Settings: sources and precedence, validation that names the setting, secret handling, aiokafka options, docs."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from pydantic import ValidationError

from devtools.localkafka.tls import write_tls_files
from service.cli import config as cli_config
from service.errors import ConfigError
from service.settings import Settings, describe_error, load_settings, secret_fields

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"
PASSWORD = "pw-Zq8v1-do-not-print"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Tests set exactly the variables they mean; the suite's own KAFKA_/MODERATION_ variables are removed."""
    import os

    for name in list(os.environ):
        if name.startswith(("MODERATION_", "KAFKA_")):
            monkeypatch.delenv(name)


def run_config(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_config.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", *argv])
    return args.func(args)


def construct_consumer(options: dict) -> None:
    """aiokafka validates the security combination in the constructor (which needs a running loop)."""

    async def build() -> None:
        await AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", **options).stop()

    asyncio.run(build())


def test_environment_beats_the_yaml_file_which_beats_defaults(tmp_path, monkeypatch):
    config = tmp_path / "moderation.yaml"
    config.write_text("input_topic: from-file\ngroup_id: file-group\nhttp_port: 9200\n")
    monkeypatch.setenv("MODERATION_GROUP_ID", "env-group")
    settings = load_settings(config)
    assert (settings.input_topic, settings.group_id, settings.http_port) == ("from-file", "env-group", 9200)
    assert settings.approved_topic == "articles.approved"
    monkeypatch.setenv("MODERATION_CONFIG_FILE", str(config))
    assert load_settings().input_topic == "from-file"


def test_kafka_bootstrap_servers_is_honoured_but_the_prefixed_name_wins(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092")
    assert load_settings().bootstrap_servers == "k1:9092"
    monkeypatch.setenv("MODERATION_BOOTSTRAP_SERVERS", "m1:9092")
    assert load_settings().bootstrap_servers == "m1:9092"


def test_invalid_values_name_the_setting_and_its_variable(monkeypatch):
    monkeypatch.setenv("MODERATION_HTTP_PORT", "70000")
    with pytest.raises(ConfigError) as caught:  # pydantic's error, translated at the edge
        load_settings()
    assert isinstance(caught.value.__cause__, ValidationError)
    assert describe_error(caught.value.__cause__).startswith("http_port (MODERATION_HTTP_PORT): ")
    assert str(caught.value) == f"invalid configuration: {describe_error(caught.value.__cause__)}"
    with pytest.raises(ValidationError) as caught:
        Settings(delivery="twice")
    assert "delivery (MODERATION_DELIVERY)" in describe_error(caught.value)


def test_a_missing_config_file_is_reported():
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(Path("/nonexistent/moderation.yaml"))


def test_sasl_needs_credentials_and_the_error_never_shows_the_password():
    with pytest.raises(ValidationError) as caught:
        Settings(security_protocol="SASL_PLAINTEXT", sasl_password=PASSWORD)
    assert "needs sasl_username and sasl_password" in describe_error(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    assert PASSWORD not in describe_error(caught.value)


def test_ssl_files_must_exist_when_tls_is_used(tmp_path):
    with pytest.raises(ValidationError, match="ssl_cafile: file not found"):
        Settings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="ssl_keyfile is set without ssl_certfile"):
        Settings(ssl_keyfile=tmp_path / "key.pem")


def test_a_secret_can_come_from_a_file_named_by_an_environment_variable(tmp_path, monkeypatch):
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(PASSWORD + "\n")
    monkeypatch.setenv("MODERATION_SASL_PASSWORD_FILE", str(secret_file))
    monkeypatch.setenv("MODERATION_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MODERATION_SASL_USERNAME", "moderation")
    settings = load_settings()
    assert settings.sasl_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    monkeypatch.setenv("MODERATION_SASL_PASSWORD", "direct-wins")
    assert load_settings().sasl_password.get_secret_value() == "direct-wins"
    monkeypatch.setenv("MODERATION_SASL_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="MODERATION_SASL_PASSWORD_FILE: cannot read"):
        load_settings()


def test_kafka_security_uses_aiokafkas_parameter_names():
    accepted = set(inspect.signature(AIOKafkaClient.__init__).parameters)
    settings = Settings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                        sasl_username="moderation", sasl_password=PASSWORD)
    options = settings.kafka_security()
    assert set(options) <= accepted
    assert options["sasl_plain_password"] == PASSWORD and options["sasl_mechanism"] == "SCRAM-SHA-512"
    construct_consumer(options)


def test_tls_options_load_the_ca_and_verify_hostnames(tmp_path):
    tls = write_tls_files(tmp_path)
    settings = Settings(security_protocol="SASL_SSL", ssl_cafile=tls.ca_file, sasl_username="u", sasl_password="p")
    options = settings.kafka_security()
    context = options["ssl_context"]
    assert context.check_hostname and context.get_ca_certs()[0]["subject"] == ((("commonName", "localkafka test CA"),),)
    assert set(options) <= set(inspect.signature(AIOKafkaClient.__init__).parameters)
    construct_consumer(options)
    assert "ssl_context" not in Settings().kafka_security()


def test_config_show_prints_the_effective_values_with_secrets_masked(tmp_path, monkeypatch, capsys):
    config = tmp_path / "moderation.yaml"
    config.write_text(f"input_topic: shown\nsecurity_protocol: SASL_PLAINTEXT\nsasl_username: u\n"
                      f"sasl_password: {PASSWORD}\n")
    assert run_config("show", "--config", str(config)) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["input_topic"] == "shown" and shown["sasl_password"] == "***"
    assert shown["ssl_keyfile_password"] is None
    assert set(shown) == set(Settings.model_fields)
    assert run_config("show", "--config", str(config), "--format", "json") == 0
    out = capsys.readouterr().out
    assert json.loads(out)["sasl_password"] == "***" and PASSWORD not in out


def test_config_show_reports_an_invalid_setting_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MODERATION_LOG_LEVEL", "loud")
    assert run_config("show") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log_level (MODERATION_LOG_LEVEL)" in err


def test_every_setting_is_described_and_every_secret_is_typed_secret():
    assert all(field.description for field in Settings.model_fields.values())
    assert secret_fields() == ["ssl_keyfile_password", "sasl_password", "console_session_secret"]


def test_configuration_reference_matches_the_code(tmp_path):
    assert DOCS.read_text(encoding="utf-8") == cli_config.reference(), "run `moderation config docs`"
    assert run_config("docs", "--check", "--output", str(DOCS)) == 0
    stale = tmp_path / "configuration.md"
    stale.write_text(cli_config.reference().replace("| `MODERATION_LINGER_MS`", "| `MODERATION_LINGER`"))
    assert run_config("docs", "--check", "--output", str(stale)) == 1
    for name in Settings.model_fields:
        assert f"`MODERATION_{name.upper()}`" in DOCS.read_text(encoding="utf-8")


def test_input_limits_come_from_the_settings():
    from service.settings import Settings

    limits = Settings(max_items=200, max_depth=8).limits()
    assert limits.max_items == 200 and limits.max_depth == 8
    assert limits.max_record_bytes == Settings().max_record_bytes
