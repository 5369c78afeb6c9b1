"""No evasion by spelling (issue 12, section 6): hosts read as browsers read them, text matched in a normal form.

Every example of the issue is here, end to end through decide() where the schema is involved: the four URLs
(percent-encoded dot, fullwidth letters, ideographic full stop, backslash before a user-info ``@``) and the
three spellings of a banned word (fullwidth, zero-width space inside, decomposed accent).
"""

from __future__ import annotations

import sys
import unicodedata

import orjson
import pytest
from rules_helpers import NOW, SEED, make_article, reject_rule, rules_yaml

from service.core.decide import decide
from service.core.rules import RulesError, load_rules
from service.core.rules.normal_form import FORMAT_CHARACTERS, normal_form, original_span

BLOCKED = rules_yaml(
    reject_rule({"field": "webUrl", "domain": "clickbait.example"}, "blocked", reason="source.blocked",
                message="{field} is on {match}"),
)


def decided(rules_text: str, **changes) -> tuple[str, list[str], list[str]]:
    value = orjson.dumps(SEED | changes)
    decision = decide(value, (), None, load_rules(rules_text), NOW)
    return decision.decision, [r.code for r in decision.reasons], [r.message for r in decision.reasons]


# --- URL hosts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://clickbait%2Eexample/",  # a percent-encoded dot
        "https://ＣＬＩＣＫＢＡＩＴ.example/",  # fullwidth letters
        "https://clickbait\u3002example/",  # an ideographic full stop
        "https://news.clickbait%2eexample/a",  # a subdomain, lower-case escape
        "HTTPS://CLICKBAIT.EXAMPLE./",
        "https://user@clickbait.example/",
    ],
)
def test_a_domain_rule_sees_the_host_a_browser_opens(url):
    decision, codes, messages = decided(BLOCKED, webUrl=url)
    assert decision == "rejected" and codes == ["source.blocked"], url
    assert messages == ["webUrl is on clickbait.example"]


def test_a_backslash_ends_the_host_as_in_a_browser():
    """A browser opens https://evil.org\\@clickbait.example/ at evil.org (urllib saw clickbait.example)."""
    url = "https://evil.org\\@clickbait.example/"
    assert decided(BLOCKED, webUrl=url)[0] == "approved"
    evil = BLOCKED.replace("clickbait.example", "evil.org")
    assert decided(evil, webUrl=url)[1] == ["source.blocked"]
    # and the user-info trick the docs always named: the host is after the @
    assert decided(evil, webUrl="https://clickbait.example@evil.org/")[1] == ["source.blocked"]


def test_the_schema_refuses_urls_a_browser_cannot_open():
    for url in ("https://clickbait.example:99999/", "https://click bait.example/", "https://%/"):
        decision, codes, messages = decided(BLOCKED, webUrl=url)
        assert decision == "rejected" and codes == ["schema.invalid_value"], url
        assert "webUrl:" in messages[0]


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("clickbait.example", "clickbait.example"),
        ("ＣＬＩＣＫＢＡＩＴ.example", "clickbait.example"),
        ("clickbait%2Eexample", "clickbait.example"),
        ("clickbait\u3002example", "clickbait.example"),
        ("click\u200bbait.example", "clickbait.example"),  # IDNA maps a zero-width space to nothing
        ("bücher.de", "xn--bcher-kva.de"),
        ("clickbait.example/path", "clickbait.example/path"),  # not a host name: matches no domain
        ("see clickbait.example", "see clickbait.example"),
    ],
)
def test_a_bare_value_is_read_as_a_host_name(value, host):
    from service.core.urls import host_of

    assert host_of(value) == host


def test_domain_tests_on_free_text_read_host_names_too():
    rules = rules_yaml(reject_rule({"field": "title", "domain": "clickbait.example"}))
    assert decided(rules, title="ＣＬＩＣＫＢＡＩＴ.example")[1] == ["test.fired"]
    # no slashes: a browser still opens https://clickbait.example/ (the schema refuses it in URL fields)
    assert decided(rules, title="https:clickbait.example/")[1] == ["test.fired"]
    assert decided(rules, title="Clickbait example")[0] == "approved"


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("https://x.org/", "https"), ("HTTP://x.org", "http"), (" https://x.org", "https"),
        ("java\tscript:alert(1)", "javascript"), ("\x00javascript:x", "javascript"), ("x.org", ""),
        ("1http://x", ""), ("mailto:a@b.org", "mailto"),
    ],
)
def test_schemes_are_read_as_a_browser_reads_them(value, scheme):
    from service.core.urls import url_scheme

    assert url_scheme(value) == scheme


def test_a_scheme_rule_is_not_evaded_by_a_tab():
    rules = rules_yaml(reject_rule({"field": "title", "scheme": "javascript"}))
    assert decided(rules, title="java\tscript:alert(1)")[1] == ["test.fired"]


# --- text -------------------------------------------------------------------------------------------------


def matched(when: dict, text: str) -> str | None:
    rules = load_rules(rules_yaml(reject_rule(when, message="{match}")), "t.yaml")
    outcome = rules.evaluate(make_article(title=text), {}, NOW)
    return outcome.reasons[0].message if outcome.reasons else None


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("Win at ＣＡＳＩＮＯ tonight", "ＣＡＳＩＮＯ"),  # fullwidth: quoted as written
        ("Win at cas\u200bino tonight", "cas\u200bino"),  # a zero-width space inside the word
        ("Win at ca\u00adsino tonight", "ca\u00adsino"),  # a soft hyphen
        ("Win at C\u2060ASINO tonight", "C\u2060ASINO"),  # a word joiner
        ("Win at \u202ecasino\u202c tonight", "casino"),  # bidirectional overrides around it
        ("Win at 𝐜𝐚𝐬𝐢𝐧𝐨 tonight", "𝐜𝐚𝐬𝐢𝐧𝐨"),  # mathematical bold letters
        ("Win at casino tonight", "casino"),
    ],
)
def test_banned_words_match_however_they_are_spelled_and_the_message_quotes_the_original(text, quoted):
    assert matched({"field": "title", "text": "casino"}, text) == quoted


def test_decomposed_accents_match_the_composed_term():
    assert matched({"field": "title", "text": "café"}, "Le cafe\u0301 du coin") == "cafe\u0301"
    assert matched({"field": "title", "text": "cafe\u0301"}, "Le Café du coin") == "Café"  # and the reverse
    assert matched({"field": "title", "text": "cafe"}, "Le cafe\u0301 du coin") is None  # é is not e


def test_every_mode_matches_the_normal_form():
    assert matched({"field": "title", "text": "ＷＩＮ", "match": "starts-with"}, "win big") == "win"
    assert matched({"field": "title", "text": "big", "match": "ends-with"}, "win ＢＩＧ") == "ＢＩＧ"
    exact = {"field": "title", "text": "win big", "match": "full-exact"}
    assert matched(exact, "Win\u200b ＢＩＧ") == "Win\u200b ＢＩＧ"
    assert matched({"field": "title", "text": "sin", "match": "includes"}, "ca\u200bsino") == "sin"
    regex = {"field": "title", "text": "^casino$", "match": "regex"}
    assert matched(regex, "ＣＡＳ\u200bＩＮＯ") == "ＣＡＳ\u200bＩＮＯ"  # RE2 runs on the NFKC text, case-insensitively


def test_case_sensitive_matching_still_normalizes_but_keeps_case():
    when = {"field": "title", "text": "CASINO", "case_sensitive": True}
    assert matched(when, "ＣＡＳ\u200bＩＮＯ") == "ＣＡＳ\u200bＩＮＯ"
    assert matched(when, "casino") is None


def test_a_term_made_only_of_format_characters_is_a_load_error():
    with pytest.raises(RulesError, match="empty once format characters are removed"):
        load_rules(rules_yaml(reject_rule({"field": "title", "text": ["ok", "\u200b\u200d"]})))


def test_the_format_character_table_is_every_cf_code_point_of_this_python():
    every = {cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Cf"}
    assert every == FORMAT_CHARACTERS and 0x200B in every and 0x00AD in every


def test_original_span_maps_back_or_says_it_cannot():
    value = "Große ＳＴＲＡＳＳＥ\u200b!"
    normal = normal_form(value, fold=True)
    start = normal.index("strasse")
    assert value.__getitem__(slice(*original_span(value, normal, start, start + 7, True))) == "ＳＴＲＡＳＳＥ"
    # Hangul jamo compose across the boundaries the map walks by: it says so instead of guessing
    jamo = "\u1100\u1161"  # ᄀ + ᅡ -> 가 under NFKC
    assert normal_form(jamo, fold=False) == "가" and original_span(jamo, "가", 0, 1, False) is None


@pytest.mark.parametrize("filler", ["é’ ", "é’ a", "x\u200b"])
def test_quoting_deep_in_a_long_text_maps_back_through_the_chunks(filler):
    value = filler * 4000 + "Ｗin at ＣＡＳ\u200bＩＮＯ tonight" + filler * 100
    assert matched_excerpt({"field": "excerpt", "text": "casino"}, value) == "ＣＡＳ\u200bＩＮＯ"


def test_a_match_after_a_long_run_without_ascii_quotes_the_normal_form():
    value = "é" * 5000 + "ＣＡＳＩＮＯ"  # past the bounded walk: the normal form is quoted, never a wrong span
    assert matched_excerpt({"field": "excerpt", "text": "casino", "match": "includes"}, value) == "casino"
    # one ASCII character is enough for the chunks to reach it
    value = "é" * 5000 + " ＣＡＳＩＮＯ"
    assert matched_excerpt({"field": "excerpt", "text": "casino"}, value) == "ＣＡＳＩＮＯ"


def matched_excerpt(when: dict, text: str) -> str | None:
    rules = load_rules(rules_yaml(reject_rule(when, message="{match}")), "t.yaml")
    outcome = rules.evaluate(make_article(excerpt=text), {}, NOW)
    return outcome.reasons[0].message if outcome.reasons else None
