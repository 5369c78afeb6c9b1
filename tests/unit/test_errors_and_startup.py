"""The exception tree (service/errors.py) and the start-up checks of ``moderation run`` (service/bootstrap.py)."""

from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path

import pytest
import structlog

import service.errors as errors
from service.bootstrap import require_keys
from service.core.keys import HMAC_SHA256, SigningKey
from service.files.keydir import write_key_file
from service.files.policy import Policy
from service.settings import Settings, unknown_variables

ROOT = Path(__file__).parents[2]
RULES = ROOT / "config" / "rules.yaml"
KEY = SigningKey("k1", HMAC_SHA256, ["example.org"], None, None, b"s" * 32)


def error_classes() -> dict[str, type]:
    return {name: value for name, value in vars(errors).items()
            if inspect.isclass(value) and issubclass(value, BaseException)}


def test_every_error_is_a_moderation_error_and_drawn_in_the_tree():
    classes = error_classes()
    assert len(classes) >= 15
    for name, cls in classes.items():
        assert issubclass(cls, errors.ModerationError), name
        assert f" {name} " in errors.__doc__, f"{name} is missing from the tree in service/errors.py"
    assert set(errors.__all__) == set(classes)


def test_retriable_where_trying_again_can_succeed():
    assert {name for name, cls in error_classes().items() if cls.retriable} == {"BrokerUnavailable", "DeliveryFailed"}
    failed = errors.DeliveryFailed({("articles", 0)}, TimeoutError("slow"))
    assert failed.retriable and failed.partitions == {("articles", 0)} and isinstance(failed, errors.OperationFailed)


def test_the_moved_classes_are_still_importable_where_they_were():
    from service.core.batch import DecisionTooLarge
    from service.core.canonical import CanonicalError
    from service.core.keys import InvalidKeyError
    from service.core.rules import RulesError
    from service.core.rules.yamltree import YamlProblem
    from service.files.eventfiles import EventFileError
    from service.kafka.delivery import DeliveryFailed
    from service.signing import SigningError

    moved = (DecisionTooLarge, CanonicalError, InvalidKeyError, RulesError, YamlProblem, EventFileError,
             DeliveryFailed, SigningError)
    assert all(cls is getattr(errors, cls.__name__) for cls in moved)
    assert issubclass(RulesError, ValueError) and issubclass(InvalidKeyError, ValueError)  # as before the tree
    assert issubclass(SigningError, errors.UsageError) and issubclass(RulesError, errors.UsageError)


@pytest.mark.parametrize("module", ["service/errors.py", "service/core/errors.py"])
def test_the_error_modules_import_nothing_impure(module):
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "collections.abc", "typing", "service.core.errors"}, imported


def policy_for(keys: Path, **settings) -> tuple[Settings, Policy]:
    config = Settings(keys_dir=keys, rules_path=RULES, **settings)
    return config, Policy(config, structlog.get_logger("test"))


def test_a_key_directory_with_a_usable_key_starts(tmp_path):
    write_key_file(tmp_path / "k1.key.json", KEY.verification_key())
    require_keys(*policy_for(tmp_path))


def test_no_usable_key_stops_the_start_unless_allowed(tmp_path):
    (tmp_path / "bad.key.json").write_text("{}")
    os.chmod(tmp_path / "bad.key.json", 0o600)
    with pytest.raises(errors.ConfigError, match=r"no usable verification key \(1 file\(s\) refused, first: "):
        require_keys(*policy_for(tmp_path))
    require_keys(*policy_for(tmp_path, allow_no_keys=True))


def test_a_missing_key_directory_stops_the_start_even_when_no_keys_are_allowed(tmp_path):
    with pytest.raises(errors.ConfigError, match=r"keys_dir .*missing \(MODERATION_KEYS_DIR\): No such file"):
        require_keys(*policy_for(tmp_path / "missing", allow_no_keys=True))


def test_unknown_moderation_variables_are_named_with_the_nearest_setting():
    environ = {"MODERATION_KEYS_DIRS": "k", "MODERATION_LOG_LEVEL": "info", "moderation_http_port": "1",
               "MODERATION_SASL_PASSWORD_FILE": "/s", "MODERATION_CONFIG_FILE": "c", "OTHER": "x",
               "MODERATION_WHATEVER": "1"}
    assert unknown_variables(environ) == ["MODERATION_KEYS_DIRS (did you mean MODERATION_KEYS_DIR?)",
                                          "MODERATION_WHATEVER"]


def test_config_show_warns_about_unknown_variables(monkeypatch, capsys):
    from service.cli import main

    for name in list(os.environ):
        if name.startswith(("MODERATION_", "KAFKA_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODERATION_LOG_LEVLE", "debug")
    assert main(["config", "show"]) == 0
    assert "warning: MODERATION_LOG_LEVLE (did you mean MODERATION_LOG_LEVEL?) is not a setting" in (
        capsys.readouterr().err)


def test_a_bug_is_one_line_with_exit_1_and_traceback_shows_it(monkeypatch, capsys):
    from service.cli import check, main

    def broken(*_args, **_kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(check, "decide_record", broken)
    seed = str(ROOT / "seeds" / "002_low_quality_listicle.md")
    assert main(["check", "--no-verify", seed]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moderation check: internal error (a bug;") and "KeyError" in err and err.count("\n") == 1
    with pytest.raises(KeyError):
        main(["--traceback", "check", "--no-verify", seed])


def test_the_metrics_name_the_running_version():
    from service.ops.metrics import Metrics
    from service.version import VERSION

    assert f'moderation_build_info{{version="{VERSION}"}} 1.0' in Metrics().exposition().decode()


def test_check_says_where_the_signature_step_stopped(capsys):
    import orjson

    from service.cli import main

    seeds = sorted(str(p) for p in (ROOT / "seeds").iterdir())
    assert main(["check", "--now", "2026-11-26T00:00:00Z", *seeds]) == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps = {Path(row["source"]).name: row["signature"] for row in rows}
    assert steps["000_eec557f0eb51af83.txt"] == "failed" and steps["006_schema_invalid.md"] == "not reached"


def test_a_key_directory_holding_only_the_reviewers_key_does_not_count_as_having_a_key(tmp_path):
    """A review-actions key verifies no article: with only that one, every signed event would be rejected."""
    from service.core.keys import ED25519, REVIEW_ACTIONS

    reviewers = SigningKey("reviewers", ED25519, [], None, None, b"r" * 32, purpose=REVIEW_ACTIONS)
    write_key_file(tmp_path / "reviewers.key.json", reviewers.verification_key())
    settings, policy = policy_for(tmp_path)
    assert len(policy.current.keyring) == 1 and policy.current.keyring.article_keys == 0
    with pytest.raises(errors.ConfigError, match="no usable verification key"):
        require_keys(settings, policy)
