"""The reviewer console in a real headless Chromium (Debian's chromium + chromedriver, selenium), on the real
broker, with the service (and its settler) running as `moderation run` and the console as `moderation console`.

It saves a screenshot of the queue; with UPDATE_SCREENSHOTS=1 it replaces the README's, docs/review-console.png
(otherwise it goes to the test's temporary directory, so a test run leaves the work tree as it was).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest
from crashlib import MODERATION, ROOT, ServiceProcess, service_env
from harness import create_topics, produce, recent_ms
from reviewlib import borderline, cli, finals, pending, review_setup, source_id

from service.review.console.accounts import add_reviewer
from service.signing import sign_event

pytestmark = [pytest.mark.kafka]
CHROMEDRIVER = "/usr/bin/chromedriver"
XSS = "<img src=x onerror=alert(1)> borderline offer"
PASSWORD = "correct horse battery staple"
SCREENSHOT = ROOT / "docs" / "review-console.png"

needs_browser = pytest.mark.skipif(not Path(CHROMEDRIVER).exists() or not shutil.which("chromium"),
                                   reason="Debian chromium and chromium-driver are not installed (make browser)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the console did not listen: {log.read_text()}")


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1360,900"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class _Client:
    """A plain HTTP client with its own cookie jar (the requests a browser would refuse to send)."""

    def __init__(self, base: str) -> None:
        self.base, self.jar = base, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, form: dict | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def csrf(self, path: str) -> str:
        _, body, _ = self.request(path)
        return re.search(r'name="csrf" value="([^"]+)"', body).group(1)

    def login(self, name: str, password: str) -> tuple[int, str, dict]:
        return self.request("/login", {"csrf": self.csrf("/login"), "name": name, "password": password})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@needs_browser
def test_reviewer_signs_in_sees_held_articles_approves_one_and_hostile_input_stays_text(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    """Sign-in (a wrong password refused), the queue with the hostile title as text, filters, the article view,
    approve with a note and the result at once, the page updating itself, the final decisions on the topics,
    and the requests a browser would not send (no CSRF token, a forged reviewer, a settled event) refused."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # A short prefix: the ids it makes show in the README's screenshot.
    prefix = f"demo-{unique_topic_prefix.rstrip('-').rsplit('-', 1)[-1]}."
    settings, article_key, _ = review_setup(tmp_path, kafka_bootstrap, prefix)
    asyncio.run(create_topics(settings, 3))
    accounts = tmp_path / "reviewers.json"
    add_reviewer(accounts, "alice", PASSWORD)
    port = _free_port()
    service = ServiceProcess(settings, tmp_path / "service.log").start()
    env = service_env(settings, MODERATION_REVIEW_SIGNING_KEY=str(settings.review_signing_key),
                      MODERATION_CONSOLE_ACCOUNTS=str(accounts), MODERATION_CONSOLE_PORT=str(port),
                      MODERATION_LOG_LEVEL="info")
    console_log = tmp_path / "console.log"
    with console_log.open("wb") as log:
        console = subprocess.Popen([str(MODERATION), "console"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    driver = None
    try:
        hostile = borderline(1)
        hostile["title"] = XSS
        hostile["excerpt"] = '<script>alert("excerpt")</script> and "quotes" & <b>tags</b>'
        hostile["webUrl"] = "https://www.reuters.com/x?a=<b>&b=\"'"
        other_provider = borderline(2)
        other_provider.update(title="Regional grid operator calls its new storage plan a borderline miracle",
                              provider={"name": "AP News", "domain": "apnews.com"},
                              webUrl="https://apnews.com/article/grid-storage-plan")
        records = [(b"k0", orjson.dumps(sign_event(borderline(0), article_key))),
                   (b"k1", orjson.dumps(sign_event(hostile, article_key))),
                   (b"k2", orjson.dumps(sign_event(other_provider, article_key)))]
        asyncio.run(produce(settings.bootstrap_servers, settings.input_topic, records, timestamp_ms=recent_ms()))
        items = pending(settings, 3)
        assert len(items) == 3
        benign = next(i["id"] for i in items if "batteries" in i["title"])
        _wait_listening(port, console, console_log)
        base = f"http://127.0.0.1:{port}"
        driver = _browser()
        wait = WebDriverWait(driver, 60)

        # wrong password: refused, still on the sign-in page
        driver.get(base + "/")
        assert driver.current_url.endswith("/login")
        driver.find_element(By.ID, "name").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys("not the password")
        driver.find_element(By.ID, "sign-in").click()
        # click() does not wait for the form's response (an argon2id check, slower on a busy machine)
        wait.until(lambda d: any("Wrong name or password" in e.text for e in d.find_elements(By.ID, "login-error")))

        # sign in: the queue shows both held articles, the hostile title as text
        driver.find_element(By.ID, "name").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.held")) == 3)
        titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.title a")]
        assert XSS in titles
        assert not driver.find_elements(By.CSS_SELECTOR, "#queue img")  # escaped, never an element
        assert "review.borderline" in driver.page_source and "reuters.com" in driver.page_source
        driver.get(base + "/?provider=apnews.com")  # the filters
        assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.title a")] == [other_provider["title"]]

        # the hostile article's own page: every field is text, no script ran, no dialog opened
        hostile_id = next(i["id"] for i in items if i["title"] == XSS)
        driver.get(f"{base}/item/{urllib.parse.quote(hostile_id, safe='')}")
        assert driver.find_element(By.ID, "article-title").text == XSS
        assert '<script>alert("excerpt")</script>' in driver.find_element(By.CSS_SELECTOR, ".excerpt").text
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - raises when no dialog is open

        # approve the benign one with a note: the result is shown at once
        driver.get(f"{base}/item/{urllib.parse.quote(benign, safe='')}")
        driver.find_element(By.ID, "approve-note").send_keys("source checked by phone")
        driver.find_element(By.ID, "approve").click()
        wait.until(lambda d: any(e.text == "Settled" for e in d.find_elements(By.ID, "result-title")))
        assert "Approved by alice" in driver.find_element(By.ID, "result").text
        driver.find_element(By.ID, "back").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.held")) == 2)
        settled_rows = driver.find_elements(By.CSS_SELECTOR, "tr.settled")
        assert any("alice" in row.text and "source checked by phone" in row.text for row in settled_rows)
        shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        assert driver.save_screenshot(str(shot))  # the README's picture: a queue, and what was settled

        # the page updates itself: another reviewer settles the AP item from the CLI, the row goes away
        ap_id = next(i["id"] for i in items if i["provider"] == "apnews.com")
        done = cli(settings, "review", "reject", ap_id, "--reviewer", "bob", "--reason", "review.hype")
        assert done.returncode == 0, done.stderr
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.held")) == 1)
        assert any("bob" in row.text for row in driver.find_elements(By.CSS_SELECTOR, "tr.settled"))

        # the final decisions are on the topics, once each, with the reviewers
        events = asyncio.run(finals(settings))
        assert sorted((source_id(e), e["decision"], e["review"]["reviewer"]) for e in events) == \
            sorted([(benign, "approved", "alice"), (ap_id, "rejected", "bob")])

        # requests a browser would not send: no CSRF token, a forged reviewer field, a settled event again
        client = _Client(base)
        status, _, headers = client.login("alice", PASSWORD)
        assert status == 303
        cookie = headers.get("set-cookie", "").lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        settle = f"/item/{urllib.parse.quote(hostile_id, safe='')}/settle"
        status, body, headers = client.request(settle, {"action": "approved", "note": "x"})
        assert status == 403 and "CSRF" in body
        assert "script-src 'self'" in headers.get("content-security-policy", "")
        token = client.csrf("/")
        status, body, _ = client.request(settle, {"csrf": token, "action": "approved", "reviewer": "mallory"})
        assert status == 400 and "from the sign-in" in body
        status, body, _ = client.request(f"/item/{urllib.parse.quote(benign, safe='')}/settle",
                                         {"csrf": token, "action": "rejected", "reason": "review.no"})
        assert status == 409 and "Already settled by alice" in body
        assert [i["id"] for i in pending(settings, 1)] == [hostile_id]  # the refused ones settled nothing

        # sign-in attempts are rate-limited: the browser's wrong password above was the first of five failures
        other = _Client(base)
        codes = [other.login("alice", "wrong password")[0] for _ in range(5)]
        assert codes == [401, 401, 401, 401, 429]
        assert other.login("alice", PASSWORD)[0] == 429  # even the right password, until the window passes
    finally:
        if driver is not None:
            driver.quit()
        console.terminate()
        console.wait(20)
        service.kill()
