"""service/core/urls.py: its regex fast paths give exactly what ada-url (the WHATWG parser) gives."""

from __future__ import annotations

from ada_url import URL
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.core.urls import PLAIN_HOST, PLAIN_URL, browser_host, host_of

LABEL = st.text(alphabet="aZx9n0-", min_size=1, max_size=8)
HOSTS = st.builds(lambda labels, dot: ".".join(labels) + dot, st.lists(LABEL, min_size=1, max_size=4),
                  st.sampled_from(["", "."]))
URLS = st.builds(
    lambda scheme, host, port, rest: f"{scheme}://{host}{port}{rest}",
    st.sampled_from(["http", "https", "HTTPS", "hTtP"]), HOSTS,
    st.sampled_from(["", ":", ":0", ":80", ":8080", ":65535", ":99999"]),
    st.sampled_from(["", "/", "/a\\b", "?q=1", "#f", "/%2e%2E/", "/@x", "/ä"]),
)


def ada_host(url: str) -> str | None:
    try:
        return URL(url).hostname or None
    except ValueError:
        return None


@settings(max_examples=500, deadline=None)
@given(URLS)
@example("https://xn--abc.example/")
@example("https://a.1/")
@example("https://0x7f.1/")
def test_the_plain_url_fast_path_agrees_with_ada(url):
    plain = PLAIN_URL.fullmatch(url)
    if plain is not None:
        assert ada_host(url) == plain.group(1).lower(), url
    assert browser_host(url) == ada_host(url), url


@settings(max_examples=300, deadline=None)
@given(HOSTS)
@example("xn--bcher-kva.de")
@example("1.2.3.4")
def test_the_plain_host_fast_path_agrees_with_ada(host):
    if PLAIN_HOST.fullmatch(host):
        assert ada_host(f"https://{host}/") == host.lower(), host
        assert host_of(host) == host.lower()


def test_the_urls_events_carry_take_the_fast_path():
    for url in ("https://www.reuters.com/science/open-climate-dataset-1", "https://cdn.x.io/img/a.jpg?w=640&h=1",
                "http://apnews.com/article/abc-123#top", "https://siliconangle.com:443/2020/05/07/x/"):
        assert PLAIN_URL.fullmatch(url) is not None
