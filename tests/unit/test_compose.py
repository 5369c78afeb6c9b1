"""The container files: docker-compose.yml against the Compose Specification's JSON schema (a copy in
tests/third_party, pinned by hash in tests/compose_schema.py), then what a schema cannot see: dependencies,
health, ports, volumes, Kafka listeners, the key hand-off between containers, the app's setting names,
Prometheus targets, the Dockerfile.

Each semantic check returns the problems it finds; the mutation tests break the real file in one place and
require the check to report it, so a green run is never a vacuous one.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
import shlex
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft201909Validator

ROOT = Path(__file__).resolve().parents[2]
PORT_VAR = "MODERATION_HTTP_PORT"
ONE_SHOT_DONE = "service_completed_successfully"


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def validator() -> Draft201909Validator:
    spec = importlib.util.spec_from_file_location("compose_schema", ROOT / "tests" / "compose_schema.py")
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    try:
        schema = helper.load_schema()
    except helper.SchemaUnavailable as exc:
        pytest.fail(f"Compose Specification schema unavailable: {exc}")
    # The spec declares draft 2019-09 under a URI spelling jsonschema does not know; name the draft outright.
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def _errors(validator, document: dict) -> list[str]:
    return ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(document)]


def _with(document: dict, path: tuple, value) -> dict:
    """A deep copy of `document` with the value at `path` replaced (None deletes it)."""
    changed = copy.deepcopy(document)
    *parents, last = path
    node = changed
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return changed


def _env(service: dict) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def _shell(service: dict) -> str:
    command = service.get("command") or []
    return " ".join(command if isinstance(command, list) else [command]).replace("\\\n", " ")


def _mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume, short (`src:dst[:ro]`) or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            mounts.append((source, target, "ro" in mode))
    return mounts


def _on_volume(service: dict, path: str) -> str | None:
    """`volume/relative/path` for a container path that lies on one of the service's mounts."""
    for source, target, _ in _mounts(service):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source + path[len(target) :]
    return None


def _conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {target: spec["condition"] for target, spec in depends.items()}


def _listeners(value: str) -> dict[str, tuple[str, str]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}."""
    pairs = [item.split("://") for item in value.split(",") if item]
    return {name: tuple(address.rsplit(":", 1)) for name, address in pairs}


# --- the checks ---


def dependency_problems(doc: dict) -> list[str]:
    """Targets exist and can meet the condition; whoever shares a volume a one-shot writes waits for it."""
    services, problems = doc["services"], []
    one_shot = {name for name, svc in services.items() if svc.get("restart", "no") == "no"}
    writers = {(src, name) for name in one_shot for src, _, ro in _mounts(services[name]) if not ro}
    for name, service in services.items():
        conditions, mounted = _conditions(service), {src for src, _, _ in _mounts(service)}
        problems += [
            f"{name} mounts {src} but does not wait for {writer} to complete"
            for src, writer in writers
            if writer != name and src in mounted and conditions.get(writer) != ONE_SHOT_DONE
        ]
        for target, condition in conditions.items():
            if target not in services:
                problems.append(f"{name} depends on unknown service {target}")
                continue
            health = services[target].get("healthcheck") or {}
            healthy = not health.get("disable") and (health.get("test") or "build" in services[target])
            if condition == "service_healthy" and not healthy:
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            if condition == ONE_SHOT_DONE and target not in one_shot:
                problems.append(f"{name} waits for {target} to complete, but {target} restarts")
    return problems


def port_problems(doc: dict) -> list[str]:
    owner: dict[str, str] = {}
    problems = []
    for name, service in doc["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                published = f"{port.get('published')}/{port.get('protocol', 'tcp')}"
            else:
                spec, _, protocol = str(port).partition("/")
                parts = spec.split(":")
                published = f"{parts[-2]}/{protocol or 'tcp'}" if len(parts) > 1 else None
            if published in owner:
                problems.append(f"host port {published} published by both {owner[published]} and {name}")
            elif published:
                owner[published] = name
    return problems


def volume_problems(doc: dict) -> list[str]:
    declared = set(doc.get("volumes") or {})
    return [
        f"{name} mounts undeclared volume {src}"
        for name, service in doc["services"].items()
        for src, _, _ in _mounts(service)
        if src and not src.startswith((".", "/", "~")) and src not in declared
    ]


def kafka_problems(doc: dict) -> list[str]:
    service = doc["services"]["kafka"]
    env, problems = _env(service), []
    for key in (
        "OFFSETS_TOPIC_REPLICATION_FACTOR",
        "TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        if env.get(f"KAFKA_{key}") != "1":
            problems.append(f"KAFKA_{key} must be 1 on a single broker")
    if not (service.get("healthcheck") or {}).get("test"):
        problems.append("kafka has no healthcheck")
    listeners = _listeners(env.get("KAFKA_LISTENERS", ""))
    protocols = dict(i.split(":") for i in env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if i)
    problems += [f"listener {n} has no security protocol" for n in listeners if n not in protocols]
    for listener, (_, port) in _listeners(env.get("KAFKA_ADVERTISED_LISTENERS", "")).items():
        if listeners.get(listener, (None, None))[1] != port:
            problems.append(f"advertised listener {listener} does not match a listener port")
    controller = listeners.get(env.get("KAFKA_CONTROLLER_LISTENER_NAMES", ""), (None, None))[1]
    for voter in env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(","):
        node, address = voter.split("@")
        if node != env.get("KAFKA_NODE_ID") or address.rsplit(":", 1)[1] != controller:
            problems.append(f"quorum voter {voter} is not this node's controller listener")
    if len(base64.urlsafe_b64decode(env.get("CLUSTER_ID", "") + "==")) != 16:
        problems.append("CLUSTER_ID is not a base64url UUID")
    return problems


def client_problems(doc: dict) -> list[str]:
    """Bootstrap addresses and $$VARs in commands exist; a single `$` would read the host's environment."""
    advertised = {
        f"{host}:{port}"
        for name, svc in doc["services"].items()
        for host, port in _listeners(_env(svc).get("KAFKA_ADVERTISED_LISTENERS", "")).values()
        if host in (name, svc.get("hostname"))
    }
    problems = []
    for name, service in doc["services"].items():
        env, shell = _env(service), _shell(service)
        for address in filter(None, env.get("MODERATION_BOOTSTRAP_SERVERS", "").split(",")):
            if address not in advertised:
                problems.append(f"{name} bootstraps from {address}, which no broker advertises to containers")
        local = {v for pair in re.findall(r"\bfor (\w+) in\b|(?:^|\s)(\w+)=", shell) for v in pair if v}
        problems += [
            f"{name} uses ${var} but does not set it"
            for var in re.findall(r"\$\$\{?(\w+)", shell)
            if var not in env and var not in local
        ]
        if "$" in shell.replace("$$", ""):
            problems.append(f"{name} has a single $ that compose would take from the host environment")
    return problems


def key_problems(doc: dict) -> list[str]:
    """keygen writes the files the seeder and the service read; the private key never reaches the service."""
    keygen, seeder, service = (doc["services"][n] for n in ("keygen", "seeder", "moderation"))
    written = {_on_volume(keygen, dest) for dest in re.findall(r"\bmv \S+ (\S+)", _shell(keygen))} - {None}
    signing = _on_volume(seeder, re.search(r"--sign-with (\S+)", _shell(seeder))[1])
    trusted = _on_volume(service, _env(service)["MODERATION_KEYS_DIR"])
    problems = [] if signing in written else [f"the seeder signs with {signing}, which keygen does not write"]
    if not any(trusted and p.startswith(trusted + "/") and p.endswith(".key.json") for p in written):
        problems.append(f"keygen writes no .key.json into the service's keys directory ({trusted})")
    private = {path.split("/")[0] for path in written if path.endswith(".signing.json")}
    if private & {src for src, _, _ in _mounts(service)}:
        problems.append("the service mounts the volume holding the private signing key")
    return problems


def topic_problems(doc: dict) -> list[str]:
    services = doc["services"]
    wanted = {k: v for k, v in _env(services["moderation"]).items() if k.endswith("_TOPIC")}
    created = {k: v for k, v in _env(services["topics"]).items() if k.endswith("_TOPIC")}
    problems = [] if created == wanted else [f"topics creates {created}, the service uses {wanted}"]
    loop = _shell(services["topics"])
    return problems + [f"topics never creates ${k}" for k in wanted if f"$${k}" not in loop]


CHECKS = [
    dependency_problems,
    port_problems,
    volume_problems,
    kafka_problems,
    client_problems,
    key_problems,
    topic_problems,
]


# --- schema ---


def test_compose_file_is_valid_against_the_compose_specification(validator, compose):
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "moderation", "depends_on", "topics", "condition"), "service_finished"),
        (("services", "kafka", "healthcheck", "retry"), 3),
        (("services", "seeder", "volumes"), "signing-keys:/keys"),
        (("services", "moderation", "build", "stage"), "runtime"),
    ],
)
def test_the_schema_rejects_what_compose_would_reject(validator, compose, path, value):
    assert _errors(validator, _with(compose, path, value))


# --- semantics ---


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_compose_file_passes(check, compose):
    assert check(compose) == []


SVC, ENV = "services", "environment"


@pytest.mark.parametrize(
    ("check", "path", "value"),
    [
        (dependency_problems, (SVC, "moderation", "depends_on", "keygen"), None),
        (dependency_problems, (SVC, "seeder", "depends_on", "keygen_"), {"condition": "service_started"}),
        (dependency_problems, (SVC, "kafka", "healthcheck"), None),
        (dependency_problems, (SVC, "topics", "restart"), "on-failure"),
        (port_problems, (SVC, "prometheus", "ports"), ["127.0.0.1:9108:9090"]),
        (volume_problems, ("volumes", "signing-keys"), None),
        (kafka_problems, (SVC, "kafka", ENV, "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"), 3),
        (kafka_problems, (SVC, "kafka", ENV, "KAFKA_CONTROLLER_QUORUM_VOTERS"), "1@kafka:9093"),
        (kafka_problems, (SVC, "kafka", ENV, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), "PLAINTEXT:PLAINTEXT"),
        (client_problems, (SVC, "moderation", ENV, "MODERATION_BOOTSTRAP_SERVERS"), "kafka:9092"),
        (client_problems, (SVC, "seeder", "command"), ["moderation produce --topic $MODERATION_INPUT_TOPIC"]),
        (client_problems, (SVC, "seeder", ENV, "MODERATION_INPUT_TOPIC"), None),
        (key_problems, (SVC, "seeder", "volumes", 0), "trusted-keys:/keys:ro"),
        (key_problems, (SVC, "moderation", "volumes", 0), "signing-keys:/keys:ro"),
        (topic_problems, (SVC, "topics", ENV, "MODERATION_DEADLETTER_TOPIC"), "articles.dlq"),
    ],
)
def test_each_check_reports_the_fault_it_exists_for(check, path, value, compose):
    assert check(_with(compose, path, value))


def test_every_image_is_pinned_to_a_version(compose):
    images = [svc["image"] for svc in compose["services"].values() if "image" in svc]
    assert images and [i for i in images if ":" not in i or i.endswith(":latest")] == []


def _cli_calls(service: dict) -> list[list[str]]:
    """The arguments of each `moderation ...` line in a service's shell command, with its $$VARs filled in."""
    env = _env(service)
    text = re.sub(r"\$\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), _shell(service))
    return [words[1:] for words in map(shlex.split, text.splitlines()) if words[:1] == ["moderation"]]


@pytest.fixture(scope="module")
def cli_args(compose) -> dict[str, list]:
    """Every `moderation` command line in the compose file, parsed by the real CLI's parser."""
    parser = pytest.importorskip("service.cli").build_parser()
    parsed = {}
    for name, service in compose["services"].items():
        for args in _cli_calls(service):
            try:
                parsed.setdefault(name, []).append(parser.parse_args(args))
            except SystemExit:
                pytest.fail(f"{name}: `moderation {shlex.join(args)}` is not a valid command line")
    return parsed


def test_the_one_shots_run_moderation_commands_that_parse(cli_args):
    assert [a.command for a in cli_args["keygen"]] == ["keygen", "keygen"]  # the dev key, the reviewers' key
    assert [a.purpose for a in cli_args["keygen"]] == ["articles", "review-actions"]
    assert [a.command for a in cli_args["seeder"]] == ["produce"]
    produce = cli_args["seeder"][0]
    assert (str(produce.sign_with), produce.timestamp, produce.paths) == (
        "/keys/dev.signing.json",
        "article",
        ["/seeds/*"],
    )


def test_keygen_trusts_every_seed_provider(cli_args):
    providers = set(cli_args["keygen"][0].provider)
    seeds = sorted((ROOT / "seeds").iterdir())
    assert seeds
    for seed in seeds:
        front_matter = yaml.safe_load(seed.read_text(encoding="utf-8").split("\n---", 1)[0])
        assert front_matter["provider"]["domain"] in providers, seed.name


def test_prometheus_scrapes_the_service_where_it_listens(compose):
    prometheus, services = _load("deploy/prometheus.yml"), compose["services"]
    mounted = {target: src for src, target, _ in _mounts(services["prometheus"])}
    flag = next(arg for arg in services["prometheus"]["command"] if arg.startswith("--config.file="))
    assert mounted[flag.split("=", 1)[1]] == "./deploy/prometheus.yml"
    targets = [
        (job.get("metrics_path", "/metrics"), target)
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
        if not target.startswith("localhost:")
    ]
    assert targets
    for path, target in targets:
        host, port = target.rsplit(":", 1)
        assert (path, port) == ("/metrics", _env(services[host])[PORT_VAR]), target


# --- the app's settings ---


def _settings_env_names() -> tuple[type, set[str]]:
    settings = pytest.importorskip("service.settings")
    cls, names = settings.Settings, set()
    prefix = cls.model_config.get("env_prefix", "")
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names |= {c.upper() for c in choices if isinstance(c, str)} or {(prefix + field_name).upper()}
    return cls, names


def test_every_moderation_variable_is_one_the_app_reads(compose):
    _, names = _settings_env_names()
    image_env = re.findall(r"(MODERATION_\w+)=", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    used = {key for svc in compose["services"].values() for key in _env(svc) if key.startswith("MODERATION_")}
    assert image_env and used and sorted((used | set(image_env)) - names) == []


def test_the_service_environment_lands_in_the_settings(compose, monkeypatch):
    cls, names = _settings_env_names()
    for name in names:
        monkeypatch.delenv(name, raising=False)
    env = _env(compose["services"]["moderation"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = cls()
    for key, value in env.items():
        assert str(getattr(settings, key.removeprefix("MODERATION_").lower())).lower() == value.lower(), key


# --- Dockerfile and .dockerignore ---


def _instructions() -> list[tuple[str, str]]:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in lines if not line.lstrip().startswith("#")))
    return [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip()]


def test_the_dockerfile_builds_a_slim_non_root_image_that_runs_the_service(compose):
    steps = [(key.upper(), value) for key, value in _instructions()]
    args = dict(re.findall(r"(\w+)=(\S+)", " ".join(v for k, v in steps if k == "ARG")))
    stages = [re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], v).split() for k, v in steps if k == "FROM"]
    final = steps[max(i for i, (key, _) in enumerate(steps) if key == "FROM") :]
    last = dict(final)
    assert len(stages) >= 2 and any(k == "COPY" and v.startswith("--from=") for k, v in final)
    assert all(stage[0].startswith("python:3.11-slim") for stage in stages)
    assert compose["services"]["moderation"]["build"]["target"] == stages[-1][-1]
    assert last["USER"].split(":")[0] not in ("root", "0")
    assert (last["WORKDIR"], last["ENTRYPOINT"], last["CMD"]) == ("/app", '["moderation"]', '["run"]')
    assert "/healthz" in last["HEALTHCHECK"] and "urllib" in last["HEALTHCHECK"]
    assert ("COPY", "config/ /app/config/") in final
    assert last["EXPOSE"] == _env(compose["services"]["moderation"])[PORT_VAR]


def test_the_default_rules_the_image_copies_exist():
    assert (ROOT / "config" / "rules.yaml").is_file(), "COPY config/ gives the image /app/config/rules.yaml"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins, `!` re-includes, a folder's match covers its files."""
    ignored, parts = False, path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        candidates = parts if pattern.startswith("**/") else prefixes
        if any(fnmatchcase(c, pattern.removeprefix("**/")) for c in candidates):
            ignored = not negated
    return ignored


def test_the_build_context_holds_only_what_the_image_copies():
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    patterns = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    copied = [
        src
        for key, value in _instructions()
        if key == "COPY" and not value.startswith("--from")
        for src in value.split()[:-1]
    ]
    assert copied and [src for src in copied if _ignored(src.rstrip("/"), patterns)] == []
    for kept_out in (
        ".git/HEAD",
        ".venv/bin/python",
        ".cache/kafka/4.1.1/libs/x.jar",
        "keys/dev.signing.json",
        "seeds/000.txt",
        "service/__pycache__/app.cpython-311.pyc",
    ):
        assert _ignored(kept_out, patterns), kept_out
    assert not _ignored("service/core/decide.py", patterns)
