r"""URLs and host names read the way browsers read them (the WHATWG URL Standard), so spelling cannot hide a host.

A browser opening ``https://clickbait%2Eexample/``, ``https://ＣＬＩＣＫＢＡＩＴ.example/`` (fullwidth) or
``https://clickbait\u3002example/`` (ideographic full stop) goes to ``clickbait.example``; it opens
``https://evil.org\@clickbait.example/`` at ``evil.org`` (a backslash ends the host in http(s) URLs).
Python's ``urllib.parse`` sees other hosts in all four. Everything here follows the standard through
``ada-url`` (the WHATWG parser Node.js uses), with a regex fast path for the plain ASCII URLs events carry:

    browser_host(url)   -> the host a browser connects to, or None (no host, or a URL a browser refuses)
    host_of(value)      -> for the rules' ``domain`` test: the host of a URL, or a bare host name read as a
                           browser reads one typed after ``https://`` (percent-decoded, IDNA-mapped, lower case)
    url_scheme(value)   -> the scheme as the standard's scheme state reads it ("" when there is none)

Pure: ada-url parses in memory (C++ through cffi); nothing here reads files, clocks or the network.
"""

from __future__ import annotations

import re

from ada_url import URL

# Schemes with a host in the standard ("special schemes"): for these, ``https:x.org`` and ``https:/x.org`` are
# read as ``https://x.org/`` and ``\`` is a path separator.
SPECIAL_SCHEMES = frozenset(("http", "https", "ws", "wss", "ftp", "file"))

# A URL (or host) whose host needs no decoding: ASCII letters, digits and hyphens in dotted labels, none an IDNA
# ``xn--`` label, the last one starting with a letter (a host "ending in a number" is an IPv4 address to the
# standard), an optional port of at most 4 digits, then a path, query or fragment of printable ASCII (which
# cannot change the host). For these the standard's host is the host in lower case; the rest goes to ada-url.
# tests/unit/test_urls.py holds the fast path to ada-url's answer.
_LABEL = r"(?![Xx][Nn]--)[A-Za-z0-9-]+"
_LAST_LABEL = r"(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*"
_PLAIN_HOST = rf"(?:{_LABEL}\.)*{_LAST_LABEL}\.?"
PLAIN_HOST = re.compile(_PLAIN_HOST)
PLAIN_URL = re.compile(rf"(?:[Hh][Tt][Tt][Pp][Ss]?)://({_PLAIN_HOST})(?::[0-9]{{0,4}})?(?:[/?#][!-~]*)?")

# The same language written without lookahead, anchored, for Rust's regex engine (it has no lookaround), so that
# pydantic-core can check the schema's URL fields itself (``article.py``). A label not starting with "xn--" in
# any case is one of: a first character other than x; x then nothing or not n; xn then nothing or not "-";
# xn- then nothing or not "-". tests/unit/test_perf_equivalence.py holds it to PLAIN_URL.
_AFTER_X = (r"[Xx](?:[A-MO-Za-mo-z0-9-][A-Za-z0-9-]*)?|[Xx][Nn](?:[A-Za-z0-9][A-Za-z0-9-]*)?"
            r"|[Xx][Nn]-(?:[A-Za-z0-9][A-Za-z0-9-]*)?")
_LABEL_NO_LOOKAHEAD = rf"(?:[A-WYZa-wyz0-9-][A-Za-z0-9-]*|{_AFTER_X})"
_LAST_LABEL_NO_LOOKAHEAD = rf"(?:[A-WYZa-wyz][A-Za-z0-9-]*|{_AFTER_X})"
PLAIN_URL_ANCHORED_NO_LOOKAHEAD = (rf"^(?:[Hh][Tt][Tt][Pp][Ss]?)://(?:{_LABEL_NO_LOOKAHEAD}\.)*{_LAST_LABEL_NO_LOOKAHEAD}\.?"
                                   r"(?::[0-9]{0,4})?(?:[/?#][!-~]*)?$")

# The standard's preprocessing: leading/trailing C0 controls and spaces are stripped, tabs and newlines removed.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")
# Characters that cannot be part of a bare host name (they end or re-shape the host inside a URL).
_NOT_A_HOST = re.compile(r"[/\\?#@:\s]")


def url_scheme(value: str) -> str:
    """The scheme, lower case, as a browser reads it: ``" JaVa<tab>Script:x"`` is ``javascript``; "" if none."""
    if value.startswith("https:"):  # the usual case, without a regex (~0.3 µs each, several URLs an event)
        return "https"
    if value.startswith("http:"):
        return "http"
    found = _SCHEME.match(value)  # nothing to strip before the scheme, no tab inside it
    if found is None:
        found = _SCHEME.match(value.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE))
    return found.group().lower() if found else ""


def browser_host(url: str) -> str | None:
    """The host a browser opening ``url`` connects to (lower case, IDNA A-labels, IPv4 normalised), or None
    when the URL has no host or a browser would refuse it (``https://a b/``, a port over 65535...)."""
    plain = PLAIN_URL.fullmatch(url)
    if plain is not None:
        return plain.group(1).lower()
    try:
        host = URL(url).hostname
    except ValueError:  # ada-url: "Invalid input", the standard's parse failure
        return None
    return host.lower() or None  # opaque hosts of non-special schemes keep their case in the standard


def host_of(value: str) -> str | None:
    """The host the ``domain`` test compares: a URL's browser host, else ``value`` read as a host name.

    A value is a URL when it starts with a special scheme (``https:``, however spelled) or has ``://``.
    Otherwise it is read as a browser reads a host typed after ``https://`` (``clickbait%2Eexample`` and
    ``ＣＬＩＣＫＢＡＩＴ.example`` are ``clickbait.example``); text that cannot be a host (it has ``/``, ``@``,
    spaces...) or that the standard refuses is only lower-cased, and so matches no listed domain.
    """
    plain = PLAIN_URL.fullmatch(value)
    if plain is not None:
        return plain.group(1).lower()
    if PLAIN_HOST.fullmatch(value):
        return value.lower()
    if url_scheme(value) in SPECIAL_SCHEMES or "://" in value:
        return browser_host(value)
    if _NOT_A_HOST.search(value) is None:
        try:
            return URL("https://" + value + "/").hostname or value.lower()
        except ValueError:
            pass
    return value.lower()
