"""Text matching: one RE2 program per condition, however many terms it lists.

Why RE2 (google-re2, ``import re2``): it runs in time linear in the text, so a rule author cannot write a
ReDoS (``(a+)+$`` takes microseconds, not hours), and it refuses what it cannot run that way (backreferences,
lookaround) with an error, which we turn into a load error. Nothing falls back to Python's ``re``.

Why one alternation and not ``re2.Set``: measured on this machine, a single alternation of escaped terms
wrapped in word boundaries finds "which term matched" (its capture group) in ~1 µs on a title for 10 or
10,000 terms, while a ``re2.Set`` whose patterns each carry the boundary classes took 1.3 s to compile 1,000
terms, 47 µs per 2 KB text, and could not compile 10,000 terms at all.

Word match: RE2's ``\\b`` is ASCII-only ("straße" has a ``\\b`` after "stra"), and RE2 has no lookaround, so a
word match is ``(?:^|[^\\pL\\pN\\pM_])(term|term...)(?:$|[^\\pL\\pN\\pM_])``: the term must be preceded and
followed by the start/end of the text or by a character that is not a Unicode letter, digit, combining mark
or underscore. The capture group gives the term's own span.

Normal form (``normal_form.py``): the text is matched after format characters are removed (zero-width space,
soft hyphen...), NFKC (fullwidth letters, ligatures, composed accents) and, unless ``case_sensitive``, full
Unicode case folding ("STRASSE" matches "straße", "ＣＡＳＩＮＯ" matches "casino", "cas<U+200B>ino" too).
Literal terms get the same treatment. Regexes are not rewritten (casefolding would corrupt escapes like
``\\S``); they run on the NFKC text, format characters removed, with RE2's case-insensitive option (simple
case folding). ``{match}`` quotes the original text the match came from (``original_span``).

The compiled programs come from ``re2_compat`` (the one module touching google-re2's internals, and why).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import re2

from service.core.rules.normal_form import normal_form, original_span
from service.core.rules.re2_compat import compile_program, unanchored_search

MODES = ("word", "includes", "starts-with", "ends-with", "full-exact", "regex")
MAX_MEM = 64 << 20  # per program; a 10,000-term alternation needs a few MB

_NOT_WORD = r"[^\pL\pN\pM_]"
_WRAP = {
    "word": (rf"(?:^|{_NOT_WORD})(", rf")(?:$|{_NOT_WORD})"),
    "includes": ("(", ")"),
    "starts-with": ("^(", ")"),
    "ends-with": ("(", ")$"),
}

TextTest = Callable[[Any, datetime], tuple[Any, Any] | None]


def compile_regex(pattern: str, case_sensitive: bool = True) -> Any:
    """The RE2 program for ``pattern`` (see re2_compat). Raises ValueError naming RE2's complaint."""
    try:
        return compile_program(pattern, case_sensitive, MAX_MEM)
    except ValueError as exc:
        raise ValueError(f"RE2 cannot compile {_short(pattern)!r}: {exc}") from None


def compile_text(terms: list[str], mode: str, case_sensitive: bool) -> TextTest:
    """A leaf test: ``(value, now) -> (value, matched_text) | None``. Raises ValueError on a bad term."""
    if mode == "regex":
        for term in terms:  # one by one first, so the error names the faulty pattern
            compile_regex(term)
        program = compile_regex("(" + "|".join(f"(?:{t})" for t in terms) + ")", case_sensitive)
        return _searcher(program, fold=False)
    fold = not case_sensitive
    keys = list(dict.fromkeys(_key(term, fold) for term in terms))
    if mode == "full-exact":
        return _exact(frozenset(keys), fold)
    head, tail = _WRAP[mode]
    program = compile_regex(head + "|".join(re2.escape(k) for k in keys) + tail)
    return _searcher(program, fold)


def _key(term: str, fold: bool) -> str:
    key = normal_form(term, fold)
    if not key.strip():  # e.g. a term of zero-width spaces: it would match everywhere
        raise ValueError(f"text term {term!r} is empty once format characters are removed")
    return key


def _exact(keys: frozenset[str], fold: bool) -> TextTest:
    def exact(value: Any, now: datetime) -> tuple[Any, Any] | None:
        if value is None or normal_form(value, fold) not in keys:
            return None
        return (value, value)

    return exact


def _searcher(program: Any, fold: bool) -> TextTest:
    match = unanchored_search(program)

    def search(value: Any, now: datetime) -> tuple[Any, Any] | None:
        if value is None:
            return None
        text = normal_form(value, fold)
        data = text.encode("utf-8")
        spans = match(data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return (value, _quote(value, text, data, spans[1], fold))

    return search


def _quote(value: str, text: str, data: bytes, span: tuple[int, int], fold: bool) -> str:
    """The part of the original value the match came from. When normalization joined characters so that
    this cannot be told, the matched normal form is quoted instead."""
    matched = data[span[0] : span[1]].decode("utf-8")
    start = len(data[: span[0]].decode("utf-8"))
    found = original_span(value, text, start, start + len(matched), fold)
    return matched if found is None else value[found[0] : found[1]]


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
