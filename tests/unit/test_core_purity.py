"""The decision core is pure: no I/O, clock, logging or Kafka. Checked on the import statements themselves."""

import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "service" / "core"
FORBIDDEN = {
    "asyncio", "aiokafka", "structlog", "logging", "os", "time", "pathlib", "socket", "subprocess",
    "threading", "concurrent", "io", "shutil", "tempfile", "random", "urllib.request", "http",
}
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
