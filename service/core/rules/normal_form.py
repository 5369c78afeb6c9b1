r"""The form text is matched in, so spelling cannot hide a term: ``ＣＡＳＩＮＯ`` and ``cas\u200bino`` match ``casino``.

    normal_form(text, fold)  1. format characters removed (Unicode category Cf: zero-width space and joiners,
                                soft hyphen, bidirectional controls, word joiner, BOM, tags...);
                             2. NFKC (compatibility forms: fullwidth and styled letters, ligatures, composed
                                accents: ``cafe\u0301`` is ``café``);
                             3. with ``fold``, full Unicode case folding (``str.casefold``), then NFKC again
                                (folding can undo a composition).
    original_span(value, normal, start, end, fold)
                             the part of ``value`` whose normal form is ``normal[start:end]``, so a message quotes
                             what the producer wrote, not the normal form.

ASCII text (most of it) is only case-folded: NFKC leaves ASCII alone and ASCII has no format characters.
"""

from __future__ import annotations

import re
import unicodedata

from service.core.rules.re2_compat import compile_program, unanchored_search

# Category Cf of Python's Unicode database (14.0 on CPython 3.11), as ranges. Cf characters only occur in the
# BMP, plane 1 and plane 14; tests/unit/rules/test_rules_normal_form.py compares this with a scan of every code
# point, so a new Python's Unicode version cannot leave one out silently.
FORMAT_CHARACTERS = frozenset(
    cp for plane in (range(0x20000), range(0xE0000, 0xF0000)) for cp in plane
    if unicodedata.category(chr(cp)) == "Cf"
)



def _char_class(code_points: frozenset[int]) -> str:
    """An RE2 class of ranges, code points written ``\\x{...}``."""
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges) + "]"


# RE2 finds one in a 2 KB text in ~11 µs with the encoding; Python's re took ~70 µs, str.translate ~190 µs.
_FIND_FORMAT = unanchored_search(compile_program(_char_class(FORMAT_CHARACTERS), True, 1 << 20))


def _has_format_character(text: str) -> bool:
    data = text.encode("utf-8", "surrogatepass")
    return _FIND_FORMAT(data, 0, len(data))[0][0] >= 0


_DROP_FORMAT = dict.fromkeys(FORMAT_CHARACTERS)  # str.translate table: each format character -> removed


def normal_form(text: str, fold: bool) -> str:
    if text.isascii():
        return text.casefold() if fold else text
    if _has_format_character(text):
        text = text.translate(_DROP_FORMAT)  # only for text that has one: an evasion attempt, most likely
    text = unicodedata.normalize("NFKC", text)  # returns ``text`` itself when already normal (quick check)
    return unicodedata.normalize("NFKC", text.casefold()) if fold else text


# original_span works in two passes so that its cost stays bounded on hostile text: chunks of about _CHUNK
# characters, each cut just before an ASCII character (normalization never joins a character with an ASCII one
# after it: no composition ends in ASCII, case folding and Cf removal work per character), normalized whole;
# then the characters of the one chunk holding the offset, at most _MAX_STEPS of them.
_CHUNK = 256
_MAX_STEPS = 512
_ASCII = re.compile(r"[\x00-\x7f]")


def original_span(value: str, normal: str, start: int, end: int, fold: bool) -> tuple[int, int] | None:
    """Indexes ``(i, j)`` such that ``value[i:j]`` is what ``normal[start:end]`` came from (``normal`` being
    ``normal_form(value, fold)``), or None when that cannot be told cheaply: normalization joined characters
    across the boundaries it maps by, or over 512 non-ASCII characters in a row come before the offset."""
    if value.isascii():
        return start, end  # ASCII is only case-folded, one character for one
    if start >= end:
        return None
    first = _segment_holding(value, start, fold)
    last = _segment_holding(value, end - 1, fold)
    if first is None or last is None or normal[start:end] not in normal_form(value[first[0] : last[1]], fold):
        return None
    return first[0], last[1]


def _segment_holding(value: str, offset: int, fold: bool) -> tuple[int, int] | None:
    """The span of ``value`` whose normal form holds the normal form's character at ``offset``: a character with
    canonical combining class 0 and the combining marks after it (which normalize together)."""
    i = position = 0
    size = len(value)
    while True:  # whole chunks first
        found = _ASCII.search(value, i + _CHUNK) if i + _CHUNK < size else None
        cut = found.start() if found else size
        if cut == size:
            break
        width = len(normal_form(value[i:cut], fold))
        if position + width > offset:
            break
        position, i = position + width, cut
    for _ in range(_MAX_STEPS):  # then one segment at a time
        if i >= size:
            return None
        j = i + 1
        while j < size and unicodedata.combining(value[j]):
            j += 1
        width = len(normal_form(value[i:j], fold))
        if width and position + width > offset:
            return i, j
        position, i = position + width, j
    return None
