"""Configuration: environment variables (prefix ``MODERATION_``) and an optional YAML file, validated once at start.

Precedence, highest first: explicit overrides (CLI flags), environment, secret files named by
``MODERATION_<SECRET>_FILE`` (e.g. ``MODERATION_SASL_PASSWORD_FILE=/run/secrets/kafka``), the YAML file named by
``MODERATION_CONFIG_FILE`` (or ``--config``), defaults. ``KAFKA_BOOTSTRAP_SERVERS`` is honoured too, so the
project's local broker and the test suite can point every command at one broker. Every field has a description:
``docs/configuration.md`` is generated from them (``moderation config docs``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from service.core.limits import Limits

ENV_PREFIX = "MODERATION_"


class Settings(BaseSettings):
    # hide_input_in_errors: a model-level error would otherwise print every input, the SASL password included.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True, hide_input_in_errors=True)

    # Kafka
    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("MODERATION_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"),
        description="Kafka bootstrap servers, comma-separated (KAFKA_BOOTSTRAP_SERVERS also works).",
    )
    input_topic: str = Field("articles.incoming", description="Topic the article events are read from.")
    approved_topic: str = Field("articles.approved", description="Topic approved decisions are written to.")
    rejected_topic: str = Field("articles.rejected", description="Topic rejected decisions are written to.")
    deadletter_topic: str = Field(
        "articles.deadletter", description="Topic for records whose processing failed unexpectedly (a bug)."
    )
    group_id: str = Field("article-moderation", description="Consumer group; instances in one group share the input.")
    client_id: str = Field("article-moderation", description="Kafka client id prefix.")
    delivery: Literal["exactly-once", "at-least-once"] = Field(
        "exactly-once", description="Delivery guarantee (see docs/delivery.md)."
    )
    batch_max_records: int = Field(500, ge=1, le=100_000, description="Records taken from Kafka per batch.")
    linger_ms: int = Field(5, ge=0, le=10_000, description="Producer linger: wait this long to fill batches.")
    producer_batch_bytes: int = Field(
        262_144, ge=16_384, description="Producer batch size in bytes (aiokafka's 16 KiB holds ~7 events)."
    )
    # Connection security (passed to every Kafka client the service and the CLI create)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach the brokers: SSL/SASL_SSL encrypt, SASL_* authenticate."
    )
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) to verify the brokers (default: system CAs).")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")
    ssl_keyfile_password: SecretStr | None = Field(None, description="Password of an encrypted ssl_keyfile.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    sasl_username: str | None = Field(None, description="SASL user name (required with SASL_*).")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password (required with SASL_*); or a file named by MODERATION_SASL_PASSWORD_FILE."
    )
    connect_timeout_s: float = Field(
        15.0, gt=0, description="Bound on the start-up broker check; a refused login or certificate stops the service."
    )
    # Policy inputs
    rules_path: Path = Field(Path("config/rules.yaml"), description="Publish rules file (hot-reloaded).")
    keys_dir: Path = Field(Path("keys"), description="Directory of verification-key files (hot-reloaded).")
    allow_loose_key_permissions: bool = Field(
        False, description="Accept key files readable by group/others (some container volume mounts)."
    )
    reload_interval_s: float = Field(2.0, gt=0, description="How often rules and keys are checked for changes.")
    decide_threads: int = Field(
        1, ge=0, le=64,
        description="Worker threads deciding a batch, its partitions spread over them. More than 1 pays only for "
        "Ed25519 with idle cores (it releases the GIL); 0 decides on the event loop (no offloading, for measurement).",
    )
    # Input limits (docs/security.md, service/core/limits.py); the lower bounds keep every valid article readable
    max_record_bytes: int = Field(
        1_048_576, ge=1_024, description="Largest record value read; larger ones are rejected unread (input.too_large)."
    )
    max_front_matter_bytes: int = Field(
        262_144, ge=1_024, description="Largest front-matter (YAML) record (input.too_large)."
    )
    max_depth: int = Field(
        16, ge=5, le=200, description="Deepest nesting of lists/mappings, the event being level 1 (input.too_deep)."
    )
    max_string_chars: int = Field(
        65_536, ge=20_000, description="Longest string anywhere in an event, in characters (input.string_too_long)."
    )
    max_key_chars: int = Field(128, ge=17, description="Longest field name (input.key_too_long).")
    max_items: int = Field(1_000, ge=200, description="Most entries in one list or mapping (input.too_many_items).")
    max_values: int = Field(
        10_000, ge=100, description="Most entries in all lists and mappings together (input.too_many_values)."
    )
    replay_window_s: float = Field(
        86_400.0, gt=0, description="How long (in record time) an exact copy of a signed event counts as a replay."
    )
    replay_window_entries: int = Field(
        100_000, ge=0, description="Signed events remembered per input partition for replay detection (0: off)."
    )
    # Operations
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    log_format: Literal["json", "console", "auto"] = Field("json", description="auto: console on a TTY.")
    http_host: str = Field("127.0.0.1", description="Address of the metrics/health HTTP server.")
    http_port: int = Field(9108, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz (0: off).")
    health_stall_s: float = Field(
        60.0, gt=0, description="/healthz fails when the consume loop has not turned for this long (stuck)."
    )
    ready_stale_s: float = Field(
        30.0, gt=0, description="/readyz fails when no fetch, delivery or probe reached the broker for this long."
    )
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Bound on graceful shutdown after SIGTERM.")

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        # Fail at start, naming the setting, rather than on the first connection with aiokafka's ValueError.
        if self.security_protocol.startswith("SASL") and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and sasl_password")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile is set without ssl_certfile")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and self.security_protocol.endswith("SSL") and not path.is_file():
                raise ValueError(f"{name}: file not found: {path}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file comes from model_config["yaml_file"], set by load_settings(); without one it adds nothing.
        return (init_settings, env_settings, SecretFiles(settings_cls), YamlConfigSettingsSource(settings_cls))

    def limits(self) -> Limits:
        """The decoder's input limits, from the max_* settings."""
        return Limits(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Limits)})

    def kafka_security(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (consumer, producer, admin; aiokafka 0.14's names).

        aiokafka takes the SCRAM credentials in ``sasl_plain_username``/``sasl_plain_password`` too, and needs an
        ``ssl_context`` (hostname checking always on) for SSL and SASL_SSL.
        """
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile and str(self.ssl_cafile),
                certfile=self.ssl_certfile and str(self.ssl_certfile),
                keyfile=self.ssl_keyfile and str(self.ssl_keyfile),
                password=self.ssl_keyfile_password.get_secret_value() if self.ssl_keyfile_password else None,
            )
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        return options


def secret_fields() -> list[str]:
    """Names of the settings that hold secrets (typed SecretStr): masked in output, readable from files."""
    return [name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)]


class SecretFiles(PydanticBaseSettingsSource):
    """``MODERATION_<NAME>_FILE=path`` sets a secret setting from the file's text (container secrets)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in secret_fields():
            variable = f"{ENV_PREFIX}{name.upper()}_FILE"
            path = os.environ.get(variable)
            if not path:
                continue
            try:
                values[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
        return values


def describe_error(exc: ValidationError) -> str:
    """One line per problem, naming the setting and its environment variable; never the value given."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        where = f"{name} ({ENV_PREFIX}{name.upper()})" if name in Settings.model_fields else name or "settings"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings once. Raises pydantic.ValidationError naming the setting that is wrong."""
    named = os.environ.get("MODERATION_CONFIG_FILE")
    path = config_file or (Path(named) if named else None)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    settings_cls = Settings
    if path is not None:
        settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    return settings_cls(**{k: v for k, v in overrides.items() if v is not None})
