"""Coverage-guided fuzzing of decide() with atheris (libFuzzer). Optional: not part of ``make test``.

atheris is not a project dependency; install it beside the project in a throwaway virtualenv (binary wheels exist
for CPython 3.11 on x86-64 Linux), then run from the repository root:

    python3.11 -m venv /tmp/atheris-venv && /tmp/atheris-venv/bin/pip install atheris
    PYTHONPATH=.:tests/unit:$(echo .venv/lib/python3.11/site-packages) \\
        /tmp/atheris-venv/bin/python tests/fuzz/fuzz_decide.py /tmp/fuzz-corpus -atheris_runs=200000

The first run seeds ``/tmp/fuzz-corpus`` (a directory libFuzzer grows) with the seeds and the nasty-input corpus.
A crash, a broken invariant (tests/unit/hostile_world.check_decision) or an event over the per-event budget
stops the run and libFuzzer writes the input to ``crash-<sha1>``: add it to tests/corpus/files/ and cases.yaml.
Which code paths count as new is decided by the instrumented Python of ``service`` and PyYAML's Python layer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["service", "yaml"]):
    import yaml
    from hostile_world import ROOT, SEEDS, as_json, check_decision, decide_record, signed

    from service.core.canonical import CanonicalError
    from service.core.decode import decode_event


def seed_corpus(directory: Path) -> None:
    """Write the seeds and every corpus case given as a file or text, once (libFuzzer mutates from these)."""
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        return
    for name, value in SEEDS.items():
        (directory / f"seed-{name}").write_bytes(value)
    corpus = ROOT / "tests" / "corpus"
    for case in yaml.safe_load((corpus / "cases.yaml").read_text(encoding="utf-8")):
        if "file" in case:
            value = (corpus / "files" / case["file"]).read_bytes()
        elif "text" in case and "{SIGNED" not in case["text"]:
            value = case["text"].encode("utf-8")
        elif "bytes" in case:
            value = case["bytes"].encode("latin-1")
        else:
            continue
        (directory / f"case-{case['name']}").write_bytes(value)


def test_one_input(data: bytes) -> None:
    """The record as it is, then (when it decodes) re-signed: mutations cannot forge a signature, and without
    this the rules would only ever see unsigned, so rejected-before-the-rules, events."""
    decision, seconds = decide_record(data)
    check_decision(decision, seconds)
    document = decode_event(data)
    if isinstance(document, dict):
        try:
            value = as_json(signed(document))
        except (CanonicalError, TypeError):  # no canonical form (floats...), or orjson refuses it
            return
        decision, seconds = decide_record(value)
        check_decision(decision, seconds)


if __name__ == "__main__":
    directories = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")]
    if directories:
        seed_corpus(directories[0])
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
