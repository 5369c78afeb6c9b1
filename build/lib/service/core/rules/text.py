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

Case: unless ``case_sensitive``, literal terms and the text are both ``str.casefold()``-ed (full Unicode case
folding: "STRASSE" matches "straße"). Regexes are not casefolded (that would corrupt escapes like
``\\S``); they run with RE2's case-insensitive option (simple case folding) on the original text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import re2

MODES = ("word", "includes", "starts-with", "ends-with", "full-exact", "regex")
MAX_MEM = 64 << 20  # per program; a 10,000-term alternation needs a few MB

_NOT_WORD = r"[^\pL\pN\pM_]"
_WRAP = {
    "word": (rf"(?:^|{_NOT_WORD})(", rf")(?:$|{_NOT_WORD})"),
    "includes": ("(", ")"),
    "starts-with": ("^(", ")"),
    "ends-with": ("(", ")$"),
}
_UNANCHORED = re2._Anchor.UNANCHORED

TextTest = Callable[[Any, datetime], tuple[Any, Any] | None]


def compile_regex(pattern: str, case_sensitive: bool = True) -> Any:
    """The raw RE2 program (``re2._re2.RE2``) for ``pattern``. Raises ValueError naming RE2's complaint."""
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False
    options.case_sensitive = case_sensitive
    program = re2._re2.RE2(pattern.encode("utf-8"), options)
    if not program.ok():
        raise ValueError(f"RE2 cannot compile {_short(pattern)!r}: {program.error()}")
    return program


def compile_text(terms: list[str], mode: str, case_sensitive: bool) -> TextTest:
    """A leaf test: ``(value, now) -> (value, matched_text) | None``. Raises ValueError on a bad term."""
    if mode == "regex":
        for term in terms:  # one by one first, so the error names the faulty pattern
            compile_regex(term)
        program = compile_regex("(" + "|".join(f"(?:{t})" for t in terms) + ")", case_sensitive)
        return _searcher(program, fold=False)
    fold = not case_sensitive
    keys = list(dict.fromkeys(t.casefold() if fold else t for t in terms))
    if mode == "full-exact":
        return _exact(frozenset(keys), fold)
    head, tail = _WRAP[mode]
    program = compile_regex(head + "|".join(re2.escape(k) for k in keys) + tail)
    return _searcher(program, fold)


def _exact(keys: frozenset[str], fold: bool) -> TextTest:
    def exact(value: Any, now: datetime) -> tuple[Any, Any] | None:
        if value is None or (value.casefold() if fold else value) not in keys:
            return None
        return (value, value)

    return exact


def _searcher(program: Any, fold: bool) -> TextTest:
    match = program.Match

    def search(value: Any, now: datetime) -> tuple[Any, Any] | None:
        if value is None:
            return None
        text = value.casefold() if fold else value
        data = text.encode("utf-8")
        spans = match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return (value, _quote(value, text, data, spans[1]))

    return search


def _quote(value: str, text: str, data: bytes, span: tuple[int, int]) -> str:
    """The matched part of the original value. When casefolding changed the length (ß -> ss) offsets no
    longer line up, so the folded match is quoted instead."""
    matched = data[span[0] : span[1]].decode("utf-8")
    if len(text) != len(value):
        return matched
    start = len(data[: span[0]].decode("utf-8"))
    return value[start : start + len(matched)]


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
