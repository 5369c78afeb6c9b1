"""Configuration: environment variables (prefix ``MODERATION_``) and an optional YAML file, validated once at start.

Precedence, highest first: explicit overrides (CLI flags), environment, the YAML file named by
``MODERATION_CONFIG_FILE`` (or ``--config``), defaults. ``KAFKA_BOOTSTRAP_SERVERS`` is honoured too, so the
project's local broker and the test suite can point every command at one broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATION_", extra="forbid", frozen=True)

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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) to verify the brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # Policy inputs
    rules_path: Path = Field(Path("config/rules.yaml"), description="Publish rules file (hot-reloaded).")
    keys_dir: Path = Field(Path("keys"), description="Directory of verification-key files (hot-reloaded).")
    allow_loose_key_permissions: bool = Field(
        False, description="Accept key files readable by group/others (some container volume mounts)."
    )
    reload_interval_s: float = Field(2.0, gt=0, description="How often rules and keys are checked for changes.")
    decide_threads: int = Field(2, ge=1, le=64, description="Threads deciding batches (Ed25519 releases the GIL).")
    # Operations
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console", "auto"] = Field("json", description="auto: console on a TTY.")
    http_host: str = Field("127.0.0.1", description="Address of the metrics/health HTTP server.")
    http_port: int = Field(9108, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz (0: off).")
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Bound on graceful shutdown after SIGTERM.")

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
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    def kafka_security(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (consumer, producer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile and str(self.ssl_cafile),
                certfile=self.ssl_certfile and str(self.ssl_certfile),
                keyfile=self.ssl_keyfile and str(self.ssl_keyfile),
            )
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        return options


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings once. Raises pydantic.ValidationError naming the setting that is wrong."""
    import os

    named = os.environ.get("MODERATION_CONFIG_FILE")
    path = config_file or (Path(named) if named else None)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    settings_cls = Settings
    if path is not None:
        settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    return settings_cls(**{k: v for k, v in overrides.items() if v is not None})
