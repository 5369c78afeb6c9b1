"""The console's parts without a browser or a broker: accounts, the sign-in limiter, links, escaping, metrics,
and the CLI's usage errors (the browser and the broker: tests/integration/test_review_console_browser.py)."""

from __future__ import annotations

import os
import stat

import pytest

from service.cli import main
from service.ops.metrics import Metrics
from service.review.console import web
from service.review.console.accounts import AccountError, add_reviewer, check_password, read_accounts

XSS = "<img src=x onerror=alert(1)>"


def test_accounts_hold_argon2id_hashes_in_a_private_file(tmp_path):
    path = tmp_path / "reviewers.json"
    add_reviewer(path, "alice", "correct horse battery")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    accounts = read_accounts(path)
    assert accounts["alice"].startswith("$argon2id$") and "correct horse" not in path.read_text()
    assert check_password(accounts, "alice", "correct horse battery")
    assert not check_password(accounts, "alice", "correct horse batterY")
    assert not check_password(accounts, "bob", "correct horse battery")
    add_reviewer(path, "alice", "a new password please")  # replaced, not duplicated
    assert list(read_accounts(path)) == ["alice"]
    assert check_password(read_accounts(path), "alice", "a new password please")
    with pytest.raises(AccountError, match="at least"):
        add_reviewer(path, "bob", "short")
    with pytest.raises(AccountError, match="name"):
        add_reviewer(path, "../bob", "long enough password")
    assert read_accounts(tmp_path / "missing.json") == {}


def test_add_reviewer_command_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    import io

    path = tmp_path / "accounts.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough password\n"))
    assert main(["console", "add-reviewer", "carol", "--accounts", str(path), "--password-stdin"]) == 0
    assert check_password(read_accounts(path), "carol", "long enough password")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["console", "add-reviewer", "dave", "--accounts", str(path), "--password-stdin"]) == 2


def test_the_limiter_blocks_after_five_failures_per_key(monkeypatch):
    limiter = web.LoginLimiter()
    for _ in range(web.LOGIN_FAILURES - 1):
        limiter.failed("ip:1", "name:alice")
    assert not limiter.blocked("ip:1", "name:alice")
    limiter.failed("ip:1", "name:alice")
    assert limiter.blocked("ip:1") and limiter.blocked("name:alice") and not limiter.blocked("ip:2")
    later = web.time.monotonic() + web.LOGIN_WINDOW_S + 1
    monkeypatch.setattr(web.time, "monotonic", lambda: later)
    assert not limiter.blocked("ip:1", "name:alice")  # the window slides


def test_only_http_urls_become_links_and_every_field_is_escaped():
    assert web.web_url("https://example.org/a") == "https://example.org/a"
    for bad in ("javascript:alert(1)", " javascript:alert(1)", "data:text/html,x", "//evil.example", 7, None):
        assert web.web_url(bad) is None
    env = web._environment()
    item = {"id": "in:0:1", "title": XSS, "reasons": [{"code": "review.x", "message": XSS, "rule": XSS}],
            "rulesFired": [XSS], "provider": XSS, "signer": XSS, "heldAt": "2026-12-01T00:00:00Z"}
    article = {"title": XSS, "excerpt": XSS, "webUrl": "javascript:alert(1)",
               "images": [{"url": "javascript:alert(2)", "title": XSS}], "related": [{"title": XSS, "webUrl": XSS}]}
    html = env.get_template("item.html").render(item=item, article=article, event={}, raw=XSS, settled=None,
                                                waiting=5, csrf="t", reviewer="alice")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript:' not in html
    rows = [{**item, "waiting": 3.0}]
    queue = env.get_template("_queue.html").render(rows=rows, total=1, recent=[
        {"id": "in:0:2", "title": XSS, "decision": "approved", "reviewer": XSS, "note": XSS,
         "settledAt": "2026-12-01T00:00:00Z", "reason": None}], csrf="t", reviewer="alice")
    assert "<img" not in queue and queue.count("&lt;img") >= 4
    assert "script-src 'self'" in web.CSP and "unsafe-inline" not in web.CSP


def test_times_read_like_times():
    assert web.when("2026-12-02T07:06:50.451793Z") == "2026-12-02 07:06:50 UTC"
    assert web.ago(42) == "42 s" and web.ago(3 * 3600 + 120) == "3 h 2 min"


def test_review_metrics_count_actions_and_read_the_queue_at_scrape_time():
    class View:
        def pending(self):
            return [1, 2]

        def oldest_pending_age(self):
            return 12.5

    metrics = Metrics()
    metrics.track_review(View())
    metrics.review_action(True, None)
    metrics.review_action(False, "review.bad_signature")
    text = metrics.exposition().decode()
    assert "moderation_review_pending 2.0" in text
    assert "moderation_review_oldest_pending_seconds 12.5" in text
    assert 'moderation_review_actions_total{refusal="none",status="applied"} 1.0' in text
    assert 'moderation_review_actions_total{refusal="review.bad_signature",status="refused"} 1.0' in text


def test_review_usage_errors_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MODERATION_REVIEW_SIGNING_KEY", raising=False)
    assert main(["review", "approve", "in:0:1"]) == 2  # no --reviewer
    assert main(["review", "reject", "in:0:1", "--reviewer", "alice"]) == 2  # no --reason
    assert main(["review", "approve", "in:0:1", "--reviewer", "alice", "--bootstrap-servers", "127.0.0.1:1"]) == 2
    assert "MODERATION_REVIEW_SIGNING_KEY" in capsys.readouterr().err
    article_key = tmp_path / "a.signing.json"
    assert main(["keygen", "--algorithm", "ed25519", "--key-id", "a", "--provider", "x.org", "--out",
                 str(tmp_path)]) == 0
    monkeypatch.setenv("MODERATION_REVIEW_SIGNING_KEY", str(article_key))
    assert main(["review", "approve", "in:0:1", "--reviewer", "alice", "--bootstrap-servers", "127.0.0.1:1"]) == 2
    assert "purpose articles" in capsys.readouterr().err


def test_no_password_hash_is_made_when_a_command_starts():
    """Every command imports the accounts module (the CLI parser); its dummy hash (64 MiB of argon2id for a
    moment) is made by the console, not at import: `moderation run` peaked at 122 MB of RSS for it."""
    import subprocess
    import sys

    probe = ("import service.cli, service.review.console.accounts as a, sys; "
             "sys.exit(a.dummy_hash.cache_info().currsize)")
    assert subprocess.run([sys.executable, "-c", probe], timeout=60).returncode == 0


def test_the_console_makes_the_dummy_hash_before_the_first_login(tmp_path):
    from service.review.console.accounts import dummy_hash

    dummy_hash.cache_clear()
    web.Console(view=None, submit=None, accounts_path=tmp_path / "reviewers.json", secret="s" * 32, secure=False,
                log=None)
    assert dummy_hash.cache_info().currsize == 1
