"""Signing events, for producers written in Python (others follow docs/signing.md and its test vectors).

    from service.signing import load_signing_key, sign_event
    key = load_signing_key("keys/acme-2026.signing.json")
    signed = sign_event(event, key)   # a copy of ``event`` with ``secured`` set

``set_secured_line`` signs front-matter files in place without re-writing their YAML: only the ``secured:``
line changes, so comments, quoting and layout stay as the author wrote them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from service.core.canonical import SECURED
from service.core.keys import SigningKey
from service.core.signature import sign_document
from service.files.keydir import read_key_file

__all__ = ["SigningError", "load_signing_key", "set_secured_line", "sign_event"]

# A top-level ``secured`` key, bare or quoted, at the start of a line of the front matter.
_SECURED_LINE = re.compile(r"""^(?:secured|"secured"|'secured')[ \t]*:""")


class SigningError(ValueError):
    """The event cannot be signed with this key (wrong provider, content without a canonical form...)."""


def load_signing_key(path: str | os.PathLike) -> SigningKey:
    """Read a ``<id>.signing.json`` file. Raises OSError, or ValueError naming what is wrong with it."""
    return read_key_file(path, SigningKey)  # type: ignore[return-value]  # it returns the kind it is given


def sign_event(
    document: Mapping, signing_key: SigningKey | str | os.PathLike, *, nonce: bytes | None = None
) -> dict:
    """A copy of ``document`` with ``secured`` set (replacing any existing one).

    Refuses (SigningError) an event whose ``provider.domain`` the key is not bound to: the service would
    reject it as ``signature.unknown_signer``. The key's validity window is not checked here: the service
    checks it against the record's timestamp, which is only known once the event is produced.
    """
    key = signing_key if isinstance(signing_key, SigningKey) else load_signing_key(signing_key)
    provider = document.get("provider") if isinstance(document, Mapping) else None
    domain = provider.get("domain") if isinstance(provider, Mapping) else None
    if not isinstance(domain, str) or domain.lower() not in key.providers:
        bound = ", ".join(sorted(key.providers))
        raise SigningError(f"key {key.key_id} signs for {bound}, not for provider.domain {domain!r}")
    try:
        secured = sign_document(document, key, nonce)
    except ValueError as exc:
        raise SigningError(str(exc)) from None
    signed = dict(document)
    signed[SECURED] = secured
    return signed


def set_secured_line(text: str, secured: str) -> str:
    """``text`` (a front-matter document) with its ``secured:`` line replaced, or added before the closing
    ``---``. Every other byte is kept. Raises SigningError if the front matter cannot be found."""
    lines = text.split("\n")  # only LF ends a line here; a CR before it stays with its line
    start = next((i for i, line in enumerate(lines) if line.strip(" \t\r\ufeff")), None)
    if start is None or lines[start].strip(" \t\r\ufeff") != "---":
        raise SigningError("not a front-matter document: the first line is not '---'")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].rstrip(" \t\r") in ("---", "...")), None)
    if end is None:
        raise SigningError("the front matter has no closing '---' line")
    found = [i for i in range(start + 1, end) if _SECURED_LINE.match(lines[i])]
    if len(found) > 1:
        raise SigningError("the front matter has more than one secured line")
    at = found[0] if found else end
    eol = "\r" if lines[at].endswith("\r") else ""
    stop = at
    if found:  # a value continued on indented lines (a long plain or quoted scalar) goes too
        stop += 1
        while stop < end and lines[stop][:1] in (" ", "\t"):
            stop += 1
    return "\n".join([*lines[:at], f'secured: "{secured}"{eol}', *lines[stop:]])
