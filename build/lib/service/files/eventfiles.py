"""Event files on disk, as the CLI reads them: one event per file, or one per line in ``.jsonl`` files.

Yields ``(source, value)`` where ``source`` is ``"<path>"`` or ``"<path>:<line>"`` and ``value`` is the raw bytes,
so the same bytes go through ``decide()`` as would arrive from Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path


class EventFileError(Exception):
    """A path that cannot be read (missing, a directory, unreadable): a usage error, not a rejected event."""


def iter_event_files(paths: Iterable[str | Path]) -> Iterator[tuple[str, bytes]]:
    for name in paths:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EventFileError(f"cannot read {path}: {exc.strerror or exc}") from None
        if path.suffix == ".jsonl":
            for number, line in enumerate(data.split(b"\n"), start=1):
                if line.strip():
                    yield f"{path}:{number}", line.rstrip(b"\r")
        else:
            yield str(path), data
