"""Every subcommand follows the CLI convention (service/cli/common.py) in a real process, never a traceback:
exit 0 done, 1 the operation failed, 2 usage or configuration error, the error as one line on stderr.

Each subcommand runs with a bad configuration and with a missing file, plus the start-up failures of ``run``
and the cases issue 12 found printing tracebacks. Nothing here reaches a broker: the bootstrap servers are
``127.0.0.1:1``, where nothing listens, so a command that connected before checking its input would exit 1,
not 2. The processes run a few at a time; the whole module takes seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.core.keys import ED25519, HMAC_SHA256, SigningKey
from service.files.keydir import write_key_file

ROOT = Path(__file__).parents[2]
SEED = ROOT / "seeds" / "005_quantum_error_correction.json"  # provider apnews.com
RULES = ROOT / "config" / "rules.yaml"
NOWHERE = "127.0.0.1:1"  # nothing listens: connecting fails at once


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    status: int
    env: tuple[tuple[str, str], ...] = ()
    report: bool = False  # status 1 is the command's finding (a drift, an invalid file), printed as a report


def cases(d: Path, busy_port: int) -> dict[str, Case]:
    """Case id -> Case; ``{d}`` in an argument is the fixture directory."""
    bad_yaml, no_file = f"{d}/bad.yaml", f"{d}/missing.yaml"
    keys, signing = f"{d}/keys", f"{d}/signing/other.signing.json"
    run_env = (("MODERATION_KEYS_DIR", keys), ("MODERATION_RULES_PATH", str(RULES)), ("MODERATION_HTTP_PORT", "0"))
    table = {
        # bad configuration: settings, the --config file, rules or key files, option values
        "run/bad-config": Case(("run", "--config", bad_yaml), 2),
        "run/list-config": Case(("run", "--config", f"{d}/list.yaml"), 2),
        "run/bad-setting": Case(("run",), 2, (("MODERATION_LOG_LEVEL", "loud"),)),
        "run/bootstrap-not-a-host": Case(("run",), 2, (("MODERATION_BOOTSTRAP_SERVERS", "not a host"),)),
        "run/ca-not-pem": Case(("run",), 2, (*run_env, ("MODERATION_SECURITY_PROTOCOL", "SSL"),
                                             ("MODERATION_SSL_CAFILE", f"{d}/ca.pem"))),
        "run/port-in-use": Case(("run",), 2, (*run_env, ("MODERATION_HTTP_PORT", str(busy_port)))),
        "run/host-unknown": Case(("run",), 2, (*run_env, ("MODERATION_HTTP_HOST", "no.such.host.invalid"),
                                                ("MODERATION_HTTP_PORT", str(busy_port)))),  # 0 would mean off
        "run/no-usable-key": Case(("run",), 2, (*run_env, ("MODERATION_KEYS_DIR", f"{d}/empty-keys"),
                                                ("MODERATION_KEY_DIR", "typo"))),
        "check/bad-rules": Case(("check", "--rules", f"{d}/bad-rules.yaml", str(SEED)), 2),
        "check/bad-now": Case(("check", "--now", "yesterday", str(SEED)), 2),
        "check/keys-not-a-dir": Case(("check", "--keys", str(SEED), str(SEED)), 2),
        "schemas/dir-is-a-file": Case(("schemas", "--dir", str(SEED)), 2),
        "keygen/bad-not-after": Case(("keygen", "--algorithm", "ed25519", "--key-id", "k", "--provider", "a.org",
                                      "--not-after", "soon", "--out", f"{d}/new-keys"), 2),
        "sign/not-a-key": Case(("sign", "--key", bad_yaml, str(SEED)), 2),
        "rules-validate/invalid": Case(("rules", "validate", f"{d}/bad-rules.yaml"), 1, report=True),
        "rules-diff/bad-rules": Case(("rules", "diff", str(RULES), f"{d}/bad-rules.yaml", str(SEED)), 2),
        "produce/bad-config": Case(("produce", "--config", bad_yaml, str(SEED)), 2),
        "produce/empty-bootstrap": Case(("produce", str(SEED)), 2, (("MODERATION_BOOTSTRAP_SERVERS", ""),)),
        "produce/key-not-bound": Case(("produce", "--sign-with", signing, str(SEED)), 2),
        "topics/bad-config": Case(("topics", "create", "--config", f"{d}/list.yaml"), 2),
        "topics/zero-partitions": Case(("topics", "create", "--partitions", "0"), 2),
        "watch/bad-config": Case(("watch", "--config", bad_yaml), 2),
        "config-show/bad-config": Case(("config", "show", "--config", bad_yaml), 2),
        "config-show/list-config": Case(("config", "show", "--config", f"{d}/list.yaml"), 2),
        "config-docs/unwritable": Case(("config", "docs", "--output", f"{SEED}/configuration.md"), 2),
        "review/bad-config": Case(("review", "list", "--config", bad_yaml), 2),
        "review/missing-reviewer": Case(("review", "approve", "in:0:1"), 2),
        "review/no-signing-key": Case(("review", "reject", "in:0:1", "--reviewer", "a", "--reason", "x.y"), 2),
        "review/article-key-signs-no-action": Case(("review", "approve", "in:0:1", "--reviewer", "a"), 2,
                                                   (("MODERATION_REVIEW_SIGNING_KEY", signing),)),
        "console/bad-config": Case(("console", "--config", bad_yaml), 2),
        "console/no-signing-key": Case(("console",), 2),
        "usage/unknown-command": Case(("frobnicate",), 2),
        "usage/missing-argument": Case(("check",), 2),
        # a missing file
        "run/missing-config": Case(("run", "--config", no_file), 2),
        "run/missing-keys-dir": Case(("run",), 2, (*run_env, ("MODERATION_KEYS_DIR", f"{d}/no-such-dir"))),
        "run/missing-rules": Case(("run",), 2, (*run_env, ("MODERATION_RULES_PATH", no_file))),
        "check/missing-event": Case(("check", f"{d}/missing.json"), 2),
        "check/missing-rules": Case(("check", "--rules", no_file, str(SEED)), 2),
        "schemas/missing-dir-check": Case(("schemas", "--check", "--dir", f"{d}/no-schemas"), 1, report=True),
        "keygen/out-under-a-file": Case(("keygen", "--algorithm", "hmac-sha256", "--key-id", "k", "--provider",
                                         "a.org", "--out", f"{SEED}/keys"), 2),
        "sign/missing-key": Case(("sign", "--key", f"{d}/missing.signing.json", str(SEED)), 2),
        "sign/missing-event": Case(("sign", "--key", signing, f"{d}/missing.json"), 2),
        "rules-validate/missing": Case(("rules", "validate", no_file), 2),
        "rules-diff/missing-rules": Case(("rules", "diff", no_file, str(RULES), str(SEED)), 2),
        "rules-diff/missing-event": Case(("rules", "diff", str(RULES), str(RULES), f"{d}/missing.json"), 2),
        "produce/missing-event": Case(("produce", f"{d}/missing.json"), 2),
        "produce/missing-key": Case(("produce", "--sign-with", f"{d}/missing.signing.json", str(SEED)), 2),
        "topics/missing-config": Case(("topics", "create", "--config", no_file), 2),
        "watch/missing-config": Case(("watch", "--config", no_file), 2),
        "review/missing-config": Case(("review", "list", "--config", no_file), 2),
        "console/missing-config": Case(("console", "--config", no_file), 2),
        "config-show/missing-config": Case(("config", "show", "--config", no_file), 2),
        "config-docs/missing-check": Case(("config", "docs", "--check", "--output", f"{d}/missing.md"), 1,
                                          report=True),
        # the operation itself fails: no broker there
        "produce/broker-unreachable": Case(("produce", str(SEED)), 1),
        "topics/broker-unreachable": Case(("topics", "create"), 1),
        "review/broker-unreachable": Case(("review", "list"), 1),
        "review/no-verdict": Case(("review", "approve", "in:0:1", "--reviewer", "a"), 3,
                                  (("MODERATION_REVIEW_SIGNING_KEY", f"{d}/signing/reviewers.signing.json"),)),
        # done
        "check/dry-run": Case(("check", "--no-verify", "--now", "2026-11-26T00:00:00Z", str(SEED)), 0),
        "version": Case(("--version",), 0),
    }
    return table


def write_fixtures(d: Path) -> None:
    (d / "bad.yaml").write_text("a: [\n")
    (d / "list.yaml").write_text("- input_topic\n- x\n")
    (d / "bad-rules.yaml").write_text("rules:\n  - id: floor\n    when: {field: quality, lt: twenty}\n")
    (d / "ca.pem").write_text("not a certificate\n")
    (d / "keys").mkdir()
    (d / "empty-keys").mkdir()
    key = SigningKey("other", HMAC_SHA256, ["other.example"], None, None, b"k" * 32)
    write_key_file(d / "keys" / "other.key.json", key.verification_key())
    (d / "signing").mkdir()
    write_key_file(d / "signing" / "other.signing.json", key)
    reviewers = SigningKey("reviewers", ED25519, (), None, None, Ed25519PrivateKey.generate().private_bytes_raw(),
                           "review-actions")
    write_key_file(d / "signing" / "reviewers.signing.json", reviewers)


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Case, Result]]:
    d = tmp_path_factory.mktemp("cli")
    write_fixtures(d)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "KAFKA_"))}
    base["MODERATION_BOOTSTRAP_SERVERS"] = NOWHERE

    def run(case: Case) -> Result:
        done = subprocess.run([sys.executable, "-m", "service", *case.argv], cwd=d, env={**base, **dict(case.env)},
                              capture_output=True, text=True, timeout=30, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    table = cases(d, busy.getsockname()[1])
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = dict(zip(table, pool.map(run, table.values()), strict=True))
    finally:
        busy.close()
    return {name: (table[name], outcomes[name]) for name in table}


def test_every_subcommand_is_covered(results):
    from service.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    covered = {name.split("/")[0].split("-")[0] for name in results}
    assert commands <= covered, commands - covered
    for command in commands - {"schemas", "config", "rules"}:  # each has a bad-configuration and a missing-file case
        assert sum(name.startswith(f"{command}/") for name in results) >= 2, command


@pytest.mark.parametrize("name", list(cases(Path("/d"), 1)))
def test_exit_status_and_one_line_never_a_traceback(results, name):
    case, result = results[name]
    assert result.status == case.status, f"{case.argv}: {result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    if case.status == 0 or case.report:
        return
    lines = result.stderr.strip().splitlines()
    if case.argv[0] == "run" and "startup_failed" in result.stderr:  # after logging started: one JSON log line
        assert sum("startup_failed" in line for line in lines) == 1 and "startup_failed" in lines[-1]
    else:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("moderation"), lines[0]


def test_the_messages_say_what_is_wrong(results):
    def err(name: str) -> str:
        return results[name][1].stderr

    assert "config file" in err("run/bad-config") and "line 2" in err("run/bad-config")
    assert "must be a mapping" in err("config-show/list-config")
    assert "log_level (MODERATION_LOG_LEVEL)" in err("run/bad-setting")
    assert "'not a host' is not host:port" in err("run/bootstrap-not-a-host")
    assert "empty entry" in err("produce/empty-bootstrap")
    assert "ssl_cafile" in err("run/ca-not-pem")
    assert "cannot listen on 127.0.0.1:" in err("run/port-in-use")
    assert "no.such.host.invalid" in err("run/host-unknown")
    assert "no usable verification key" in err("run/no-usable-key") and "MODERATION_ALLOW_NO_KEYS" in err(
        "run/no-usable-key")
    assert "keys_dir" in err("run/missing-keys-dir") and "No such file" in err("run/missing-keys-dir")
    assert "cannot read the rules file" in err("run/missing-rules")
    assert "not for provider.domain 'apnews.com'" in err("produce/key-not-bound")
    assert "nothing published" in err("produce/key-not-bound")
    assert "--partitions" in err("topics/zero-partitions")
    assert "cannot read" in err("produce/missing-event")  # read before connecting: exit 2, not 1
    assert "Kafka at 127.0.0.1:1" in err("produce/broker-unreachable")
    assert "rule 'floor'" in err("check/bad-rules")
    for name in ("run/bad-setting", "run/ca-not-pem", "run/no-usable-key"):
        assert err(name).startswith(("moderation run: ", '{"')), err(name)


def test_the_start_up_log_line_names_the_version(results):
    from service.version import VERSION

    stderr = results["run/no-usable-key"][1].stderr
    assert '"service_starting"' in stderr and f'"version":"{VERSION}"' in stderr
    assert '"unknown_variable"' in stderr and "MODERATION_KEY_DIR (did you mean MODERATION_KEYS_DIR?)" in stderr
