"""The google-re2 internals the rule engine relies on, in one place (google-re2 1.1, ``re2/__init__.py``).

Used here, and nowhere else in the service:
  * ``re2._re2.RE2(pattern_bytes, options)``: the C++ ``RE2`` object, compiled without the Python wrapper;
  * its ``Match(anchor, data, pos, endpos)``: the byte spans of the match and each group, ``(-1, -1)`` when
    none, with no Python objects built per call;
  * ``re2._re2.RE2.Anchor.UNANCHORED`` (re-exported by the wrapper as the private ``re2._Anchor``).

Why not the public ``re2.compile(pattern, options).search(text)``:
  1. ``re2.compile`` memoizes every program in a module-wide ``functools.lru_cache(maxsize=128)``
     (``_Regexp._make``), keyed by pattern and options, with only the global ``re2.purge()`` to empty it. A
     rules hot reload would keep up to 128 replaced programs alive, each allowed ``MAX_MEM`` (64 MiB).
  2. ``search`` on ``str`` re-encodes the text, starts a generator, converts byte offsets to character
     offsets and builds a ``_Match`` on every call: 9.7 µs against 5.6 µs through ``Match`` for a 1,000-term
     word alternation over a 1.7 KB text that does not match (this machine, CPython 3.11). Text conditions run
     on every event; the caller encodes once and quotes the match itself (text.py ``_quote``).

Upstream: no issue in google/re2 asks for a non-caching ``compile`` or a span-returning search on the Python
wrapper (searched 2026-12); the same need in mrab-regex was mrabarnett/mrab-regex#387 ("flag to avoid storing
compiled regexp in internal cache"). If google-re2 renames these internals, only this module changes, and
tests/unit/rules/test_rules_text.py fails at once (every text condition goes through here).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2

Spans = tuple[tuple[int, int], ...]
Search = Callable[[bytes, int, int], Spans]  # (data, pos, endpos) -> spans of the match and each group

_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED


def compile_program(pattern: str, case_sensitive: bool, max_mem: int) -> Any:
    """The compiled C++ RE2 program for ``pattern`` (UTF-8), never cached. Raises ValueError with RE2's own
    complaint when it cannot compile (backreferences, lookaround, repeats over 1,000, too large)."""
    options = re2.Options()
    options.max_mem = max_mem
    options.log_errors = False  # the error comes back as a load error, not as a line on stderr
    options.case_sensitive = case_sensitive
    program = re2._re2.RE2(pattern.encode("utf-8"), options)
    if not program.ok():
        raise ValueError(program.error())
    return program


def unanchored_search(program: Any) -> Search:
    """``search(data, 0, len(data))``: spans of the leftmost match anywhere in ``data`` and of each group.

    ``spans[0][0] < 0`` means no match."""
    return functools.partial(program.Match, _UNANCHORED)
