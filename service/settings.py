"""Configuration: environment variables (prefix ``MODERATION_``) and an optional YAML file, validated once at start.

Precedence, highest first: explicit overrides (CLI flags), environment, secret files named by
``MODERATION_<SECRET>_FILE`` (e.g. ``MODERATION_SASL_PASSWORD_FILE=/run/secrets/kafka``), the YAML file named by
``MODERATION_CONFIG_FILE`` (or ``--config``), defaults. ``KAFKA_BOOTSTRAP_SERVERS`` is honoured too, so the
project's local broker and the test suite can point every command at one broker. Every field has a description:
``docs/configuration.md`` is generated from them (``moderation config docs``).

Every problem leaves this module as one ``ConfigError`` naming the setting (pydantic's ValidationError, a YAML
file that does not parse or is not a mapping, an unreadable secret file, a CA file that is not PEM), never the
value given. ``unknown_variables()`` lists ``MODERATION_*`` environment variables that name no setting: the
YAML file refuses unknown keys, the environment cannot, so ``run`` and ``config show`` warn about them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from service.core.cloudevents import DEFAULT_SOURCE
from service.core.limits import Limits
from service.errors import ConfigError

ENV_PREFIX = "MODERATION_"
CONFIG_FILE_VARIABLE = f"{ENV_PREFIX}CONFIG_FILE"
# The policy shipped in the package (a copy of config/rules.yaml, kept equal by a test): `run` and `check`
# work from an installed wheel in any directory.
PACKAGED_RULES = Path(__file__).parent / "defaults" / "rules.yaml"


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
    review_topic: str = Field(
        "articles.review", description="Topic held decisions (outcome review) are written to, for a person to settle."
    )
    review_actions_topic: str = Field(
        "articles.review.actions", description="Topic of reviewers' signed actions (approve/reject a held event)."
    )
    review_resolutions_topic: str = Field(
        "articles.review.resolutions",
        description="Compacted topic of settled held events and of each action's outcome (the review changelog).",
    )
    cloudevents_source: str = Field(
        DEFAULT_SOURCE, min_length=1, max_length=1_000, pattern=r"^[!-~]+$",
        description="ce_source (a URI-reference) of every record written; set one per deployment, e.g. "
        "https://moderation.example.com/prod, so (ce_source, ce_id) is unique across them.",
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
    rules_path: Path | None = Field(
        None, description="Publish rules file (hot-reloaded); unset: the default policy shipped with the package "
        "(config/rules.yaml). A missing file stops the service at start.",
    )
    keys_dir: Path = Field(
        Path("keys"), description="Directory of verification-key files (hot-reloaded). At start, a missing or "
        "unreadable directory, or one without a usable key, stops the service (see allow_no_keys).",
    )
    allow_no_keys: bool = Field(
        False, description="Start even when keys_dir holds no usable key: every signed event is then rejected "
        "(signature.unknown_signer) until a key is added. The directory must still exist.",
    )
    allow_loose_key_permissions: bool = Field(
        False, description="Accept key files readable by group/others (some container volume mounts)."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="The asyncio event loop: uvloop (libuv, less CPU per event) or Python's own.",
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
    # Human review (docs/review.md)
    review_settle: bool = Field(
        True, description="Run the review settler in `moderation run`: apply reviewers' actions, exactly once."
    )
    review_signing_key: Path | None = Field(
        None, description="Signing key (purpose review-actions) the console and `moderation review` sign actions with."
    )
    console_host: str = Field("127.0.0.1", description="Address of the reviewer console (`moderation console`).")
    console_port: int = Field(8180, ge=1, le=65535, description="Port of the reviewer console.")
    console_accounts: Path = Field(
        Path("reviewers.json"), description="Reviewer accounts (password hashes), written by `console add-reviewer`."
    )
    console_session_secret: SecretStr | None = Field(
        None, description="Secret that signs console session cookies (default: random per start, so a restart "
        "signs everyone out)."
    )
    console_tls_certfile: Path | None = Field(
        None, description="Certificate (PEM) to serve the console over HTTPS (cookies are then Secure)."
    )
    console_tls_keyfile: Path | None = Field(None, description="Private key (PEM) of console_tls_certfile.")
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("MODERATION_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
        description="Base URL of an OTLP/HTTP collector, e.g. http://localhost:4318: export spans for consume, decide, "
        "produce and each traced record (needs the [otel] extra; OTEL_EXPORTER_OTLP_ENDPOINT also works). Unset: off.",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_are_host_port(cls, value: str) -> str:
        # aiokafka would fail later, in int() of a port or a DNS lookup of "not a host", with a traceback.
        entries = [entry.strip() for entry in value.split(",")]
        if not value.strip() or not all(entries):
            raise ValueError("needs host:port[,host:port...], got an empty entry")
        for entry in entries:
            host, colon, port = entry.rpartition(":")
            if not colon:  # a bare host: aiokafka uses Kafka's port
                host, port = entry, "9092"
            valid_port = port.isdigit() and 0 < int(port) < 65536
            if not host.strip("[]") or any(c.isspace() for c in host) or not valid_port:
                raise ValueError(f"{entry!r} is not host:port (a port from 1 to 65535)")
        return ",".join(entries)

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

    def rules_file(self) -> Path:
        """The rules file in force: ``rules_path``, or the policy shipped with the package."""
        return self.rules_path if self.rules_path is not None else PACKAGED_RULES

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

            try:
                options["ssl_context"] = create_ssl_context(
                    cafile=self.ssl_cafile and str(self.ssl_cafile),
                    certfile=self.ssl_certfile and str(self.ssl_certfile),
                    keyfile=self.ssl_keyfile and str(self.ssl_keyfile),
                    password=self.ssl_keyfile_password.get_secret_value() if self.ssl_keyfile_password else None,
                )
            except (ssl.SSLError, OSError, ValueError) as exc:  # a CA or key file that is not PEM, a wrong password
                files = ", ".join(f"{n} {getattr(self, n)}" for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                                  if getattr(self, n) is not None)
                reason = getattr(exc, "reason", None) or type(exc).__name__
                raise ConfigError(f"cannot use the TLS files ({files or 'system CAs'}): {reason}") from exc
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


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``MODERATION_*`` variables that name no setting, each as ``NAME`` or ``NAME (did you mean X?)``."""
    environ = os.environ if environ is None else environ
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known |= {CONFIG_FILE_VARIABLE, *(f"{ENV_PREFIX}{name.upper()}_FILE" for name in secret_fields())}
    found = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings matches names case-insensitively
        if upper.startswith(ENV_PREFIX) and upper not in known:
            # Compared without the shared prefix, which would make every name look close to every other.
            close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX),
                                              [k.removeprefix(ENV_PREFIX) for k in known], n=1, cutoff=0.75)
            found.append(f"{name} (did you mean {ENV_PREFIX}{close[0]}?)" if close else name)
    return found


def describe_error(exc: ValidationError) -> str:
    """One line per problem, naming the setting and its environment variable; never the value given (a secret)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        where = f"{name} ({ENV_PREFIX}{name.upper()})" if name in Settings.model_fields else name or "settings"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings once. Raises ConfigError, in one line naming the setting or the file that is wrong."""
    named = os.environ.get(CONFIG_FILE_VARIABLE)
    path = config_file or (Path(named) if named else None)
    settings_cls = Settings
    if path is not None:
        _check_config_file(path)
        settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    try:
        return settings_cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_error(exc)}") from exc
    except ValueError as exc:  # a secret file that cannot be read (SecretFiles)
        raise ConfigError(f"invalid configuration: {exc}") from exc


def _check_config_file(path: Path) -> None:
    """The YAML file must parse to a mapping: pydantic-settings would raise a YAML or TypeError from deep inside."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problem = f"config file not found: {path}" if not path.exists() else f"config file {path}: {exc.strerror}"
        raise ConfigError(problem) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"config file {path}{where}: {problem}") from exc
    if document is not None and not isinstance(document, dict):
        raise ConfigError(f"config file {path}: must be a mapping of setting: value, not a {type(document).__name__}")
