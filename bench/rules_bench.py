"""Rule-evaluation cost per event, in µs, on this machine: keyword-list size and rule count.

    .venv/bin/python bench/rules_bench.py [--quick]

Prints one table. The issue's target: evaluating a 10,000-term banned list costs at most 1.5x a 10-term
list (RE2 runs one automaton over the text whatever the number of terms). A second table shows why a
single alternation was chosen over re2.Set for "which term matched".
"""

from __future__ import annotations

import random
import string
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import re2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core.article import Article
from service.core.decode import decode_event
from service.core.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2020, 5, 8, 5, 0, tzinfo=UTC)
RNG = random.Random(7)


def word() -> str:
    return "".join(RNG.choice(string.ascii_lowercase) for _ in range(RNG.randint(5, 11)))


def per_event_us(rules, article, rounds: int) -> float:
    rules.evaluate(article, {}, NOW)  # warm the DFA caches
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            rules.evaluate(article, {}, NOW)
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def banned_terms_rules(n: int):
    doc = {
        "lists": {"banned": [word() + "zq" for _ in range(n)]},  # never in the article: full scans
        "rules": [
            {
                "id": "banned-terms",
                "description": "banned terms in title or excerpt",
                "when": {"any": [{"field": f, "text": [{"list": "banned"}]} for f in ("title", "excerpt")]},
                "action": "reject",
                "reason": "text.banned_term",
            }
        ],
    }
    return load_rules(yaml.safe_dump(doc), f"<{n} terms>")


def many_rules(n: int):
    kinds = [
        lambda i: {"field": "quality", "lt": -1000 - i},
        lambda i: {"field": "provider.domain", "domain": f"blocked{i}.example"},
        lambda i: {"field": "title", "text": [word() + "zq", word() + "zq"]},
        lambda i: {"field": "images[any].url", "not_scheme": "https"},
        lambda i: {"all": [{"field": "excerpt", "blank": True}, {"field": "heat", "gt": i}]},
    ]
    rules = [
        {"id": f"r{i}", "description": "d", "priority": i % 7, "when": kinds[i % len(kinds)](i),
         "action": "reject", "reason": "bench.r"}
        for i in range(n)
    ]  # fmt: skip
    return load_rules(yaml.safe_dump({"rules": rules}), f"<{n} rules>")


def matcher_table(text: str, quick: bool) -> None:
    boundary = r"[^\pL\pN\pM_]"
    print(f"\nkeyword matcher, 'which term matched' over a {len(text)}-character text (µs per search):")
    print(f"{'terms':>7} {'one alternation':>16} {'re2.Set, bounded':>17} {'re2.Set, bare':>14}")
    for n in (10, 1_000) if quick else (10, 1_000, 10_000):
        terms = [re2.escape(word() + "zq") for _ in range(n)]
        options = re2.Options()
        options.max_mem, options.log_errors = 64 << 20, False
        alternation = re2.compile(f"(?:^|{boundary})(" + "|".join(terms) + f")(?:$|{boundary})", options)
        cells = [timed(lambda a=alternation: a.search(text))]
        for bounded in (True, False):
            found = re2.Set.SearchSet(options)
            for t in terms:
                found.Add(f"(?:^|{boundary}){t}(?:$|{boundary})" if bounded else t)
            try:
                found.Compile()
                cells.append(timed(lambda s=found: s.Match(text)))
            except re2.error:
                cells.append(None)
        shown = [f"{c:.2f}" if c is not None else "no compile" for c in cells]
        print(f"{n:>7} {shown[0]:>16} {shown[1]:>17} {shown[2]:>14}")


def timed(call, rounds: int = 2_000) -> float:
    call()
    start = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 2_000 if quick else 20_000
    document = decode_event((ROOT / "seeds" / "000_eec557f0eb51af83.txt").read_bytes())
    article = Article.model_validate(document)
    long_article = article.model_copy(update={"excerpt": " ".join(word() for _ in range(300))[:2_000]})
    print(f"rule evaluation per event (µs, best of 5 x {rounds}); seed article, and with a 2 KB excerpt")
    print(f"{'case':<28} {'load (ms)':>10} {'seed':>8} {'2 KB':>8}")
    costs = {}
    for label, build in [
        ("10 banned terms", lambda: banned_terms_rules(10)),
        ("1,000 banned terms", lambda: banned_terms_rules(1_000)),
        ("10,000 banned terms", lambda: banned_terms_rules(10_000)),
        ("10 rules", lambda: many_rules(10)),
        ("500 rules", lambda: many_rules(500)),
        ("config/rules.yaml", lambda: load_rules((ROOT / "config/rules.yaml").read_text(), "config")),
    ]:
        start = time.perf_counter()
        rules = build()
        load_ms = (time.perf_counter() - start) * 1e3
        costs[label] = (per_event_us(rules, article, rounds), per_event_us(rules, long_article, rounds))
        print(f"{label:<28} {load_ms:>10.1f} {costs[label][0]:>8.2f} {costs[label][1]:>8.2f}")
    for i, name in enumerate(("seed", "2 KB")):
        ratio = costs["10,000 banned terms"][i] / costs["10 banned terms"][i]
        print(f"ratio 10,000 / 10 terms ({name}): {ratio:.2f}x (target <= 1.5x)")
    print(f"ratio 500 / 10 rules (seed): {costs['500 rules'][0] / costs['10 rules'][0]:.1f}x")
    matcher_table(long_article.excerpt or "", quick)


if __name__ == "__main__":
    main()
