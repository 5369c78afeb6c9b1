"""Where the service's CPU goes: py-spy attached to the measured process, samples summed by hot-path stage.

    python -m bench --profile DIR          # py-spy (pip install py-spy) records each service run into DIR
    python -m bench.profile DIR/FILE.txt   # the summary of one recording

py-spy attaches by pid (``--nonblocking``: the process is never paused), so the RSS and CPU figures stay
those of the service itself. ``--gil``: only the thread holding the GIL is sampled, so the shares are of the
Python CPU time (waiting in epoll or on the executor's queue is not counted; time in the kernel's loopback
TCP path, a big part of stime here, is not seen at all). A sample is charged to the innermost stage its
stack passes through.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (stage, substring of a py-spy frame "function (file:line)"); the innermost matching frame wins.
STAGES = (
    ("batch: process_batch other", "process_batch ("),
    ("decode", "core/decode.py"), ("decode", "core/limits.py"),
    ("validate (pydantic)", "model_validate"), ("validate (pydantic)", "core/article.py"),
    ("signature: verify", "core/signature.py"), ("signature: verify", "core/keys.py"),
    ("signature: canonical form", "core/canonical.py"),
    ("rules", "core/rules/"),
    ("decision: build", "core/decision.py"), ("decision: build", "core/decide.py"),
    ("encode (envelope)", "envelope.py"),
    ("logging (structlog)", "structlog/"), ("logging (structlog)", "service/ops/logs.py"),
    ("kafka client (aiokafka)", "aiokafka/"),
    ("event loop (asyncio)", "asyncio/"), ("event loop (asyncio)", "selectors.py"),
    ("metrics/health", "service/ops/metrics.py"), ("metrics/health", "service/ops/health.py"),
    ("policy refresh", "service/files/"),
)


def stage_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for stage, pattern in STAGES:
            if pattern in frame:
                return stage
    return "other (start-up, imports, threads)"


def summarize(path: Path, top: int = 15) -> dict:
    """{"samples", "stages": {stage: share}, "top_self": [(frame, share)]} from py-spy's raw (folded) output."""
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count, stack = int(count_text), stack_text.split(";")
        total += count
        stages[stage_of(stack)] += count
        leaves[stack[-1]] += count
    share = (lambda n: round(n / total, 3)) if total else (lambda n: 0.0)
    return {"samples": total, "stages": {k: share(v) for k, v in stages.most_common()},
            "top_self": [(frame, share(n)) for frame, n in leaves.most_common(top)]}


def attach(pid: int, output: Path) -> subprocess.Popen | None:
    """Start py-spy on ``pid``; it stops by itself when the process exits. None when py-spy is missing."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found: pip install py-spy (profile skipped)", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--nonblocking", "--gil", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    for name in sys.argv[1:]:
        found = summarize(Path(name))
        print(f"{name}: {found['samples']} samples")
        for stage, share in found["stages"].items():
            print(f"  {stage:<40}{share:>7.1%}")
        print("  top frames (self):")
        for frame, share in found["top_self"]:
            print(f"    {share:>6.1%}  {frame[:110]}")


if __name__ == "__main__":
    main()
