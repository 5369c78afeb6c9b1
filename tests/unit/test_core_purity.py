"""The decision core is pure: no I/O, clock, randomness, logging or Kafka.

Checked with ``ast`` on the source itself: the import statements (no impure module), and the calls (no clock
read such as ``datetime.now()``, no private google-re2 attribute outside its one compatibility module).
"""

import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "service" / "core"
FORBIDDEN = {
    "asyncio", "aiokafka", "structlog", "logging", "os", "time", "pathlib", "socket", "subprocess",
    "threading", "concurrent", "io", "shutil", "tempfile", "random", "urllib.request", "http",
    "secrets", "uuid",  # randomness (uuid4) and the clock (uuid1): the shell draws nonces, the caller passes now
}
# Reading the clock: datetime.now/utcnow/today, date.today, and the time module's clocks however it is reached.
CLOCK_CALLS = {"now", "utcnow", "today"}
TIME_CLOCKS = {
    "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "process_time",
    "process_time_ns", "thread_time", "thread_time_ns", "localtime", "gmtime", "ctime", "asctime",
}
# google-re2's private names (re2._re2, re2._Anchor) are used in this module only, which says why.
RE2_COMPAT = CORE / "rules" / "re2_compat.py"
# The core may import only itself from the rest of the project: never the shell.
ALLOWED_PROJECT_PREFIX = "service.core"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def clock_reads(path: Path) -> list[str]:
    """``datetime.now()``, ``date.today()``, ``time.time()``... called anywhere in the file, as written."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attribute, owner = node.func.attr, node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        if attribute in CLOCK_CALLS or (owner_name == "time" and attribute in TIME_CLOCKS):
            found.append(f"{path.name}:{node.lineno} {owner_name}.{attribute}()")
    return found


def private_re2(path: Path) -> list[str]:
    """Attribute access ``re2._anything`` in the file."""
    return [
        f"{path.name}:{node.lineno} re2.{node.attr}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
        and isinstance(node.value, ast.Name) and node.value.id == "re2"
    ]


def test_core_files_exist():
    assert len(list(CORE.rglob("*.py"))) >= 6


def test_core_imports_nothing_impure():
    offenders = {}
    for path in CORE.rglob("*.py"):
        bad = {
            name for name in imported_modules(path)
            if name.split(".")[0] in FORBIDDEN or name in FORBIDDEN
            or (name.startswith("service") and not name.startswith(ALLOWED_PROJECT_PREFIX))
        }
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


def test_the_checker_catches_an_impure_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom aiokafka import AIOKafkaConsumer\nfrom service.app import Moderator\n")
    assert imported_modules(sample) == {"os", "aiokafka", "service.app"}


def test_core_reads_no_clock():
    assert [read for path in CORE.rglob("*.py") for read in clock_reads(path)] == []


def test_the_clock_checker_catches_every_spelling(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "import datetime as dt\nfrom datetime import date, datetime\n"
        "a = datetime.now(UTC)\nb = dt.datetime.utcnow()\nc = date.today()\nd = time.monotonic()\n"
        "e = datetime.fromisoformat('2020-01-01')\nf = now - span\n"
    )
    assert [found.split(" ")[1] for found in clock_reads(sample)] == [
        "datetime.now()", "datetime.utcnow()", "date.today()", "time.monotonic()",
    ]


def test_the_import_checker_catches_randomness(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import secrets\nfrom random import randbytes\nimport uuid\n")
    assert imported_modules(sample) <= FORBIDDEN and imported_modules(sample) == {"secrets", "random", "uuid"}


def test_private_re2_names_stay_in_the_compatibility_module():
    service = CORE.parent
    offenders = [hit for path in service.rglob("*.py") if path != RE2_COMPAT for hit in private_re2(path)]
    assert offenders == []
    assert private_re2(RE2_COMPAT)  # the checker sees them where they are
